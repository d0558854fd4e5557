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

/** A delayed batch: the entry holding it and when its messages get offsets. */
export interface ScheduledBatch {
  readonly dueMs: number;
  readonly logIndex: number;
  readonly count: number;
}

/** Everything a TopicLog holds, as plain data (see toSnapshot). */
export interface TopicLogSnapshot {
  readonly id: number;
  readonly name: string;
  readonly messageBytesMax: number;
  readonly nextOffset: number;
  /** The first offset still located (Kafka's log start offset): the runs tile startOffset..nextOffset-1. */
  readonly startOffset: number;
  readonly runs: readonly OffsetRun[];
  readonly scheduled: readonly ScheduledBatch[];
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
 * holds it. Lookups are a binary search over runs. A trim (trimBelow) drops the leading runs
 * whose entries the log no longer needs, so the runs cover startOffset..nextOffset-1.
 */
export class TopicLog {
  private runs: OffsetRun[] = [];
  private next = 0;
  /** The first offset still located (0 until a trim drops runs); the first run starts here. */
  private start = 0;
  /** Delayed batches written but not yet visible, by due time (ties in log order). */
  private readonly scheduled: ScheduledBatch[] = [];
  /**
   * Indexes of the runs whose logIndex is below that of every later run, ascending (so their
   * logIndexes ascend too). Runs do not ascend by logIndex (a delayed batch, a committed
   * transaction, an audit copy point back at older entries), so this stack is what answers
   * "the lowest log index from offset o on" and "the first offset from which every message
   * is at or after log index i" by binary search. Kept by append in amortized O(1) (each run
   * is pushed once and popped at most once); derived, so a snapshot does not carry it.
   */
  private lowsFromRight: number[] = [];

  constructor(
    /** The log index of the entry that created this topic: tells incarnations of one name apart. */
    readonly id: number,
    readonly name: string,
    readonly messageBytesMax: number,
  ) {}

  /**
   * The topic's whole state as plain data, for a snapshot: views of the live arrays, not
   * copies (encode them before the next apply; never change them).
   */
  toSnapshot(): TopicLogSnapshot {
    return { id: this.id, name: this.name, messageBytesMax: this.messageBytesMax, nextOffset: this.next, startOffset: this.start, runs: this.runs, scheduled: this.scheduled };
  }

  /**
   * The topic a snapshot describes. The runs must tile offsets startOffset..nextOffset-1 in order and
   * the scheduled batches ascend by due time; bytes that break that are rejected by the
   * decoder before they get here, so here it is a programmer error.
   */
  static fromSnapshot(s: TopicLogSnapshot): TopicLog {
    const topic = new TopicLog(s.id, s.name, s.messageBytesMax);
    let offset = s.startOffset;
    for (const run of s.runs) {
      if (run.firstOffset !== offset || run.count < 1) throw new Error(`broker: topic ${s.name}: run at offset ${run.firstOffset} does not follow ${offset}`);
      topic.pushRun(run);
      offset += run.count;
    }
    if (offset !== s.nextOffset) throw new Error(`broker: topic ${s.name}: runs end at ${offset}, not at ${s.nextOffset}`);
    topic.next = s.nextOffset;
    topic.start = s.startOffset;
    topic.scheduled.push(...s.scheduled);
    return topic;
  }

  /** The offset the next message will get; also the number of messages ever written. */
  get nextOffset(): number {
    return this.next;
  }

  /**
   * The first offset still located: locate() knows nothing below it (a trim dropped it). Not
   * necessarily readable from on every node: see firstOffsetAtOrAfter.
   */
  get startOffset(): number {
    return this.start;
  }

  /**
   * Drops the leading runs held by entries below `logIndex`, stopping at the first run held at
   * or after it: a later run pointing back below `logIndex` (a delayed batch, a committed
   * transaction) stays, so every offset from the new start on is still located. The
   * caller makes sure nothing still owed is held below `logIndex`. Returns the runs dropped.
   */
  trimBelow(logIndex: number): number {
    let dropped = 0;
    // Bounded by the runs; each is dropped once in the topic's life.
    while (dropped < this.runs.length && (this.runs[dropped] as OffsetRun).logIndex < logIndex) dropped++;
    if (dropped === 0) return 0;
    this.runs = this.runs.slice(dropped);
    this.start = this.runs[0]?.firstOffset ?? this.next;
    // Lows are a property of the runs after each one, which a dropped prefix does not change: shift them.
    let keptFrom = 0;
    while (keptFrom < this.lowsFromRight.length && (this.lowsFromRight[keptFrom] as number) < dropped) keptFrom++;
    this.lowsFromRight = this.lowsFromRight.slice(keptFrom).map((run) => run - dropped);
    return dropped;
  }

  /**
   * Assigns offsets to `count` messages held by the entry at `logIndex`, from its message at
   * `firstPosition` on, at log time `nowMs`; returns the first offset.
   */
  append(logIndex: number, count: number, nowMs: number, firstPosition = 0): number {
    const firstOffset = this.next;
    const last = this.runs[this.runs.length - 1];
    if (last !== undefined && last.logIndex === logIndex && last.firstPosition + last.count === firstPosition && last.appendedAtMs === nowMs) {
      // Consecutive messages of one entry made visible together stay one run (same logIndex: lowsFromRight holds).
      this.runs[this.runs.length - 1] = { ...last, count: last.count + count };
    } else {
      this.pushRun({ firstOffset, logIndex, firstPosition, count, appendedAtMs: nowMs });
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

  /** The held-back batches' entries: what the broker owes whatever the retention (Infinity if none). */
  get lowestScheduledLogIndex(): number {
    let lowest = Infinity;
    for (const s of this.scheduled) lowest = Math.min(lowest, s.logIndex);
    return lowest;
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

  /** Where the message at `offset` is; undefined below the start offset or at and past the end. */
  locate(offset: number): MessageLocation | undefined {
    if (!Number.isSafeInteger(offset) || offset < this.start || offset >= this.next) return undefined;
    const run = this.runs[this.lastRunWhere((r) => r.firstOffset <= offset)];
    if (run === undefined) return undefined;
    return { logIndex: run.logIndex, position: run.firstPosition + offset - run.firstOffset };
  }

  /** The first offset made visible at or after log time `timeMs` (the topic's end if none; never below the start offset). */
  offsetAtTime(timeMs: number): number {
    const k = this.lastRunWhere((r) => r.appendedAtMs < timeMs) + 1;
    return this.runs[k]?.firstOffset ?? this.next;
  }

  /**
   * The lowest log index holding a message at `offset` or after (Infinity if there is none):
   * deleting the log below it loses nothing from `offset` on.
   */
  lowestLogIndexFrom(offset: number): number {
    if (offset >= this.next) return Infinity;
    const k = Math.max(0, this.lastRunWhere((r) => r.firstOffset <= offset));
    // The first low at run k or later is the lowest logIndex of runs k.. (lowsFromRight's invariant).
    const low = this.lowsFromRight[this.lastLowWhere((run) => run < k) + 1];
    return low === undefined ? Infinity : (this.runs[low]?.logIndex ?? Infinity);
  }

  /**
   * The first offset from which every message of the topic is held at log index `logIndex`
   * or later: once the log below `logIndex` is deleted, offsets before it may be gone (a read
   * there is out of range) and all from it on are readable. The topic's end if none is.
   */
  firstOffsetAtOrAfter(logIndex: number): number {
    const low = this.lowsFromRight[this.lastLowWhere((run) => (this.runs[run]?.logIndex ?? Infinity) < logIndex)];
    if (low === undefined) return this.runs[0]?.firstOffset ?? this.next;
    const run = this.runs[low];
    return run === undefined ? this.next : run.firstOffset + run.count;
  }

  /**
   * The lowest log index of the runs holding any of `offsets` (ascending, each below the
   * topic's end), or Infinity. One binary search per run touched, not per offset.
   */
  lowestLogIndexOf(offsets: Iterable<number>): number {
    let lowest = Infinity;
    let run: OffsetRun | undefined;
    for (const offset of offsets) {
      if (run === undefined || offset < run.firstOffset || offset >= run.firstOffset + run.count) {
        run = this.runs[this.lastRunWhere((r) => r.firstOffset <= offset)];
        if (run !== undefined) lowest = Math.min(lowest, run.logIndex);
      }
    }
    return lowest;
  }

  private pushRun(run: OffsetRun): void {
    // Runs at or above the new one's logIndex are lows no longer. Bounded: each run is popped at most once in the topic's life.
    while (this.lowsFromRight.length > 0) {
      const top = this.runs[this.lowsFromRight[this.lowsFromRight.length - 1] ?? -1];
      if (top === undefined || top.logIndex < run.logIndex) break;
      this.lowsFromRight.pop();
    }
    this.lowsFromRight.push(this.runs.length);
    this.runs.push(run);
  }

  /** The index into lowsFromRight of the last entry satisfying `before` (true for a prefix); -1 if none. */
  private lastLowWhere(before: (run: number) => boolean): number {
    let low = -1;
    let high = this.lowsFromRight.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      const run = this.lowsFromRight[mid];
      if (run !== undefined && before(run)) low = mid;
      else high = mid - 1;
    }
    return low;
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
