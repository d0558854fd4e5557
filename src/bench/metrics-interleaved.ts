import * as fs from 'node:fs';
import * as path from 'node:path';

import type { LocalCluster } from './local-cluster.js';
import { cpuUsPerMessage, metricsCostReport, roundOf, runSide, startPlainAndMetered, type MetricsCostOptions, type MetricsCostReport, type MetricsCostRound, type MetricsCostSide } from './metrics-cost.js';
import { MetricsScraper } from './metrics-scraper.js';
import type { BenchReport } from './run-bench.js';

type Side = 'plain' | 'metered';

/**
 * What metrics cost, the two sides in turns on two clusters that live through the whole run.
 * Both three-node clusters start once; then each round produces to one for a warm-up and a
 * window while every process of the other is stopped (SIGSTOP), then the other way round,
 * the order flipping each round. The metered side's nodes keep metrics and are scraped every
 * `scrapeMs` while it runs. A round's two windows are seconds apart on the same two clusters,
 * so a machine whose speed drifts over minutes, and the luck of a fresh cluster (where its
 * leader landed, its disk's state), move both alike; a stopped cluster spends no CPU, so
 * neither side pays for the other. A stop of a few seconds is one Raft tick to a node (its
 * ticks are an interval timer, which does not catch up), so no election follows a resume.
 */
export async function runMetricsInterleaved(options: MetricsCostOptions): Promise<MetricsCostReport> {
  const { config } = options;
  fs.mkdirSync(config.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(config.dataParent, 'quorumlog-metrics-interleaved-'));
  const clusters: LocalCluster[] = [];
  const rounds: MetricsCostRound[] = [];
  try {
    options.onPhase?.('starting two clusters');
    const { plain, metered } = await startPlainAndMetered(config, root, options.control);
    clusters.push(plain, metered);
    const bySide: Record<Side, LocalCluster> = { plain, metered };
    for (const cluster of clusters) setStopped(cluster, true);
    for (let k = 0; k < options.rounds; k++) {
      if (options.signal?.aborted === true) break;
      const meteredFirst = k % 2 === 1;
      const turn = (side: Side): Promise<MetricsCostSide> => {
        const scraped = side === 'metered' && !options.control;
        options.onPhase?.(`round ${k + 1} of ${options.rounds}: ${scraped ? 'metered' : 'plain'} cluster ${side === 'plain' ? 'A' : 'B'}, the other stopped`);
        return oneTurn(options, bySide[side], scraped, path.join(root, `turn-${k}-${side}.json`));
      };
      const first = await turn(meteredFirst ? 'metered' : 'plain');
      const second = await turn(meteredFirst ? 'plain' : 'metered');
      for (const cluster of clusters) if (cluster.failure !== null) throw new Error(cluster.failure);
      rounds.push(meteredFirst ? roundOf(second, first) : roundOf(first, second));
    }
  } finally {
    // stop() continues a stopped node before its SIGTERM.
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  }
  return metricsCostReport('interleaved', options, rounds);
}

/** One side's turn: continue its nodes, produce from a bench process of its own (scraping them when metered), stop them again. */
async function oneTurn(options: MetricsCostOptions, cluster: LocalCluster, metered: boolean, json: string): Promise<MetricsCostSide> {
  setStopped(cluster, false);
  const scraper = metered ? new MetricsScraper(cluster.httpAddresses, options.scrapeMs) : null;
  try {
    const before = cluster.usage();
    await runSide(options.config, cluster.clientAddresses, json, options.signal);
    const after = cluster.usage();
    const scraped = (await scraper?.stop()) ?? { scrapes: 0, failed: 0 };
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchReport;
    return { perSecond: report.produce.messagesPerSecond, cpuUsPerMessage: cpuUsPerMessage(before, after, report.produce.acknowledgedTotal), scrapes: scraped.scrapes, failedScrapes: scraped.failed };
  } finally {
    await scraper?.stop();
    setStopped(cluster, true);
  }
}

/** SIGSTOP (or SIGCONT) every node of `cluster`. */
function setStopped(cluster: LocalCluster, stopped: boolean): void {
  for (const id of cluster.ids) {
    const proc = cluster.processOf(id);
    if (stopped) proc?.pause();
    else proc?.resume();
  }
}
