import * as fs from 'node:fs';
import * as path from 'node:path';

import type { LocalCluster } from './local-cluster.js';
import { cpuUsPerMessage, metricsCostReport, runSide, startPlainAndMetered, type MetricsCostOptions, type MetricsCostReport, type MetricsCostRound } from './metrics-cost.js';
import { MetricsScraper } from './metrics-scraper.js';
import type { BenchReport } from './run-bench.js';

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
export async function runMetricsTogether(options: MetricsCostOptions): Promise<MetricsCostReport> {
  const rounds: MetricsCostRound[] = [];
  for (let k = 0; k < options.rounds; k++) {
    if (options.signal?.aborted === true) break;
    options.onPhase?.(`round ${k + 1} of ${options.rounds}: two clusters producing at once${options.control ? ' (control: neither metered)' : ''}`);
    rounds.push(await oneRound(options, k));
  }
  return metricsCostReport('together', options, rounds);
}

async function oneRound(options: MetricsCostOptions, round: number): Promise<MetricsCostRound> {
  const { config } = options;
  fs.mkdirSync(config.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(config.dataParent, 'quorumlog-metrics-together-'));
  const clusters: LocalCluster[] = [];
  let scraper: MetricsScraper | null = null;
  try {
    const { plain, metered } = await startPlainAndMetered(config, root, options.control);
    clusters.push(plain, metered);
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
