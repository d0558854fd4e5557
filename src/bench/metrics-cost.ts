import * as path from 'node:path';

import { runBenchChild } from './bench-child.js';
import { LocalCluster, type ProcessUsage } from './local-cluster.js';
import { nodesCpuMicrosPerMessage } from './report.js';
import { runBench, type BenchConfig } from './run-bench.js';
import { median, medianInterval, throughputCostPercent } from './stats.js';

/**
 * How `--metrics-cost` pairs a plain run with a metered one:
 *   alternating  fresh clusters one after the other (minutes apart over a whole run);
 *   together     two clusters producing at the same time (metrics-together.ts);
 *   interleaved  two clusters started once taking turns, the idle one stopped (metrics-interleaved.ts).
 */
export type MetricsCostMode = 'alternating' | 'together' | 'interleaved';

export interface MetricsCostOptions {
  /** Size, in-flight count, producers, durations, flush and durable mark of both sides. */
  readonly config: BenchConfig;
  readonly rounds: number;
  /** How often the metered side's nodes are scraped. */
  readonly scrapeMs: number;
  /**
   * Neither side keeps metrics (an A/A run): what the measure reads when there is nothing to
   * find, that is its resolution on this machine at this hour.
   */
  readonly control: boolean;
  readonly signal?: AbortSignal;
  readonly onPhase?: (text: string) => void;
}

/** One round: a plain side and a metered side of the same case. */
export interface MetricsCostRound {
  readonly plainPerSecond: number;
  /** The metered side (in a control run, the second plain side). */
  readonly meteredPerSecond: number;
  /** The nodes' CPU (all of them) per acknowledged message, in us; null without /proc. */
  readonly plainCpuUsPerMessage: number | null;
  readonly meteredCpuUsPerMessage: number | null;
  readonly scrapes: number;
  readonly failedScrapes: number;
}

export interface MetricsCostReport {
  readonly mode: MetricsCostMode;
  readonly control: boolean;
  readonly scrapeIntervalMs: number;
  readonly rounds: readonly MetricsCostRound[];
  /** Metered over plain throughput, per round, in round order. */
  readonly ratios: readonly number[];
  readonly medianRatio: number;
  readonly cpuRatios: readonly number[];
  readonly medianCpuRatio: number | null;
}

/** What one side of a round measured. */
export interface MetricsCostSide {
  readonly perSecond: number;
  readonly cpuUsPerMessage: number | null;
  readonly scrapes: number;
  readonly failedScrapes: number;
}

/** A round from its two sides (scrapes are the metered side's). */
export function roundOf(plain: MetricsCostSide, metered: MetricsCostSide): MetricsCostRound {
  return {
    plainPerSecond: plain.perSecond,
    meteredPerSecond: metered.perSecond,
    plainCpuUsPerMessage: plain.cpuUsPerMessage,
    meteredCpuUsPerMessage: metered.cpuUsPerMessage,
    scrapes: metered.scrapes,
    failedScrapes: metered.failedScrapes,
  };
}

/** The report of `rounds`, with each round's ratios and their medians. */
export function metricsCostReport(mode: MetricsCostMode, options: Pick<MetricsCostOptions, 'control' | 'scrapeMs'>, rounds: readonly MetricsCostRound[]): MetricsCostReport {
  const ratios = rounds.map((r) => (r.plainPerSecond > 0 ? r.meteredPerSecond / r.plainPerSecond : 0));
  const cpuRatios = rounds.flatMap((r) => (r.plainCpuUsPerMessage === null || r.meteredCpuUsPerMessage === null || r.plainCpuUsPerMessage === 0 ? [] : [r.meteredCpuUsPerMessage / r.plainCpuUsPerMessage]));
  return { mode, control: options.control, scrapeIntervalMs: options.scrapeMs, rounds, ratios, medianRatio: median(ratios), cpuRatios, medianCpuRatio: cpuRatios.length === 0 ? null : median(cpuRatios) };
}

/**
 * `--metrics-cost N` on its own: N rounds of produce runs on fresh clusters, one whose nodes
 * serve no HTTP and one whose nodes keep metrics and are scraped every `scrapeMs`, the order
 * flipping each round so that drift on a shared machine falls on both sides. The nodes run
 * without the bench's event-loop recorder (see BenchHooks.withoutLoopRecorder).
 */
export async function runMetricsAlternating(options: MetricsCostOptions): Promise<MetricsCostReport> {
  const base = pairedRunConfig(options.config);
  const rounds: MetricsCostRound[] = [];
  const once = async (metered: boolean, label: string): Promise<MetricsCostSide> => {
    options.onPhase?.(label);
    const report = await runBench({ ...base, metricsScrapeMs: metered && !options.control ? options.scrapeMs : null }, { withoutLoopRecorder: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return { perSecond: report.produce.messagesPerSecond, cpuUsPerMessage: nodesCpuMicrosPerMessage(report), scrapes: report.metrics?.scrapes ?? 0, failedScrapes: report.metrics?.failed ?? 0 };
  };
  for (let k = 0; k < options.rounds; k++) {
    if (options.signal?.aborted === true) break;
    const meteredFirst = k % 2 === 1;
    const name = (metered: boolean): string => (metered && !options.control ? 'metered' : 'plain');
    const first = await once(meteredFirst, `round ${k + 1} of ${options.rounds}, ${name(meteredFirst)}`);
    const second = await once(!meteredFirst, `round ${k + 1} of ${options.rounds}, ${name(!meteredFirst)}`);
    const [plain, metered] = meteredFirst ? [second, first] : [first, second];
    rounds.push(roundOf(plain, metered));
  }
  return metricsCostReport('alternating', options, rounds);
}

/**
 * A run of a pair that sets two clusters against each other (--metrics-cost, --tls-cost): the
 * produce case alone, with no drain phases and no latency floor (at one record in flight a
 * run would otherwise measure the floor before every cluster).
 */
export function pairedRunConfig(config: BenchConfig): BenchConfig {
  return { ...config, drain: false, groupDrainMessages: 0, floorMs: 0 };
}

/**
 * Starts the two clusters of a together or interleaved run at once under `root`: `plain`
 * serves no HTTP, `metered` keeps metrics (unless `control`). If either fails to start, the
 * other is stopped before the error is thrown.
 */
export async function startPlainAndMetered(config: BenchConfig, root: string, control: boolean): Promise<{ readonly plain: LocalCluster; readonly metered: LocalCluster }> {
  const started = await Promise.allSettled(
    (['plain', 'metered'] as const).map((side) =>
      LocalCluster.start({ nodes: config.nodes, dataRoot: path.join(root, side), flush: config.flush, durableMark: config.durableMark, http: side === 'metered' && !control }),
    ),
  );
  const [plain, metered] = started;
  if (plain?.status === 'fulfilled' && metered?.status === 'fulfilled') return { plain: plain.value, metered: metered.value };
  await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  throw failed?.reason;
}

/** Each side's disk probe: the child bench always runs one; kept short, it is not what is measured. */
const CHILD_DISK_PROBE = '100ms';

/** Beyond warm-up and duration, how long a side's bench may take before it is taken for stuck. */
const CHILD_SLACK_MS = 60_000;

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

/** The nodes' CPU between two readings, per message, in us; null without every figure. */
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

const HOW: Record<MetricsCostMode, string> = { alternating: 'fresh clusters in turn', together: 'both at once', interleaved: 'in turns' };

/**
 * The report as lines: each round, then the median throughput ratio with a 95% interval and
 * its spread, that ratio as a cost in percent (1 - ratio: 0.97x is 3.0% less throughput),
 * and the nodes' CPU per message.
 */
export function formatMetricsCost(report: MetricsCostReport, config: Pick<BenchConfig, 'producers' | 'inflight' | 'sizeBytes'>): string {
  const msgs = (n: number): string => Math.round(n).toLocaleString('en-US');
  const cpu = (us: number | null): string => (us === null ? 'n/a' : us.toFixed(1));
  const second = report.control ? 'a second plain side' : `metered, scraped every ${report.scrapeIntervalMs / 1000} s`;
  const lines = report.rounds.map(
    (r, k) =>
      `round ${k + 1}: ${msgs(r.plainPerSecond)} msg/s plain, ${msgs(r.meteredPerSecond)} msg/s ${second}` +
      `${report.control ? '' : ` (${r.scrapes} scrapes${r.failedScrapes > 0 ? `, ${r.failedScrapes} failed` : ''})`}: ${(report.ratios[k] ?? 0).toFixed(3)}x; ` +
      `nodes' CPU ${cpu(r.plainCpuUsPerMessage)} against ${cpu(r.meteredCpuUsPerMessage)} us/msg`,
  );
  if (report.ratios.length === 0) return '';
  const spread = (values: readonly number[]): string => `${Math.min(...values).toFixed(3)}-${Math.max(...values).toFixed(3)}`;
  const what = report.control ? `control (neither side metered, ${HOW[report.mode]}), second over first` : `metrics cost, ${HOW[report.mode]}: metered over plain`;
  const m = medianInterval(report.ratios);
  const percent = `${Math.round(m.confidence * 100)}%`;
  const cost = (ratio: number): string => `${((1 - ratio) * 100).toFixed(1)}%`;
  lines.push(
    `${what} throughput, median of ${report.rounds.length} rounds ${m.median.toFixed(3)}x (${percent} interval ${m.low.toFixed(3)}-${m.high.toFixed(3)}; spread ${spread(report.ratios)}), ${config.producers} x ${config.inflight} in flight, ${config.sizeBytes} B`,
    `${what}: throughput cost ${cost(m.median)} (${percent} interval ${cost(m.high)} to ${cost(m.low)})`,
  );
  if (report.cpuRatios.length > 0) {
    const c = medianInterval(report.cpuRatios);
    const asCost = c.median > 0 ? ` (as a CPU-bound cluster's throughput cost ${throughputCostPercent(c.median).toFixed(1)}%)` : '';
    lines.push(`${what}, the nodes' CPU per message: median ${c.median.toFixed(3)}x${asCost} (${percent} interval ${c.low.toFixed(3)}-${c.high.toFixed(3)}; spread ${spread(report.cpuRatios)})`);
  }
  return lines.join('\n') + '\n';
}
