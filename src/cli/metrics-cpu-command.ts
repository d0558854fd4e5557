import * as fs from 'node:fs';
import * as readline from 'node:readline';

import { measureNodeCpu, METRICS_CPU_GO, METRICS_CPU_READY, runMetricsCpu, type MetricsCpuOptions, type MetricsCpuPair, type MetricsCpuReport, type MetricsCpuSummary, type NodeCpuOptions, type NodeObserver } from '../bench/index.js';
import { NodeMetrics, READY_APPLIED_LAG_ENTRIES_MAX, startHttpEndpoint, type HttpEndpoint } from '../observe/index.js';
import { realScheduler } from '../../storage/index.js';
import { UsageError } from './usage-error.js';

/**
 * What `quorumlog node --http-port` adds to a node: its metrics (probe, metered file system,
 * gauges read at scrape) and its HTTP endpoint (/metrics, the status page with its history
 * sampled every second), here on a free port of 127.0.0.1.
 */
export function metricsObserver(): NodeObserver {
  const metrics = new NodeMetrics();
  let endpoint: HttpEndpoint | null = null;
  return {
    observation: metrics.observation,
    attach: async (node, dataDir) => {
      metrics.attach(node, dataDir);
      const id = node.status().id;
      endpoint = await startHttpEndpoint({
        host: '127.0.0.1',
        port: 0,
        metrics,
        node,
        appliedLagEntriesMax: READY_APPLIED_LAG_ENTRIES_MAX,
        page: { scheduler: realScheduler, httpMembers: new Map(), memberIds: [id] },
      });
      return endpoint.address;
    },
    scrapesServed: () => metrics.scrapes,
    stop: async () => {
      await endpoint?.close();
      metrics.close();
    },
  };
}

/** `quorumlog bench --metrics-cpu N`: N rounds of the CPU measure, printed (and written as JSON). */
export async function runMetricsCpuCommand(options: MetricsCpuOptions & { readonly json: string | null; readonly onPhase?: (text: string) => void }): Promise<number> {
  const { json, onPhase, ...chosen } = options;
  const report = await runMetricsCpu(chosen, onPhase);
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
  // The metered side says where it listens first, for the parent to scrape it; both say when
  // they are ready and wait for the parent's go; the run's JSON is the last line.
  const run = await measureNodeCpu(options, metered ? metricsObserver() : null, {
    onListening: (address) => process.stdout.write(`${JSON.stringify({ listening: address })}\n`),
    ready: async () => {
      process.stdout.write(`${METRICS_CPU_READY}\n`);
      await lineFromStdin(METRICS_CPU_GO);
    },
  });
  process.stdout.write(JSON.stringify(run) + '\n');
  return 0;
}

export function formatMetricsCpu(report: MetricsCpuReport, options: MetricsCpuOptions): string {
  const fmt = (n: number): string => n.toFixed(2);
  const rate = (n: number): string => Math.round(n).toLocaleString('en-US');
  const pair = (p: MetricsCpuPair, second: string): string =>
    `${fmt(p.first.cpuUsPerRecord)} us CPU/record (${rate(p.first.recordsPerSecond)} records/s) without metrics, ` +
    `${fmt(p.second.cpuUsPerRecord)} (${rate(p.second.recordsPerSecond)} records/s) ${second}: ${p.cpuRatio.toFixed(3)}x`;
  const lines: string[] = [];
  for (const [k, metered] of report.metered.entries()) {
    lines.push(`round ${k + 1}: ${pair(metered, `with, ${metered.second.scrapes} scrapes`)}`);
    const control = report.control[k];
    if (control !== undefined) lines.push(`round ${k + 1} control: ${pair(control, 'and again without')}`);
  }
  const summary = (what: string, s: MetricsCpuSummary): string => {
    const r = s.cpuRatio;
    const t = s.throughputCostPercent;
    return `${what}: CPU per record median ${r.median.toFixed(3)}x (${Math.round(r.confidence * 100)}% interval ${r.low.toFixed(3)}-${r.high.toFixed(3)}, ${r.count} pairs), ` +
      `as a CPU-bound node's throughput cost ${percent(t.median)} (interval ${percent(t.low)} to ${percent(t.high)}); records/s ratio median ${s.medianRateRatio.toFixed(3)}x`;
  };
  lines.push(
    `metrics cost, one node per process, ${options.records.toLocaleString('en-US')} records of ${options.recordBytes} B in calls of ${options.recordsPerCall} after ${options.warmupRecords.toLocaleString('en-US')}, ${options.recordsPerSecond === null ? 'flat out' : `held to ${options.recordsPerSecond.toLocaleString('en-US')} records/s`}, flush ${options.flush}, /metrics scraped over HTTP every ${report.scrapeIntervalMs / 1000} s`,
    summary('  metered over plain', report.meteredSummary),
    summary('  control, plain over plain', report.controlSummary),
    `  the metered process spent ${report.addedCpuMsPerSecond.toFixed(1)} ms of CPU a second more than the plain one (median)`,
  );
  return lines.join('\n') + '\n';
}

/** A signed percentage with one decimal. */
function percent(value: number): string {
  return `${value >= 0 ? '' : '-'}${Math.abs(value).toFixed(1)}%`;
}

/** Resolves when stdin brings a line equal to `expected`; rejects when stdin ends first (the parent is gone). */
async function lineFromStdin(expected: string): Promise<void> {
  const lines = readline.createInterface({ input: process.stdin });
  try {
    for await (const line of lines) if (line.trim() === expected) return;
    throw new Error(`stdin ended before "${expected}"`);
  } finally {
    lines.close();
  }
}
