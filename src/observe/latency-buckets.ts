import { strict as assert } from 'node:assert';

import type { HistogramSeries } from './fast-histogram.js';

/**
 * The durations some histogram series counted since the last drain: the request histogram's
 * own counts, differenced per interval so the status page can chart percentiles over time.
 * Nothing is counted twice on a call's path; memory is two arrays of one slot per bucket.
 */
export class LatencyWindow {
  private readonly upperBoundsSeconds: readonly number[];
  /** The series' summed counts at the last drain. */
  private previous: Float64Array;

  /** `series`: one or more histogram series with the same bounds (append and produce, say). */
  constructor(private readonly series: readonly HistogramSeries[]) {
    const first = series[0];
    assert(first !== undefined, 'LatencyWindow: at least one series');
    for (const other of series) assert.deepEqual(other.upperBounds, first.upperBounds, 'LatencyWindow: the series must share their bounds');
    this.upperBoundsSeconds = first.upperBounds;
    this.previous = new Float64Array(first.counts.length);
  }

  /** The counts since the previous drain (or since the series began). */
  drain(): LatencyCounts {
    const now = new Float64Array(this.previous.length);
    for (const one of this.series) for (let k = 0; k < now.length; k++) now[k] = (now[k] ?? 0) + (one.counts[k] ?? 0);
    const counts = new Float64Array(now.length);
    for (let k = 0; k < now.length; k++) counts[k] = (now[k] ?? 0) - (this.previous[k] ?? 0);
    this.previous = now;
    return { upperBoundsSeconds: this.upperBoundsSeconds, counts };
  }
}

export interface LatencyCounts {
  readonly upperBoundsSeconds: readonly number[];
  /** One more slot than bounds: the last counts durations above every bound. */
  readonly counts: Float64Array;
}

/** Durations counted in `latency`. */
export function countOf(latency: LatencyCounts): number {
  let total = 0;
  for (const c of latency.counts) total += c;
  return total;
}

/**
 * The q-quantile (0 < q <= 1) in ms, as Prometheus's histogram_quantile estimates it: found
 * in its bucket and interpolated linearly inside it (from 0 for the first bucket); in the
 * bucket above every bound, the highest bound. Null when nothing was counted.
 */
export function quantileMs(latency: LatencyCounts, q: number): number | null {
  const total = countOf(latency);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  const bounds = latency.upperBoundsSeconds;
  for (let k = 0; k < bounds.length; k++) {
    const inBucket = latency.counts[k] ?? 0;
    if (below + inBucket >= rank && inBucket > 0) {
      const lower = k === 0 ? 0 : (bounds[k - 1] ?? 0);
      const upper = bounds[k] ?? lower;
      return (lower + ((upper - lower) * (rank - below)) / inBucket) * 1000;
    }
    below += inBucket;
  }
  return (bounds.at(-1) ?? 0) * 1000;
}
