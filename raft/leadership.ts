import { assert } from './assert.js';
import type { Outbox } from './outbox.js';
import { ReplicationState } from './progress.js';
import type { ReadIndexResult } from './raft-api.js';
import type { RaftLog } from './raft-log.js';
import { PendingReads } from './read-only.js';
import type { Tracker } from './tracker.js';
import type { AppendResponse, Entry, EntryKind, HeartbeatResponse, Index, NodeId, SnapshotMeta, Term } from './types.js';

export interface LeadershipOptions {
  readonly id: NodeId;
  readonly log: RaftLog;
  /** Shared with the node, whose campaigns count votes in it; progress is moved only here. */
  readonly tracker: Tracker;
  /** Shared with the node, so messages from both leave in the order they were sent. */
  readonly outbox: Outbox;
  /** How long a follower's window may stall before the appends in it are taken as lost. */
  readonly electionTicks: number;
  /** How long a snapshot may go unacknowledged and unreported before it is sent again. */
  readonly snapshotStallTicks: number;
  /** The newest snapshot the driver has written (it covers the log's compaction point), or null. */
  readonly latestSnapshot: () => SnapshotMeta | null;
  readonly batchBytesMax: number;
  readonly pendingReadsMax: number;
  readonly preferredLeader: NodeId | null;
  /** The node's commit rule, asked at each commit so that a subclass's override is the one obeyed. */
  readonly mayCommitByCounting: (at: Index) => boolean;
}

/**
 * What a leader does for the term it leads: append proposals, replicate them to each follower
 * (pipelined, within the in-flight window), commit what a quorum holds, confirm reads with a
 * heartbeat round, and hand leadership over. Active from startLeading() until reset(), which
 * the node calls exactly when it becomes leader and when it leaves any role; the node's timers
 * and role transitions stay with the node.
 */
export class Leadership {
  private readonly id: NodeId;
  private readonly log: RaftLog;
  private readonly tracker: Tracker;
  private readonly outbox: Outbox;
  private readonly electionTicks: number;
  private readonly snapshotStallTicks: number;
  private readonly latestSnapshot: () => SnapshotMeta | null;
  private readonly batchBytesMax: number;
  private readonly preferredLeader: NodeId | null;
  private readonly mayCommitByCounting: (at: Index) => boolean;

  private leading = false;
  /** The term this node leads in; read only while `leading`, when it equals the node's term. */
  private term = 0 as Term;
  private transferTarget: NodeId | null = null;
  private readonly pendingReads: PendingReads;
  /** Leader: new entries should go to followers at the next ready(). */
  private broadcastPending = false;
  /**
   * Leader: the commit index each follower was last sent in an append. One behind the
   * leader's gets an empty append at the next tick, unless an append with entries (which
   * carries the commit index) reaches it first.
   */
  private readonly commitSent = new Map<NodeId, Index>();

  constructor(options: LeadershipOptions) {
    this.id = options.id;
    this.log = options.log;
    this.tracker = options.tracker;
    this.outbox = options.outbox;
    this.electionTicks = options.electionTicks;
    this.snapshotStallTicks = options.snapshotStallTicks;
    this.latestSnapshot = options.latestSnapshot;
    this.batchBytesMax = options.batchBytesMax;
    this.preferredLeader = options.preferredLeader;
    this.mayCommitByCounting = options.mayCommitByCounting;
    this.pendingReads = new PendingReads(options.pendingReadsMax);
  }

  /** The node has become leader in `term`; the tracker already holds each member's progress. */
  startLeading(term: Term): void {
    this.leading = true;
    this.term = term;
  }

  /** Forgets everything of a leadership (on any role change). */
  reset(): void {
    this.leading = false;
    this.transferTarget = null;
    this.pendingReads.clear();
    this.broadcastPending = false;
    this.commitSent.clear();
  }

  /** The member leadership is being handed to, or null. */
  get transferee(): NodeId | null {
    return this.transferTarget;
  }

  hasBroadcastPending(): boolean {
    return this.broadcastPending;
  }

  appendEntry(kind: EntryKind, payload: Uint8Array): Entry {
    const entry: Entry = { index: (this.log.lastIndex() + 1) as Index, term: this.term, kind, payload };
    this.log.append([entry]);
    // Sent at the next ready(), so proposals made between two Ready rounds share one append
    // message per follower. Our own acknowledgement comes at persisted(), once it is durable.
    this.broadcastPending = true;
    return entry;
  }

  /** Our own write is durable through the log's durable end: count it like a follower's ack. */
  acknowledgeSelf(): void {
    const self = this.tracker.get(this.id);
    assert(self !== undefined, 'raft: a leader tracks its own progress');
    if (self.acknowledge(this.log.durableLastIndex())) this.maybeCommit();
  }

  handleAppendResponse(m: AppendResponse, nowTick: number): void {
    const pr = this.tracker.get(m.from);
    if (pr === undefined) return;
    pr.heardFrom(nowTick);
    if (!m.success) {
      // Skip back over the whole conflicting term the follower told us about.
      const probeFrom = m.hintTerm > 0 ? this.log.lastIndexWithTermAtMost(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.rejected(m.index, m.hintIndex, probeFrom)) this.sendAppend(m.from, nowTick, { sendIfEmpty: true });
      return;
    }
    if (!pr.acknowledge(m.index)) return;
    if (pr.state === ReplicationState.probe || (pr.state === ReplicationState.snapshot && pr.match >= pr.pendingSnapshot)) pr.becomeReplicate();
    this.maybeCommit();
    // Fill the window: a follower that is behind gets up to inflightAppendsMax batches at
    // once, not one per acknowledgement or heartbeat (bounded by the window).
    while (!pr.isPaused() && pr.next <= this.log.lastIndex()) {
      const before = pr.next;
      this.sendAppend(m.from, nowTick, { sendIfEmpty: false });
      if (pr.next === before) break;
    }
    // A caught-up transfer target is told to campaign at once.
    if (m.from === this.transferTarget && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  handleHeartbeatResponse(m: HeartbeatResponse, nowTick: number): void {
    const pr = this.tracker.get(m.from);
    if (pr === undefined) return;
    pr.heardFrom(nowTick);
    // Appends in flight may have been lost. If the window (or a probe) has been stuck for an
    // election timeout, start over; otherwise an empty append reveals a gap (the follower
    // rejects it, which sends the leader back to probing) without taking a window slot.
    pr.restartIfStalled(nowTick, this.electionTicks, this.snapshotStallTicks);
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, nowTick, { sendIfEmpty: true });
    // Only voters confirm a read: a quorum of them is what a newer leader would need.
    if (m.context !== '' && this.tracker.isVoter(m.from)) {
      for (const rs of this.pendingReads.acknowledge(m.context, m.from, this.tracker.quorum())) this.outbox.addReadState(rs);
    }
  }

  /** Commits the highest index a quorum holds, if it is of this term. */
  private maybeCommit(): void {
    const candidate = this.tracker.quorumMatch();
    if (candidate <= this.log.committed) return;
    if (!this.mayCommitByCounting(candidate)) return;
    this.log.commitTo(candidate);
    // Followers learn the new commit index with the next append that carries entries, or
    // at the next tick (tellCommit). Not with an append round of its own at once: under a
    // steady load the next entries follow within a round trip anyway, and with one write
    // in flight that extra round (two messages, two follower wake-ups, two answers) ran
    // exactly while the client's answer was on its way (1 KiB x 1 ack p50 1.18 -> 1.04 ms
    // side by side). Nothing but a follower's own apply waits for it: safety does not.
  }

  flushBroadcast(nowTick: number): void {
    if (!this.broadcastPending) return;
    this.broadcastPending = false;
    if (!this.leading) return;
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.sendAppend(id, nowTick, { sendIfEmpty: true });
  }

  /** Sends an empty append to each follower that has not been sent the current commit index. */
  tellCommit(nowTick: number): void {
    // Every member but this node, voters and learners (the tracker holds a leader's members).
    for (const id of this.tracker.memberIds()) {
      if (id !== this.id && (this.commitSent.get(id) ?? 0) < this.log.committed) this.sendAppend(id, nowTick, { sendIfEmpty: true });
    }
  }

  /**
   * Sends `to` the next batch it needs, unless its window is full. With `sendIfEmpty`, an
   * append with no entries still goes (to probe, or to carry a new commit index).
   */
  private sendAppend(to: NodeId, nowTick: number, { sendIfEmpty }: { readonly sendIfEmpty: boolean }): void {
    const pr = this.tracker.get(to);
    assert(pr !== undefined, `raft: no progress for ${to}`);
    if (pr.isPaused()) return;
    const prevIndex = (pr.next - 1) as Index;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      // The follower needs entries we have compacted away: only a snapshot can help it.
      this.sendSnapshot(to, nowTick);
      return;
    }
    const entries = this.log.slice(pr.next, (this.log.lastIndex() + 1) as Index, this.batchBytesMax);
    if (entries.length === 0 && !sendIfEmpty) return;
    const last = entries.at(-1)?.index ?? prevIndex;
    this.outbox.send({
      type: 'append',
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    this.commitSent.set(to, this.log.committed);
    pr.sentAppend(last, entries.length, nowTick);
  }

  /**
   * Sends `to` our newest snapshot. The driver compacts the log only below a snapshot it has
   * told the core of, so one that covers the compaction point always exists here.
   */
  private sendSnapshot(to: NodeId, nowTick: number): void {
    const pr = this.tracker.get(to);
    assert(pr !== undefined, `raft: no progress for ${to}`);
    const snapshot = this.latestSnapshot();
    assert(snapshot !== null && snapshot.index >= this.log.firstIndex() - 1, `raft: the log is compacted through ${this.log.firstIndex() - 1} but no snapshot covers it`);
    this.outbox.send({ type: 'snapshot', from: this.id, to, term: this.term, snapshot });
    pr.becomeSnapshot(snapshot.index, nowTick);
  }

  /** The driver could not deliver the snapshot it was sending `to`: probe again, which resends. */
  snapshotFailed(to: NodeId): void {
    const pr = this.tracker.get(to);
    if (pr?.state === ReplicationState.snapshot) pr.becomeProbe();
  }

  broadcastHeartbeat(): void {
    const context = this.pendingReads.latestContext();
    for (const [id, pr] of this.tracker.entries()) {
      if (id === this.id) continue;
      this.outbox.send({
        type: 'heartbeat',
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed) as Index,
        context,
      });
    }
  }

  /**
   * Queues a read at the commit index (the node has checked that it is of this term) and sends
   * the heartbeat round that confirms it; a single voter is its own quorum.
   */
  readIndex(context: string): ReadIndexResult {
    const selfVotes = this.tracker.isVoter(this.id);
    if (selfVotes && this.tracker.quorum() === 1) {
      this.outbox.addReadState({ index: this.log.committed, context });
      return { accepted: true };
    }
    if (this.pendingReads.isFull()) return { accepted: false, reason: 'tooManyPending' };
    this.pendingReads.add(this.log.committed, context, selfVotes ? this.id : null);
    this.broadcastHeartbeat();
    return { accepted: true };
  }

  /** Returns whether a transfer started; one to `to` already under way is left alone. */
  startTransfer(to: NodeId, nowTick: number): boolean {
    if (this.transferTarget === to) return false;
    this.transferTarget = to;
    const pr = this.tracker.get(to);
    assert(pr !== undefined, `raft: no progress for ${to}`);
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, nowTick, { sendIfEmpty: true });
    return true;
  }

  abandonTransfer(): void {
    this.transferTarget = null;
  }

  /** The preferred leader, when it is a caught-up, live follower and no transfer is under way; else null. */
  preferredTransferee(): NodeId | null {
    const preferred = this.preferredLeader;
    if (preferred === null || preferred === this.id || this.transferTarget !== null) return null;
    const pr = this.tracker.get(preferred);
    if (pr === undefined || !pr.recentActive || !this.tracker.isVoter(preferred)) return null;
    return pr.match === this.log.lastIndex() ? preferred : null;
  }

  /**
   * The voter best placed to lead next (the most caught up of those heard from within
   * `windowTicks`), for a leader that leaves the configuration; null when none is live.
   */
  successor(nowTick: number, windowTicks: number): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const [id, pr] of this.tracker.entries()) {
      if (id === this.id || !this.tracker.isVoter(id) || !pr.heardWithin(nowTick, windowTicks)) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  sendTimeoutNow(to: NodeId): void {
    this.outbox.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }
}
