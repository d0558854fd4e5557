import { assert } from './assert.js';
import type { Outbox } from './outbox.js';
import type { RaftLog } from './raft-log.js';
import type { AppendRequest, Heartbeat, Index, InstallSnapshot, NodeId, SnapshotMeta, Term } from './types.js';

export interface FollowingOptions {
  readonly id: NodeId;
  readonly log: RaftLog;
  /** Shared with the node, so messages from both leave in the order they were sent. */
  readonly outbox: Outbox;
  /** The node's current term, which every answer carries. */
  readonly term: () => Term;
  /** A leader's snapshot replaced the whole log: it is now the node's newest snapshot. */
  readonly snapshotInstalled: (snapshot: SnapshotMeta) => void;
  /**
   * Entries this node once held durably were lost (a damaged disk): it may not vote until a
   * leader's log covers this index again. 0: nothing lost.
   */
  readonly votingBlockedBelow: Index;
}

/**
 * The follower's side of replication: appends, heartbeats and snapshots from the leader of
 * the current term (the node has already checked the term and taken the sender as leader),
 * and the repair of a log that lost durable entries, which blocks voting until a leader's
 * log covers what was lost.
 */
export class Following {
  private readonly id: NodeId;
  private readonly log: RaftLog;
  private readonly outbox: Outbox;
  private readonly term: () => Term;
  private readonly snapshotInstalled: (snapshot: SnapshotMeta) => void;
  private blockedBelow: Index;

  constructor(options: FollowingOptions) {
    this.id = options.id;
    this.log = options.log;
    this.outbox = options.outbox;
    this.term = options.term;
    this.snapshotInstalled = options.snapshotInstalled;
    this.blockedBelow = options.votingBlockedBelow;
  }

  /** The index a leader's log must cover before this node votes again (0: it may vote). */
  get votingBlockedBelow(): Index {
    return this.blockedBelow;
  }

  handleAppend(m: AppendRequest): void {
    if (m.prevIndex < this.log.committed) {
      // Everything through our commit index already agrees with any leader of this term. If
      // it does not, committed entries were lost somewhere (a majority's unsynced writes under
      // async flush, or disks that lied): stop loudly rather than carry on diverged.
      const ours = this.log.term(m.prevIndex);
      assert(
        ours === undefined || ours === m.prevTerm,
        `raft: leader ${m.from} has term ${m.prevTerm} at ${m.prevIndex}, below our commit ${this.log.committed}, where we hold term ${ours}: committed entries were lost`,
      );
      this.replyAppend(m, true, this.log.committed);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (lastNew === null) {
      const hintIndex = this.log.lastIndexWithTermAtMost(m.prevIndex, m.prevTerm);
      this.outbox.send({
        type: 'appendResp',
        from: this.id,
        to: m.from,
        term: this.term(),
        success: false,
        index: m.prevIndex,
        hintIndex,
        hintTerm: this.log.term(hintIndex) ?? (0 as Term),
      });
      return;
    }
    this.log.commitTo(Math.min(m.commit, lastNew) as Index);
    this.repairedThrough(lastNew);
    this.replyAppend(m, true, lastNew);
  }

  handleHeartbeat(m: Heartbeat): void {
    // The leader sends min(its commit, our match): what it believes we hold durably.
    if (m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
      this.repairedThrough(m.commit);
    } else {
      // We acknowledged entries our disk has since lost. Say where our log really ends, as a
      // rejection, so the leader stops counting on them and sends them again.
      const hintIndex = this.log.lastIndex();
      this.outbox.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term(), success: false, index: m.commit, hintIndex, hintTerm: this.log.lastTerm() });
    }
    this.outbox.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term(), context: m.context });
  }

  /**
   * A snapshot from the leader (Raft §7). One this log already holds (its point's entry with
   * its term is here) only moves the commit index: the entries after it stay, they may be
   * newer than the snapshot. Otherwise the whole log is replaced by the snapshot, which the
   * driver installs with the next Ready. Either way the answer, an acknowledgement of the
   * snapshot's index, leaves only once that is durable here.
   */
  handleSnapshot(m: InstallSnapshot): void {
    const s = m.snapshot;
    if (s.index <= this.log.committed) {
      // Stale (a resend, or we caught up by appends meanwhile): say how far we are.
      this.replyAppend(m, true, this.log.committed);
      return;
    }
    if (this.log.matchTerm(s.index, s.term)) {
      this.log.commitTo(s.index);
    } else {
      this.log.restore(s);
      this.snapshotInstalled(s);
    }
    this.repairedThrough(s.index);
    this.replyAppend(m, true, s.index);
  }

  private replyAppend(m: AppendRequest | InstallSnapshot, success: boolean, at: Index): void {
    this.outbox.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term(), success, index: at, hintIndex: 0 as Index, hintTerm: 0 as Term });
  }

  /** Our log now equals a current leader's through `at`; if that covers what we lost, we may vote again. */
  private repairedThrough(at: Index): void {
    if (this.blockedBelow > 0 && at >= this.blockedBelow) this.blockedBelow = 0 as Index;
  }
}
