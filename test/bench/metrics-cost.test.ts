import { describe, expect, it } from 'vitest';

import { formatMetricsCost, type MetricsCostMode, type MetricsCostReport, type MetricsCostRound } from '../../src/bench/index.js';
import { pairedRunConfig, metricsCostReport } from '../../src/bench/metrics-cost.js';
import type { BenchConfig } from '../../src/bench/run-bench.js';

const CONFIG = { producers: 1, inflight: 64, sizeBytes: 1024 };

function report(rounds: readonly [plain: number, metered: number][], options: { readonly control?: boolean; readonly mode?: MetricsCostMode } = {}): MetricsCostReport {
  const rows: MetricsCostRound[] = rounds.map(([plain, metered]) => ({ plainPerSecond: plain, meteredPerSecond: metered, plainCpuUsPerMessage: 30, meteredCpuUsPerMessage: 31, scrapes: 10, failedScrapes: 0 }));
  return metricsCostReport(options.mode ?? 'interleaved', { control: options.control ?? false, scrapeMs: 1_000 }, rows);
}

describe('formatMetricsCost', () => {
  it('prints every round, the median ratio with its interval, and the throughput cost in percent', () => {
    // Ratios 0.95, 0.96, ..., 1.05 (eleven rounds): the median 1.00, the cost 0.0%.
    const rounds = Array.from({ length: 11 }, (_, k): [number, number] => [10_000, 9_500 + 100 * k]);
    const text = formatMetricsCost(report(rounds), CONFIG);
    expect(text).toMatch(/^round 1: 10,000 msg\/s plain, 9,500 msg\/s metered, scraped every 1 s \(10 scrapes\): 0\.950x; nodes' CPU 30\.0 against 31\.0 us\/msg$/m);
    expect(text).toMatch(/^metrics cost, in turns: metered over plain throughput, median of 11 rounds 1\.000x \(95% interval 0\.9\d\d-1\.0\d\d; spread 0\.950-1\.050\), 1 x 64 in flight, 1024 B$/m);
    // The interval of a median of eleven is narrower than the spread: its ends lie inside it.
    const [, low, high] = /interval (\d\.\d+)-(\d\.\d+)/.exec(text) ?? [];
    expect(Number(low)).toBeGreaterThan(0.95);
    expect(Number(high)).toBeLessThan(1.05);
    expect(text).toMatch(/^metrics cost, in turns: metered over plain: throughput cost 0\.0% \(95% interval -\d\.\d% to \d\.\d%\)$/m);
    expect(text).toMatch(/the nodes' CPU per message: median 1\.033x \(as a CPU-bound cluster's throughput cost 3\.2%\)/);
  });

  it('says a lower metered throughput is a positive cost', () => {
    const text = formatMetricsCost(report([[10_000, 9_700], [10_000, 9_700], [10_000, 9_700]]), CONFIG);
    expect(text).toMatch(/throughput cost 3\.0% \(95% interval 3\.0% to 3\.0%\)/);
  });

  it('names the pairing and a control run as such, with no scrape counts', () => {
    const text = formatMetricsCost(report([[10_000, 10_100]], { control: true, mode: 'alternating' }), CONFIG);
    expect(text).toMatch(/^round 1: 10,000 msg\/s plain, 10,100 msg\/s a second plain side: 1\.010x;/m);
    expect(text).toMatch(/^control \(neither side metered, fresh clusters in turn\), second over first throughput, median of 1 rounds 1\.010x/m);
    expect(text).toMatch(/throughput cost -1\.0%/);
    expect(formatMetricsCost(report([[10_000, 9_000]], { mode: 'together' }), CONFIG)).toMatch(/^metrics cost, both at once: metered over plain throughput/m);
  });
});

describe('the paired runs of --metrics-cost and --tls-cost', () => {
  it('run the case alone: no drain phases and no latency floor, whatever the command line asked of a single run', () => {
    const asked = { drain: true, groupDrainMessages: 100_000, floorMs: 3_000, inflight: 1, producers: 1 } as unknown as BenchConfig;
    expect(pairedRunConfig(asked)).toMatchObject({ drain: false, groupDrainMessages: 0, floorMs: 0, inflight: 1, producers: 1 });
  });
});
