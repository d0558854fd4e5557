import type { HardState, Index, LogReader, NodeId, SnapshotMeta } from '../../raft/index.js';
import { MemoryFileSystem } from '../../storage/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { DurableView } from './durable-view.js';
import type { SimProcess, SimScheduler } from './sim-scheduler.js';

/** How a call into the simulated cluster settled. */
export type CallOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export type AppendState = 'pending' | 'acked' | 'failed' | 'unknown';

/** One client append of one record, and what the client learnt of it. */
export interface ClientAppend {
  readonly id: number;
  readonly payload: Uint8Array;
  readonly node: NodeId;
  state: AppendState;
  /** The index the cluster acknowledged it at. */
  index: Index | null;
}

/** What a simulated node is right now. */
export class SimNode {
  /** The running process's view of this node's disk (a crash hands over to a new view). */
  fs = new MemoryFileSystem();
  process: SimProcess | null = null;
  /** Set once assembleNode has recovered the log; null while down or starting. */
  node: AssembledNode | null = null;
  scheduler: SimScheduler | null = null;
  /** Snapshots the node's state machine was restored from (at a start, or installed from a leader), over the whole run. */
  readonly restores: SnapshotMeta[] = [];
  /** Of those, the ones at a start (from its own newest snapshot, before the node was up). */
  restoresAtStart = 0;
  /** Entries this process applied, in order (rebuilt from index 1 at every start). */
  appliedIndex = 0;
  crashes = 0;
  /** Its disk was damaged and it has not been seen repaired (voting again) since. */
  damaged = false;
  /** The term in which this process's log was last found to hold every committed entry while leading. */
  completenessCheckedTerm = -1;
  /** Crash once this many more syncs of this disk have completed (null: not armed). */
  crashAfterSyncs: { remaining: number; readonly tear: boolean } | null = null;
  /** Written to the disk before the first start, then null. */
  initial: { readonly log?: LogReader; readonly hardState?: HardState } | null = null;
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /** What its disk holds durably, read from the disk, not from the process. */
  readonly durable: DurableView;
  /** Disks this node id has had: 0 for its first, one more at each wipe. */
  generation = 0;
  /** A node started to join a running cluster (`--join`): it bootstraps no configuration. */
  joiner = false;
  /** The ids its running process was started with as --members. */
  flags: readonly NodeId[] = [];
  /** Its wiped disk has left the configuration (a wiped id is never added again). */
  wipeRemoved = false;
  /** It stopped on its own for good (a member knew another disk under its id): it is not started again. */
  stoppedForGood = false;

  constructor(
    readonly id: NodeId,
    readonly skewMs: number,
    /** How fast its clock runs against the world's (1: exactly as fast). */
    readonly clockRate: number,
    fsyncMinMs: number,
    fsyncMaxMs: number,
  ) {
    this.fsyncMinMs = fsyncMinMs;
    this.fsyncMaxMs = fsyncMaxMs;
    this.durable = new DurableView(() => this.fs, `/data/${id}/log`);
  }

  get up(): boolean {
    return this.process !== null;
  }

  /** Its data directory's incarnation (data-dir.ts gives each directory one; a wiped disk gets a new one). */
  get incarnation(): string {
    return `${this.id}.disk${this.generation}`;
  }

  /**
   * Who the safety checker holds this disk's promises against: a wiped disk restarted under
   * the id is another node as far as votes and saved terms go (it remembers none of the old
   * one's), and that its promises reach no one is what the peer links ensure.
   */
  get checkerId(): NodeId {
    return (this.generation === 0 ? this.id : `${this.id}~${this.generation}`) as NodeId;
  }
}
