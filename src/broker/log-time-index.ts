/**
 * Which log index was applied when, by the log's own clock (the leaders' times carried in
 * broker entries): what retention by time asks ("which entries are older than 72 hours?").
 * Part of the replicated state, so every node answers alike and a snapshot carries it.
 *
 * One sample (index, time) per `sampleEveryMs` of log time at most, so it stays small; past
 * `samplesMax` every other sample is dropped (the oldest lose resolution first in effect,
 * since the newest is always kept). An answer is never too late: an entry is called older
 * than a time only if a sample proves it.
 */
export class LogTimeIndex {
  private indexes: number[] = [];
  private times: number[] = [];

  constructor(
    private readonly sampleEveryMs = 1_000,
    private readonly samplesMax = 8_192,
  ) {}

  /** The entry at `logIndex` was applied at log time `timeMs` (both never decrease). */
  record(logIndex: number, timeMs: number): void {
    const last = this.times.length - 1;
    if (last >= 0 && timeMs < (this.times[last] as number) + this.sampleEveryMs) {
      // Within the same interval: the newest index applied by then moves on.
      this.indexes[last] = logIndex;
      return;
    }
    this.indexes.push(logIndex);
    this.times.push(timeMs);
    if (this.times.length > this.samplesMax) this.thin();
  }

  /**
   * The highest log index applied at a log time before `timeMs` that the samples prove, or 0.
   * A sample (i, t) says entry i was applied at or after t and before the next sample's time,
   * so entries up to i are older than `timeMs` if the next sample's time is at most `timeMs`.
   */
  logIndexBefore(timeMs: number): number {
    // Binary search: the last sample whose successor started at or before timeMs.
    let low = -1;
    let high = this.times.length - 2;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.times[mid + 1] as number) <= timeMs) low = mid;
      else high = mid - 1;
    }
    return low < 0 ? 0 : (this.indexes[low] as number);
  }

  /**
   * Forgets the samples of entries below `logIndex` but the newest of them: answers about
   * entries from `logIndex` on stay as they were, and one about an older time gives at most
   * that sample's index (0 once it too is gone), never a later one.
   */
  trimBelow(logIndex: number): void {
    let below = 0;
    // Bounded by the samples (at most samplesMax).
    while (below < this.indexes.length && (this.indexes[below] as number) < logIndex) below++;
    if (below <= 1) return;
    this.indexes = this.indexes.slice(below - 1);
    this.times = this.times.slice(below - 1);
  }

  toSnapshot(): { readonly indexes: readonly number[]; readonly times: readonly number[] } {
    return { indexes: this.indexes, times: this.times };
  }

  static fromSnapshot(s: { readonly indexes: readonly number[]; readonly times: readonly number[] }): LogTimeIndex {
    const index = new LogTimeIndex();
    index.indexes = [...s.indexes];
    index.times = [...s.times];
    return index;
  }

  /** Keeps every other sample, the newest always: half the size, half the resolution. */
  private thin(): void {
    const keep = (_: number, k: number, all: readonly number[]): boolean => (all.length - 1 - k) % 2 === 0;
    this.indexes = this.indexes.filter(keep);
    this.times = this.times.filter(keep);
  }
}
