import type { HardState, Index, LogReader, Message, NodeId, RaftNode, RaftOptions, SnapshotMeta } from '../../raft/index.js';
import { MemoryFileSystem, type DurableMarkPolicy } from '../../storage/index.js';
import type { RetentionConfig } from '../../src/node/config.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import type { DiskUsageSource } from '../../src/node/disk-guard.js';
import { DurableView } from './durable-view.js';
import type { NodeTuning } from './node-api.js';
import type { SimProcess, SimScheduler } from './sim-scheduler.js';
import type { NodeCluster } from './node-cluster.js';

/** How a call into the simulated cluster settled. */
export type CallOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export interface NodeClusterOptions {
  readonly seed: number;
  readonly size: number;
  /** Virtual milliseconds per Raft tick (every node's; skew moves clocks, not tick rates). */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Core options beyond the node's configuration (flow control, pre-vote, ...). */
  readonly tuning?: NodeTuning;
  /** The core to run; a planted-bug subclass in bug hunts. */
  readonly createRaft?: (options: RaftOptions) => RaftNode;
  readonly fsyncMinMs?: number;
  readonly fsyncMaxMs?: number;
  /** Each node's clock is off the world's by up to this much, drawn once per node. */
  readonly clockSkewMaxMs?: number;
  /**
   * What every node's clock reads at virtual time 0 (before its skew). A wall clock never
   * reads below 0, and broker entries carry the leader's clock as an unsigned number, so runs
   * with skew and broker commands start the clocks here. Default 0.
   */
  readonly clockOriginMs?: number;
  /** Each node's clock runs at a rate drawn once per node from [1 - max, 1 + max] (0.3: up to 30% fast or slow). */
  readonly clockDriftMax?: number;
  readonly durableMark?: DurableMarkPolicy;
  /** Segment size: small values make runs cross segment boundaries (roll-over, sealing). */
  readonly segmentBytes?: number;
  /** Snapshot every this many applied entries (small values: every run snapshots, compacts and installs). */
  readonly snapshotEntries?: number;
  readonly retention?: RetentionConfig;
  /** Each node's disk usage as the disk guard reads it (default: none, the guard never samples). */
  readonly diskUsage?: (id: NodeId) => DiskUsageSource;
  readonly diskHighWatermarkPercent?: number;
  /** The nodes' own log lines (the disk guard's), with the node's id. */
  readonly onNodeLog?: (id: NodeId, line: string) => void;
  /** What a node's disk holds before its first start (scripted scenarios): a log from index 1, a hard state. */
  readonly initialDisks?: ReadonlyMap<NodeId, { readonly log?: LogReader; readonly hardState?: HardState }>;
  /** Runs before a sent message reaches the network: 'drop' loses it (tests cut specific traffic with it). */
  readonly intercept?: (message: Message, cluster: NodeCluster) => 'pass' | 'drop';
  /** Sees every message the moment it is delivered to a running node, before the node steps it. */
  readonly onDeliver?: (message: Message, cluster: NodeCluster) => void;
  /**
   * Hold acknowledgements, votes and commits against the disks as they happen (default
   * true). Off, only the consequences can show a durability bug: an acknowledged append
   * lost after crashes, a double vote.
   */
  readonly checkDurability?: boolean;
  /**
   * Which disks make the bootstrap check (src/node/bootstrap-check.ts: a node that bootstraps
   * on a new data directory votes only once its members confirmed they knew no other under
   * its id). 'lost-disks' (default): only a disk that replaced a lost one; the disks a run
   * starts with are taken as checked, a cluster formed before the run (they are started
   * without an incarnation in their environment, so the node does not ask). 'every-disk':
   * the run starts from a new cluster, whose members check each other first.
   */
  readonly bootstrapCheck?: 'lost-disks' | 'every-disk';
}

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
