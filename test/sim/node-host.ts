import type { Entry, Index, NodeId, ReadState, Ready, Role, Term } from '../../raft/types.js';
import type { RaftNodeLike, SimStatus } from './node-api.js';
import type { SimDisk } from './sim-disk.js';

/** What a client knows of its proposal: acked = applied by its leader with the same index and term. */
export type ProposalState = 'pending' | 'acked' | 'lost' | 'unknown';

export interface Proposal {
  readonly id: number;
  readonly payload: Uint8Array;
  readonly node: NodeId;
  readonly index: Index;
  readonly term: Term;
  state: ProposalState;
}

export interface PendingRead {
  readonly context: string;
  /** Highest index of a proposal acknowledged before the read was issued: the read must see it. */
  readonly mustCover: Index;
}

/** A Ready accepted by an asynchronous driver, waiting for its fsync. */
export interface InflightReady {
  readonly ready: Ready;
  /** The fsync covering its writes, or null if it wrote nothing. */
  readonly token: number | null;
  /** Committed entries to apply once it is durable (they, or entries before them, were not yet). */
  readonly late: readonly Entry[];
  done: boolean;
  /** A later Ready replaced some of its entries: its append acknowledgements must not leave. */
  superseded: boolean;
}

/** One node's driver state inside the simulator: its core, disk, state machine and clients' pending requests. */
export class NodeHost {
  core: RaftNodeLike | null = null;
  /** Incarnation number: events of an earlier incarnation are ignored after a crash. */
  epoch = 0;
  outstanding: Ready | null = null;
  /** Asynchronous driver: accepted Readies not yet durable, oldest first. */
  inflight: InflightReady[] = [];
  /** Asynchronous driver: the log is known durable through here (entries of completed Readies). */
  durableThrough: Index = 0 as Index;
  role: Role = 'follower';
  roleTerm: Term = 0 as Term;
  /** The state machine: applied entry keys by index (lost on crash, rebuilt by replay). */
  stateMachine = new Map<Index, string>();
  appliedIndex: Index = 0 as Index;
  readonly pending = new Map<Index, Proposal>();
  readonly readStates: ReadState[] = [];
  readonly pendingReads = new Map<string, PendingRead>();
  completenessCheckedTerm: Term = -1 as Term;
  fsyncMinMs: number;
  fsyncMaxMs: number;
  tickMs = 10;
  crashes = 0;
  /** Lost durable entries and has not yet been seen repaired (votingBlocked false). */
  damaged = false;
  damagedBelow: Index = 0 as Index;
  /** Indexes whose durable entry this disk ever lost to damage (loseDurableTail). */
  readonly lostEntries = new Set<Index>();

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    fsyncMinMs: number,
    fsyncMaxMs: number,
  ) {
    this.fsyncMinMs = fsyncMinMs;
    this.fsyncMaxMs = fsyncMaxMs;
  }

  get up(): boolean {
    return this.core !== null;
  }

  status(): SimStatus {
    if (this.core === null) throw new Error(`cluster: ${this.id} is down`);
    return this.core.status();
  }
}
