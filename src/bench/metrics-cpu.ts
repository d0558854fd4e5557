import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { nodeId } from '../../raft/index.js';
import { NODE_DEFAULTS, startNode, type NodeConfig, type NodeInspection, type NodeObservation, type RunningNode } from '../node/index.js';
import { freePorts, sleep, waitUntil } from '../process/index.js';
import { runBenchChild } from './bench-child.js';
import { MetricsScraper } from './metrics-scraper.js';
import { median, medianInterval, throughputCostPercent, type MedianInterval } from './stats.js';
import { SILENT_LOG } from '../log/index.js';


/**
 * What metrics add to a node, plugged in by the caller (the bench may not import the
 * observe layer): the observation the node starts with, then what runs beside it.
 */
export interface NodeObserver {
  readonly observation: NodeObservation;
  /**
   * The node is up: start reading it (gauges, the status page's history) and serve its HTTP
   * endpoint (/metrics and the status page) on a free port; resolves with its host:port.
   */
  attach(node: NodeInspection, dataDir: string): Promise<string>;
  /** GET /metrics answered so far. */
  scrapesServed(): number;
  stop(): Promise<void>;
}

/** One measured run's shape: what each of a pair runs. */
export interface NodeCpuOptions {
  readonly recordBytes: number;
  readonly recordsPerCall: number;
  /** Records appended before the measure starts (JIT, page cache, the first snapshot). */
  readonly warmupRecords: number;
  readonly records: number;
  /**
   * Records a second both sides are held to (a call starts no earlier than its place in the
   * schedule), or null to run flat out. Held to one rate, a pair does the same work a second,
   * so neither side's CPU per record moves with a rate the shared disk chose for it.
   */
  readonly recordsPerSecond: number | null;
  /** The node's flush: sync (it waits on fdatasync, as a cluster's nodes do by default) or async (it does not wait for the disk). */
  readonly flush: 'sync' | 'async';
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
  /** This process's CPU per second of the measured window, in ms (1000: one core busy). */
  readonly cpuMsPerSecond: number;
  /** GET /metrics the node answered in the measured window (0 without metrics). */
  readonly scrapes: number;
}

/** A lone node elects itself within 1 s at the default ticks. */
const LEAD_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_MS = 30_000;
/** How long a metered run waits for its first scrape before it starts (the parent scrapes within a second or so). */
const FIRST_SCRAPE_TIMEOUT_MS = 30_000;

export interface MeasureHooks {
  readonly onListening?: (address: string) => void;
  /** The node leads (and, metered, was scraped once); resolves when the run may start. */
  readonly ready?: () => Promise<void>;
}

/** What a metered child prints first: where its HTTP endpoint listens, for the parent to scrape. */
export interface MetricsCpuListening {
  readonly listening: string;
}

/**
 * One node (the production node, real files, a one-member cluster) in this process, taking
 * `warmupRecords` and then `records` appends through its client service (no gRPC) in calls
 * of `recordsPerCall`, one call at a time; the CPU this process spends on the measured
 * records, per record. With `observer`, the node keeps metrics and serves them over HTTP as
 * `quorumlog node --http-port` does; `hooks.onListening` hears where, and the run goes on once
 * the endpoint has answered a first scrape (whoever scrapes it, at whatever rate, is the
 * caller's). The warm-up starts when `hooks.ready` resolves (a pair starts together).
 */
export async function measureNodeCpu(options: NodeCpuOptions, observer: NodeObserver | null, hooks: MeasureHooks = {}): Promise<MetricsCpuRun> {
  const root = fs.mkdtempSync(path.join(options.dataParent, 'quorumlog-metrics-cpu-'));
  let node: RunningNode | null = null;
  try {
    const config = await oneNodeConfig(path.join(root, 'n1'), options.flush);
    node = await startNode(config, SILENT_LOG, observer?.observation ?? {});
    const running = node;
    if (observer !== null) {
      const address = await observer.attach(running.inspect, config.dataDir);
      hooks.onListening?.(address);
      await waitUntil(() => observer.scrapesServed() > 0, { timeoutMs: FIRST_SCRAPE_TIMEOUT_MS, intervalMs: 10, what: 'a first scrape of the metered node' });
    }
    await waitUntil(() => running.inspect.status().role === 'leader', { timeoutMs: LEAD_TIMEOUT_MS, intervalMs: 10, what: 'the one node to lead' });
    await hooks.ready?.();
    const payloads = Array.from({ length: options.recordsPerCall }, () => new Uint8Array(options.recordBytes).fill(7));
    const calls = { warmup: Math.ceil(options.warmupRecords / options.recordsPerCall), measured: Math.ceil(options.records / options.recordsPerCall) };
    let cpu = process.cpuUsage();
    let startedMs = performance.now();
    let scrapesBefore = 0;
    // Bounded: warm-up calls, then measured calls, each awaited before the next.
    for (let call = 0; call < calls.warmup + calls.measured; call++) {
      if (call === calls.warmup) {
        cpu = process.cpuUsage();
        startedMs = performance.now();
        scrapesBefore = observer?.scrapesServed() ?? 0;
      }
      if (options.recordsPerSecond !== null && call > calls.warmup) {
        // The measured calls keep to the schedule from the window's start; a side behind it runs flat out.
        const dueMs = startedMs + ((call - calls.warmup) * payloads.length * 1000) / options.recordsPerSecond;
        const aheadMs = dueMs - performance.now();
        if (aheadMs > 1) await sleep(aheadMs);
      }
      await running.service.append(payloads, { timeoutMs: CALL_TIMEOUT_MS });
    }
    const used = process.cpuUsage(cpu);
    const measured = calls.measured * payloads.length;
    const seconds = (performance.now() - startedMs) / 1000;
    return {
      metered: observer !== null,
      records: measured,
      cpuUsPerRecord: (used.user + used.system) / measured,
      userUsPerRecord: used.user / measured,
      recordsPerSecond: measured / seconds,
      cpuMsPerSecond: (used.user + used.system) / 1000 / seconds,
      scrapes: (observer?.scrapesServed() ?? 0) - scrapesBefore,
    };
  } finally {
    await observer?.stop();
    await node?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export interface MetricsCpuOptions extends NodeCpuOptions {
  /** Rounds: each a metered pair and a control pair, in an order that flips each round. */
  readonly rounds: number;
  /** How often the parent scrapes the metered node's /metrics over HTTP, as a Prometheus server would. */
  readonly scrapeMs: number;
}

/** Two runs side by side, and the second's CPU per record (and user CPU, and rate) over the first's. */
export interface MetricsCpuPair {
  readonly first: MetricsCpuRun;
  readonly second: MetricsCpuRun;
  readonly cpuRatio: number;
  readonly userRatio: number;
  readonly rateRatio: number;
  /** Scrapes of the second side this process had answered, over the side's whole life (0 when it keeps no metrics). */
  readonly scrapesAnswered: number;
}

/** A set of pairs' CPU ratios summed up: their median with its interval, as CPU and as a CPU-bound process's throughput. */
export interface MetricsCpuSummary {
  readonly cpuRatio: MedianInterval;
  /** throughputCostPercent of the CPU ratio's median, low and high (it rises with the ratio, so the ends stay ends). */
  readonly throughputCostPercent: { readonly median: number; readonly low: number; readonly high: number };
  /** Median of the pairs' throughput ratios (records/s), for reference: a node that waits on its disk loses little rate to CPU. */
  readonly medianRateRatio: number;
}

export interface MetricsCpuReport {
  readonly scrapeIntervalMs: number;
  /** Per round: without metrics (first), with them (second), at once. */
  readonly metered: readonly MetricsCpuPair[];
  /** Per round: two runs without metrics at once, the control: what the measure reads with nothing to find. */
  readonly control: readonly MetricsCpuPair[];
  readonly meteredSummary: MetricsCpuSummary;
  readonly controlSummary: MetricsCpuSummary;
  /** Median over the metered pairs of the CPU the metered process spent beyond the plain one, in ms per second. */
  readonly addedCpuMsPerSecond: number;
}

export const METRICS_CPU_DEFAULTS = {
  rounds: 8,
  recordBytes: 1024,
  recordsPerCall: 64,
  warmupRecords: 20_000,
  records: 100_000,
  flush: 'sync',
  // Within what a cluster of three takes at 1 KiB x 64 here (8,000-18,000 msg/s), under what one node takes flat out (13,000-50,000).
  recordsPerSecond: 10_000,
  scrapeMs: 1_000,
  dataParent: os.tmpdir(),
} as const;

/**
 * The CPU metrics cost a node, per record. Each round runs a metered pair (two processes at
 * once, one node without metrics and one serving them over HTTP, scraped by this process
 * every `scrapeMs`) and a control pair (two at once, neither metered), the order flipping
 * each round, so what a shared machine does to one side it mostly does to the other, and
 * the control shows what the measure reads when there is nothing to find. CPU time rather
 * than throughput: a node waits on fdatasync, and its wall-clock rate swings with the disk;
 * the CPU a record costs is what metrics add to, and a node bound by its CPU runs at 1 / CPU
 * per record, so the ratio is also a throughput cost (`throughputCostPercent`).
 */
export async function runMetricsCpu(options: MetricsCpuOptions, onPhase: (text: string) => void = () => {}): Promise<MetricsCpuReport> {
  const metered: MetricsCpuPair[] = [];
  const control: MetricsCpuPair[] = [];
  const { rounds, scrapeMs, ...run } = options;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['metered', 'control'] as const) : (['control', 'metered'] as const);
    for (const kind of order) {
      onPhase(`round ${round + 1} of ${rounds}: ${kind === 'metered' ? 'a node without metrics and one scraped' : 'two nodes without metrics (control)'}`);
      const [first, second] = await runPair(run, kind === 'metered', scrapeMs);
      (kind === 'metered' ? metered : control).push(pairOf(first.run, second.run, second.scrapesAnswered));
    }
  }
  const added = metered.map((p) => (p.second.cpuUsPerRecord - p.first.cpuUsPerRecord) * p.second.recordsPerSecond / 1000);
  return { scrapeIntervalMs: scrapeMs, metered, control, meteredSummary: summarize(metered), controlSummary: summarize(control), addedCpuMsPerSecond: median(added) };
}

function pairOf(first: MetricsCpuRun, second: MetricsCpuRun, scrapesAnswered: number): MetricsCpuPair {
  return { first, second, cpuRatio: second.cpuUsPerRecord / first.cpuUsPerRecord, userRatio: second.userUsPerRecord / first.userUsPerRecord, rateRatio: second.recordsPerSecond / first.recordsPerSecond, scrapesAnswered };
}

function summarize(pairs: readonly MetricsCpuPair[]): MetricsCpuSummary {
  const cpuRatio = medianInterval(pairs.map((p) => p.cpuRatio));
  const percent = (r: number): number => (r > 0 ? throughputCostPercent(r) : 0);
  return {
    cpuRatio,
    throughputCostPercent: { median: percent(cpuRatio.median), low: percent(cpuRatio.low), high: percent(cpuRatio.high) },
    medianRateRatio: median(pairs.map((p) => p.rateRatio)),
  };
}

/** What a child prints when its node leads (and, metered, was scraped once); it then waits for GO on its stdin. */
export const METRICS_CPU_READY = '{"ready":true}';
export const METRICS_CPU_GO = 'go';

/**
 * Two `quorumlog bench --metrics-cpu-run` processes, the second metered when `metered`,
 * started together and told to go together once both are ready (start-up differs: the
 * metered one serves HTTP and waits for its first scrape), so their warm-ups and measured
 * runs overlap as closely as the machine lets them.
 */
async function runPair(options: NodeCpuOptions, metered: boolean, scrapeMs: number): Promise<[ChildRun, ChildRun]> {
  const waiting: ((line: string) => void)[] = [];
  const ready = (tell: (line: string) => void): void => {
    waiting.push(tell);
    if (waiting.length === 2) for (const go of waiting) go(METRICS_CPU_GO);
  };
  // One side failing (a port taken by another process, say) stops the other, which would wait for its go until its deadline.
  const failed = new AbortController();
  const side = (isMetered: boolean): Promise<ChildRun> =>
    runChild(options, isMetered, scrapeMs, ready, failed.signal).catch((error: unknown) => {
      failed.abort();
      throw error;
    });
  return Promise.all([side(false), side(metered)]);
}

interface ChildRun {
  readonly run: MetricsCpuRun;
  readonly scrapesAnswered: number;
}

/**
 * `quorumlog bench --metrics-cpu-run` in a process of its own, with the nodes' V8 flags; its
 * last line of JSON. A metered child first says where it listens; it is scraped from here,
 * every `scrapeMs`, until it exits.
 */
async function runChild(options: NodeCpuOptions, metered: boolean, scrapeMs: number, ready: (tell: (line: string) => void) => void, signal: AbortSignal): Promise<ChildRun> {
  // Generous: a run appends at thousands of records a second; a child that is still going after this is stuck.
  const deadlineMs = LEAD_TIMEOUT_MS + FIRST_SCRAPE_TIMEOUT_MS + ((options.warmupRecords + options.records) / 100) * 1000;
  let scraper: MetricsScraper | null = null;
  const onLine = (line: string, tell: (line: string) => void): void => {
    if (line === METRICS_CPU_READY) return ready(tell);
    if (scraper !== null || !line.startsWith('{"listening"')) return;
    scraper = new MetricsScraper([(JSON.parse(line) as MetricsCpuListening).listening], scrapeMs, undefined, { immediately: true });
  };
  try {
    const out = await runBenchChild(['--metrics-cpu-run', JSON.stringify({ ...options, metered })], { what: `the ${metered ? 'metered' : 'plain'} run`, deadlineMs, onLine, signal });
    const last = out.trim().split('\n').at(-1) ?? '';
    const scraped = await (scraper as MetricsScraper | null)?.stop();
    return { run: JSON.parse(last) as MetricsCpuRun, scrapesAnswered: scraped?.scrapes ?? 0 };
  } finally {
    await (scraper as MetricsScraper | null)?.stop();
  }
}

async function oneNodeConfig(dataDir: string, flush: NodeCpuOptions['flush']): Promise<NodeConfig> {
  const [clientPort, peerPort] = await freePorts(2);
  const id = nodeId('n1');
  return {
    id,
    members: [{ id, clientAddress: `127.0.0.1:${clientPort}`, peerAddress: `127.0.0.1:${peerPort}` }],
    clusterId: 'metrics-cpu',
    dataDir,
    // The async interval as `quorumlog node --flush async` has it by default.
    flush: flush === 'sync' ? NODE_DEFAULTS.flush : { mode: 'async', intervalMs: 10 },
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
