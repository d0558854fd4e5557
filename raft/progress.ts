import { assert } from './assert.js';
import type { Index } from './types.js';

/**
 * The leader's view of one follower's log.
 *
 * probe: the follower's position is unknown (new leader, a rejection, a restart). At most
 *   one append is in flight; `next` walks back using the follower's hints until it is accepted.
 * replicate: the follower accepted an append. Appends are pipelined: `next` moves on
 *   optimistically as each is sent, bounded by the in-flight window.
 */
export const ReplicationState = { probe: 'probe', replicate: 'replicate' } as const;
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
  /** replicate only: the last index of each append in flight, oldest first. */
  private readonly inflight: Index[] = [];
  /** replicate only: the leader's tick count when each append in `inflight` left. */
  private readonly inflightSentTick: number[] = [];
  /** probe only: when the outstanding probe left. */
  private probeSentTick = 0;

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

  get inflightCount(): number {
    return this.inflight.length;
  }

  becomeProbe(): void {
    this.state = ReplicationState.probe;
    this.next = (this.match + 1) as Index;
    this.probeSent = false;
    this.inflight.length = 0;
    this.inflightSentTick.length = 0;
  }

  becomeReplicate(): void {
    this.state = ReplicationState.replicate;
    this.next = (this.match + 1) as Index;
    this.probeSent = false;
    this.inflight.length = 0;
    this.inflightSentTick.length = 0;
  }

  /** No append may be sent now: one probe is out, or the window is full. */
  isPaused(): boolean {
    return this.state === ReplicationState.probe ? this.probeSent : this.inflight.length >= this.inflightMax;
  }

  /**
   * The follower answers heartbeats but has acknowledged nothing for `stallTicks` while our
   * window is full: the appends in flight were lost. Start over from what it holds. A window
   * that is merely slow to drain is left alone, so the bound on appends in flight holds.
   */
  restartIfStalled(nowTick: number, stallTicks: number): void {
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
