import * as fs from 'node:fs';
import * as path from 'node:path';

import { runBenchChild } from './bench-child.js';
import { LocalCluster, type ProcessUsage } from './local-cluster.js';
import { MetricsScraper } from './metrics-scraper.js';
import type { BenchConfig, BenchReport } from './run-bench.js';
import { median, medianInterval, throughputCostPercent } from './stats.js';

/** Each side's disk probe: the child bench always runs one; kept short, it is not what is measured. */
const CHILD_DISK_PROBE = '100ms';

/** Beyond warm-up and duration, how long a side's bench may take before it is taken for stuck. */
const CHILD_SLACK_MS = 60_000;

export interface MetricsTogetherOptions {
  /** Size, in-flight count, producers, durations, flush and durable mark of both sides. */
  readonly config: BenchConfig;
  readonly rounds: number;
  /** How often the metered side's nodes are scraped. */
  readonly scrapeMs: number;
  /**
   * Both sides without HTTP: an A/A run, which shows what the measure reads when there is
   * nothing to find (its resolution on this machine at this hour).
   */
  readonly control: boolean;
  readonly signal?: AbortSignal;
  readonly onPhase?: (text: string) => void;
}

/** One round: two clusters producing at the same time, one of them metered and scraped. */
export interface MetricsTogetherRound {
  readonly plainPerSecond: number;
  /** The metered side (in a control run, the second plain side). */
  readonly meteredPerSecond: number;
  /** The nodes' CPU over the whole side's run (warm-up included) per acknowledged message, in us; null without /proc. */
  readonly plainCpuUsPerMessage: number | null;
  readonly meteredCpuUsPerMessage: number | null;
  readonly scrapes: number;
  readonly failedScrapes: number;
}

export interface MetricsTogetherReport {
  /** Both sides producing at once (`together`), or in turns with the other side stopped (`interleaved`). */
  readonly mode: 'together' | 'interleaved';
  readonly control: boolean;
  readonly scrapeIntervalMs: number;
  readonly rounds: readonly MetricsTogetherRound[];
  /** Metered over plain throughput, per round, in round order. */
  readonly ratios: readonly number[];
  readonly medianRatio: number;
  readonly cpuRatios: readonly number[];
  readonly medianCpuRatio: number | null;
}

/**
 * What metrics cost, with both sides running at once. Each round starts two three-node
 * clusters, one whose nodes serve no HTTP and one whose nodes keep metrics and are scraped
 * every `scrapeMs`, and produces to both at the same time, each from a bench process of its
 * own (`quorumlog bench --brokers`), for the same warm-up and duration. The two share the
 * machine's cores and disk for the whole window, so what other work does to the machine
 * meanwhile falls on both; what the metered side spends on metrics is CPU the plain side gets
 * instead, and shows as the ratio of their throughputs. Alternating runs (`--metrics-cost`
 * without `--together`) measure each side at a different moment and swing with the machine.
 */
export async function runMetricsTogether(options: MetricsTogetherOptions): Promise<MetricsTogetherReport> {
  const rounds: MetricsTogetherRound[] = [];
  for (let k = 0; k < options.rounds; k++) {
    if (options.signal?.aborted === true) break;
    options.onPhase?.(`round ${k + 1} of ${options.rounds}: two clusters producing at once${options.control ? ' (control: neither metered)' : ''}`);
    rounds.push(await oneRound(options, k));
  }
  const ratios = rounds.map((r) => (r.plainPerSecond > 0 ? r.meteredPerSecond / r.plainPerSecond : 0));
  const cpuRatios = rounds.flatMap((r) => (r.plainCpuUsPerMessage === null || r.meteredCpuUsPerMessage === null || r.plainCpuUsPerMessage === 0 ? [] : [r.meteredCpuUsPerMessage / r.plainCpuUsPerMessage]));
  return { mode: 'together', control: options.control, scrapeIntervalMs: options.scrapeMs, rounds, ratios, medianRatio: median(ratios), cpuRatios, medianCpuRatio: cpuRatios.length === 0 ? null : median(cpuRatios) };
}

async function oneRound(options: MetricsTogetherOptions, round: number): Promise<MetricsTogetherRound> {
  const { config } = options;
  fs.mkdirSync(config.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(config.dataParent, 'quorumlog-metrics-together-'));
  const clusters: LocalCluster[] = [];
  let scraper: MetricsScraper | null = null;
  try {
    const started = await Promise.allSettled(
      (['plain', 'metered'] as const).map((side) =>
        LocalCluster.start({ nodes: config.nodes, dataRoot: path.join(root, side), flush: config.flush, durableMark: config.durableMark, http: side === 'metered' && !options.control }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') clusters.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const [plain, metered] = clusters as [LocalCluster, LocalCluster];
    if (!options.control) scraper = new MetricsScraper(metered.httpAddresses, options.scrapeMs);
    const before = [plain.usage(), metered.usage()];
    // Which side's bench process starts first flips each round (they start microseconds apart).
    const sides = [plain, metered].map((cluster, k) => ({ cluster, json: path.join(root, `side-${k}.json`) }));
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    await Promise.all(order.map((side) => runSide(config, side.cluster.clientAddresses, side.json, options.signal)));
    const after = [plain.usage(), metered.usage()];
    const scraped = (await scraper?.stop()) ?? { scrapes: 0, failed: 0 };
    for (const cluster of clusters) if (cluster.failure !== null) throw new Error(cluster.failure);
    const [plainReport, meteredReport] = sides.map((side) => JSON.parse(fs.readFileSync(side.json, 'utf8')) as BenchReport) as [BenchReport, BenchReport];
    return {
      plainPerSecond: plainReport.produce.messagesPerSecond,
      meteredPerSecond: meteredReport.produce.messagesPerSecond,
      plainCpuUsPerMessage: cpuUsPerMessage(before[0] ?? [], after[0] ?? [], plainReport.produce.acknowledgedTotal),
      meteredCpuUsPerMessage: cpuUsPerMessage(before[1] ?? [], after[1] ?? [], meteredReport.produce.acknowledgedTotal),
      scrapes: scraped.scrapes,
      failedScrapes: scraped.failed,
    };
  } finally {
    await scraper?.stop();
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** One side's produce run: `quorumlog bench --brokers` in a process of its own, its report written to `json`. */
export async function runSide(config: BenchConfig, brokers: readonly string[], json: string, signal: AbortSignal | undefined): Promise<void> {
  const args = [
    '--brokers', brokers.join(','),
    '--api', config.api,
    '--producers', String(config.producers),
    '--inflight', String(config.inflight),
    '--size', String(config.sizeBytes),
    '--acks', config.acks,
    '--duration', `${config.durationMs}ms`,
    '--warmup', `${config.warmupMs}ms`,
    '--disk-probe', CHILD_DISK_PROBE,
    '--dir', config.dataParent,
    '--no-drain',
    '--no-e2e',
    '--json', json,
    ...(config.clientBatching ? [] : ['--no-batch']),
    ...(config.batchRecordsMax === null ? [] : ['--batch-records', String(config.batchRecordsMax)]),
  ];
  await runBenchChild(args, { what: "a side's bench", deadlineMs: config.warmupMs + config.durationMs + CHILD_SLACK_MS, ...(signal === undefined ? {} : { signal }) });
}

export function cpuUsPerMessage(before: readonly ProcessUsage[], after: readonly ProcessUsage[], messages: number): number | null {
  if (messages === 0) return null;
  let seconds = 0;
  for (const [k, end] of after.entries()) {
    const start = before[k]?.cpuSeconds;
    if (start === null || start === undefined || end.cpuSeconds === null) return null;
    seconds += end.cpuSeconds - start;
  }
  return (seconds * 1e6) / messages;
}

/** The report as lines: each round, then the median ratios with their spread. */
export function formatMetricsTogether(report: MetricsTogetherReport, config: BenchConfig): string {
  const msgs = (n: number): string => Math.round(n).toLocaleString('en-US');
  const cpu = (us: number | null): string => (us === null ? 'n/a' : us.toFixed(1));
  const second = report.control ? 'a second plain cluster' : `metered, scraped every ${report.scrapeIntervalMs / 1000} s`;
  const lines = report.rounds.map(
    (r, k) =>
      `round ${k + 1}: ${msgs(r.plainPerSecond)} msg/s plain, ${msgs(r.meteredPerSecond)} msg/s ${second}` +
      `${report.control ? '' : ` (${r.scrapes} scrapes${r.failedScrapes > 0 ? `, ${r.failedScrapes} failed` : ''})`}: ${(report.ratios[k] ?? 0).toFixed(3)}x; ` +
      `nodes' CPU ${cpu(r.plainCpuUsPerMessage)} against ${cpu(r.meteredCpuUsPerMessage)} us/msg`,
  );
  const spread = (values: readonly number[]): string => `${Math.min(...values).toFixed(3)}-${Math.max(...values).toFixed(3)}`;
  const interval = (values: readonly number[]): string => {
    const m = medianInterval(values);
    return `${Math.round(m.confidence * 100)}% interval ${m.low.toFixed(3)}-${m.high.toFixed(3)}`;
  };
  const how = report.mode === 'together' ? 'both at once' : 'in turns';
  const what = report.control ? `control (neither side metered, ${how}), second over first` : `metrics cost, ${how}: metered over plain`;
  lines.push(`${what} throughput, median of ${report.rounds.length} rounds ${report.medianRatio.toFixed(3)}x (${interval(report.ratios)}; spread ${spread(report.ratios)}), ${config.producers} x ${config.inflight} in flight, ${config.sizeBytes} B`);
  if (report.ratios.length > 0) {
    // The throughput the metered side lost, in percent of the plain side's: 0.97x is 3.0%, 1.01x is -1.0%.
    const m = medianInterval(report.ratios);
    const cost = (ratio: number): string => `${((1 - ratio) * 100).toFixed(1)}%`;
    lines.push(`${what}: throughput cost ${cost(m.median)} (${Math.round(m.confidence * 100)}% interval ${cost(m.high)} to ${cost(m.low)})`);
  }
  if (report.medianCpuRatio !== null) {
    const cost = report.medianCpuRatio > 0 ? ` (as a CPU-bound cluster's throughput cost ${throughputCostPercent(report.medianCpuRatio).toFixed(1)}%)` : '';
    lines.push(`${what} nodes' CPU per message, median ${report.medianCpuRatio.toFixed(3)}x${cost} (${interval(report.cpuRatios)}; spread ${spread(report.cpuRatios)})`);
  }
  return lines.join('\n') + '\n';
}
