import * as fs from 'node:fs';
import * as path from 'node:path';

import { LocalCluster } from './local-cluster.js';
import { MetricsScraper } from './metrics-scraper.js';
import { median } from './stats.js';
import { runProduce } from './workload.js';

/** One node's event-loop delay over the measured window, from the bench's loop-delay recorder (src/process/loop-delay.ts). */
export interface NodeEventLoop {
  readonly id: string;
  /** Largest delay in the window, beyond the recorder's interval. */
  readonly maxDelayMs: number;
  /** The 99th percentile of the window's delays. */
  readonly p99DelayMs: number;
  /** The recorder's samples in the window (0: the node recorded none). */
  readonly samples: number;
  /** Snapshots this node wrote during the window (quorumlog_snapshots_written_total, from its /metrics scrapes). */
  readonly snapshotsWritten: number;
}

export interface ThroughputRun {
  readonly snapshots: boolean;
  readonly snapshotEntries: number;
  readonly messagesPerSecond: number;
  readonly ackP99Ms: number;
  readonly errors: number;
  readonly eventLoop: readonly NodeEventLoop[];
}

export interface ThroughputPair {
  readonly withSnapshots: ThroughputRun;
  readonly withoutSnapshots: ThroughputRun;
  /** With over without. */
  readonly ratio: number;
}

export interface ThroughputResult {
  readonly pairs: readonly ThroughputPair[];
  readonly medianRatio: number;
}

export interface ThroughputOptions {
  readonly root: string;
  readonly pairs: number;
  readonly snapshotEntries: number;
  readonly noSnapshotEntries: number;
  readonly inflight: number;
  readonly sizeBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly scrapeMs: number;
  readonly onPhase?: (phase: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Produce throughput with snapshots every `snapshotEntries` against none, in pairs on fresh
 * clusters whose order flips each pair (as --metrics-cost does), plain appends at
 * `inflight` in flight. Both sides serve /metrics and are scraped every `scrapeMs`, so the
 * scrapes cost both the same (they count the snapshots written); each node's event-loop
 * delay comes from the bench's own recorder, which samples every 2 ms.
 */
export async function runThroughputPairs(options: ThroughputOptions): Promise<ThroughputResult> {
  const pairs: ThroughputPair[] = [];
  for (let k = 0; k < options.pairs && options.signal?.aborted !== true; k++) {
    const snapshotsFirst = k % 2 === 0;
    const first = await throughputRun(options, snapshotsFirst, `pair ${k + 1} of ${options.pairs}`);
    const second = await throughputRun(options, !snapshotsFirst, `pair ${k + 1} of ${options.pairs}`);
    const [withSnapshots, withoutSnapshots] = snapshotsFirst ? [first, second] : [second, first];
    pairs.push({ withSnapshots, withoutSnapshots, ratio: withoutSnapshots.messagesPerSecond > 0 ? withSnapshots.messagesPerSecond / withoutSnapshots.messagesPerSecond : 0 });
  }
  return { pairs, medianRatio: median(pairs.map((p) => p.ratio)) };
}

interface ScrapeTotals {
  snapshotsFirst: number | null;
  snapshotsLast: number;
}

async function throughputRun(options: ThroughputOptions, snapshots: boolean, label: string): Promise<ThroughputRun> {
  const snapshotEntries = snapshots ? options.snapshotEntries : options.noSnapshotEntries;
  options.onPhase?.(`throughput ${label}: ${snapshots ? `a snapshot every ${snapshotEntries.toLocaleString('en-US')} entries` : 'no snapshots'}`);
  const dataRoot = fs.mkdtempSync(path.join(options.root, 'throughput-'));
  const cluster = await LocalCluster.start({ nodes: 3, dataRoot, flush: 'sync', http: true, loopDelay: true, nodeFlags: ['--snapshot-entries', String(snapshotEntries)] });
  const totals = new Map<string, ScrapeTotals>(cluster.httpAddresses.map((a) => [a, { snapshotsFirst: null, snapshotsLast: 0 }]));
  let measuring = false;
  let windowFromMs = 0;
  const scraper = new MetricsScraper(cluster.httpAddresses, options.scrapeMs, (address, text) => {
    const t = totals.get(address);
    if (t === undefined || !measuring) return;
    const written = metricValue(text, 'quorumlog_snapshots_written_total') ?? 0;
    t.snapshotsFirst ??= written;
    t.snapshotsLast = written;
  });
  try {
    const produce = await runProduce({
      brokers: cluster.clientAddresses,
      producers: 1,
      inflight: options.inflight,
      sizeBytes: options.sizeBytes,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      clientBatching: true,
      endToEnd: false,
      onProgress: (p) => {
        if (p.phase === 'measure' && !measuring) {
          measuring = true;
          windowFromMs = Date.now();
        }
      },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    measuring = false;
    const windowToMs = Date.now();
    await scraper.stop();
    if (cluster.failure !== null) throw new Error(cluster.failure);
    const delays = await cluster.loopDelay(windowFromMs, windowToMs);
    const eventLoop = cluster.ids.map((id, k): NodeEventLoop => {
      const t = totals.get(cluster.httpAddresses[k] ?? '');
      const delay = delays.get(id) ?? null;
      return {
        id,
        maxDelayMs: delay?.maxMs ?? 0,
        p99DelayMs: delay?.p99Ms ?? 0,
        samples: delay?.samples ?? 0,
        snapshotsWritten: (t?.snapshotsLast ?? 0) - (t?.snapshotsFirst ?? 0),
      };
    });
    return { snapshots, snapshotEntries, messagesPerSecond: produce.messagesPerSecond, ackP99Ms: produce.latency.p99Ms, errors: produce.errors, eventLoop };
  } finally {
    await scraper.stop();
    await cluster.stop();
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}

/** The value of an unlabelled metric in Prometheus text, or null when absent. */
export function metricValue(text: string, name: string): number | null {
  const match = new RegExp(`^${name} ([^\\s]+)`, 'm').exec(text);
  if (match === null) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}
