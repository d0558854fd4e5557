import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { nodeId } from '../../raft/index.js';
import { NODE_DEFAULTS, startNode, type NodeConfig, type NodeInspection, type NodeObservation, type RunningNode } from '../node/index.js';
import { freePorts, waitUntil } from '../process/index.js';
import { runBenchChild } from './bench-child.js';
import { median } from './stats.js';
import { SILENT_LOG } from '../log/index.js';


/**
 * What metrics add to a node, plugged in by the caller (the bench may not import the
 * observe layer): the observation the node starts with, then what runs beside it.
 */
export interface NodeObserver {
  readonly observation: NodeObservation;
  /** The node is up: start reading it (gauges, the status page's history). */
  attach(node: NodeInspection, dataDir: string): void;
  /** What one GET /metrics makes the node do. */
  scrape(): Promise<unknown>;
  stop(): void;
}

/** One measured run's shape: what each of a pair runs. */
export interface NodeCpuOptions {
  readonly recordBytes: number;
  readonly recordsPerCall: number;
  /** Records appended before the measure starts (JIT, page cache, the first snapshot). */
  readonly warmupRecords: number;
  readonly records: number;
  /**
   * A scrape each time this many more records are acknowledged, warm-up included: tied to
   * the work rather than the clock, so the scrapes per record stay the same however fast
   * the machine runs (also under valgrind).
   */
  readonly scrapeEveryRecords: number;
  /** Where the run's data directory is made (and removed). */
  readonly dataParent: string;
}

export interface MetricsCpuRun {
  readonly metered: boolean;
  readonly records: number;
  /** This process's CPU (user + system) per record over the measured records, in us. */
  readonly cpuUsPerRecord: number;
  /** The user part of it: JavaScript and the runtime (the system part is mostly the kernel's file writes). */
  readonly userUsPerRecord: number;
  readonly recordsPerSecond: number;
  readonly scrapes: number;
}

/** A lone node elects itself within 1 s at the default ticks. */
const LEAD_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 30_000;

/**
 * One node (the production node, real files, a one-member cluster) in this process, taking
 * `warmupRecords` and then `records` appends through its client service (no gRPC) in calls
 * of `recordsPerCall`, one call at a time; the CPU this process spends on the measured
 * records, per record. With `observer`, the node runs with metrics and is scraped every
 * `scrapeEveryRecords` records.
 */
export async function measureNodeCpu(options: NodeCpuOptions, observer: NodeObserver | null): Promise<MetricsCpuRun> {
  const root = fs.mkdtempSync(path.join(options.dataParent, 'quorumlog-metrics-cpu-'));
  let node: RunningNode | null = null;
  try {
    const config = await oneNodeConfig(path.join(root, 'n1'));
    node = await startNode(config, SILENT_LOG, observer?.observation ?? {});
    const running = node;
    observer?.attach(running.inspect, config.dataDir);
    await waitUntil(() => running.inspect.status().role === 'leader', { timeoutMs: LEAD_TIMEOUT_MS, intervalMs: 10, what: 'the one node to lead' });
    const payloads = Array.from({ length: options.recordsPerCall }, () => new Uint8Array(options.recordBytes).fill(7));
    const calls = { warmup: Math.ceil(options.warmupRecords / options.recordsPerCall), measured: Math.ceil(options.records / options.recordsPerCall) };
    let scrapes = 0;
    let records = 0;
    let cpu = process.cpuUsage();
    let startedMs = performance.now();
    // Bounded: warm-up calls, then measured calls, each awaited before the next.
    for (let call = 0; call < calls.warmup + calls.measured; call++) {
      if (call === calls.warmup) {
        cpu = process.cpuUsage();
        startedMs = performance.now();
      }
      await running.service.append(payloads, { timeoutMs: CALL_TIMEOUT_MS });
      const before = records;
      records += payloads.length;
      if (observer !== null && Math.floor(records / options.scrapeEveryRecords) > Math.floor(before / options.scrapeEveryRecords)) {
        await observer.scrape();
        if (call >= calls.warmup) scrapes++;
      }
    }
    const used = process.cpuUsage(cpu);
    const measured = calls.measured * payloads.length;
    const seconds = (performance.now() - startedMs) / 1000;
    return { metered: observer !== null, records: measured, cpuUsPerRecord: (used.user + used.system) / measured, userUsPerRecord: used.user / measured, recordsPerSecond: measured / seconds, scrapes };
  } finally {
    observer?.stop();
    await node?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export interface MetricsCpuOptions extends NodeCpuOptions {
  /** Pairs: each a node without metrics and one with them, in two processes running at once. */
  readonly rounds: number;
}

export interface MetricsCpuReport {
  /** Per round: [without metrics, with them]. */
  readonly pairs: readonly (readonly [MetricsCpuRun, MetricsCpuRun])[];
  /** Per round, CPU per record with metrics over without. */
  readonly ratios: readonly number[];
  readonly medianRatio: number;
  /** The same for user CPU alone. */
  readonly userRatios: readonly number[];
  readonly medianUserRatio: number;
}

export const METRICS_CPU_DEFAULTS = {
  rounds: 5,
  recordBytes: 1024,
  recordsPerCall: 64,
  warmupRecords: 20_000,
  records: 100_000,
  // About one a second at the 5,000-10,000 messages a second a node of a three-node cluster takes here: more scrapes per record than a cluster's.
  scrapeEveryRecords: 5_000,
  dataParent: os.tmpdir(),
} as const;

/**
 * The CPU metrics cost a node, per record: each round starts two processes at once, one
 * node without metrics and one with them, doing the same work side by side, so what a
 * shared machine does to one (other work, the disk) it mostly does to the other. CPU time
 * rather than throughput: a node waits on fdatasync, and its wall-clock rate swings with
 * the disk; the CPU a record costs is what metrics add to.
 */
export async function runMetricsCpu(options: MetricsCpuOptions): Promise<MetricsCpuReport> {
  const pairs: [MetricsCpuRun, MetricsCpuRun][] = [];
  const { rounds, ...run } = options;
  for (let round = 0; round < rounds; round++) {
    const [plain, metered] = await Promise.all([runChild(run, false), runChild(run, true)]);
    pairs.push([plain, metered]);
  }
  const ratios = pairs.map(([plain, metered]) => metered.cpuUsPerRecord / plain.cpuUsPerRecord);
  const userRatios = pairs.map(([plain, metered]) => metered.userUsPerRecord / plain.userUsPerRecord);
  return { pairs, ratios, medianRatio: median(ratios), userRatios, medianUserRatio: median(userRatios) };
}

/** `quorumlog bench --metrics-cpu-run` in a process of its own, with the nodes' V8 flags; its one line of JSON. */
async function runChild(options: NodeCpuOptions, metered: boolean): Promise<MetricsCpuRun> {
  // Generous: a run appends at thousands of records a second; a child that is still going after this is stuck.
  const deadlineMs = LEAD_TIMEOUT_MS + ((options.warmupRecords + options.records) / 100) * 1000;
  const out = await runBenchChild(['--metrics-cpu-run', JSON.stringify({ ...options, metered })], { what: `the ${metered ? 'metered' : 'plain'} run`, deadlineMs });
  return JSON.parse(out) as MetricsCpuRun;
}

async function oneNodeConfig(dataDir: string): Promise<NodeConfig> {
  const [clientPort, peerPort] = await freePorts(2);
  const id = nodeId('n1');
  return {
    id,
    members: [{ id, clientAddress: `127.0.0.1:${clientPort}`, peerAddress: `127.0.0.1:${peerPort}` }],
    clusterId: 'metrics-cpu',
    dataDir,
    flush: NODE_DEFAULTS.flush,
    tickMs: NODE_DEFAULTS.tickMs,
    electionTicks: NODE_DEFAULTS.electionTicks,
    heartbeatTicks: NODE_DEFAULTS.heartbeatTicks,
    preferredLeader: null,
    messageBytesMax: NODE_DEFAULTS.messageBytesMax,
    recordBytesMax: NODE_DEFAULTS.recordBytesMax,
    segmentBytes: NODE_DEFAULTS.segmentBytes,
    snapshotEntries: NODE_DEFAULTS.snapshotEntries,
    retention: NODE_DEFAULTS.retention,
    diskHighWatermarkPercent: NODE_DEFAULTS.diskHighWatermarkPercent,
    producerIdleExpiryMs: NODE_DEFAULTS.producerIdleExpiryMs,
    dialAddresses: new Map(),
    powerLoss: false,
  };
}
