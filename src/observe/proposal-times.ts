/**
 * When a leader proposed its entries, kept as (last index, time) per proposal in a ring of
 * fixed size, so a follower's lag can be told in seconds: how long ago the oldest entry it
 * lacks was proposed. Reset when this node becomes leader, with the log's end at that time.
 */
export class ProposalTimes {
  private readonly indexes: Float64Array;
  private readonly times: Float64Array;
  /** Physical slot of the oldest record. */
  private head = 0;
  private count = 0;

  constructor(private readonly capacity = 4096) {
    this.indexes = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  /** Forgets every record; entries through `lastIndex` count as proposed at `nowMs`. */
  reset(lastIndex: number, nowMs: number): void {
    this.head = 0;
    this.count = 0;
    this.record(lastIndex, nowMs);
  }

  /** Entries through `lastIndex` have been proposed by `nowMs`. Ignored unless the log grew. */
  record(lastIndex: number, nowMs: number): void {
    if (this.count > 0 && lastIndex <= this.indexAt(this.count - 1)) return;
    if (this.count === this.capacity) {
      this.head = (this.head + 1) % this.capacity;
      this.count--;
    }
    const slot = (this.head + this.count) % this.capacity;
    this.indexes[slot] = lastIndex;
    this.times[slot] = nowMs;
    this.count++;
  }

  /**
   * Seconds since the oldest entry after `match` was proposed, for a follower whose log
   * matches through `match` while this leader's ends at `lastIndex`; 0 when it has them all.
   * Past the ring's oldest record, that record's time: a lower bound.
   */
  lagSeconds(match: number, lastIndex: number, nowMs: number): number {
    if (match >= lastIndex || this.count === 0) return 0;
    // The first record whose index passes `match`: binary search, records are in index order.
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.indexAt(mid) > match) high = mid;
      else low = mid + 1;
    }
    // Entries after the newest record were proposed after it: its time bounds them from above.
    const at = Math.min(low, this.count - 1);
    return Math.max(0, (nowMs - this.timeAt(at)) / 1000);
  }

  private indexAt(k: number): number {
    return this.indexes[(this.head + k) % this.capacity] ?? 0;
  }

  private timeAt(k: number): number {
    return this.times[(this.head + k) % this.capacity] ?? 0;
  }
}
