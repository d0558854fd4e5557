import { describe, expect, it } from 'vitest';

import { formatMetricsCost, type MetricsCostPair, type MetricsCostReport } from '../../src/bench/index.js';

const CONFIG = { producers: 1, inflight: 64, sizeBytes: 1024 };

function report(pairs: readonly [plain: number, scraped: number][], control = false): MetricsCostReport {
  const rows: MetricsCostPair[] = pairs.map(([plain, scraped]) => ({ plainPerSecond: plain, scrapedPerSecond: scraped, plainCpuUsPerMessage: 30, scrapedCpuUsPerMessage: 31, scrapes: 10, failedScrapes: 0 }));
  const ratios = rows.map((p) => p.scrapedPerSecond / p.plainPerSecond);
  const sorted = [...ratios].sort((a, b) => a - b);
  return { control, scrapeIntervalMs: 1_000, pairs: rows, ratios, medianRatio: sorted[Math.floor(sorted.length / 2)] ?? 0, cpuRatios: rows.map(() => 31 / 30), medianCpuRatio: 31 / 30 };
}

describe('formatMetricsCost', () => {
  it('prints every pair, the median ratio with its interval, and the throughput cost in percent', () => {
    // Ratios 0.95, 0.96, ..., 1.05 (eleven pairs): the median 1.00, the cost 0.0%.
    const pairs = Array.from({ length: 11 }, (_, k): [number, number] => [10_000, 9_500 + 100 * k]);
    const text = formatMetricsCost(report(pairs), CONFIG);
    expect(text).toMatch(/^pair 1: 10,000 msg\/s without HTTP, 9,500 msg\/s scraped every 1 s \(10 scrapes\): 0\.950x; nodes' CPU 30\.0 against 31\.0 us\/msg$/m);
    expect(text).toMatch(/^metrics cost: scraped over plain throughput, median of 11 pairs 1\.000x \(95% interval 0\.9\d\d-1\.0\d\d; spread 0\.950-1\.050\), 1 x 64 in flight, 1024 B$/m);
    // The interval of a median of eleven is wider than the middle pair: its ends lie inside the spread.
    const [, low, high] = /interval (\d\.\d+)-(\d\.\d+)/.exec(text) ?? [];
    expect(Number(low)).toBeGreaterThan(0.95);
    expect(Number(high)).toBeLessThan(1.05);
    expect(text).toMatch(/^metrics cost: scraped over plain: throughput cost 0\.0% \(95% interval -\d\.\d% to \d\.\d%\)$/m);
    expect(text).toMatch(/the nodes' CPU per message, median of 11 pairs 1\.033x/);
  });

  it('says a lower scraped throughput is a positive cost', () => {
    const text = formatMetricsCost(report([[10_000, 9_700], [10_000, 9_700], [10_000, 9_700]]), CONFIG);
    expect(text).toMatch(/throughput cost 3\.0% \(95% interval 3\.0% to 3\.0%\)/);
  });

  it('names a control run as such, with no scrape counts', () => {
    const text = formatMetricsCost(report([[10_000, 10_100]], true), CONFIG);
    expect(text).toMatch(/^pair 1: 10,000 msg\/s without HTTP, 10,100 msg\/s plain again: 1\.010x;/m);
    expect(text).toMatch(/^control \(neither run metered\), second over first throughput, median of 1 pairs 1\.010x/m);
    expect(text).toMatch(/throughput cost -1\.0%/);
  });
});
