/** Where a run of consecutive topic offsets sits in the Raft log: messages of one entry. */
export interface OffsetRun {
  readonly firstOffset: number;
  readonly logIndex: number;
  /** The position of the run's first message among the messages its entry holds. */
  readonly firstPosition: number;
  readonly count: number;
  /** The log clock (leader time) when the run got its offsets: what "start at a time" searches. */
  readonly appendedAtMs: number;
}

/** A message's place: the log entry holding it and its position in that entry's messages. */
export interface MessageLocation {
  readonly logIndex: number;
  readonly position: number;
}

/**
 * One topic's dense offsets (0, 1, 2 ...) mapped to the log entries that hold them, so a
 * consumer reads a topic without scanning other topics' entries. Usually one run per produce
 * entry; a message that becomes visible later than it was written (delayed delivery, a
 * dead-lettered copy, a committed transaction) gets a run pointing back at the entry that
 * holds it. Lookups are a binary search over runs.
 */
export class TopicLog {
  private readonly runs: OffsetRun[] = [];
  private next = 0;
  /** Delayed batches written but not yet visible, by due time (ties in log order). */
  private readonly scheduled: { readonly dueMs: number; readonly logIndex: number; readonly count: number }[] = [];

  constructor(
    /** The log index of the entry that created this topic: tells incarnations of one name apart. */
    readonly id: number,
    readonly name: string,
    readonly messageBytesMax: number,
  ) {}

  /** The offset the next message will get; also the number of messages ever written. */
  get nextOffset(): number {
    return this.next;
  }

  /**
   * Assigns offsets to `count` messages held by the entry at `logIndex`, from its message at
   * `firstPosition` on, at log time `nowMs`; returns the first offset.
   */
  append(logIndex: number, count: number, nowMs: number, firstPosition = 0): number {
    const firstOffset = this.next;
    const last = this.runs[this.runs.length - 1];
    if (last !== undefined && last.logIndex === logIndex && last.firstPosition + last.count === firstPosition && last.appendedAtMs === nowMs) {
      // Consecutive messages of one entry made visible together stay one run.
      this.runs[this.runs.length - 1] = { ...last, count: last.count + count };
    } else {
      this.runs.push({ firstOffset, logIndex, firstPosition, count, appendedAtMs: nowMs });
    }
    this.next += count;
    return firstOffset;
  }

  /** Holds back the `count` messages of the entry at `logIndex` until log time `dueMs`. */
  schedule(logIndex: number, count: number, dueMs: number): void {
    let at = this.scheduled.length;
    // Usually appended at the end (delays are alike); the walk back is bounded by the list.
    while (at > 0 && (this.scheduled[at - 1]?.dueMs ?? 0) > dueMs) at--;
    this.scheduled.splice(at, 0, { dueMs, logIndex, count });
  }

  /** When the first held-back batch falls due, or Infinity. */
  get nextScheduledMs(): number {
    return this.scheduled[0]?.dueMs ?? Infinity;
  }

  get scheduledCount(): number {
    let count = 0;
    for (const s of this.scheduled) count += s.count;
    return count;
  }

  /** Gives offsets, in due order, to the held-back batches whose time `nowMs` has reached. */
  releaseDue(nowMs: number): void {
    // Bounded by the list; each released batch leaves it.
    while (this.scheduled.length > 0 && (this.scheduled[0]?.dueMs ?? Infinity) <= nowMs) {
      const s = this.scheduled.shift();
      if (s !== undefined) this.append(s.logIndex, s.count, nowMs);
    }
  }

  locate(offset: number): MessageLocation | undefined {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.next) return undefined;
    const run = this.runs[this.lastRunWhere((r) => r.firstOffset <= offset)];
    if (run === undefined) return undefined;
    return { logIndex: run.logIndex, position: run.firstPosition + offset - run.firstOffset };
  }

  /** The first offset made visible at or after log time `timeMs` (the topic's end if none). */
  offsetAtTime(timeMs: number): number {
    const k = this.lastRunWhere((r) => r.appendedAtMs < timeMs) + 1;
    return this.runs[k]?.firstOffset ?? this.next;
  }

  /**
   * The index of the last run satisfying `before`, a predicate true for a prefix of the runs
   * (both offsets and times only grow); -1 if none. Binary search: log2(runs) steps.
   */
  private lastRunWhere(before: (run: OffsetRun) => boolean): number {
    let low = -1;
    let high = this.runs.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      const run = this.runs[mid];
      if (run !== undefined && before(run)) low = mid;
      else high = mid - 1;
    }
    return low;
  }
}
