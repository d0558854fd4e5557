import { assert } from './assert.js';
import { Progress } from './progress.js';
import type { Index, NodeId } from './types.js';

export type VoteOutcome = 'won' | 'lost' | 'pending';

/**
 * The majority arithmetic of one configuration: votes in a campaign and, on a leader, each
 * member's replication progress. Every quorum decision in the core is made here.
 */
export class Tracker {
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();

  constructor(
    private readonly self: NodeId,
    readonly voters: readonly NodeId[],
    private readonly inflightMax: number,
  ) {
    assert(voters.includes(self), `tracker: ${self} is not among the voters`);
  }

  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  // ---- votes ----------------------------------------------------------------------------

  /** Starts a campaign with our own vote counted. */
  startCampaign(): void {
    this.votes.clear();
    this.votes.set(this.self, true);
  }

  /** Records a voter's answer; a repeated answer from the same voter replaces the first. */
  recordVote(from: NodeId, granted: boolean): VoteOutcome {
    this.votes.set(from, granted);
    return this.tally();
  }

  tally(): VoteOutcome {
    let granted = 0;
    let rejected = 0;
    for (const g of this.votes.values()) {
      if (g) granted++;
      else rejected++;
    }
    if (granted >= this.quorum()) return 'won';
    if (this.voters.length - rejected < this.quorum()) return 'lost';
    return 'pending';
  }

  // ---- replication progress (leader only) ------------------------------------------------

  /** A new leader knows nothing of its followers: probe each from the end of its own log. */
  startLeading(lastIndex: Index, selfDurable: Index): void {
    this.progress.clear();
    const next = (lastIndex + 1) as Index;
    for (const id of this.voters) {
      const pr = new Progress(0 as Index, next, this.inflightMax);
      if (id === this.self) {
        pr.acknowledge(selfDurable);
        pr.becomeReplicate();
      }
      this.progress.set(id, pr);
    }
  }

  /** Forgets votes and progress (on any role change). */
  reset(): void {
    this.votes.clear();
    this.progress.clear();
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** Each member's progress, self included; empty unless leading. */
  entries(): IterableIterator<[NodeId, Progress]> {
    return this.progress.entries();
  }

  /**
   * The highest index a majority holds durably: the largest match that a quorum of members
   * have reached. Asked on every acknowledgement, so it counts instead of copying and sorting
   * (quadratic in a handful of members, no allocation).
   */
  quorumMatch(): Index {
    const need = this.quorum();
    let best = 0;
    for (const candidate of this.progress.values()) {
      if (candidate.match <= best) continue;
      let holders = 0;
      for (const other of this.progress.values()) if (other.match >= candidate.match) holders++;
      if (holders >= need) best = candidate.match;
    }
    return best as Index;
  }

  /** Check-quorum: did a majority (self included) answer since the last check? Resets the marks. */
  quorumRecentlyActive(): boolean {
    let active = 0;
    for (const [id, pr] of this.progress) {
      if (id === this.self || pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum();
  }
}
