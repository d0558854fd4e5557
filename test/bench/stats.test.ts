import { describe, expect, it } from 'vitest';

import { LatencyRecorder, median, medianInterval, percentileOfSorted, perSecond, RateSeries, ratio, throughputCostPercent } from '../../src/bench/stats.js';
import { PayloadFactory, sentMsOf } from '../../src/bench/payload.js';

describe('percentileOfSorted (nearest rank)', () => {
  const hundred = Float64Array.from({ length: 100 }, (_, k) => k + 1);

  it('gives the smallest sample with at least p of all at or below it', () => {
    expect(percentileOfSorted(hundred, 0.5)).toBe(50);
    expect(percentileOfSorted(hundred, 0.9)).toBe(90);
    expect(percentileOfSorted(hundred, 0.99)).toBe(99);
    expect(percentileOfSorted(hundred, 0.999)).toBe(100);
    expect(percentileOfSorted(hundred, 1)).toBe(100);
    expect(percentileOfSorted(hundred, 0)).toBe(1);
  });

  it('handles tiny and empty inputs', () => {
    expect(percentileOfSorted([], 0.5)).toBe(0);
    expect(percentileOfSorted([7], 0.999)).toBe(7);
    expect(percentileOfSorted([1, 2], 0.5)).toBe(1);
    expect(percentileOfSorted([1, 2], 0.51)).toBe(2);
  });

  it('rejects a fraction outside 0..1', () => {
    expect(() => percentileOfSorted([1], 50)).toThrow(RangeError);
  });
});

describe('LatencyRecorder', () => {
  it('summarizes unsorted samples exactly', () => {
    const recorder = new LatencyRecorder({ initialCapacity: 4 });
    const samples = Array.from({ length: 1000 }, (_, k) => ((k * 7919) % 1000) + 1);
    for (const s of samples) recorder.record(s);
    const summary = recorder.summary();
    expect(summary.count).toBe(1000);
    expect(summary.minMs).toBe(1);
    expect(summary.maxMs).toBe(1000);
    expect(summary.meanMs).toBeCloseTo(500.5, 6);
    expect(summary.p50Ms).toBe(500);
    expect(summary.p90Ms).toBe(900);
    expect(summary.p99Ms).toBe(990);
    expect(summary.p999Ms).toBe(999);
  });

  it('decimates beyond its bound but keeps the exact count and max', () => {
    const recorder = new LatencyRecorder({ initialCapacity: 8, samplesMax: 16 });
    for (let k = 1; k <= 10_000; k++) recorder.record(k % 100 === 0 ? 1 : 2);
    recorder.record(1_000);
    const summary = recorder.summary();
    expect(summary.count).toBe(10_001);
    expect(summary.maxMs).toBe(1_000);
    expect(summary.p50Ms).toBe(2);
  });

  it('is all zeros with no samples', () => {
    expect(new LatencyRecorder().summary()).toMatchObject({ count: 0, p50Ms: 0, maxMs: 0 });
  });
});

describe('rates and ratios', () => {
  it('counts per whole second from the start', () => {
    const series = new RateSeries(1_000);
    series.add(1_000);
    series.add(1_999, 2);
    series.add(3_500);
    series.add(500); // before the start: ignored
    expect(series.perSecond()).toEqual([3, 0, 1]);
  });

  it('divides only by something positive', () => {
    expect(ratio(26_000, 5_000)).toBeCloseTo(5.2, 9);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(Number.NaN, 3)).toBeNull();
    expect(perSecond(500, 250)).toBe(2_000);
    expect(perSecond(5, 0)).toBe(0);
  });
});

describe('benchmark records', () => {
  it('carry their send time in a 16-byte header', () => {
    const factory = new PayloadFactory(128);
    const record = factory.make(3, 42, 1_700_000_000_123.25);
    expect(record.length).toBe(128);
    expect(sentMsOf(record)).toBe(1_700_000_000_123.25);
    expect(sentMsOf(new Uint8Array(record))).toBe(1_700_000_000_123.25);
    expect(sentMsOf(new Uint8Array(8))).toBeNull();
    expect(() => new PayloadFactory(8)).toThrow(RangeError);
  });
});

describe('medianInterval (percentile bootstrap, computed exactly)', () => {
  it('brackets the median, depends on the values alone, and narrows as the values agree', () => {
    const spread = [0.9, 1.3, 1.0, 1.1, 0.95, 1.2, 1.05, 1.15, 0.85, 1.25];
    const a = medianInterval(spread);
    expect(a).toEqual(medianInterval([...spread].reverse()));
    expect(a.median).toBe(1.1);
    expect(a.low).toBeLessThan(a.median);
    expect(a.high).toBeGreaterThan(a.median);
    expect(a.low).toBeGreaterThanOrEqual(0.85);
    expect(a.high).toBeLessThanOrEqual(1.3);
    const tight = medianInterval(spread.map((v) => 1 + (v - 1) / 10));
    expect(tight.high - tight.low).toBeCloseTo((a.high - a.low) / 10, 10);
  });

  it('matches the drawn bootstrap: the quantiles of many resamples\' medians land where it says', () => {
    const values = [3, 9, 1, 7, 5, 2, 8];
    let state = 7;
    const uniform = (): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const medians = Array.from({ length: 20_000 }, () => median(Array.from({ length: values.length }, () => values[Math.floor(uniform() * values.length)] ?? 0))).sort((x, y) => x - y);
    const exact = medianInterval(values, { confidence: 0.8 });
    expect(percentileOfSorted(medians, 0.1)).toBe(exact.low);
    expect(percentileOfSorted(medians, 0.9)).toBe(exact.high);
  });

  it('covers the true median of a known distribution about as often as it says', () => {
    // 200 samples of 15 draws from a uniform on [0, 2) (median 1): a 90% interval should miss about 20 times.
    let state = 12345;
    const uniform = (): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    let missed = 0;
    for (let s = 0; s < 200; s++) {
      const interval = medianInterval(Array.from({ length: 15 }, () => uniform() * 2), { confidence: 0.9 });
      if (interval.low > 1 || interval.high < 1) missed++;
    }
    expect(missed).toBeGreaterThan(5);
    expect(missed).toBeLessThan(40);
  });

  it('gives the value itself for one value and zeros for none', () => {
    expect(medianInterval([1.2])).toMatchObject({ count: 1, median: 1.2, low: 1.2, high: 1.2 });
    expect(medianInterval([])).toMatchObject({ count: 0, median: 0, low: 0, high: 0 });
  });

  it('turns a CPU ratio into the throughput a CPU-bound process loses', () => {
    expect(throughputCostPercent(1)).toBe(0);
    expect(throughputCostPercent(1.25)).toBeCloseTo(20, 10);
    expect(throughputCostPercent(0.8)).toBeCloseTo(-25, 10);
    expect(() => throughputCostPercent(0)).toThrow(RangeError);
  });
});
