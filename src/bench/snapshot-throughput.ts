import * as fs from 'node:fs';
import * as path from 'node:path';

import { LocalCluster } from './local-cluster.js';
import { MetricsScraper } from './metrics-scraper.js';
import { median } from './stats.js';
import { runProduce } from './workload.js';

/** A node samples its event loop with monitorEventLoopDelay at this resolution (src/observe/process-metrics.ts); an idle loop reads it. */
export const EVENT_LOOP_RESOLUTION_MS = 10;

/** One node's event-loop delay over the measured window, from its /metrics scrapes. */
export interface NodeEventLoop {
  readonly id: string;
  /** Largest delay beyond the sampling interval in any scrape (nodejs_eventloop_lag_max_seconds - 10 ms). */
  readonly maxDelayMs: number;
  /** Largest per-scrape p99 beyond the interval (nodejs_eventloop_lag_p99_seconds - 10 ms). */
  readonly p99DelayMs: number;
  readonly scrapes: number;
  /** Snapshots this node wrote during the window (quorumlog_snapshots_written_total). */
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
 * scrapes cost both the same, and each node's event-loop delay is read from them.
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
  scrapes: number;
  maxSeconds: number;
  p99Seconds: number;
  snapshotsFirst: number | null;
  snapshotsLast: number;
}

async function throughputRun(options: ThroughputOptions, snapshots: boolean, label: string): Promise<ThroughputRun> {
  const snapshotEntries = snapshots ? options.snapshotEntries : options.noSnapshotEntries;
  options.onPhase?.(`throughput ${label}: ${snapshots ? `a snapshot every ${snapshotEntries.toLocaleString('en-US')} entries` : 'no snapshots'}`);
  const dataRoot = fs.mkdtempSync(path.join(options.root, 'throughput-'));
  const cluster = await LocalCluster.start({ nodes: 3, dataRoot, flush: 'sync', http: true, nodeFlags: ['--snapshot-entries', String(snapshotEntries)] });
  const totals = new Map<string, ScrapeTotals>(cluster.httpAddresses.map((a) => [a, { scrapes: 0, maxSeconds: 0, p99Seconds: 0, snapshotsFirst: null, snapshotsLast: 0 }]));
  let measuring = false;
  const scraper = new MetricsScraper(cluster.httpAddresses, options.scrapeMs, (address, text) => {
    const t = totals.get(address);
    if (t === undefined || !measuring) return;
    const written = metricValue(text, 'quorumlog_snapshots_written_total') ?? 0;
    // The scrape's histogram covers the time since the previous scrape (the node resets it at each).
    t.scrapes++;
    t.maxSeconds = Math.max(t.maxSeconds, metricValue(text, 'nodejs_eventloop_lag_max_seconds') ?? 0);
    t.p99Seconds = Math.max(t.p99Seconds, metricValue(text, 'nodejs_eventloop_lag_p99_seconds') ?? 0);
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
        if (p.phase === 'measure') measuring = true;
      },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    measuring = false;
    await scraper.stop();
    if (cluster.failure !== null) throw new Error(cluster.failure);
    const eventLoop = cluster.ids.map((id, k): NodeEventLoop => {
      const t = totals.get(cluster.httpAddresses[k] ?? '');
      const beyond = (seconds: number): number => Math.max(0, seconds * 1000 - EVENT_LOOP_RESOLUTION_MS);
      return {
        id,
        maxDelayMs: beyond(t?.maxSeconds ?? 0),
        p99DelayMs: beyond(t?.p99Seconds ?? 0),
        scrapes: t?.scrapes ?? 0,
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
