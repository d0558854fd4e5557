import * as path from 'node:path';

import type { Entry, HardState, Index, LogReader, Term } from '../raft/index.js';
import type { DurableLog } from './durable-log.js';
import { assert } from './assert.js';
import {
  AppendBacklogError,
  CorruptHardStateError,
  CorruptRecordError,
  EntriesTruncatedError,
  RecordTooLargeError,
  StorageClosedError,
  StorageFailedError,
  StorageIoError,
} from './errors.js';
import { isKnownKind, recordBytes } from './record-codec.js';
import { recoverSegments, type RecoveryReport } from './recovery.js';
import { parseSegmentFileName, type ReadCursor, Segment, type SegmentContext } from './segment.js';
import type { DirectoryLock } from './file-system.js';
import { durableMarkOf, LOG_DEFAULTS, MiB, type FlushPolicy, type OpenLogOptions } from './log-options.js';
import { realScheduler } from './scheduler.js';
import { INITIAL_STATE, type LogPosition, type PersistedState, StateFile, withParts } from './state-file.js';

interface AppendWaiter {
  readonly lastIndex: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** What the log is doing: appends are refused (as a caller bug) while a structural change runs. */
type LogState = 'open' | 'changing' | 'closing' | 'closed' | 'failed';

/**
 * The durable Raft log: segments on disk, the hard state and the durable mark beside them.
 * Reads (the LogReader half) are synchronous and see every append as soon as append()
 * returns its promise; the promise says when the entries are durable.
 */
/** One segment as retention sees it; an empty segment has lastIndex = firstIndex - 1. */
export interface SegmentSpan {
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  readonly bytes: number;
}

export class CommitLog implements LogReader, DurableLog {
  private state: LogState = 'open';
  private failure: unknown = null;
  /** Highest index whose bytes are known durable in its segment file. */
  private dataSynced: number;
  /** Bytes written since the last completed data sync (bounded by pendingBytesMax). */
  private unsyncedBytes = 0;
  /** A new segment file's name is not yet durable (openLog syncs the directory it recovered). */
  private dirDirty = false;
  /**
   * Segments sealed whose data is not yet known durable, oldest first (normally none or
   * one). The flush loop syncs them before it writes any byte of a later segment: until
   * then later records stay in memory (deferred), in async mode too.
   */
  private readonly sealedUnsynced: Segment[] = [];
  /**
   * Async mode: appends whose records were deferred behind a sealed segment's sync, waiting
   * to be written (handed to the page cache, where async mode acknowledges), in index order.
   */
  private readonly writeWaiters: AppendWaiter[] = [];
  /** Appends (and flushes) waiting for the durable mark to cover them, in index order. */
  private readonly waiters: AppendWaiter[] = [];
  /** With the lagging mark: appends waiting only for their data's fdatasync, in index order. */
  private readonly dataWaiters: AppendWaiter[] = [];
  /** Sync mode with `mark: 'lagging'`: an append resolves once its data is synced. */
  private readonly lagging: boolean;
  private pump: Promise<void> | null = null;
  /** A step of the active segment's writing between appends is scheduled (see stepSoon). */
  private stepScheduled = false;
  /** A start of the flush loop is scheduled for the next check phase (see append). */
  private kickScheduled = false;
  /**
   * Set while the flush loop (ordered mark) has nothing to write and waits for the mark in
   * flight: calling it ends the wait early, so an append arriving meanwhile gets its data
   * synced beside that mark instead of after it.
   */
  private wakeLoop: (() => void) | null = null;
  private lastMarkWrite: Promise<void> = Promise.resolve();
  /** Settles when the last truncateAfter/compactBefore has finished (never rejects). */
  private changing: Promise<void> = Promise.resolve();
  private readonly timer: { cancel(): void } | null;

  /** @internal Built by openLog(). */
  constructor(
    private readonly context: SegmentContext,
    private readonly options: Required<Omit<OpenLogOptions, 'fs' | 'dir' | 'payloadBytesMax' | 'preallocateBytes' | 'onDamage' | 'restorePoint'>>,
    private readonly stateFile: StateFile,
    private readonly segments: Segment[],
    readonly recovery: RecoveryReport,
    /** This process's hold on `dir`, taken before recovery read anything; released by close(). */
    private readonly lock: DirectoryLock,
  ) {
    this.dataSynced = this.lastIndex();
    const flush = options.flush;
    this.lagging = durableMarkOf(flush) === 'lagging';
    this.timer = flush.mode === 'async' ? options.scheduler.every(flush.intervalMs, () => void this.kick()) : null;
  }

  // ---- LogReader -------------------------------------------------------------------

  firstIndex(): Index {
    return (this.segments[0]?.firstIndex ?? 1) as Index;
  }

  lastIndex(): Index {
    return (this.activeSegment().lastIndex) as Index;
  }

  term(at: Index): Term | undefined {
    const first = this.firstIndex();
    if (at === first - 1) return this.stateFile.latest.compacted.term;
    if (at < first || at > this.lastIndex()) return undefined;
    const segment = this.segmentFor(at);
    try {
      return segment.term(at) as Term;
    } catch (error) {
      // A bad index slot whose rebuild found the segment's data damaged.
      throw this.readFailed(segment, error);
    }
  }

  /**
   * The term at `at`, which must be in the log or its compaction point: the last index, and
   * any index synced or marked durable, always is. A mark claiming term 0 for a real entry
   * would make recovery misjudge what it holds, so a missing term is a bug, not a default.
   */
  private termOf(at: number): Term {
    const term = this.term(at as Index);
    assert(term !== undefined, () => `no term at ${at}: the log holds ${this.firstIndex()}..${this.lastIndex()}`);
    return term;
  }

  entries(from: Index, toExclusive: Index, bytesMax: number): readonly Entry[] {
    this.assertReadable();
    assert(from >= this.firstIndex() && toExclusive <= this.lastIndex() + 1, () => `entries(${from}, ${toExclusive}) outside the log`);
    const cursor: ReadCursor = { out: [], payloadBytesLeft: bytesMax, entriesMax: this.options.readEntriesMax };
    // Bounded by the number of segments: each pass reads one segment's part of the range.
    for (let at: number = from; at < toExclusive; ) {
      const segment = this.segmentFor(at as Index);
      const before = cursor.out.length;
      try {
        segment.read(at, toExclusive, cursor);
      } catch (error) {
        throw this.readFailed(segment, error);
      }
      const stop = Math.min(toExclusive - 1, segment.lastIndex);
      at += cursor.out.length - before;
      if (at <= stop) break; // a budget ran out inside this segment
    }
    return cursor.out;
  }

  /**
   * What a failed read of `segment` throws: the error itself, after damage (a record or slot
   * that fails its checks) has dropped a sealed segment's index file, so that the next open
   * reads the segment whole and finds it (see OpenLogOptions.onReadDamage), and has been told.
   */
  private readFailed(segment: Segment, error: unknown): unknown {
    if (!(error instanceof CorruptRecordError)) return error;
    try {
      segment.dropIndexFile();
    } catch (dropError) {
      // The read's error is the one to answer; the index stays, and the next read tries again.
      if (!(dropError instanceof StorageIoError)) throw dropError;
    }
    this.options.onReadDamage(error);
    return error;
  }

  /**
   * Each segment's range of entries and bytes of records, oldest first (the last is the
   * active one): what retention by size counts, and what compactBefore can drop (whole
   * segments, never the active one).
   */
  segmentSpans(): SegmentSpan[] {
    return this.segments.map((segment) => ({ firstIndex: segment.firstIndex as Index, lastIndex: segment.lastIndex as Index, bytes: segment.sizeBytes }));
  }

  // ---- state ----------------------------------------------------------------------------

  /** The newest hard state saved (its save may still be in flight). */
  hardState(): HardState {
    return this.stateFile.latest.hardState;
  }

  /** Durable when the promise resolves; writes are serialized and coalesced with mark updates. */
  saveHardState(hardState: HardState): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return Promise.reject(new StorageClosedError());
    if (this.state === 'failed') return Promise.reject(new StorageFailedError({ cause: this.failure }));
    return this.stateFile.update((state) => withParts(state, { hardState }));
  }

  /** The durable mark as persisted now: the last entry known durable in this log. */
  durableMark(): LogPosition {
    return this.stateFile.durable.mark;
  }

  // ---- writes ---------------------------------------------------------------------------

  /**
   * Appends entries that continue the log exactly (entries[0].index === lastIndex() + 1,
   * consecutive, terms not decreasing). They are readable when this returns; the promise
   * resolves when they are durable as the flush policy defines.
   */
  append(entries: readonly Entry[]): Promise<void> {
    const refusal = this.refuseWrite();
    if (refusal !== null) return Promise.reject(refusal);
    assert(this.state === 'open', () => `append while the log is ${this.state}`);
    const checked = this.checkBatch(entries);
    if (checked instanceof Error) return Promise.reject(checked);
    if (entries.length === 0) return Promise.resolve();
    try {
      this.writeBatch(entries);
    } catch (error) {
      this.fail(error);
      return Promise.reject(new StorageFailedError({ cause: error }));
    }
    this.unsyncedBytes += checked;
    if (this.options.flush.mode === 'async') {
      // Written already, unless a roll deferred the records behind the sealed segment's sync.
      if (this.sealedUnsynced.length === 0) return Promise.resolve();
      const written = new Promise<void>((resolve, reject) => this.writeWaiters.push({ lastIndex: this.lastIndex(), resolve, reject }));
      this.kickSoon();
      return written;
    }
    const done = this.lagging ? this.waitDataSynced(this.lastIndex()) : this.waitDurable(this.lastIndex());
    this.kickSoon();
    return done;
  }

  /** Makes everything appended so far durable (and the mark cover it), whatever the policy. */
  flush(): Promise<void> {
    const refusal = this.refuseWrite();
    if (refusal !== null) return Promise.reject(refusal);
    const done = this.waitDurable(this.lastIndex());
    void this.kick();
    return done;
  }

  /**
   * Removes every entry after `at` (Raft conflict resolution). Durable when it resolves.
   * Crash-safe at every step: the mark is lowered first, later segments are removed last
   * first (each removal synced), then the segment holding `at` is cut and synced; a crash
   * in between leaves a longer log that still agrees with the mark, never a hole.
   * Pending appends of the removed entries reject with EntriesTruncatedError. Reads made
   * before it resolves may still see the old suffix.
   */
  async truncateAfter(at: Index): Promise<void> {
    assert(at >= this.firstIndex() - 1, `truncateAfter(${at}) below the compaction point`);
    if (at >= this.lastIndex()) return;
    await this.exclusive(() => this.cutAfter(at));
  }

  /** truncateAfter's steps, run inside exclusive(). */
  private async cutAfter(at: Index): Promise<void> {
    if (at >= this.lastIndex()) return;
    const term = this.term(at);
    assert(term !== undefined, `no term at ${at}`);
    this.rejectWaitersAfter(at);
    if (this.stateFile.latest.mark.index > at) {
      await this.stateFile.update((state) => withParts(state, { mark: { index: at, term } }));
    }
    // Bounded by the number of segments.
    while (this.segments.length > 1 && this.activeSegment().firstIndex > at + 1) {
      const removed = this.segments.pop();
      assert(removed !== undefined, 'no segment to remove');
      removed.close();
      removed.remove();
      await this.context.fs.syncDir(this.context.dir);
    }
    const last = this.activeSegment();
    last.truncateAfter(at);
    settleWaiters(this.writeWaiters, at);
    await this.context.fs.fdatasync(last.data);
    await this.syncDirIfDirty();
    // Everything up to `at` is now durable: earlier segments are sealed, this one synced.
    this.dataSynced = at;
    this.unsyncedBytes = 0;
  }

  /**
   * Discards the whole log and continues it after `point`, the last entry a snapshot just
   * installed covers, when the log does not hold that entry (it is missing or has another
   * term; a log that holds it keeps its suffix: compactBefore is the call then). Afterwards
   * firstIndex() is point.index + 1, lastIndex() and the durable mark are point, term(point.index)
   * is point.term, and appends continue at point.index + 1. Durable when it resolves.
   *
   * The snapshot must be durable before this is called: the steps are
   * 1. truncate to firstIndex() - 1 (truncateAfter's crash-safe steps: the mark is lowered,
   *    later segments removed, the first one cut to empty and synced);
   * 2. persist compacted = mark = point in the state file: the one step that switches logs;
   * 3. remove the emptied segment, create the new one at point.index + 1, sync the directory.
   * A crash before step 2 is durable reopens a prefix of the old log (all of it before step 1
   * removes anything) that agrees with its mark; a crash after it reopens the empty log after
   * `point`: recovery removes the emptied segment, now wholly at or below the compaction
   * point, and creates the new one. Never old entries above `point`. Pending appends reject
   * with EntriesTruncatedError.
   */
  async resetToSnapshot(point: LogPosition): Promise<void> {
    // Raft never installs a snapshot its log has compacted past: that is already applied here.
    assert(point.index >= this.firstIndex(), () => `resetToSnapshot(${point.index}) at or below the compaction point ${this.firstIndex() - 1}`);
    // Discarding entries after a point the log holds would drop entries it may have acknowledged.
    assert(this.term(point.index) !== point.term, () => `resetToSnapshot(${point.index}, term ${point.term}): the log holds that entry`);
    await this.exclusive(async () => {
      await this.cutAfter((this.firstIndex() - 1) as Index);
      await this.stateFile.update((state) => withParts(state, { compacted: point, mark: point }));
      for (const segment of this.segments.splice(0)) {
        segment.close();
        segment.remove();
      }
      this.segments.push(Segment.create(this.context, point.index + 1));
      this.dirDirty = false;
      await this.context.fs.syncDir(this.context.dir);
      this.dataSynced = point.index;
      this.unsyncedBytes = 0;
    });
  }

  /**
   * Drops whole segments whose entries all lie below `before` (after a snapshot covers
   * them). The active segment is never dropped. The new compaction point (firstIndex() - 1
   * and its term) is made durable before any file is removed.
   */
  async compactBefore(before: Index): Promise<void> {
    await this.exclusive(async () => {
      let count = 0;
      while (count + 1 < this.segments.length && (this.segments[count]?.lastIndex ?? Infinity) < before) count++;
      const lastDropped = this.segments[count - 1];
      if (lastDropped === undefined) return;
      const compacted = { index: lastDropped.lastIndex as Index, term: lastDropped.term(lastDropped.lastIndex) as Term };
      // The segment that will start the log must have a durable name before the point is
      // persisted, or a crash could leave a compaction point with no segment after it.
      await this.syncDirIfDirty();
      await this.stateFile.update((state) => withParts(state, { compacted }));
      for (const segment of this.segments.splice(0, count)) {
        segment.close();
        segment.remove();
      }
      await this.context.fs.syncDir(this.context.dir);
    });
  }

  /**
   * Makes everything durable, then releases every file (also after a failure, when it
   * only releases them and rethrows why the final flush failed). Idempotent.
   */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.timer?.cancel();
    await this.changing; // a truncation or compaction in flight finishes first
    let flushError: unknown = null;
    if (this.state === 'open') await this.flush().catch((error: unknown) => (flushError = error));
    this.state = 'closing';
    await this.quiesce();
    for (const segment of this.segments) segment.close();
    this.stateFile.close();
    this.lock.release();
    this.state = 'closed';
    if (flushError !== null) throw flushError;
  }

  // ---- internals ------------------------------------------------------------------------

  private activeSegment(): Segment {
    const last = this.segments.at(-1);
    assert(last !== undefined, 'the log has no segment');
    return last;
  }

  /** The segment holding `at` (which the caller checked is in the log). */
  private segmentFor(at: number): Segment {
    const active = this.activeSegment();
    if (at >= active.firstIndex) return active;
    let low = 0;
    let high = this.segments.length - 1;
    // Binary search: bounded by log2 of the segment count.
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.segments[mid]?.firstIndex ?? Infinity) <= at) low = mid;
      else high = mid - 1;
    }
    const segment = this.segments[low];
    assert(segment !== undefined, () => `no segment holds ${at}`);
    return segment;
  }

  private assertReadable(): void {
    assert(this.state !== 'closed', 'read of a closed log');
  }

  private refuseWrite(): Error | null {
    if (this.state === 'closed' || this.state === 'closing') return new StorageClosedError();
    if (this.state === 'failed') return new StorageFailedError({ cause: this.failure });
    return null;
  }

  /** The batch's encoded size, or the typed error that refuses it. Order violations assert. */
  private checkBatch(entries: readonly Entry[]): number | Error {
    let bytes = 0;
    let previous = { index: this.lastIndex() as number, term: this.termOf(this.lastIndex()) as number };
    for (const entry of entries) {
      const after = previous;
      assert(entry.index === after.index + 1, () => `append of index ${entry.index} after ${after.index}`);
      assert(entry.term >= after.term, () => `append of term ${entry.term} after term ${after.term}`);
      assert(isKnownKind(entry.kind), () => `append of entry ${entry.index} with unknown kind ${entry.kind}`);
      if (entry.payload.length > this.context.payloadBytesMax) {
        return new RecordTooLargeError(entry.index, entry.payload.length, this.context.payloadBytesMax);
      }
      bytes += recordBytes(entry.payload.length);
      previous = entry;
    }
    if (this.unsyncedBytes > 0 && this.unsyncedBytes + bytes > this.options.pendingBytesMax) {
      return new AppendBacklogError('bytes', this.unsyncedBytes + bytes, this.options.pendingBytesMax);
    }
    const waiting = this.waiters.length + this.dataWaiters.length + this.writeWaiters.length;
    if (waiting >= this.options.pendingAppendsMax) {
      return new AppendBacklogError('appends', waiting + 1, this.options.pendingAppendsMax);
    }
    return bytes;
  }

  /** Writes the batch with one write per segment it lands in, rolling segments as they fill. */
  private writeBatch(entries: readonly Entry[]): void {
    const limit = this.options.segmentBytes;
    // Bounded: each pass writes at least one entry.
    for (let from = 0; from < entries.length; ) {
      let segment = this.activeSegment();
      const firstBytes = recordBytes(entries[from]?.payload.length ?? 0);
      if (segment.sizeBytes > 0 && segment.sizeBytes + firstBytes > limit) segment = this.roll();
      let to = from;
      let bytes = 0;
      while (to < entries.length) {
        const next = recordBytes(entries[to]?.payload.length ?? 0);
        if (to > from && segment.sizeBytes + bytes + next > limit) break;
        bytes += next;
        to++;
      }
      // Sync mode acknowledges only after the group's fdatasync, so the write can wait for
      // it too (one write per group); async mode acknowledges after the write, so writes now,
      // unless an earlier segment still waits for its sync (see roll).
      segment.append(entries, from, to, bytes, this.options.flush.mode === 'sync' || this.sealedUnsynced.length > 0);
      from = to;
    }
    this.stepSoon();
  }

  /**
   * Runs the active segment's writing beside its records (index slots, zeros ahead) a step
   * per turn, between appends (Segment.stepBetweenAppends), for as long as it asks for more;
   * schedules nothing while none is wanted (most appends). A failed write fails the log, as
   * it does when an append's write does that work in line.
   */
  private stepSoon(): void {
    if (this.stepScheduled || !this.activeSegment().stepWanted()) return;
    this.stepScheduled = true;
    this.options.scheduler.soon(() => {
      this.stepScheduled = false;
      if (this.state !== 'open') return;
      try {
        if (this.activeSegment().stepBetweenAppends()) this.stepSoon();
      } catch (error) {
        this.fail(error);
      }
    });
  }

  /**
   * Seals the active segment and starts the next; the new name is synced by the next flush.
   * The sealed segment's fdatasync joins the flush loop (on the thread pool), ahead of the next
   * segment's first write: until it completes, records for the next segment are deferred (in
   * memory, readable), in async mode too, where the appends that carry them resolve once the
   * loop has written them (async mode acknowledges written records; a process crash must not
   * lose one). So a roll does not hold the event loop for a sync of up to a whole segment
   * (44-55 ms measured in async mode, when it synced at once).
   */
  private roll(): Segment {
    const sealed = this.activeSegment();
    // Sealing writes this segment's deferred records in async mode: the segments before it
    // must be durable first. They are, unless a burst filled a whole segment before the loop
    // synced the last. Sync mode writes nothing at the seal: the loop writes each sealed
    // segment's records, in order, before any of the next (Segment.makeSealedDurable).
    if (!this.context.writeThrough) {
      for (const earlier of this.sealedUnsynced.splice(0)) this.context.fs.fdatasyncNow(earlier.data);
    }
    sealed.seal();
    this.sealedUnsynced.push(sealed);
    const next = Segment.create(this.context, sealed.lastIndex + 1);
    this.segments.push(next);
    this.dirDirty = true;
    return next;
  }

  private async syncDirIfDirty(): Promise<void> {
    if (!this.dirDirty) return;
    this.dirDirty = false;
    await this.context.fs.syncDir(this.context.dir);
  }

  private waitDurable(lastIndex: number): Promise<void> {
    const covered = lastIndex <= this.dataSynced && lastIndex <= this.stateFile.latest.mark.index;
    if (covered && this.waiters.length === 0) return this.lastMarkWrite;
    return new Promise((resolve, reject) => this.waiters.push({ lastIndex, resolve, reject }));
  }

  private waitDataSynced(lastIndex: number): Promise<void> {
    if (lastIndex <= this.dataSynced && this.dataWaiters.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.dataWaiters.push({ lastIndex, resolve, reject }));
  }

  /**
   * Starts the flush loop in the next check phase rather than now: a caller that also sends
   * network messages in this turn (a leader sending the same entries to its followers) gets
   * them onto the socket first, since HTTP/2 writes go out from the check phase, before this
   * group's write and fdatasync start. Measured in alternating pairs: 1 KiB x 1 ack p50
   * median 1.09 -> 1.01 ms (faster in 4 of 6 pairs); 1 KiB x 64 p99 lower in 7 of 7 pairs,
   * msg/s within the noise.
   */
  private kickSoon(): void {
    // A running loop picks the append up itself, unless it is waiting for a mark.
    if ((this.pump !== null && this.wakeLoop === null) || this.kickScheduled) return;
    this.kickScheduled = true;
    this.options.scheduler.soon(() => {
      this.kickScheduled = false;
      if (this.state !== 'open') return;
      if (this.wakeLoop !== null) this.wakeLoop();
      else void this.kick();
    });
  }

  /** Starts the flush loop unless it runs already (or a structural change holds it). */
  private kick(): Promise<void> {
    if (this.pump !== null || this.state === 'changing' || this.state === 'failed') return this.pump ?? Promise.resolve();
    this.pump = this.flushLoop().finally(() => {
      this.pump = null;
      // An append that came after the loop's last check but before this ran found the
      // loop still "running": pick its entries up now instead of losing the wake-up.
      if (this.state === 'open' && this.lastIndex() > this.dataSynced) void this.kick();
    });
    return this.pump;
  }

  /**
   * Group commit. Each pass makes everything appended so far durable with one step
   * (Segment.syncRecords: in sync mode a single write past the page cache that is durable
   * when it returns; plus the directory if a segment was created), then has the durable mark
   * cover it with an fdatasync of its own, whose waiters resolve when it is durable (with the
   * lagging mark, the group's appends resolve once the data is durable instead). Appends arriving meanwhile form the next
   * group. Data is always synced before the mark claims it, and a segment sealed since the
   * last pass is synced before the active segment's first bytes are written.
   *
   * Passes overlap: group G+1's write and data fdatasync run while mark(G) syncs. With the
   * ordered mark, mark(G+1) is asked for only once mark(G) is durable, so at most one data
   * sync and one mark sync are in flight, marks become durable in order, and each covers
   * only data whose fdatasync completed before it was written (docs/storage.md, "Pipelined
   * groups", for why a power failure at any step keeps that safe). With the lagging mark the
   * next data sync does not wait for a mark at all; mark writes stay serialized and
   * coalesced in the state file.
   *
   * Measured and not kept (64 appenders, 128 B, interleaved runs on a shared 2-core machine):
   * running "fdatasync the segment, then write and fdatasync the mark" as one job on a
   * worker thread (one round trip instead of two thread-pool hops, no write on the event
   * loop) was about 8% slower with postMessage and no faster with Atomics signalling; an
   * O_DSYNC data write through the page cache (one hop for write + sync) was no faster than
   * write + fdatasync. What the O_DIRECT write saves is the page cache's CPU, not a hop.
   */
  private async flushLoop(): Promise<void> {
    try {
      // Bounded: each pass makes progress on the written-but-unsynced entries or stops.
      while (this.lastIndex() > this.dataSynced && this.state !== 'changing') {
        if (this.sealedUnsynced.length > 0) {
          await this.syncSealed();
          continue; // a roll may come while it syncs: check again, then write without yielding
        }
        const target = this.lastIndex();
        const targetTerm = this.termOf(target);
        const bytes = this.unsyncedBytes;
        const syncs = [this.activeSegment().syncRecords()];
        this.stepSoon();
        settleWaiters(this.writeWaiters, target);
        if (this.dirDirty) {
          this.dirDirty = false;
          syncs.push(this.context.fs.syncDir(this.context.dir));
        }
        await Promise.all(syncs);
        this.dataSynced = Math.max(this.dataSynced, target);
        this.unsyncedBytes -= bytes;
        settleWaiters(this.dataWaiters, this.dataSynced);
        // The previous group's mark may still be syncing (it ran beside this data sync):
        // this group's waits for it, so one data sync and one mark sync at most are in flight.
        if (!this.lagging) await this.lastMarkWrite;
        this.advanceMark({ index: target as Index, term: targetTerm });
        if (!this.lagging && this.lastIndex() <= this.dataSynced) await this.markOrAppend();
      }
      settleWaiters(this.dataWaiters, this.dataSynced);
      if (this.lastIndex() <= this.dataSynced && this.waiters.length > 0) {
        // Data synced elsewhere (a truncation, a seal): the mark must still cover it.
        const index = this.dataSynced as Index;
        this.advanceMark({ index, term: this.termOf(index) });
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * Waits until the mark in flight is durable or an append arrives, whichever comes first.
   * Appenders released by the mark append again before the loop looks (their callbacks
   * run first), so a closed loop of appenders stays one group without waiting for a kick.
   */
  private markOrAppend(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        if (this.wakeLoop === done) this.wakeLoop = null;
        resolve();
      };
      this.wakeLoop = done;
      void this.lastMarkWrite.then(done);
    });
  }

  /** Makes the segments sealed but not yet synced durable, in order. */
  private async syncSealed(): Promise<void> {
    // Bounded by the segments sealed meanwhile: each pass syncs one or finds it synced.
    while (this.sealedUnsynced.length > 0) {
      const [segment] = this.sealedUnsynced;
      assert(segment !== undefined, 'no sealed segment to sync');
      await segment.makeSealedDurable();
      // A roll may have synced it (and later ones) meanwhile.
      if (this.sealedUnsynced[0] === segment) this.sealedUnsynced.shift();
    }
  }

  /** Raises the durable mark to `to` (never lowers it: only truncation does), then resolves waiters. */
  private advanceMark(to: LogPosition): void {
    const upTo = this.dataSynced;
    const mark = this.stateFile.latest.mark;
    if (to.index < mark.index || (to.index === mark.index && to.term === mark.term)) {
      // The mark already covers this, or stays ahead after a loss until the log is
      // repaired up to it (a repair may bring another term at the mark's index).
      this.lastMarkWrite = this.lastMarkWrite.then(() => settleWaiters(this.waiters, upTo));
      return;
    }
    const write = this.stateFile.update((state) => withParts(state, { mark: to }));
    this.lastMarkWrite = write.then(
      () => settleWaiters(this.waiters, upTo),
      (error: unknown) => this.fail(error),
    );
  }

  private rejectWaitersAfter(at: number): void {
    for (const waiters of [this.waiters, this.dataWaiters, this.writeWaiters]) {
      const keep = waiters.filter((waiter) => waiter.lastIndex <= at);
      for (const waiter of waiters) {
        if (waiter.lastIndex > at) waiter.reject(new EntriesTruncatedError(waiter.lastIndex, at));
      }
      waiters.splice(0, waiters.length, ...keep);
    }
  }

  /** Runs a structural change with the flush loop drained and held; appends meanwhile assert. */
  private async exclusive(change: () => Promise<void>): Promise<void> {
    const refusal = this.refuseWrite();
    if (refusal !== null) throw refusal;
    assert(this.state === 'open', () => `structural change while the log is ${this.state}`);
    this.state = 'changing';
    const run = (async () => {
      try {
        await this.quiesce();
        // A change removes or cuts files on the rule that every sealed segment is durable.
        await this.syncSealed();
        await change();
      } catch (error) {
        this.fail(error);
        throw error;
      } finally {
        if (this.state === 'changing') this.state = 'open';
      }
    })();
    this.changing = run.catch(() => undefined);
    await run;
    void this.kick();
  }

  /** Waits until no data sync and no mark write is in flight. */
  private async quiesce(): Promise<void> {
    // Bounded: the loop only restarts on kick(), which 'changing'/'closing' refuses... except
    // for a pass that began before; two rounds cover it.
    for (let round = 0; round < 2; round++) {
      await this.pump;
      await this.lastMarkWrite;
    }
  }

  /** After a failed write or sync nothing written since is trustworthy: refuse everything. */
  private fail(error: unknown): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    this.state = 'failed';
    this.failure = error;
    for (const waiter of [...this.waiters.splice(0), ...this.dataWaiters.splice(0), ...this.writeWaiters.splice(0)]) waiter.reject(new StorageFailedError({ cause: error }));
  }
}

/**
 * Opens (or creates) the log in `dir`, recovering it: the returned log's `recovery` says
 * what was cut and whether entries once durable are lost. Damage that is not a torn tail
 * rejects with a typed StorageError.
 */
export async function openLog(options: OpenLogOptions): Promise<CommitLog> {
  const segmentBytes = options.segmentBytes ?? LOG_DEFAULTS.segmentBytes;
  const payloadBytesMax = options.payloadBytesMax ?? LOG_DEFAULTS.payloadBytesMax;
  assert(segmentBytes >= 128 && segmentBytes <= 1024 * MiB, 'segmentBytes must be within 128 B..1 GiB');
  assert(payloadBytesMax >= 1 && payloadBytesMax <= 256 * MiB, 'payloadBytesMax must be within 1 B..256 MiB');
  const flush = options.flush ?? { mode: 'sync' };
  assert(flush.mode === 'sync' || flush.intervalMs >= 1, 'async flush needs intervalMs >= 1');
  const { fs, dir } = options;
  fs.mkdir(dir);
  // Before any file is read: a second process recovering a log that a live one is writing
  // would cut the live one's newest records as a "torn tail".
  const lock = fs.lockDir(dir);
  try {
    return await recoverLog(options, lock, { segmentBytes, payloadBytesMax, flush });
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function recoverLog(
  options: OpenLogOptions,
  lock: DirectoryLock,
  checked: { readonly segmentBytes: number; readonly payloadBytesMax: number; readonly flush: FlushPolicy },
): Promise<CommitLog> {
  const { fs, dir } = options;
  const { segmentBytes, payloadBytesMax, flush } = checked;
  StateFile.removeLeftovers(fs, dir);

  let stateFile = StateFile.load(fs, dir);
  const fresh = stateFile === null;
  if (stateFile === null) {
    if (fs.list(dir).some((name) => parseSegmentFileName(name) !== null)) {
      throw new CorruptHardStateError(path.join(dir, 'state'), 'missing while segment files exist');
    }
    stateFile = await StateFile.create(fs, dir, INITIAL_STATE);
  }
  const state: PersistedState = stateFile.durable;
  const preallocateBytes = options.preallocateBytes ?? LOG_DEFAULTS.preallocateBytes;
  assert(preallocateBytes >= 0 && preallocateBytes <= 64 * MiB, 'preallocateBytes must be within 0..64 MiB');
  const context: SegmentContext = { fs, dir, payloadBytesMax, preallocateBytes, segmentBytes, writeThrough: flush.mode === 'sync' };
  const recovered = await recoverSegments(context, state, { onDamage: options.onDamage ?? 'refuse', restorePoint: options.restorePoint ?? null });
  if (recovered.createdSegment || recovered.report.removedSegments.length > 0) await fs.syncDir(dir);

  const lastIndex = recovered.segments.at(-1)?.lastIndex ?? state.compacted.index;
  const lostEntries = recovered.report.damage !== null || lastIndex < state.mark.index || markTermDisagrees(recovered.segments, state);
  const recovery: RecoveryReport = { ...recovered.report, fresh, durableMark: state.mark, lostEntries };
  const settings = {
    segmentBytes,
    flush,
    pendingBytesMax: options.pendingBytesMax ?? LOG_DEFAULTS.pendingBytesMax,
    pendingAppendsMax: options.pendingAppendsMax ?? LOG_DEFAULTS.pendingAppendsMax,
    readEntriesMax: options.readEntriesMax ?? LOG_DEFAULTS.readEntriesMax,
    scheduler: options.scheduler ?? realScheduler,
    onReadDamage: options.onReadDamage ?? ((): void => {}),
  };
  return new CommitLog(context, settings, stateFile, recovered.segments, recovery, lock);
}

/** Resolves the waiters, in index order, whose entries lie at or below `upTo`. */
function settleWaiters(waiters: AppendWaiter[], upTo: number): void {
  let resolved = 0;
  for (const waiter of waiters) {
    if (waiter.lastIndex > upTo) break;
    waiter.resolve();
    resolved++;
  }
  waiters.splice(0, resolved);
}

function markTermDisagrees(segments: readonly Segment[], state: PersistedState): boolean {
  const { mark, compacted } = state;
  if (mark.index === 0 || mark.index < compacted.index) return false;
  if (mark.index === compacted.index) return mark.term !== compacted.term;
  const holder = segments.find((segment) => mark.index >= segment.firstIndex && mark.index <= segment.lastIndex);
  return holder !== undefined && holder.term(mark.index) !== mark.term;
}
