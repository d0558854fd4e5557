import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { DurableMarkPolicy } from '../../storage/index.js';
import { LogClient, type AppendAcks } from '../client/index.js';
import { probeDisk, type DiskProbeResult } from './disk-probe.js';
import { measureLatencyFloor, type FloorFsyncs, type LatencyFloorResult } from './latency-floor.js';
import { runGroupDrain, type GroupDrainResult } from './group-drain.js';
import { LocalCluster, type ProcessUsage } from './local-cluster.js';
import { hostCpuShares, readHostCpu, type HostCpuShares, type HostCpuTicks, type LoopDelaySummary } from '../process/index.js';
import { MetricsScraper } from './metrics-scraper.js';
import { ratio } from './stats.js';
import { runDrain, runProduce, type DrainResult, type ProduceProgress, type ProduceResult } from './workload.js';
import { connection, type BenchTarget } from './bench-target.js';

export interface BenchConfig {
  /** What produce measures: plain log appends (`LogClient.append`), or the broker's `Producer` to a fresh topic. */
  readonly api: 'log' | 'broker';
  readonly nodes: number;
  readonly producers: number;
  readonly inflight: number;
  readonly sizeBytes: number;
  /** 'all': acknowledged once committed on a majority; 'leader': once durable in the leader's log. */
  readonly acks: AppendAcks;
  readonly flush: 'sync' | 'async';
  /** Sync flush only: whether an acknowledgement waits for the durable mark's fdatasync too (ordered). */
  readonly durableMark: DurableMarkPolicy;
  /** The nodes' segment size (null: the node's default). */
  readonly segmentBytes: number | null;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Existing cluster to target instead of starting one. */
  readonly brokers: readonly string[] | null;
  readonly clientBatching: boolean;
  /** Measure produce-to-consume latency with a reader following the log during the produce run. */
  readonly endToEnd: boolean;
  /** Records per Append request at most (null: the batcher's default). */
  readonly batchRecordsMax: number | null;
  /** Milliseconds per raw disk case (three cases). */
  readonly diskProbeMs: number;
  /**
   * Measured time of the latency floor (latency-floor.ts), run after the disk probe when the
   * run is the case it models (see floorFsyncsFor); 0 skips it.
   */
  readonly floorMs: number;
  /** Where the local cluster's data (and the disk probe) go, created if missing; default the OS temp dir. */
  readonly dataParent: string;
  /** Write each node's CPU profile (node --cpu-prof) into this directory. */
  readonly cpuProfileDir: string | null;
  readonly drain: boolean;
  /** Messages a consumer group drains with an ack each (0: skip that phase). */
  readonly groupDrainMessages: number;
  /**
   * Scrape every node's /metrics this often during the produce run, as a Prometheus server
   * would (a local cluster only; its nodes then serve HTTP). Null: the nodes serve no HTTP.
   */
  readonly metricsScrapeMs: number | null;
  /** TLS on the client port and mutual TLS between peers, with certificates made for the run (a local cluster only). */
  readonly tls: boolean;
}

export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly config: Omit<BenchConfig, 'dataParent' | 'cpuProfileDir'>;
  readonly host: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly platform: string;
    /** 1-minute load average before and after the run: other work on the machine shows here. */
    readonly loadBefore: number;
    readonly loadAfter: number;
    /**
     * How the host's CPU time divided over the measured window (/proc/stat): busy, idle and
     * steal, the time the hypervisor gave this machine's CPUs to other guests, which the load
     * average does not show. Null where /proc/stat cannot be read.
     */
    readonly windowCpu: HostCpuShares | null;
  };
  readonly disk: DiskProbeResult;
  /** The latency floor measured in the same run, or null when the run is not the case it models (or --floor 0). */
  readonly floor: BenchFloor | null;
  readonly produce: ProduceResult;
  readonly drain: DrainResult | null;
  readonly groupDrain: GroupDrainResult | null;
  /** Our figures beside the disk's: produce records/s over raw single-record syncs/s, and so on. */
  readonly ratios: {
    readonly produceToSingleSync: number | null;
    readonly produceTo16PerSync: number | null;
    readonly produceTo256PerSync: number | null;
    readonly produceMegabytesToDisk256: number | null;
  };
  readonly nodes: readonly NodeUsage[];
  /** Scrapes of the nodes' /metrics during the produce run, when asked for. */
  readonly metrics: { readonly scrapeIntervalMs: number; readonly scrapes: number; readonly failed: number } | null;
  readonly notes: readonly string[];
}

/** The floor's figures, and the fdatasyncs per node it paid (what the run's configuration needs). */
export interface BenchFloor extends LatencyFloorResult {
  readonly fsyncsPerNode: FloorFsyncs;
}

export interface NodeUsage extends ProcessUsage {
  /** CPU seconds spent during the measured window (warm-up excluded). */
  readonly measuredCpuSeconds: number | null;
  /**
   * The node's event-loop delay over the same window (from its --event-loop-file, see
   * src/process/loop-delay.ts), or null when it wrote no sample there.
   */
  readonly eventLoop: LoopDelaySummary | null;
}

/** The run was interrupted (Ctrl-C); every process it started has been stopped. */
export class BenchInterruptedError extends Error {
  override readonly name = 'BenchInterruptedError';
  constructor() {
    super('interrupted');
  }
}

export interface BenchHooks {
  readonly onPhase?: (phase: string) => void;
  readonly onProgress?: (progress: ProduceProgress) => void;
  readonly signal?: AbortSignal;
  /**
   * Start the nodes without the bench's 2 ms event-loop recorder (--event-loop-file), so the
   * report has no event-loop figures. A run that measures what metrics cost needs this: the
   * recorder's timer wakes every node's loop every 2 ms, so work the metrics add on a wakeup
   * of their own (a scrape) would find the loop awake already, and cost less than it does on a
   * node whose loop would otherwise sleep.
   */
  readonly withoutLoopRecorder?: boolean;
}

/**
 * One benchmark run: the disk probe, then the cluster (started here unless brokers were
 * given), the produce run with its end-to-end follower, the drain, and each node's usage.
 * Every process started here is stopped and the temp directory removed, on error too.
 */
export async function runBench(config: BenchConfig, hooks: BenchHooks = {}): Promise<BenchReport> {
  const loadBefore = os.loadavg()[0] ?? 0;
  // --dir names a place to put the run, which need not exist yet; it is left in place afterwards.
  fs.mkdirSync(config.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(config.dataParent, 'quorumlog-bench-'));
  let cluster: LocalCluster | null = null;
  let scraper: MetricsScraper | null = null;
  // A broker run's topic, deleted at the end so a cluster given with --brokers is left as it was.
  let benchTopic: { readonly target: BenchTarget; readonly name: string } | null = null;
  try {
    hooks.onPhase?.(`measuring the disk (${root})`);
    const disk = probeDisk({ dir: root, recordBytes: config.sizeBytes, caseMs: config.diskProbeMs });
    const floor = await runFloor(config, root, hooks);
    let target: BenchTarget | null = config.brokers === null ? null : { brokers: config.brokers };
    if (target === null) {
      hooks.onPhase?.(`starting ${config.nodes} nodes`);
      cluster = await LocalCluster.start({
        nodes: config.nodes,
        dataRoot: path.join(root, 'data'),
        flush: config.flush,
        durableMark: config.durableMark,
        ...(config.cpuProfileDir === null ? {} : { cpuProfileDir: config.cpuProfileDir }),
        ...(config.metricsScrapeMs === null ? {} : { http: true }),
        ...(config.segmentBytes === null ? {} : { nodeFlags: ['--segment-bytes', String(config.segmentBytes)] }),
        loopDelay: hooks.withoutLoopRecorder !== true,
        tls: config.tls,
      });
      target = cluster.clientTls === undefined ? { brokers: cluster.clientAddresses } : { brokers: cluster.clientAddresses, tls: cluster.clientTls };
    }
    if (config.metricsScrapeMs !== null && cluster !== null) scraper = new MetricsScraper(cluster.httpAddresses, config.metricsScrapeMs);
    const runningCluster = cluster;
    let cpuAtMeasure: ProcessUsage[] | null = null;
    let cpuAtEnd: ProcessUsage[] | null = null;
    // The measured window on the wall clock, as the CPU figures take it, for the nodes' loop delay.
    let windowFromMs: number | null = null;
    let windowToMs = 0;
    let hostAtMeasure: HostCpuTicks | null = null;
    let hostAtEnd: HostCpuTicks | null = null;
    const topic = config.api === 'broker' ? await createBenchTopic(target) : null;
    if (topic !== null) benchTopic = { target, name: topic };
    hooks.onPhase?.(topic === null ? 'producing' : `producing to topic ${topic}`);
    const produce = await runProduce({
      ...target,
      producers: config.producers,
      inflight: config.inflight,
      sizeBytes: config.sizeBytes,
      warmupMs: config.warmupMs,
      durationMs: config.durationMs,
      clientBatching: config.clientBatching,
      endToEnd: config.endToEnd,
      acks: config.acks,
      ...(config.batchRecordsMax === null ? {} : { batchRecordsMax: config.batchRecordsMax }),
      ...(topic === null ? {} : { topic }),
      onProgress: (progress) => {
        if (progress.phase === 'measure') {
          hostAtEnd = readHostCpu();
          hostAtMeasure ??= hostAtEnd;
        }
        if (runningCluster !== null && progress.phase === 'measure' && cpuAtMeasure === null) {
          cpuAtMeasure = runningCluster.usage();
          windowFromMs = Date.now();
        }
        if (runningCluster !== null) {
          cpuAtEnd = runningCluster.usage();
          windowToMs = Date.now();
        }
        hooks.onProgress?.(progress);
      },
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
    });
    const metrics = (await scraper?.stop()) ?? null;
    const loopDelay = cluster === null || windowFromMs === null || hooks.withoutLoopRecorder === true ? null : await cluster.loopDelay(windowFromMs, windowToMs);
    if (hooks.signal?.aborted === true) throw new BenchInterruptedError();
    if (cluster?.failure != null) throw new Error(cluster.failure);
    let drain: DrainResult | null = null;
    if (topic === null && config.drain && produce.lastIndex >= produce.firstIndex && produce.messages > 0) {
      hooks.onPhase?.(`draining ${produce.messages} records`);
      drain = await runDrain({ ...target, from: produce.firstIndex, through: produce.lastIndex, timeoutMs: 120_000 });
    }
    let groupDrain: GroupDrainResult | null = null;
    if (topic !== null && config.groupDrainMessages > 0 && produce.messages > 0) {
      hooks.onPhase?.(`draining topic ${topic} through a consumer group, acking each message`);
      groupDrain = await runGroupDrain({ ...target, topic, messages: produce.acknowledgedTotal, sizeBytes: config.sizeBytes, timeoutMs: 300_000 });
    } else if (config.groupDrainMessages > 0) {
      hooks.onPhase?.(`filling a topic with ${config.groupDrainMessages} messages, then draining it through a consumer group, acking each`);
      groupDrain = await runGroupDrain({ ...target, messages: config.groupDrainMessages, sizeBytes: config.sizeBytes, timeoutMs: 300_000 });
    }
    const nodes = cluster === null ? [] : nodeUsage(cluster.usage(), cpuAtMeasure, cpuAtEnd, loopDelay);
    const single = disk.cases.find((c) => c.recordsPerSync === 1);
    const sixteen = disk.cases.find((c) => c.recordsPerSync === 16);
    const big = disk.cases.find((c) => c.recordsPerSync === 256);
    const { dataParent: _dataParent, cpuProfileDir: _cpuProfileDir, ...shownConfig } = config;
    return {
      version: 1,
      startedAt: new Date().toISOString(),
      config: shownConfig,
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, loadBefore, loadAfter: os.loadavg()[0] ?? 0, windowCpu: hostCpuShares(hostAtMeasure, hostAtEnd) },
      disk,
      floor,
      produce,
      drain,
      groupDrain,
      ratios: {
        produceToSingleSync: ratio(produce.messagesPerSecond, single?.recordsPerSecond ?? 0),
        produceTo16PerSync: ratio(produce.messagesPerSecond, sixteen?.recordsPerSecond ?? 0),
        produceTo256PerSync: ratio(produce.messagesPerSecond, big?.recordsPerSecond ?? 0),
        produceMegabytesToDisk256: ratio(produce.megabytesPerSecond, big?.megabytesPerSecond ?? 0),
      },
      nodes,
      metrics,
      notes: notesFor(config),
    };
  } finally {
    await scraper?.stop();
    const made = benchTopic;
    if (made !== null) await withClient(made.target, (client) => client.deleteTopic(made.name)).catch(() => undefined);
    // Also on an interrupt: the produce loop has ended, the nodes get SIGTERM here.
    await cluster?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The fdatasyncs per node a one-in-flight round of this configuration needs, or null when the
 * run is not the case the floor models: one producer with one record in flight, acks from a
 * majority of three nodes, on a plaintext cluster the bench starts itself.
 */
export function floorFsyncsFor(config: Pick<BenchConfig, 'brokers' | 'tls' | 'nodes' | 'acks' | 'producers' | 'inflight' | 'flush' | 'durableMark'>): FloorFsyncs | null {
  if (config.brokers !== null || config.tls || config.nodes !== 3 || config.acks !== 'all' || config.producers !== 1 || config.inflight !== 1) return null;
  return durabilityFsyncs(config.flush, config.durableMark);
}

/** The fdatasyncs a node pays to make an append durable: 2 with the ordered mark (data, then mark), 1 with the lagging one, 0 with async flush. */
export function durabilityFsyncs(flush: BenchConfig['flush'], durableMark: BenchConfig['durableMark']): FloorFsyncs {
  if (flush === 'async') return 0;
  return durableMark === 'lagging' ? 1 : 2;
}

/** The floor, before the nodes start (so nothing competes with it), or null when skipped. */
async function runFloor(config: BenchConfig, root: string, hooks: BenchHooks): Promise<BenchFloor | null> {
  const fsyncsPerNode = floorFsyncsFor(config);
  if (fsyncsPerNode === null || config.floorMs === 0) return null;
  hooks.onPhase?.(`measuring the latency floor (${fsyncsPerNode} fdatasync(s) per node)`);
  try {
    const floor = await measureLatencyFloor({ durationMs: config.floorMs, fsyncsPerNode, recordBytes: config.sizeBytes, dir: root, ...(hooks.signal === undefined ? {} : { signal: hooks.signal }) });
    return { ...floor, fsyncsPerNode };
  } catch (error) {
    if (hooks.signal?.aborted === true) throw new BenchInterruptedError();
    throw error;
  }
}

function nodeUsage(final: ProcessUsage[], atMeasure: ProcessUsage[] | null, atEnd: ProcessUsage[] | null, loopDelay: ReadonlyMap<string, LoopDelaySummary | null> | null): NodeUsage[] {
  return final.map((u, k) => {
    const from = atMeasure?.[k]?.cpuSeconds ?? null;
    const to = atEnd?.[k]?.cpuSeconds ?? null;
    return { ...u, measuredCpuSeconds: from === null || to === null ? null : to - from, eventLoop: loopDelay?.get(u.id) ?? null };
  });
}

function notesFor(config: BenchConfig): string[] {
  const what = config.api === 'broker' ? 'a message' : 'an append';
  const notes = [
    config.acks === 'all'
      ? `acks=all: ${what} is acknowledged once committed, i.e. held by a majority, each node having ${config.flush === 'sync' ? "fdatasync'ed it (flush sync)" : 'written it to its page cache (flush async)'}.`
      : `acks=leader: ${what} is acknowledged once the leader alone has ${config.flush === 'sync' ? "fdatasync'ed it (flush sync)" : 'written it (flush async)'}, before any follower has it: a leader failure can lose it.`,
    config.api === 'broker'
      ? 'api broker: produce is the broker\'s Producer (idempotent with acks=all) sending to a fresh topic; the end-to-end reader is a consumer group on it; group drain is a second group draining everything the run produced, acking each message, timed until every ack is committed.'
      : 'consume is a plain log drain (one follow stream, every record decoded); group drain is a consumer group acking every message, timed until every ack is committed.',
  ];
  if (config.flush === 'sync' && config.durableMark === 'lagging') {
    notes.push('durable mark lagging: each node acknowledges after its data\'s fdatasync and records the durable mark after; a disk that loses the last acknowledged group at a power failure goes unnoticed on that node (docs/storage.md).');
  }
  if (config.tls) notes.push('TLS: the client port serves TLS and the peers mutual TLS, with development certificates (ECDSA P-256) made for the run.');
  if (config.flush === 'async') notes.push('flush async: nodes fdatasync on a timer, not before acknowledging; not durable against a majority power failure.');
  if (config.brokers !== null) notes.push('targeted an existing cluster: no per-node CPU or memory figures; the disk probe ran in the temp directory.');
  if (!config.endToEnd) notes.push('no end-to-end reader: produce ran alone (the reader costs produce throughput; see docs/bench.md).');
  if (!config.clientBatching) notes.push('client batching off: one Append request per record.');
  return notes;
}

/** A fresh topic for a broker run, so the group drain reads exactly what this run produced. */
export async function createBenchTopic(target: BenchTarget): Promise<string> {
  const topic = `bench-${Date.now()}`;
  await withClient(target, (client) => client.createTopic(topic));
  return topic;
}

async function withClient<T>(target: BenchTarget, use: (client: LogClient) => Promise<T>): Promise<T> {
  const client = new LogClient(connection(target));
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
