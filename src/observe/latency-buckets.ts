import { strict as assert } from 'node:assert';

/**
 * Counts of durations in fixed buckets since the last drain: the same measurement the request
 * histogram takes, kept per interval so the status page can chart percentiles over time.
 * Memory is one counter per bucket, whatever the traffic.
 */
export class LatencyBuckets {
  /** counts[k] holds durations at most upperBoundsSeconds[k] and above the bound before; the last slot holds the rest. */
  private counts: Float64Array;

  /** `upperBoundsSeconds` ascending, as a Prometheus histogram's `le` bounds. */
  constructor(private readonly upperBoundsSeconds: readonly number[]) {
    for (let k = 1; k < upperBoundsSeconds.length; k++) assert((upperBoundsSeconds[k] ?? 0) > (upperBoundsSeconds[k - 1] ?? 0), 'LatencyBuckets: bounds must ascend');
    this.counts = new Float64Array(upperBoundsSeconds.length + 1);
  }

  observe(seconds: number): void {
    let k = 0;
    while (k < this.upperBoundsSeconds.length && seconds > (this.upperBoundsSeconds[k] ?? Infinity)) k++;
    this.counts[k] = (this.counts[k] ?? 0) + 1;
  }

  /** The counts since the previous drain, and a fresh start. */
  drain(): LatencyCounts {
    const counts = this.counts;
    this.counts = new Float64Array(counts.length);
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
