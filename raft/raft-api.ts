import type { ReplicationState } from './progress.js';
import type { Configuration, Index, LogReader, HardState, NodeId, RandomSource, Role, SnapshotMeta, Term } from './types.js';

/** How a RaftNode is set up, and what its calls answer: the core's API besides types.ts. */

export interface RaftOptions {
  readonly id: NodeId;
  /**
   * The voters a new cluster bootstraps with (including `id`), used only until the log or a
   * snapshot holds a configuration (a config entry, or a snapshot's). Empty for a node that
   * joins an existing cluster: it holds no configuration, so neither campaigns nor votes,
   * until a leader's log or snapshot gives it one (docs/membership.md).
   */
  readonly voters: readonly NodeId[];
  /** The durable log as recovered by storage. */
  readonly log: LogReader;
  /** As loaded from storage; {term: 0, vote: null, commit: 0} on a fresh node. */
  readonly hardState: HardState;
  readonly random: RandomSource;
  /** Last index the state machine has already applied; 0 replays the log from its start. */
  readonly applied?: Index;
  /**
   * The newest snapshot the driver holds (the state machine was loaded from it, or it is
   * older than what was applied): committed through its index, and what a follower behind
   * the log's compaction point is sent. Must cover the log's compaction point.
   */
  readonly snapshot?: SnapshotMeta | null;
  /** Ticks a snapshot on its way to a follower may go unacknowledged before it is sent again (default 10 election timeouts). */
  readonly snapshotStallTicks?: number;
  /** Ticks without a leader before campaigning; the actual timeout is drawn from [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Appends in flight to one follower in replicate mode. */
  readonly inflightAppendsMax?: number;
  /** Payload bytes per append message (a single larger entry still goes alone). */
  readonly batchBytesMax?: number;
  /** Proposals appended but not yet committed; beyond this `propose` refuses. */
  readonly uncommittedEntriesMax?: number;
  /** Payload bytes of committed entries handed out in one Ready. */
  readonly applyBytesMax?: number;
  /** ReadIndex requests waiting for confirmation. */
  readonly pendingReadsMax?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** When this node is caught up, the leader hands leadership to it (DLedger's preferred leader). */
  readonly preferredLeader?: NodeId | null;
  /**
   * Storage found that this node once made entries durable through this index and has lost
   * some of them. Until a leader has repaired the log through it, the node neither votes nor
   * campaigns: its acknowledgements may have helped commit what it no longer holds.
   */
  readonly votingBlockedBelow?: Index;
  /**
   * The node takes part in no election, neither voting nor campaigning, until the driver calls
   * releaseVotingHold(); it still follows a leader meanwhile. The node layer holds a node
   * that bootstraps on a new data directory until its peers have confirmed that they never
   * knew another data directory under its id (src/node/bootstrap-check.ts).
   */
  readonly votingHeld?: boolean;
  /**
   * A learner is promoted only when its log is within this many entries of the leader's and
   * it answered within an election timeout (default 64): a voter that is far behind would
   * hold up commits in its new, larger quorum.
   */
  readonly learnerCatchUpEntriesMax?: number;
}

/** One single-server membership change (docs/membership.md). */
export interface ConfChange {
  /** addLearner: a new member that receives the log but does not vote; promote: a learner becomes a voter; remove: a voter or learner leaves. */
  readonly kind: 'addLearner' | 'promote' | 'remove';
  readonly id: NodeId;
  /** The driver's bytes for this change (the node: the member's addresses), stored in the config entry and otherwise ignored. */
  readonly context?: Uint8Array;
}

export interface ConfChangeOptions {
  /** Remove a voter even though too few live voters would remain for a quorum (the leader's recent-activity view). */
  readonly force?: boolean;
}

export const ConfChangeRefusal = {
  notLeader: 'notLeader',
  transferring: 'transferring',
  /** This leader has not yet committed an entry of its term: its log may lack a previous leader's change (docs/membership.md). */
  noCommitInTerm: 'noCommitInTerm',
  /** A config entry is appended and not yet committed: one change at a time. */
  changeInProgress: 'changeInProgress',
  tooManyUncommitted: 'tooManyUncommitted',
  /** addLearner of a node that is already a voter or learner. */
  alreadyMember: 'alreadyMember',
  /** promote of a node that is not a learner. */
  notLearner: 'notLearner',
  /** promote of a learner that is not caught up (learnerCatchUpEntriesMax) or not heard from lately. */
  learnerBehind: 'learnerBehind',
  /** remove of a node that is not a member. */
  notMember: 'notMember',
  /** remove of the only voter: a configuration needs one. Not overridden by force. */
  lastVoter: 'lastVoter',
  /** remove of a voter that would leave fewer live voters than the new quorum; `force` overrides. */
  wouldLoseQuorum: 'wouldLoseQuorum',
} as const;
export type ConfChangeRefusal = (typeof ConfChangeRefusal)[keyof typeof ConfChangeRefusal];

export type ConfChangeResult =
  | { readonly accepted: true; readonly index: Index; readonly term: Term; readonly config: Configuration }
  | { readonly accepted: false; readonly reason: ConfChangeRefusal; readonly detail: string; readonly leader: NodeId | null };

export type ProposeResult =
  | { readonly accepted: true; readonly index: Index; readonly term: Term }
  | { readonly accepted: false; readonly reason: 'notLeader' | 'transferring' | 'tooManyUncommitted'; readonly leader: NodeId | null };

export type ProposeBatchResult =
  | { readonly accepted: true; readonly firstIndex: Index; readonly lastIndex: Index; readonly term: Term }
  | { readonly accepted: false; readonly reason: 'notLeader' | 'transferring' | 'tooManyUncommitted'; readonly leader: NodeId | null };

export type TransferResult =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: 'notLeader' | 'unknownNode' | 'isSelf' };

export type ReadIndexResult =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: 'notLeader' | 'noCommitInTerm' | 'tooManyPending' };

export interface FollowerStatus {
  /** A learner: replicated to, not counted in quorums. */
  readonly learner: boolean;
  readonly match: Index;
  readonly next: Index;
  readonly state: ReplicationState;
  readonly inflight: number;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  /** The newest snapshot's index (0: none). */
  readonly snapshotIndex: Index;
  readonly votingBlocked: boolean;
  /**
   * While votingBlocked, the index this log must hold again, as a current leader has it,
   * before the node votes or campaigns (its repair's goal); 0 otherwise.
   */
  readonly repairThrough: Index;
  /** Held out of elections by its driver (RaftOptions.votingHeld) until released. */
  readonly votingHeld: boolean;
  readonly transferee: NodeId | null;
  /** The configuration this node uses now: the newest in its log, committed or not (none: no voters). */
  readonly config: Configuration;
  /** The index of the entry that configuration comes from (a snapshot's index, or 0 for the bootstrap one). */
  readonly configIndex: Index;
  /** The leader's view of each member's log (voters and learners), itself included; null on other roles. */
  readonly progress: ReadonlyMap<NodeId, FollowerStatus> | null;
}
