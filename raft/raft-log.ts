import { assert } from './assert.js';
import { ConfigHistory, NO_CONFIGURATION } from './membership.js';
import type { Configuration, Entry, HardState, Index, LogReader, SnapshotMeta, Term } from './types.js';

/**
 * Durable entries kept in memory until they are handed out for applying, at most this many
 * payload bytes: applying them then costs no read of the durable log (a syscall and a
 * checksum per record); past the cap, the oldest are read back as before.
 */
const RETAINED_BYTES_MAX = 32 * 1024 * 1024;

/**
 * The core's whole view of the log: the durable part (read through `LogReader`) followed by
 * `unstable` entries that are not yet durable.
 *
 * Invariants:
 * - unstable[k].index === unstableOffset + k, and entries are consecutive.
 * - Below unstableOffset the durable log is authoritative; at and above it, `unstable` is.
 *   (unstableOffset may be <= durable.lastIndex() after a conflict: the unstable entries then
 *   overwrite that durable suffix once the driver persists them.)
 * - retained[k].index === retainedOffset + k, consecutive, ending at unstableOffset - 1 (or
 *   empty): entries already durable, kept from `unstable` so that reads need not go to the
 *   durable log for them.
 * - applied <= committed <= lastIndex(); committed never decreases.
 * - Entries below `handedOutEnd` have been given to the driver in a Ready to persist.
 * - While `restoring` is set (a snapshot from the leader, from restore() until the driver has
 *   installed it and accepted its Ready), the durable log is stale: the log is the snapshot's
 *   point followed by the in-memory entries, and the durable log is not read.
 */
export class RaftLog {
  private unstable: Entry[] = [];
  private unstableOffset: Index;
  private retained: Entry[] = [];
  private retainedOffset: Index;
  private retainedBytes = 0;
  private handedOutEnd: Index;
  committed: Index;
  /** Highest index handed to the driver to apply (in a Ready not yet advanced, or earlier). */
  applying: Index;
  applied: Index;
  /** A snapshot replacing the whole log, handed to the driver but not yet installed by it. */
  private restoring: SnapshotMeta | null = null;
  /** restore() ran and no Ready has carried its snapshot out yet. */
  private restoreUnsent = false;

  /**
   * The configurations this log holds, kept in step with it: every append (or cut) and
   * every restore from a snapshot is reported to it, so its current one is always the
   * newest in the log (single-server changes take effect on append).
   */
  readonly configs: ConfigHistory;

  constructor(
    private readonly durable: LogReader,
    committed: Index,
    applied: Index,
    configs: ConfigHistory = new ConfigHistory({ index: 0 as Index, config: NO_CONFIGURATION }),
  ) {
    this.configs = configs;
    this.unstableOffset = (durable.lastIndex() + 1) as Index;
    this.retainedOffset = this.unstableOffset;
    this.handedOutEnd = this.unstableOffset;
    assert(committed <= durable.lastIndex(), `log: commit ${committed} is beyond the durable log's last index ${durable.lastIndex()}`);
    const floor = Math.max(applied, durable.firstIndex() - 1);
    this.committed = committed;
    this.applied = Math.min(floor, committed) as Index;
    this.applying = this.applied;
  }

  /**
   * The log as a node starts with it: its commit and applied indexes from the saved hard
   * state, the newest snapshot and the state machine's applied index, and its configurations
   * from the log's config entries on top of `base` (the snapshot's, else the bootstrap one).
   * `votingBlockedBelow` is the saved commit index when the durable log ends before it:
   * entries this node knew committed are gone (a damaged disk, or a driver that persisted hard
   * state before entries); it carries on from what is there, but does not vote until a leader
   * has restored them.
   */
  static recover(options: {
    readonly durable: LogReader;
    readonly hardState: HardState;
    readonly snapshot: SnapshotMeta | null;
    readonly applied: Index;
    readonly base: { readonly index: Index; readonly config: Configuration };
    readonly batchBytesMax: number;
  }): { readonly log: RaftLog; readonly votingBlockedBelow: Index } {
    const { durable, hardState: hs, snapshot } = options;
    const durableLast = durable.lastIndex();
    const lostCommitted = hs.commit > durableLast;
    const snapshotIndex = snapshot?.index ?? 0;
    assert(snapshotIndex >= durable.firstIndex() - 1, `raft: the log is compacted through ${durable.firstIndex() - 1}, beyond the snapshot at ${snapshotIndex}`);
    assert(
      snapshot === null || (snapshotIndex <= durableLast && durable.term(snapshot.index) === snapshot.term),
      `raft: the log (${durable.firstIndex()}..${durableLast}) does not hold the snapshot's point ${snapshotIndex}`,
    );
    // What a snapshot holds, and what the state machine applied, was committed, whatever the
    // saved commit index says (it is saved lazily).
    const applied = Math.min(options.applied, durableLast);
    const commit = Math.max(lostCommitted ? durableLast : hs.commit, snapshotIndex, applied) as Index;
    const configs = ConfigHistory.recover(durable, options.base, options.batchBytesMax);
    const log = new RaftLog(durable, commit, Math.max(applied, snapshotIndex) as Index, configs);
    return { log, votingBlockedBelow: (lostCommitted ? hs.commit : 0) as Index };
  }

  firstIndex(): Index {
    return this.restoring !== null ? ((this.restoring.index + 1) as Index) : this.durable.firstIndex();
  }

  lastIndex(): Index {
    const last = this.unstable.at(-1);
    return last !== undefined ? last.index : ((this.unstableOffset - 1) as Index);
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'log: the last entry has no term');
    return t;
  }

  /** Last index known durable: everything before the unstable entries. */
  durableLastIndex(): Index {
    return (this.unstableOffset - 1) as Index;
  }

  /** The term of the entry at `at`, or undefined if it is compacted away or beyond the end. */
  term(at: Index): Term | undefined {
    if (at >= this.unstableOffset) {
      return this.unstable[at - this.unstableOffset]?.term;
    }
    if (this.restoring !== null) return at === this.restoring.index ? this.restoring.term : undefined;
    // Retained entries may outlive a compaction of the durable log: what is compacted away
    // has no term here, or the leader would send appends where only a snapshot can help.
    if (at < this.durable.firstIndex() - 1) return undefined;
    if (at >= this.retainedOffset) return this.retained[at - this.retainedOffset]?.term;
    return this.durable.term(at);
  }

  /**
   * Replaces the whole log by a snapshot from the leader that this log does not hold (its
   * entry at snapshot.index is missing or of another term): every entry goes, committed and
   * applied move to the snapshot's index, and the driver installs it with the next Ready.
   */
  restore(snapshot: SnapshotMeta): void {
    assert(snapshot.index > this.committed, `log: snapshot ${snapshot.index} is not beyond commit ${this.committed}`);
    this.restoring = snapshot;
    this.restoreUnsent = true;
    this.configs.restore(snapshot);
    this.unstable = [];
    this.unstableOffset = (snapshot.index + 1) as Index;
    this.retained = [];
    this.retainedOffset = this.unstableOffset;
    this.retainedBytes = 0;
    this.handedOutEnd = this.unstableOffset;
    this.committed = snapshot.index;
    this.applying = snapshot.index;
    this.applied = snapshot.index;
  }

  /** The snapshot to hand out in the next Ready (once), or null. */
  takeRestore(): SnapshotMeta | null {
    if (!this.restoreUnsent) return null;
    this.restoreUnsent = false;
    return this.restoring;
  }

  hasRestoreToSend(): boolean {
    return this.restoreUnsent;
  }

  /** The driver installed `snapshot` (accepted its Ready): the durable log now starts after it. */
  restored(snapshot: SnapshotMeta): void {
    if (this.restoring === snapshot && !this.restoreUnsent) this.restoring = null;
  }

  matchTerm(at: Index, t: Term): boolean {
    return this.term(at) === t;
  }

  /** The election restriction (§5.4.1): is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The largest index <= `at` whose term is <= `t`: where a log that has term `t` at some point
   * could first agree with ours. Lets a rejection skip a whole term per round trip.
   */
  lastIndexWithTermAtMost(at: Index, t: Term): Index {
    let i = Math.min(at, this.lastIndex());
    const floor = this.firstIndex() - 1;
    for (; i > floor; i--) {
      const ti = this.term(i as Index);
      if (ti === undefined || ti <= t) break;
    }
    return i as Index;
  }

  /**
   * Appends the leader's entries after (prevIndex, prevTerm) if our log matches there.
   * Returns the index through which our log now equals the leader's, or null on mismatch.
   * Never removes a committed entry: the leader-completeness argument depends on it.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = (prevIndex + entries.length) as Index;
    const conflictAt = this.firstConflict(entries);
    if (conflictAt !== null) {
      assert(conflictAt > this.committed, `log: entry ${conflictAt} conflicts with a committed entry (commit ${this.committed})`);
      this.append(entries.slice(conflictAt - (prevIndex + 1)));
    }
    return lastNew;
  }

  /** The first of `entries` that is not already in our log with the same term, or null. */
  private firstConflict(entries: readonly Entry[]): Index | null {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return null;
  }

  /** Adds entries at the end, replacing any suffix from entries[0].index (never a committed one). */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.committed, `log: appending at ${first.index} would overwrite commit ${this.committed}`);
    assert(first.index <= this.lastIndex() + 1, `log: appending at ${first.index} leaves a gap after ${this.lastIndex()}`);
    if (first.index < this.unstableOffset) {
      // Replacing part of the durable log: everything unstable is after it, so goes too.
      this.unstable = [...entries];
      this.unstableOffset = first.index;
      this.dropRetainedFrom(first.index);
    } else {
      this.unstable.length = first.index - this.unstableOffset;
      for (const e of entries) this.unstable.push(e);
    }
    if (this.handedOutEnd > first.index) this.handedOutEnd = first.index;
    this.configs.appended(entries);
  }

  /** Entries not yet handed to the driver for persisting; marks them handed out. */
  takeUnpersisted(): Entry[] {
    const from = this.handedOutEnd - this.unstableOffset;
    const out = this.unstable.slice(Math.max(0, from));
    this.handedOutEnd = (this.lastIndex() + 1) as Index;
    return out;
  }

  hasUnpersisted(): boolean {
    return this.handedOutEnd <= this.lastIndex();
  }

  /**
   * The driver made entries through (at, t) durable. If a conflict since replaced that entry,
   * the write is superseded and nothing becomes durable by it.
   */
  persistedTo(at: Index, t: Term): void {
    // While a snapshot is being restored, only Readies from before it are persisted (the
    // driver finishes them first), and what they wrote the reset discards.
    if (this.restoring !== null) return;
    if (at < this.unstableOffset || !this.matchTerm(at, t)) return;
    const persisted = at + 1 - this.unstableOffset;
    for (let k = 0; k < persisted; k++) {
      const e = this.unstable[k];
      if (e === undefined) break;
      if (this.retained.length === 0) this.retainedOffset = e.index;
      this.retained.push(e);
      this.retainedBytes += e.payload.length;
    }
    this.unstable = this.unstable.slice(persisted);
    this.unstableOffset = (at + 1) as Index;
    this.trimRetained();
  }

  /** Drops retained entries from `from` on (a conflict replaced them). */
  private dropRetainedFrom(from: Index): void {
    // Bounded by the retained entries.
    while (this.retained.length > 0 && this.retainedOffset + this.retained.length - 1 >= from) {
      const dropped = this.retained.pop();
      this.retainedBytes -= dropped?.payload.length ?? 0;
    }
    if (this.retained.length === 0) this.retainedOffset = this.unstableOffset;
  }

  /** Keeps only retained entries not yet handed out for applying, within the byte cap. */
  private trimRetained(): void {
    let drop = 0;
    // Bounded by the retained entries.
    while (drop < this.retained.length) {
      const e = this.retained[drop];
      if (e === undefined || (e.index > this.applying && this.retainedBytes <= RETAINED_BYTES_MAX)) break;
      this.retainedBytes -= e.payload.length;
      drop++;
    }
    if (drop === 0) return;
    this.retained = drop === this.retained.length ? [] : this.retained.slice(drop);
    this.retainedOffset = (this.retained[0]?.index ?? this.unstableOffset) as Index;
  }

  commitTo(at: Index): boolean {
    if (at <= this.committed) return false;
    assert(at <= this.lastIndex(), `log: commit ${at} beyond last index ${this.lastIndex()}`);
    this.committed = at;
    return true;
  }

  hasEntriesToApply(): boolean {
    return this.committed > this.applying;
  }

  /** Committed entries after those already handed out for applying, up to bytesMax (at least one). */
  takeEntriesToApply(bytesMax: number): Entry[] {
    if (!this.hasEntriesToApply()) return [];
    const out = this.slice((this.applying + 1) as Index, (this.committed + 1) as Index, bytesMax);
    const last = out.at(-1);
    if (last !== undefined) this.applying = last.index;
    this.trimRetained();
    return out;
  }

  appliedTo(at: Index): void {
    assert(at <= this.committed, `log: applied ${at} beyond commit ${this.committed}`);
    if (at > this.applied) this.applied = at;
  }

  /**
   * Entries [from, toExclusive) with at most bytesMax of payload (but at least one entry when
   * the range is non-empty). Returns [] if `from` is compacted away.
   */
  slice(from: Index, toExclusive: Index, bytesMax: number): Entry[] {
    if (from >= toExclusive) return [];
    if (from < this.firstIndex()) return [];
    if (this.restoring !== null) assert(from >= this.retainedOffset, `log: entry ${from} read from a log being restored`);
    assert(toExclusive <= this.lastIndex() + 1, `log: slice to ${toExclusive} beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    if (from < this.retainedOffset) {
      const durableEnd = Math.min(toExclusive, this.retainedOffset) as Index;
      for (const e of this.durable.entries(from, durableEnd, bytesMax)) {
        out.push(e);
        bytes += e.payload.length;
      }
      const last = out.at(-1);
      if (last === undefined || last.index < durableEnd - 1) return out;
    }
    // Bounded by toExclusive - from: every pass adds an entry or stops.
    for (let i = Math.max(from, this.retainedOffset); i < toExclusive; i++) {
      const e = i < this.unstableOffset ? this.retained[i - this.retainedOffset] : this.unstable[i - this.unstableOffset];
      assert(e !== undefined, `log: entry ${i} missing from memory`);
      if (out.length > 0 && bytes + e.payload.length > bytesMax) break;
      out.push(e);
      bytes += e.payload.length;
    }
    return out;
  }
}
