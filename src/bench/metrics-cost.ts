import { runBench, type BenchConfig, type BenchReport } from './run-bench.js';
import { median, medianInterval } from './stats.js';

export interface MetricsCostOptions {
  /** Size, in-flight count, producers, durations, flush and durable mark of every run. */
  readonly config: BenchConfig;
  readonly pairs: number;
  /** How often the metered run's nodes are scraped. */
  readonly scrapeMs: number;
  /**
   * Neither run of a pair keeps metrics (an A/A run): what the measure reads when there is
   * nothing to find, that is its resolution on this machine at this hour.
   */
  readonly control: boolean;
  readonly signal?: AbortSignal;
  readonly onPhase?: (text: string) => void;
}

/** One pair: the same case on two fresh clusters, one after the other. */
export interface MetricsCostPair {
  readonly plainPerSecond: number;
  /** The metered run (in a control run, the second plain one). */
  readonly scrapedPerSecond: number;
  /** The nodes' CPU (all of them, measured window) per acknowledged message, in us; null when /proc could not be read. */
  readonly plainCpuUsPerMessage: number | null;
  readonly scrapedCpuUsPerMessage: number | null;
  readonly scrapes: number;
  readonly failedScrapes: number;
}

export interface MetricsCostReport {
  readonly control: boolean;
  readonly scrapeIntervalMs: number;
  readonly pairs: readonly MetricsCostPair[];
  /** Scraped over plain throughput, per pair, in pair order. */
  readonly ratios: readonly number[];
  readonly medianRatio: number;
  readonly cpuRatios: readonly number[];
  readonly medianCpuRatio: number | null;
}

/**
 * `--metrics-cost N`: N pairs of produce runs on fresh clusters, one whose nodes serve no
 * HTTP and one whose nodes keep metrics and are scraped every `scrapeMs`, the order flipping
 * each pair so that drift on a shared machine falls on both sides. What a pair's ratio
 * resolves is what the same pairs read with `control` (both plain).
 */
export async function runMetricsCost(options: MetricsCostOptions): Promise<MetricsCostReport> {
  // Pairs compare produce runs: a floor in each would only lengthen them.
  const base: BenchConfig = { ...options.config, drain: false, groupDrainMessages: 0, floorMs: 0 };
  const pairs: MetricsCostPair[] = [];
  const once = async (scraped: boolean, label: string): Promise<BenchReport> => {
    options.onPhase?.(label);
    return runBench({ ...base, metricsScrapeMs: scraped && !options.control ? options.scrapeMs : null }, { withoutLoopRecorder: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  };
  for (let k = 0; k < options.pairs; k++) {
    if (options.signal?.aborted === true) break;
    const scrapedFirst = k % 2 === 1;
    const name = (scraped: boolean): string => (options.control ? (scraped ? 'plain (B)' : 'plain (A)') : scraped ? 'scraped' : 'plain');
    const first = await once(scrapedFirst, `pair ${k + 1} of ${options.pairs}, ${name(scrapedFirst)}`);
    const second = await once(!scrapedFirst, `pair ${k + 1} of ${options.pairs}, ${name(!scrapedFirst)}`);
    const [plain, scraped] = scrapedFirst ? [second, first] : [first, second];
    pairs.push({
      plainPerSecond: plain.produce.messagesPerSecond,
      scrapedPerSecond: scraped.produce.messagesPerSecond,
      plainCpuUsPerMessage: nodesCpuUsPerMessage(plain),
      scrapedCpuUsPerMessage: nodesCpuUsPerMessage(scraped),
      scrapes: scraped.metrics?.scrapes ?? 0,
      failedScrapes: scraped.metrics?.failed ?? 0,
    });
  }
  const ratios = pairs.map((p) => (p.plainPerSecond > 0 ? p.scrapedPerSecond / p.plainPerSecond : 0));
  const cpuRatios = pairs.flatMap((p) => (p.plainCpuUsPerMessage === null || p.scrapedCpuUsPerMessage === null || p.plainCpuUsPerMessage === 0 ? [] : [p.scrapedCpuUsPerMessage / p.plainCpuUsPerMessage]));
  return { control: options.control, scrapeIntervalMs: options.scrapeMs, pairs, ratios, medianRatio: median(ratios), cpuRatios, medianCpuRatio: cpuRatios.length === 0 ? null : median(cpuRatios) };
}

/**
 * The report as lines: each pair, then the median ratios with a 95% interval and the spread,
 * and the throughput cost those say in percent (1 - ratio: 0.97x is 3% less throughput).
 */
export function formatMetricsCost(report: MetricsCostReport, config: Pick<BenchConfig, 'producers' | 'inflight' | 'sizeBytes'>): string {
  const msgs = (n: number): string => Math.round(n).toLocaleString('en-US');
  const cpu = (us: number | null): string => (us === null ? 'n/a' : us.toFixed(1));
  const second = report.control ? 'plain again' : `scraped every ${report.scrapeIntervalMs / 1000} s`;
  const lines = report.pairs.map(
    (p, k) =>
      `pair ${k + 1}: ${msgs(p.plainPerSecond)} msg/s without HTTP, ${msgs(p.scrapedPerSecond)} msg/s ${second}` +
      `${report.control ? '' : ` (${p.scrapes} scrapes${p.failedScrapes > 0 ? `, ${p.failedScrapes} failed` : ''})`}: ${(report.ratios[k] ?? 0).toFixed(3)}x; ` +
      `nodes' CPU ${cpu(p.plainCpuUsPerMessage)} against ${cpu(p.scrapedCpuUsPerMessage)} us/msg`,
  );
  if (report.pairs.length === 0) return lines.join('\n');
  const spread = (values: readonly number[]): string => `${Math.min(...values).toFixed(3)}-${Math.max(...values).toFixed(3)}`;
  const what = report.control ? 'control (neither run metered), second over first' : 'metrics cost: scraped over plain';
  const n = report.pairs.length;
  const m = medianInterval(report.ratios);
  // A cost is the throughput the scraped run lost, in percent of the plain run's: 0.97x is 3.0%, 1.01x is -1.0%.
  const cost = (ratio: number): string => `${((1 - ratio) * 100).toFixed(1)}%`;
  lines.push(
    `${what} throughput, median of ${n} pairs ${m.median.toFixed(3)}x (${Math.round(m.confidence * 100)}% interval ${m.low.toFixed(3)}-${m.high.toFixed(3)}; spread ${spread(report.ratios)}), ${config.producers} x ${config.inflight} in flight, ${config.sizeBytes} B`,
    `${what}: throughput cost ${cost(m.median)} (${Math.round(m.confidence * 100)}% interval ${cost(m.high)} to ${cost(m.low)})`,
  );
  if (report.medianCpuRatio !== null && report.cpuRatios.length > 0) {
    const c = medianInterval(report.cpuRatios);
    lines.push(`${what}, the nodes' CPU per message, median of ${report.cpuRatios.length} pairs ${c.median.toFixed(3)}x (${Math.round(c.confidence * 100)}% interval ${c.low.toFixed(3)}-${c.high.toFixed(3)}; spread ${spread(report.cpuRatios)})`);
  }
  return lines.join('\n') + '\n';
}

/** CPU seconds of every node in the measured window, per acknowledged message, in us (null without figures). */
function nodesCpuUsPerMessage(report: BenchReport): number | null {
  if (report.produce.messages === 0 || report.nodes.length === 0) return null;
  let seconds = 0;
  for (const node of report.nodes) {
    if (node.measuredCpuSeconds === null) return null;
    seconds += node.measuredCpuSeconds;
  }
  return (seconds * 1e6) / report.produce.messages;
}
