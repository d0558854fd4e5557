import { Progress } from './progress.js';
import type { Configuration, Index, NodeId } from './types.js';

export type VoteOutcome = 'won' | 'lost' | 'pending';

/**
 * The majority arithmetic of the node's current configuration: votes in a campaign and, on a
 * leader, each member's replication progress (voters and learners, and the leader itself
 * even while a change that removes it is on its way). Every quorum decision in the core is
 * made here, and only voters count in one.
 */
export class Tracker {
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private configuration: Configuration;
  /** The configuration's voters as a set: asked for every member on every acknowledgement (quorumMatch). */
  private voterSet: ReadonlySet<NodeId>;

  constructor(
    private readonly self: NodeId,
    configuration: Configuration,
    private readonly inflightMax: number,
  ) {
    this.configuration = configuration;
    this.voterSet = new Set(configuration.voters);
  }

  get config(): Configuration {
    return this.configuration;
  }

  get voters(): readonly NodeId[] {
    return this.configuration.voters;
  }

  isVoter(id: NodeId): boolean {
    return this.voterSet.has(id);
  }

  quorum(): number {
    return Math.floor(this.configuration.voters.length / 2) + 1;
  }

  /**
   * The configuration changed (a config entry appended or cut, a snapshot installed). While
   * leading, new members are probed from the end of the log and those gone are forgotten;
   * the leader's own progress stays while it leads.
   */
  setConfig(config: Configuration, lastIndex: Index): void {
    this.configuration = config;
    this.voterSet = new Set(config.voters);
    for (const id of this.votes.keys()) if (!this.isVoter(id) && id !== this.self) this.votes.delete(id);
    if (this.progress.size === 0) return;
    const members = new Set([...config.voters, ...config.learners, this.self]);
    for (const id of members) {
      if (!this.progress.has(id)) this.progress.set(id, new Progress(0 as Index, (lastIndex + 1) as Index, this.inflightMax));
    }
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
  }

  // ---- votes ----------------------------------------------------------------------------

  /** Starts a campaign with our own vote counted. Only a voter campaigns. */
  startCampaign(): void {
    this.votes.clear();
    this.votes.set(this.self, true);
  }

  /** Records a voter's answer; a repeated answer replaces the first; a non-voter's answer counts for nothing. */
  recordVote(from: NodeId, granted: boolean): VoteOutcome {
    if (this.isVoter(from)) this.votes.set(from, granted);
    return this.tally();
  }

  tally(): VoteOutcome {
    let granted = 0;
    let rejected = 0;
    for (const [id, g] of this.votes) {
      if (!this.isVoter(id)) continue;
      if (g) granted++;
      else rejected++;
    }
    if (granted >= this.quorum()) return 'won';
    if (this.voters.length - rejected < this.quorum()) return 'lost';
    return 'pending';
  }

  // ---- replication progress (leader only) ------------------------------------------------

  /** A new leader knows nothing of its followers: probe each member from the end of its own log. */
  startLeading(lastIndex: Index, selfDurable: Index): void {
    this.progress.clear();
    const next = (lastIndex + 1) as Index;
    for (const id of new Set([...this.configuration.voters, ...this.configuration.learners, this.self])) {
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

  /** The members a leader tracks (voters, learners and itself), without their progress. */
  memberIds(): IterableIterator<NodeId> {
    return this.progress.keys();
  }

  /**
   * The highest index a majority of voters holds durably: the largest match that a quorum of
   * voters have reached. Asked on every acknowledgement, so it counts instead of copying and
   * sorting (quadratic in a handful of members, no allocation).
   */
  quorumMatch(): Index {
    const need = this.quorum();
    let best = 0;
    for (const [id, candidate] of this.progress) {
      if (candidate.match <= best || !this.isVoter(id)) continue;
      let holders = 0;
      for (const [other, pr] of this.progress) if (pr.match >= candidate.match && this.isVoter(other)) holders++;
      if (holders >= need) best = candidate.match;
    }
    return best as Index;
  }

  /** Check-quorum: did a majority of voters (self included, if one) answer since the last check? Resets the marks. */
  quorumRecentlyActive(): boolean {
    let active = 0;
    for (const [id, pr] of this.progress) {
      if (this.isVoter(id) && (id === this.self || pr.recentActive)) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum();
  }

  /** Voters of `config` that answered within the last `windowTicks` (the leader itself counts if one). */
  liveVoters(config: Configuration, nowTick: number, windowTicks: number): number {
    let live = 0;
    for (const id of config.voters) {
      const pr = this.progress.get(id);
      if (id === this.self || (pr !== undefined && pr.heardWithin(nowTick, windowTicks))) live++;
    }
    return live;
  }

}
