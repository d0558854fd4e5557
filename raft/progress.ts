import { assert } from './assert.js';
import type { Index } from './types.js';

/**
 * The leader's view of one follower's log.
 *
 * probe: the follower's position is unknown (new leader, a rejection, a restart). At most
 *   one append is in flight; `next` walks back using the follower's hints until it is accepted.
 * replicate: the follower accepted an append. Appends are pipelined: `next` moves on
 *   optimistically as each is sent, bounded by the in-flight window.
 * snapshot: the follower needs entries the leader has compacted away, and a snapshot through
 *   `pendingSnapshot` is on its way to it. Nothing else is sent until it is acknowledged, the
 *   driver reports it failed, or it stalls.
 */
export const ReplicationState = { probe: 'probe', replicate: 'replicate', snapshot: 'snapshot' } as const;
export type ReplicationState = (typeof ReplicationState)[keyof typeof ReplicationState];

export class Progress {
  /** Highest index known to be durable on the follower and equal to ours. Only grows within a term. */
  match: Index;
  /** The next index to send. Invariant: match < next. */
  next: Index;
  state: ReplicationState = ReplicationState.probe;
  /** probe only: an append is out and nothing has been heard since. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The leader's tick count when the follower last answered (-Infinity: not since this leader started). */
  private lastHeardTick = Number.NEGATIVE_INFINITY;
  /** replicate only: the last index of each append in flight, oldest first. */
  private readonly inflight: Index[] = [];
  /** replicate only: the leader's tick count when each append in `inflight` left. */
  private readonly inflightSentTick: number[] = [];
  /** probe only: when the outstanding probe left. */
  private probeSentTick = 0;
  /** snapshot only: the index of the snapshot sent, and when it left. */
  pendingSnapshot = 0 as Index;
  private snapshotSentTick = 0;

  constructor(
    match: Index,
    next: Index,
    private readonly inflightMax: number,
  ) {
    assert(match < next, `progress: match ${match} must be below next ${next}`);
    assert(inflightMax >= 1, 'progress: the in-flight window holds at least one append');
    this.match = match;
    this.next = next;
  }

  /** The follower answered at `nowTick`. */
  heardFrom(nowTick: number): void {
    this.recentActive = true;
    this.lastHeardTick = nowTick;
  }

  /** Whether the follower answered within the last `windowTicks`. */
  heardWithin(nowTick: number, windowTicks: number): boolean {
    return nowTick - this.lastHeardTick < windowTicks;
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  becomeProbe(): void {
    this.enter(ReplicationState.probe);
  }

  becomeReplicate(): void {
    this.enter(ReplicationState.replicate);
  }

  /** A snapshot through `index` was sent at `nowTick`; appends wait until it is acknowledged. */
  becomeSnapshot(index: Index, nowTick: number): void {
    assert(index > this.match, `progress: snapshot ${index} is not beyond match ${this.match}`);
    this.enter(ReplicationState.snapshot);
    this.pendingSnapshot = index;
    this.snapshotSentTick = nowTick;
  }

  private enter(state: ReplicationState): void {
    this.state = state;
    this.next = (this.match + 1) as Index;
    this.probeSent = false;
    this.pendingSnapshot = 0 as Index;
    this.inflight.length = 0;
    this.inflightSentTick.length = 0;
  }

  /** No append may be sent now: one probe is out, the window is full, or a snapshot is on its way. */
  isPaused(): boolean {
    switch (this.state) {
      case ReplicationState.probe:
        return this.probeSent;
      case ReplicationState.replicate:
        return this.inflight.length >= this.inflightMax;
      case ReplicationState.snapshot:
        return true;
    }
  }

  /**
   * The follower answers heartbeats but has acknowledged nothing for `stallTicks` while our
   * window is full: the appends in flight were lost. Start over from what it holds. A window
   * that is merely slow to drain is left alone, so the bound on appends in flight holds.
   */
  restartIfStalled(nowTick: number, stallTicks: number, snapshotStallTicks: number): void {
    if (this.state === ReplicationState.snapshot) {
      // A snapshot that was neither acknowledged nor reported failed in this time was lost
      // on the way (its driver died, or the network dropped it): probe, which sends it again.
      if (nowTick - this.snapshotSentTick >= snapshotStallTicks) this.becomeProbe();
      return;
    }
    if (this.state === ReplicationState.probe) {
      // Likewise a probe that got no answer in that time is taken as lost and may be resent.
      if (this.probeSent && nowTick - this.probeSentTick >= stallTicks) this.probeSent = false;
      return;
    }
    // Timed from when the oldest append in flight left, not from the last acknowledgement,
    // which after an idle spell is long ago although nothing is overdue.
    const oldestSentTick = this.inflightSentTick[0];
    if (this.inflight.length >= this.inflightMax && oldestSentTick !== undefined && nowTick - oldestSentTick >= stallTicks) {
      this.becomeProbe();
    }
  }

  /** Records an append ending at `last` as sent at `nowTick`. */
  sentAppend(last: Index, entryCount: number, nowTick: number): void {
    if (this.state === ReplicationState.replicate) {
      if (entryCount === 0) return;
      assert(this.inflight.length < this.inflightMax, 'progress: append sent past the in-flight window');
      this.next = (last + 1) as Index;
      this.inflight.push(last);
      this.inflightSentTick.push(nowTick);
    } else {
      this.probeSent = true;
      this.probeSentTick = nowTick;
    }
  }

  /** The follower holds everything through `index`. Returns false for a stale acknowledgement. */
  acknowledge(index: Index): boolean {
    if (index <= this.match) {
      return false;
    }
    this.match = index;
    if (this.next <= index) this.next = (index + 1) as Index;
    this.probeSent = false;
    while (this.inflight.length > 0 && (this.inflight[0] as Index) <= index) {
      this.inflight.shift();
      this.inflightSentTick.shift();
    }
    return true;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`; `probeFrom` is where
   * the leader's own log suggests trying next. Returns false when the rejection is stale
   * (answers an append we have since moved past), so nothing changes.
   */
  rejected(rejected: Index, hintIndex: Index, probeFrom: Index): boolean {
    if (hintIndex < this.match) {
      // The follower no longer holds entries it acknowledged: its disk lost them (it then
      // refuses to vote until repaired), or this rejection is a stale one that overtook later
      // acknowledgements. Either way, forgetting the match and probing again is safe: match
      // only ever under-counts, and counting its earlier acknowledgements was right when done.
      this.match = 0 as Index;
      this.becomeProbe();
      this.next = (probeFrom + 1) as Index;
      return true;
    }
    if (this.state === ReplicationState.snapshot) return false; // answers an append sent before the snapshot
    if (this.state === ReplicationState.replicate) {
      if (rejected <= this.match) return false;
      // Something was lost in flight or the follower restarted: fall back to probing.
      this.becomeProbe();
      return true;
    }
    if (rejected !== this.next - 1) return false;
    const next = Math.max(Math.min(rejected, probeFrom + 1), this.match + 1);
    this.next = next as Index;
    this.probeSent = false;
    return true;
  }
}
