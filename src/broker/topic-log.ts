/** Where a run of consecutive topic offsets sits in the Raft log: one produce entry. */
export interface OffsetRun {
  readonly firstOffset: number;
  readonly logIndex: number;
  readonly count: number;
}

/** A message's place: the log entry holding it and its position in that entry's batch. */
export interface MessageLocation {
  readonly logIndex: number;
  readonly position: number;
}

/**
 * One topic's dense offsets (0, 1, 2 ...) mapped to the log entries that hold them, so a
 * consumer reads a topic without scanning other topics' entries. One run per produce
 * entry; lookups are a binary search over runs.
 */
export class TopicLog {
  private readonly runs: OffsetRun[] = [];
  private next = 0;

  constructor(
    /** The log index of the entry that created this topic: tells incarnations of one name apart. */
    readonly id: number,
    readonly name: string,
    readonly maxMessageBytes: number,
  ) {}

  /** The offset the next message will get; also the number of messages ever written. */
  get nextOffset(): number {
    return this.next;
  }

  /** Assigns offsets to `count` messages held by the entry at `logIndex`; returns the first. */
  append(logIndex: number, count: number): number {
    const firstOffset = this.next;
    this.runs.push({ firstOffset, logIndex, count });
    this.next += count;
    return firstOffset;
  }

  locate(offset: number): MessageLocation | undefined {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.next) return undefined;
    let low = 0;
    let high = this.runs.length - 1;
    // Binary search: bounded by log2 of the number of runs.
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.runs[mid]?.firstOffset ?? Infinity) <= offset) low = mid;
      else high = mid - 1;
    }
    const run = this.runs[low];
    if (run === undefined) return undefined;
    return { logIndex: run.logIndex, position: offset - run.firstOffset };
  }
}
