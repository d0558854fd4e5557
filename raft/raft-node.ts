import { assert } from './assert.js';
import { planConfChange, type ConfChangeView } from './conf-change.js';
import { Following } from './following.js';
import { Leadership } from './leadership.js';
import { NO_CONFIGURATION, configurationOfSnapshot, encodeConfiguration, isVoter, sameConfiguration } from './membership.js';
import { Outbox } from './outbox.js';
import { RaftLog } from './raft-log.js';
import { Tracker } from './tracker.js';
import type {
  ConfChange,
  ConfChangeOptions,
  ConfChangeResult,
  FollowerStatus,
  ProposeBatchResult,
  ProposeResult,
  RaftOptions,
  ReadIndexResult,
  Status,
  TransferResult,
} from './raft-api.js';
import {
  EntryKind,
  Role,
  type Configuration,
  type HardState,
  type Index,
  type Message,
  type NodeId,
  type RandomSource,
  type Ready,
  type SnapshotMeta,
  type SoftState,
  type Term,
  type VoteRequest,
  type VoteResponse,
} from './types.js';

const NO_LEADER = null;

/**
 * The Raft consensus state machine for one node. Pure: no I/O, no clock, no randomness of
 * its own. Inputs are method calls; outputs are collected into a Ready (see types.ts for the
 * driver's obligations).
 *
 * The node keeps the protocol's steps: terms, elections and role transitions. The leader's
 * side of replication lives in Leadership, the follower's in Following, and what goes out to
 * the driver (messages, read states, the Ready handshake) in Outbox.
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly log: RaftLog;
  private readonly random: RandomSource;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly uncommittedEntriesMax: number;
  private readonly applyBytesMax: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly learnerCatchUpEntriesMax: number;

  private role: Role = Role.follower;
  private currentTerm: Term;
  private vote: NodeId | null;
  private leader: NodeId | null = NO_LEADER;
  /** 0 when this node lost durable entries and has been repaired since (or never lost any). */
  /** The newest snapshot this node holds (taken here or installed from a leader), or null. */
  private snapshot: SnapshotMeta | null;

  /** Ticks since this node started; only the leader's stall detection reads it. */
  private ticks = 0;
  /** Ticks since the last election-timer reset (heard from leader, granted a vote, campaigned). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;

  /** Votes in a campaign; replication progress of every member while leading. */
  private readonly tracker: Tracker;
  private readonly leadership: Leadership;
  private readonly following: Following;
  /** Kept out of elections by the driver until releaseVotingHold() (RaftOptions.votingHeld). */
  private votingHeld: boolean;
  private readonly outbox: Outbox;

  constructor(options: RaftOptions) {
    this.id = options.id;
    assert(options.voters.length === 0 || options.voters.includes(options.id), `raft: ${options.id} is not among the bootstrap voters ${options.voters.join(',')}`);
    this.random = options.random;
    this.electionTicks = options.electionTicks ?? 10;
    this.heartbeatTicks = options.heartbeatTicks ?? 1;
    assert(this.heartbeatTicks >= 1 && this.heartbeatTicks < this.electionTicks, 'raft: heartbeatTicks must be in [1, electionTicks)');
    this.uncommittedEntriesMax = options.uncommittedEntriesMax ?? 10_000;
    this.applyBytesMax = options.applyBytesMax ?? 8 * 1024 * 1024;
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.learnerCatchUpEntriesMax = options.learnerCatchUpEntriesMax ?? 64;
    const batchBytesMax = options.batchBytesMax ?? 1024 * 1024;
    const hs = options.hardState;
    this.currentTerm = hs.term;
    this.vote = hs.vote;
    this.snapshot = options.snapshot ?? null;
    this.votingHeld = options.votingHeld ?? false;
    // The configuration is the newest in the log, else the snapshot's, else the bootstrap one.
    const base = this.snapshot !== null ? { index: this.snapshot.index, config: configurationOfSnapshot(this.snapshot) } : { index: 0 as Index, config: this.startingConfiguration(options.voters) };
    const recovered = RaftLog.recover({ durable: options.log, hardState: hs, snapshot: this.snapshot, applied: (options.applied ?? 0) as Index, base, batchBytesMax });
    this.log = recovered.log;
    this.tracker = new Tracker(this.id, this.log.configs.current(), options.inflightAppendsMax ?? 64);
    this.outbox = new Outbox(this.softState(), hs);
    this.following = new Following({
      id: this.id,
      log: this.log,
      outbox: this.outbox,
      term: () => this.currentTerm,
      snapshotInstalled: (snapshot) => (this.snapshot = snapshot),
      votingBlockedBelow: Math.max(options.votingBlockedBelow ?? 0, recovered.votingBlockedBelow) as Index,
    });
    this.leadership = new Leadership({
      id: this.id,
      log: this.log,
      tracker: this.tracker,
      outbox: this.outbox,
      electionTicks: this.electionTicks,
      snapshotStallTicks: options.snapshotStallTicks ?? 10 * this.electionTicks,
      latestSnapshot: () => this.snapshot,
      batchBytesMax,
      pendingReadsMax: options.pendingReadsMax ?? 4096,
      preferredLeader: options.preferredLeader ?? null,
      mayCommitByCounting: (at) => this.mayCommitByCounting(at),
    });
    this.resetRandomizedElectionTicks();
  }

  // ---------------------------------------------------------------------------------------
  // Driver API

  tick(): void {
    this.ticks++;
    if (this.role === Role.leader) {
      this.tickLeader();
    } else {
      this.tickElection();
    }
  }

  step(m: Message): void {
    assert(m.to === this.id, `raft: message for ${m.to} stepped into ${this.id}`);
    // Campaigns are answered only from members of the configuration this node holds (see
    // answersCampaignOf): a removed member that comes back, or a stranger, changes no term
    // here and gets no vote, and a node that holds no configuration yet (a new member before
    // its first log) answers no one.
    if ((m.type === 'vote' || m.type === 'preVote') && !this.answersCampaignOf(m.from)) return;
    if (m.term > this.currentTerm) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.currentTerm) {
      this.stepLowerTerm(m);
      return;
    }
    this.stepCurrentTerm(m);
  }

  propose(payload: Uint8Array): ProposeResult {
    if (this.role !== Role.leader) return { accepted: false, reason: 'notLeader', leader: this.leader };
    if (this.leadership.transferee !== null) return { accepted: false, reason: 'transferring', leader: this.leader };
    if (this.log.lastIndex() - this.log.committed >= this.uncommittedEntriesMax) {
      return { accepted: false, reason: 'tooManyUncommitted', leader: this.leader };
    }
    const entry = this.leadership.appendEntry(EntryKind.normal, payload);
    return { accepted: true, index: entry.index, term: entry.term };
  }

  /**
   * Proposes payloads as consecutive entries, all or none: a client's batch never commits in
   * part because the uncommitted bound was reached half way.
   */
  proposeBatch(payloads: readonly Uint8Array[]): ProposeBatchResult {
    assert(payloads.length > 0, 'raft: proposeBatch needs at least one payload');
    if (this.role !== Role.leader) return { accepted: false, reason: 'notLeader', leader: this.leader };
    if (this.leadership.transferee !== null) return { accepted: false, reason: 'transferring', leader: this.leader };
    if (this.log.lastIndex() - this.log.committed + payloads.length > this.uncommittedEntriesMax) {
      return { accepted: false, reason: 'tooManyUncommitted', leader: this.leader };
    }
    const first = (this.log.lastIndex() + 1) as Index;
    for (const payload of payloads) this.leadership.appendEntry(EntryKind.normal, payload);
    return { accepted: true, firstIndex: first, lastIndex: this.log.lastIndex(), term: this.currentTerm };
  }

  /**
   * Proposes one single-server membership change (docs/membership.md). Accepted, the config
   * entry is appended and in force on this leader at once; it is refused while another is
   * uncommitted, and until this leader has committed an entry of its own term (a change made
   * before that could overlap one of a previous leader that this log lacks).
   */
  proposeConfChange(change: ConfChange, options: ConfChangeOptions = {}): ConfChangeResult {
    const refuse = (reason: Extract<ConfChangeResult, { accepted: false }>['reason'], detail: string): ConfChangeResult => ({ accepted: false, reason, detail, leader: this.leader });
    if (this.role !== Role.leader) return refuse('notLeader', `${this.id} is not the leader`);
    if (this.leadership.transferee !== null) return refuse('transferring', `leadership is being handed to ${this.leadership.transferee}`);
    if (!this.mayChangeConfiguration()) return refuse('noCommitInTerm', `no entry of term ${this.currentTerm} is committed yet`);
    const pendingAt = this.log.configs.currentIndex();
    if (pendingAt > this.log.committed) return refuse('changeInProgress', `the change at ${pendingAt} is not committed yet (commit ${this.log.committed})`);
    if (this.log.lastIndex() - this.log.committed >= this.uncommittedEntriesMax) return refuse('tooManyUncommitted', 'too many uncommitted entries');
    const plan = planConfChange(this.tracker.config, change, this.confChangeView(), options);
    if (!plan.ok) return refuse(plan.reason, plan.detail);
    const entry = this.leadership.appendEntry(EntryKind.config, encodeConfiguration(plan.config, change.context));
    this.syncConfig();
    return { accepted: true, index: entry.index, term: entry.term, config: plan.config };
  }

  /** The configuration in force here: the newest in the log, committed or not (no voters: none yet). */
  configuration(): Configuration {
    return this.log.configs.current();
  }

  /**
   * The configuration in force at `at` (after the entry there), for the meta of a snapshot
   * through `at`; undefined below the newest snapshot this node has taken or installed.
   */
  configurationAt(at: Index): Configuration | undefined {
    return this.log.configs.at(at);
  }

  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== Role.leader) return { accepted: false, reason: 'notLeader' };
    if (!this.tracker.isVoter(to)) return { accepted: false, reason: 'unknownNode' };
    if (to === this.id) return { accepted: false, reason: 'isSelf' };
    this.startTransfer(to);
    return { accepted: true };
  }

  readIndex(context: string): ReadIndexResult {
    if (this.role !== Role.leader) return { accepted: false, reason: 'notLeader' };
    // Until an entry of this term commits, our commit index may lag what a previous leader
    // committed, so it is no safe read point (Raft thesis §6.4, step 1).
    if (this.log.term(this.log.committed) !== this.currentTerm) return { accepted: false, reason: 'noCommitInTerm' };
    return this.leadership.readIndex(context);
  }

  /**
   * The driver wrote a snapshot of the state machine through `snapshot.index` (applied here,
   * so committed): followers behind the log's compaction point will be sent it. The driver
   * compacts its log only below a snapshot it has reported here.
   */
  snapshotTaken(snapshot: SnapshotMeta): void {
    assert(snapshot.index <= this.log.applied, `raft: snapshot at ${snapshot.index} beyond applied ${this.log.applied}`);
    const t = this.log.term(snapshot.index);
    assert(t === undefined || t === snapshot.term, `raft: snapshot at ${snapshot.index} says term ${snapshot.term}, the log ${t}`);
    // Followers restore their configuration from it: it must be this log's as of its index.
    const config = this.log.configs.at(snapshot.index);
    assert(
      config === undefined || sameConfiguration(config, configurationOfSnapshot(snapshot)),
      `raft: snapshot at ${snapshot.index} names voters ${snapshot.voters.join(',')} learners ${(snapshot.learners ?? []).join(',')}, the log ${config?.voters.join(',')} / ${config?.learners.join(',')}`,
    );
    if (this.snapshot === null || snapshot.index > this.snapshot.index) {
      this.snapshot = snapshot;
      this.log.configs.compact(snapshot.index);
    }
  }

  /** The driver could not deliver the snapshot it was sending `to` (the stream broke): try again later. */
  snapshotFailed(to: NodeId): void {
    if (this.role === Role.leader) this.leadership.snapshotFailed(to);
  }

  /** Ends the hold RaftOptions.votingHeld put on: the node votes and campaigns from now on. */
  releaseVotingHold(): void {
    this.votingHeld = false;
  }

  /** Starts an election now, as if the election timer had fired. */
  campaign(): void {
    if (this.role === Role.leader) return;
    this.startCampaign(this.preVote ? 'preElection' : 'election');
  }

  hasReady(): boolean {
    if (this.outbox.isOutstanding()) return false;
    return (
      this.leadership.hasBroadcastPending() ||
      this.log.hasRestoreToSend() ||
      this.log.hasUnpersisted() ||
      this.log.hasEntriesToApply() ||
      this.outbox.hasNews(this.softState(), this.hardState())
    );
  }

  ready(): Ready {
    assert(!this.outbox.isOutstanding(), 'raft: ready() called again before advance() or accept()');
    this.leadership.flushBroadcast(this.ticks);
    const soft = this.softState();
    const hard = this.hardState();
    const snapshot = this.log.takeRestore();
    const entries = this.log.takeUnpersisted();
    const committedEntries = this.log.takeEntriesToApply(this.applyBytesMax);
    return this.outbox.take(soft, hard, snapshot, entries, committedEntries);
  }

  /** The driver has carried out `ready`: its entries and hard state are durable, its committed entries applied. */
  advance(ready: Ready): void {
    this.accept(ready);
    this.persisted(ready);
  }

  /**
   * Asynchronous persistence, first half: the driver sent `ready.messages`, issued the writes
   * of its entries and hard state (not yet durable) and will apply its committed entries in
   * order. The next Ready may be taken now; this one's writes count only at persisted().
   */
  accept(ready: Ready): void {
    this.outbox.accept(ready);
    if (ready.snapshot !== null) this.log.restored(ready.snapshot);
    const applied = ready.committedEntries.at(-1);
    if (applied !== undefined) this.log.appliedTo(applied.index);
  }

  /**
   * Asynchronous persistence, second half: the writes of `ready`, the oldest accepted Ready
   * not yet reported, are durable. Only now does a leader count its own copy of the entries.
   */
  persisted(ready: Ready): void {
    this.outbox.persisted(ready);
    const last = ready.entries.at(-1);
    if (last !== undefined) {
      this.log.persistedTo(last.index, last.term);
      if (this.role === Role.leader) {
        this.leadership.acknowledgeSelf();
        this.leaveIfRemoved();
      }
    }
  }

  status(): Status {
    let progress: Map<NodeId, FollowerStatus> | null = null;
    if (this.role === Role.leader) {
      progress = new Map();
      for (const [id, pr] of this.tracker.entries()) {
        progress.set(id, { learner: !this.tracker.isVoter(id), match: pr.match, next: pr.next, state: pr.state, inflight: pr.inflightCount });
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.currentTerm,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      snapshotIndex: (this.snapshot?.index ?? 0) as Index,
      votingBlocked: this.following.votingBlockedBelow > 0,
      repairThrough: this.following.votingBlockedBelow,
      votingHeld: this.votingHeld,
      transferee: this.leadership.transferee,
      config: this.tracker.config,
      configIndex: this.log.configs.currentIndex(),
      progress,
    };
  }

  // ---------------------------------------------------------------------------------------
  // Rules a test may override to plant a classic bug (the production core has no switches).

  /** The election restriction: grant a vote only to a log at least as up to date as ours (§5.4.1). */
  protected logIsUpToDate(candidateLastIndex: Index, candidateLastTerm: Term): boolean {
    return this.log.isUpToDate(candidateLastIndex, candidateLastTerm);
  }

  /** A leader commits by counting replicas only an entry of its own term (§5.4.2, figure 8). */
  protected mayCommitByCounting(at: Index): boolean {
    return this.log.term(at) === this.currentTerm;
  }

  /**
   * A leader changes the configuration only once an entry of its term is committed: before,
   * its log may lack an uncommitted change of a previous leader, and its own change could
   * form a configuration whose majorities do not overlap that one's (the fix to the original
   * single-server algorithm; docs/membership.md).
   */
  protected mayChangeConfiguration(): boolean {
    return this.log.term(this.log.committed) === this.currentTerm;
  }

  /**
   * The configuration used when neither the log nor a snapshot holds one: the bootstrap
   * voters of a new cluster, or none for a node joining an existing one (it neither votes nor
   * campaigns until a leader's log or snapshot gives it one). Called from the constructor.
   */
  protected startingConfiguration(bootstrapVoters: readonly NodeId[]): Configuration {
    return bootstrapVoters.length === 0 ? NO_CONFIGURATION : { voters: [...new Set(bootstrapVoters)], learners: [] };
  }

  // ---------------------------------------------------------------------------------------
  // Timers

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed < this.randomizedElectionTicks) return;
    this.electionElapsed = 0;
    // Nothing from the leader for an election timeout: it is known no longer, so its lease no
    // longer shields it from campaigns. A node that campaigns forgets it anyway; one that may
    // not (a learner, a node awaiting repair) must too, or it could ignore every candidate.
    if (this.role === Role.follower) this.leader = NO_LEADER;
    if (this.promotable()) this.campaign();
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.tracker.quorumRecentlyActive()) {
        this.becomeFollower(this.currentTerm, NO_LEADER);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadership.abandonTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.leadership.broadcastHeartbeat();
      this.maybeTransferToPreferred();
    }
    this.leadership.tellCommit(this.ticks);
  }

  private resetRandomizedElectionTicks(): void {
    this.randomizedElectionTicks = this.electionTicks + this.random.nextInt(this.electionTicks);
  }

  // ---------------------------------------------------------------------------------------
  // Role transitions

  private becomeFollower(t: Term, leader: NodeId | null): void {
    if (t !== this.currentTerm) {
      assert(t > this.currentTerm, `raft: term ${t} would go back from ${this.currentTerm}`);
      this.currentTerm = t;
      this.vote = null;
      // Acknowledgements still queued for a deposed leader may name entries that a newer
      // leader's append, in this same Ready, replaces; they would promise what we will not
      // hold. Dropping them is always safe: the network may lose any message.
      this.outbox.dropAppendResponsesBelow(t);
    }
    this.role = Role.follower;
    this.leader = leader;
    this.resetRoleState();
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.leader, 'raft: a leader cannot become a pre-candidate');
    // A pre-candidate keeps its term and vote: a failed pre-election disturbs no one.
    this.role = Role.preCandidate;
    this.leader = NO_LEADER;
    this.resetRoleState();
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.leader, 'raft: a leader cannot become a candidate');
    this.currentTerm = (this.currentTerm + 1) as Term;
    this.vote = this.id;
    this.role = Role.candidate;
    this.leader = NO_LEADER;
    this.resetRoleState();
  }

  private becomeLeader(): void {
    assert(this.role === Role.candidate, `raft: only a candidate becomes leader, not a ${this.role}`);
    this.role = Role.leader;
    this.leader = this.id;
    this.resetRoleState();
    this.tracker.startLeading(this.log.lastIndex(), this.log.durableLastIndex());
    this.leadership.startLeading(this.currentTerm);
    // The no-op lets this leader commit in its own term, which commits everything before it (§8).
    this.leadership.appendEntry(EntryKind.noop, new Uint8Array(0));
  }

  private resetRoleState(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTicks();
    this.tracker.reset();
    this.leadership.reset();
  }

  /**
   * Can this node campaign? Not while its log awaits repair after losing durable entries, nor
   * while its driver holds it out of elections (RaftOptions.votingHeld); and
   * only as a voter of the configuration it holds (not a learner, not a new node without a
   * log), or of the one before while that configuration, which removes it, is uncommitted: it
   * may still be needed to commit it (thesis §4.2.2; it then counts the votes of the new
   * configuration's voters, not its own, and steps down once the change commits).
   */
  private promotable(): boolean {
    return this.following.votingBlockedBelow === 0 && !this.votingHeld && this.countsAsVoter(this.id);
  }

  /**
   * Whether `id` may take part in an election as this node sees it: a voter of its
   * configuration, or of the one before while this one is uncommitted (a node whose removal
   * is on its way may still be needed to commit it; see promotable()).
   */
  private countsAsVoter(id: NodeId): boolean {
    return this.log.configs.electsIn(id, this.log.committed);
  }

  /**
   * Whether a vote or pre-vote request from `id` is answered: from a node that takes part in
   * elections here (countsAsVoter), or from a learner of this configuration. A learner
   * campaigns only once its own log makes it a voter, by a promotion this node has not
   * received yet; its configuration may need this node's vote to elect anyone (a voter that
   * missed the promotion while another voter was lost: FINDINGS O6). Whether the vote counts
   * is the candidate's configuration's call, as for the learner that votes.
   */
  private answersCampaignOf(id: NodeId): boolean {
    return this.countsAsVoter(id) || this.log.configs.current().learners.includes(id);
  }

  // ---------------------------------------------------------------------------------------
  // Elections

  private startCampaign(kind: 'preElection' | 'election' | 'transfer'): void {
    if (!this.promotable()) return;
    if (kind === 'preElection') {
      this.becomePreCandidate();
    } else {
      this.becomeCandidate();
    }
    const voteType = kind === 'preElection' ? 'preVote' : 'vote';
    const campaignTerm = kind === 'preElection' ? ((this.currentTerm + 1) as Term) : this.currentTerm;
    this.tracker.startCampaign();
    if (this.tracker.tally() === 'won') {
      this.winCampaign();
      return;
    }
    for (const to of this.tracker.voters) {
      if (to === this.id) continue;
      this.send({
        type: voteType,
        from: this.id,
        to,
        term: campaignTerm,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer: kind === 'transfer',
      });
    }
  }

  private winCampaign(): void {
    if (this.role === Role.preCandidate) {
      this.startCampaign('election');
    } else {
      this.becomeLeader();
    }
  }


  private handleVoteRequest(m: VoteRequest): void {
    const isPre = m.type === 'preVote';
    // A pre-vote asks about a future term: grant it if we would vote then. A real vote is
    // granted once per term; a repeated request from the same candidate gets the same answer.
    const mayVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === NO_LEADER) ||
      (isPre && m.term > this.currentTerm);
    // A learner votes too: it may have been promoted without knowing it yet, and a candidate
    // counts its vote only if the candidate's configuration lists it as a voter.
    const grant = mayVote && this.following.votingBlockedBelow === 0 && !this.votingHeld && this.logIsUpToDate(m.lastIndex, m.lastTerm);
    const respType = isPre ? 'preVoteResp' : 'voteResp';
    if (grant) {
      // A pre-vote response carries the term asked about, so the pre-candidate can match it.
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, granted: true });
      if (!isPre) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.currentTerm, granted: false });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === Role.preCandidate ? 'preVoteResp' : this.role === Role.candidate ? 'voteResp' : null;
    if (m.type !== expected) return;
    const outcome = this.tracker.recordVote(m.from, m.granted);
    if (outcome === 'won') this.winCampaign();
    else if (outcome === 'lost') this.becomeFollower(this.currentTerm, NO_LEADER);
  }

  // ---------------------------------------------------------------------------------------
  // Terms

  /** Returns whether the message should be processed further in the (possibly new) current term. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote' || m.type === 'preVote') {
      // Leader lease (with check-quorum): a node that heard from a live leader within the
      // minimum election timeout ignores campaigns, so a rejoining node cannot depose it.
      const inLease = this.checkQuorum && this.leader !== NO_LEADER && this.electionElapsed < this.electionTicks;
      if (inLease && !m.transfer) return false;
    }
    if (m.type === 'preVote') return true; // asks about a future term: adopt nothing
    if (m.type === 'preVoteResp' && m.granted) return true; // carries the term we asked about
    const leader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'timeoutNow' ? m.from : NO_LEADER;
    this.becomeFollower(m.term, leader);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      // A deposed leader (or one partitioned away while we moved on) learns our term from
      // this and steps down. Without it, pre-vote and check-quorum could strand it.
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.currentTerm, success: false, index: 0 as Index, hintIndex: 0 as Index, hintTerm: 0 as Term });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.currentTerm, granted: false });
    }
  }

  private stepCurrentTerm(m: Message): void {
    switch (m.type) {
      case 'preVote':
      case 'vote':
        this.handleVoteRequest(m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        this.handleVoteResponse(m);
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        if (this.role === Role.leader) return; // another leader in our term cannot exist
        if (this.role !== Role.follower) this.becomeFollower(this.currentTerm, m.from);
        this.leader = m.from;
        this.electionElapsed = 0;
        if (m.type === 'append') this.following.handleAppend(m);
        else if (m.type === 'snapshot') this.following.handleSnapshot(m);
        else this.following.handleHeartbeat(m);
        this.syncConfig();
        return;
      case 'timeoutNow':
        if (this.role !== Role.leader) this.startCampaign('transfer');
        return;
      case 'appendResp':
        if (this.role === Role.leader) {
          this.leadership.handleAppendResponse(m, this.ticks);
          this.leaveIfRemoved();
        }
        return;
      case 'heartbeatResp':
        if (this.role === Role.leader) this.leadership.handleHeartbeatResponse(m, this.ticks);
        return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Membership

  /** After the log changed: the tracker (quorums, a leader's members) follows the newest configuration in it. */
  private syncConfig(): void {
    const config = this.log.configs.current();
    if (config === this.tracker.config) return;
    this.tracker.setConfig(config, this.log.lastIndex());
    const transferee = this.leadership.transferee;
    if (transferee !== null && !isVoter(config, transferee)) this.leadership.abandonTransfer();
  }

  /**
   * A leader whose removal has committed steps down (until then it leads the new
   * configuration without counting itself). It first tells the members the new commit index
   * and asks the most caught-up live voter to campaign at once, so the cluster is not left
   * waiting for an election timeout.
   */
  private leaveIfRemoved(): void {
    if (this.role !== Role.leader || this.tracker.isVoter(this.id)) return;
    if (this.log.configs.currentIndex() > this.log.committed) return;
    this.leadership.tellCommit(this.ticks);
    const successor = this.leadership.successor(this.ticks, this.electionTicks);
    if (successor !== null) this.leadership.sendTimeoutNow(successor);
    this.becomeFollower(this.currentTerm, NO_LEADER);
  }

  private confChangeView(): ConfChangeView {
    return {
      lastIndex: this.log.lastIndex(),
      configIndex: this.log.configs.currentIndex(),
      learnerCatchUpEntriesMax: this.learnerCatchUpEntriesMax,
      learner: (id) => {
        const pr = this.tracker.get(id);
        return pr === undefined ? undefined : { match: pr.match, live: pr.heardWithin(this.ticks, this.electionTicks) };
      },
      liveVoters: (config) => this.tracker.liveVoters(config, this.ticks, this.electionTicks),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Leadership transfer

  private startTransfer(to: NodeId): void {
    // The transfer must finish within one election timeout, or it is abandoned.
    if (this.leadership.startTransfer(to, this.ticks)) this.electionElapsed = 0;
  }

  private maybeTransferToPreferred(): void {
    const preferred = this.leadership.preferredTransferee();
    if (preferred !== null) this.startTransfer(preferred);
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private send(m: Message): void {
    this.outbox.send(m);
  }

  private hardState(): HardState {
    return { term: this.currentTerm, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.currentTerm };
  }
}
