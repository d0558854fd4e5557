import * as fs from 'node:fs';

import { measureNodeCpu, runMetricsCpu, type MetricsCpuOptions, type MetricsCpuReport, type NodeCpuOptions, type NodeObserver } from '../bench/index.js';
import { NodeMetrics, READY_APPLIED_LAG_ENTRIES_MAX, StatusPage } from '../observe/index.js';
import { realScheduler } from '../../storage/index.js';
import { UsageError } from './usage-error.js';

/**
 * What `quorumlog node --http-port` adds to a node, less the socket: its metrics (probe,
 * metered file system, gauges read at scrape) and the status page's history, sampled every
 * second. A scrape is the registry's text, as GET /metrics answers it.
 */
export function metricsObserver(): NodeObserver {
  const metrics = new NodeMetrics();
  let page: StatusPage | null = null;
  return {
    observation: { probe: metrics.probe, wrapFileSystem: (fs) => metrics.wrapFileSystem(fs) },
    attach: (node, dataDir) => {
      metrics.attach(node, dataDir);
      const id = node.status().id;
      page = new StatusPage({ node, scheduler: realScheduler, httpMembers: new Map(), memberIds: [id], writeLatency: metrics.writeLatency, appliedLagEntriesMax: READY_APPLIED_LAG_ENTRIES_MAX }, '127.0.0.1:0');
      page.start();
    },
    scrape: () => metrics.metrics(),
    stop: () => page?.stop(),
  };
}

/** `quorumlog bench --metrics-cpu N`: N rounds of the CPU measure, printed (and written as JSON). */
export async function runMetricsCpuCommand(options: MetricsCpuOptions & { readonly json: string | null }): Promise<number> {
  const { json, ...chosen } = options;
  const report = await runMetricsCpu(chosen);
  process.stdout.write(formatMetricsCpu(report, chosen));
  if (json !== null) fs.writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  return 0;
}

/** `quorumlog bench --metrics-cpu-run JSON`: one side of a round, in the process the parent started; prints its run as JSON. */
export async function runMetricsCpuChild(json: string): Promise<number> {
  let parsed: NodeCpuOptions & { readonly metered: boolean };
  try {
    parsed = JSON.parse(json) as NodeCpuOptions & { readonly metered: boolean };
  } catch (error) {
    throw new UsageError(`--metrics-cpu-run takes the JSON its parent writes: ${(error as Error).message}`);
  }
  const { metered, ...options } = parsed;
  const run = await measureNodeCpu(options, metered ? metricsObserver() : null);
  process.stdout.write(JSON.stringify(run) + '\n');
  return 0;
}

export function formatMetricsCpu(report: MetricsCpuReport, options: MetricsCpuOptions): string {
  const fmt = (n: number): string => n.toFixed(2);
  const lines = report.pairs.map(
    ([plain, metered], k) =>
      `round ${k + 1}: ${fmt(plain.cpuUsPerRecord)} us CPU/record (user ${fmt(plain.userUsPerRecord)}) without metrics, ${Math.round(plain.recordsPerSecond).toLocaleString('en-US')} records/s; ` +
      `${fmt(metered.cpuUsPerRecord)} (user ${fmt(metered.userUsPerRecord)}) with, ${Math.round(metered.recordsPerSecond).toLocaleString('en-US')} records/s, ${metered.scrapes} scrapes: ` +
      `${(report.ratios[k] ?? 0).toFixed(3)}x (user ${(report.userRatios[k] ?? 0).toFixed(3)}x)`,
  );
  const spread = (values: readonly number[]): string => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${sorted[0]?.toFixed(3)}-${sorted.at(-1)?.toFixed(3)}`;
  };
  lines.push(
    `metrics CPU cost, one node per process, ${options.records.toLocaleString('en-US')} records of ${options.recordBytes} B in calls of ${options.recordsPerCall} after ${options.warmupRecords.toLocaleString('en-US')}, a scrape every ${options.scrapeEveryRecords.toLocaleString('en-US')}: ` +
      `median of ${report.ratios.length} rounds ${report.medianRatio.toFixed(3)}x (spread ${spread(report.ratios)}), user CPU ${report.medianUserRatio.toFixed(3)}x (spread ${spread(report.userRatios)})`,
  );
  return lines.join('\n') + '\n';
}
