import type {
  Index,
  Message,
  NodeId,
  Ready,
  Term,
} from '../../raft/types.js';
import type { FollowerStatus, RaftOptions, Status } from '../../raft/index.js';

/**
 * The slice of the core's API the simulator drives. It mirrors `RaftOptions`/`RaftNode` from
 * raft/index.ts structurally, so the real class, a planted-bug subclass, a wrapper, or the
 * simulator's own fake node all plug in through a `NodeFactory`.
 */
/** The core's own options: the simulator builds every node (real, planted-bug or fake) from them. */
export type SimNodeOptions = RaftOptions;

/** The tunables a test may set for every node of a cluster (the rest the simulator supplies). */
export type NodeTuning = Omit<SimNodeOptions, 'id' | 'voters' | 'log' | 'hardState' | 'random' | 'applied' | 'votingBlockedBelow'>;

/** The leader's view of one member, as the core reports it. */
export type ProgressView = FollowerStatus;

/** The core's status; a stand-in node need not report a transfer in progress. */
export type SimStatus = Omit<Status, 'transferee'>;

export type SimProposeResult =
  | { readonly accepted: true; readonly index: Index; readonly term: Term }
  | { readonly accepted: false; readonly reason: string; readonly leader: NodeId | null };

export type SimProposeBatchResult =
  | { readonly accepted: true; readonly firstIndex: Index; readonly lastIndex: Index; readonly term: Term }
  | { readonly accepted: false; readonly reason: string; readonly leader: NodeId | null };

export type SimAcceptResult = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

export interface RaftNodeLike {
  tick(): void;
  step(message: Message): void;
  propose(payload: Uint8Array): SimProposeResult;
  /** All or nothing; optional so wrappers need not forward it. */
  proposeBatch?(payloads: readonly Uint8Array[]): SimProposeBatchResult;
  transferLeadership(to: NodeId): SimAcceptResult;
  readIndex(context: string): SimAcceptResult;
  campaign(): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  /** Asynchronous persistence (see Ready); only cores that have them run with ClusterOptions.asyncStorage. */
  accept?(ready: Ready): void;
  persisted?(ready: Ready): void;
  status(): SimStatus;
}

export type NodeFactory = (options: SimNodeOptions) => RaftNodeLike;
