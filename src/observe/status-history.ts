import { strict as assert } from 'node:assert';

import { countOf, quantileMs, type LatencyCounts } from './latency-buckets.js';

/** Samples kept by default: one a second for the last five minutes. */
export const HISTORY_SAMPLES_MAX = 300;
export const HISTORY_INTERVAL_MS = 1_000;

/**
 * The charts' data as columns, oldest first, every column the same length. A rate or
 * percentile covers the interval that ends at its `atMs` (null: no interval before the
 * first sample, or no write acknowledged in it).
 */
export interface HistoryColumns {
  readonly intervalMs: number;
  readonly atMs: readonly number[];
  readonly commitIndex: readonly number[];
  readonly commitsPerSecond: readonly (number | null)[];
  /** Writes (append and produce calls) this node acknowledged in the interval. */
  readonly writes: readonly number[];
  readonly writeP50Ms: readonly (number | null)[];
  readonly writeP99Ms: readonly (number | null)[];
}

interface Sample {
  readonly atMs: number;
  readonly commitIndex: number;
  readonly commitsPerSecond: number | null;
  readonly writes: number;
  readonly writeP50Ms: number | null;
  readonly writeP99Ms: number | null;
}

/**
 * A node's recent history for the status page, in a ring of `capacity` samples: the
 * commit index (from which the commit rate) and the write acknowledgement latency's
 * percentiles over each interval. Memory stays bounded however long the node runs.
 */
export class StatusHistory {
  private readonly ring: (Sample | undefined)[];
  /** Physical slot of the oldest sample. */
  private head = 0;
  private count = 0;

  constructor(
    private readonly options: { readonly capacity: number; readonly intervalMs: number } = { capacity: HISTORY_SAMPLES_MAX, intervalMs: HISTORY_INTERVAL_MS },
  ) {
    assert(Number.isInteger(options.capacity) && options.capacity > 0, 'StatusHistory: capacity must be a positive integer');
    this.ring = new Array<Sample | undefined>(options.capacity).fill(undefined);
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  get size(): number {
    return this.count;
  }

  /** Records the state at `atMs`: the commit index then, and the write latencies counted since the previous sample. */
  record(atMs: number, commitIndex: number, writes: LatencyCounts): void {
    const previous = this.count === 0 ? undefined : this.ring[(this.head + this.count - 1) % this.options.capacity];
    const elapsedMs = previous === undefined ? 0 : atMs - previous.atMs;
    // A commit index that went down (a restarted view, never a real commit) gives no rate.
    const rate = previous === undefined || elapsedMs <= 0 || commitIndex < previous.commitIndex ? null : ((commitIndex - previous.commitIndex) * 1000) / elapsedMs;
    const sample: Sample = {
      atMs,
      commitIndex,
      commitsPerSecond: rate === null ? null : round(rate),
      writes: countOf(writes),
      writeP50Ms: roundOrNull(quantileMs(writes, 0.5)),
      writeP99Ms: roundOrNull(quantileMs(writes, 0.99)),
    };
    if (this.count === this.options.capacity) {
      this.head = (this.head + 1) % this.options.capacity;
      this.count--;
    }
    this.ring[(this.head + this.count) % this.options.capacity] = sample;
    this.count++;
  }

  columns(): HistoryColumns {
    const samples: Sample[] = [];
    for (let k = 0; k < this.count; k++) {
      const s = this.ring[(this.head + k) % this.options.capacity];
      if (s !== undefined) samples.push(s);
    }
    return {
      intervalMs: this.options.intervalMs,
      atMs: samples.map((s) => s.atMs),
      commitIndex: samples.map((s) => s.commitIndex),
      commitsPerSecond: samples.map((s) => s.commitsPerSecond),
      writes: samples.map((s) => s.writes),
      writeP50Ms: samples.map((s) => s.writeP50Ms),
      writeP99Ms: samples.map((s) => s.writeP99Ms),
    };
  }
}

/** Three decimals: enough for a chart, and a short JSON. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : round(value);
}
