import { describe, expect, it } from 'vitest';

import { LatencyRecorder, percentileOfSorted, perSecond, RateSeries, ratio } from '../../src/bench/stats.js';
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
