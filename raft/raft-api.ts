import type { ReplicationState } from './progress.js';
import type { Index, LogReader, HardState, NodeId, RandomSource, Role, SnapshotMeta, Term } from './types.js';

/** How a RaftNode is set up, and what its calls answer: the core's API besides types.ts. */

export interface RaftOptions {
  readonly id: NodeId;
  /** Every voting member, including `id`. */
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
}

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
  readonly transferee: NodeId | null;
  /** The leader's view of each member's log, itself included; null on other roles. */
  readonly progress: ReadonlyMap<NodeId, FollowerStatus> | null;
}
