import type { Index, InstallSnapshot, Message, RaftNode, SnapshotMeta, Term } from '../../raft/index.js';
import { SnapshotTransferError, type DurableLog, type Scheduler, type SnapshotReceiver, type SnapshotStore } from '../../storage/index.js';
import type { SnapshotIntake, SnapshotReceiving, SnapshotShipping, SnapshotSource } from '../transport/index.js';
import { encodeInSlices, SNAPSHOT_ENCODE_SLICE, type SnapshotEncodeSlice } from './snapshot-slices.js';
import type { NodeStateMachine } from './state-machine.js';

export interface NodeSnapshotsOptions {
  readonly store: SnapshotStore;
  readonly log: DurableLog & { term(at: Index): Term | undefined; firstIndex(): Index };
  readonly raft: RaftNode;
  readonly stateMachine: NodeStateMachine;
  readonly scheduler: Scheduler;
  /** A snapshot is taken once this many entries were applied since the last one. */
  readonly snapshotEntries: number;
  /**
   * The lowest log index that must stay in the log after a snapshot (what the broker still
   * owes or a consumer group still needs, and what retention keeps); Infinity when the log
   * may be compacted up to the snapshot.
   */
  readonly keepFrom: () => number;
  /** The snapshot the log was compacted below at start, which the core was given (null: none). */
  readonly compactionSnapshot: SnapshotMeta | null;
  /** The last index applied to the state machine. */
  readonly appliedIndex: () => Index;
  /** Ships a snapshot to a peer (the peer transport, or the simulated network). */
  readonly shipping: SnapshotShipping;
  /** Hands a message to the core (the InstallSnapshot, once its snapshot arrived whole). */
  readonly deliver: (message: Message) => void;
  /** A shipment failed: the core is told, and the replica woken to act on it. */
  readonly onShipmentFailed: (message: InstallSnapshot, error: unknown) => void;
  /** Drops whole log segments below an index (the replica does it between two Readies). */
  readonly compactLog: (before: Index) => Promise<void>;
  /** Writing a snapshot failed: storage is broken, the node must stop. */
  readonly onFatal: (error: unknown) => void;
  /**
   * Holds applying committed entries until the returned function is called (the replica's
   * holdApplies): the state stays at the snapshot's index while it is encoded.
   */
  readonly holdApplies: () => () => void;
  /** How the state is encoded across turns (SNAPSHOT_ENCODE_SLICE by default). */
  readonly encodeSlice?: SnapshotEncodeSlice;
  /**
   * Told once a snapshot is published: one written here (with how long applies were held
   * while it was encoded, on the scheduler's clock), or one installed from the leader.
   */
  readonly onSnapshot?: (meta: SnapshotMeta, how: 'written' | 'installed', written?: { readonly applyHoldMs: number }) => void;
  /**
   * Told after each compaction (also one that found the log already compacted that far):
   * the log below `before` is past retention and deleted here (whole segments go, so it is
   * the log's first index, at most the compaction point). The leader proposes its trim then.
   */
  readonly onCompacted?: (before: Index) => void;
}

/**
 * A node's snapshots: it writes one of the state machine every `snapshotEntries` applied
 * entries (and at a clean shutdown), tells the core, compacts the log below it as far as
 * `keepFrom` allows, ships snapshots to peers that need them, and takes them in from the
 * leader. One snapshot is written at a time; the files are the store's (crash-atomic).
 */
export class NodeSnapshots {
  private readonly options: NodeSnapshotsOptions;
  private writing: Promise<SnapshotMeta | null> | null = null;
  private lastIndex: number;
  /** The snapshot the log was last compacted below (and the core sends): kept by prune. */
  private compactionSnapshot: SnapshotMeta | null;
  /** The peer each shipment in progress goes to, by peer id: one at a time per peer. */
  private readonly shipping = new Map<string, SnapshotMeta>();

  constructor(options: NodeSnapshotsOptions) {
    this.options = options;
    this.lastIndex = options.store.latest()?.index ?? 0;
    this.compactionSnapshot = options.compactionSnapshot;
  }

  /** The newest snapshot's description, or null. */
  latest(): SnapshotMeta | null {
    return this.options.store.latest();
  }

  /** Called after entries are applied: takes a snapshot when enough have been since the last. */
  afterApply(): void {
    if (this.writing !== null) return;
    if (this.options.appliedIndex() - this.lastIndex < this.options.snapshotEntries) return;
    void this.take().catch((error: unknown) => this.options.onFatal(error));
  }

  /**
   * Writes a snapshot of the state as applied now (if anything was applied since the last),
   * then compacts. Resolves with what it wrote, or null. The state is encoded in slices, one
   * per turn of the event loop, with applies held from this call until the last slice, so
   * it is exactly the state through `index` while the node goes on serving.
   */
  take(): Promise<SnapshotMeta | null> {
    this.writing ??= this.write().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  private async write(): Promise<SnapshotMeta | null> {
    const index = this.options.appliedIndex();
    if (index <= this.lastIndex) return null;
    const term = this.options.log.term(index);
    if (term === undefined) return null; // compacted past it meanwhile: a newer snapshot exists
    const meta = this.metaAt(index, term);
    if (meta === null) return null;
    // The leader's snapshot of this very index may be arriving (this node caught up by entries
    // meanwhile): the same state, so this node writes its own at a later index instead.
    if (this.options.store.isUnfinished(meta)) return null;
    const applyHoldMs = await this.encodeInto(meta);
    this.lastIndex = Math.max(this.lastIndex, index);
    this.options.onSnapshot?.(meta, 'written', { applyHoldMs });
    await this.compact();
    await this.options.store.remove(snapshotsNotKept(this.options.store.list(), this.compactionSnapshot));
    return meta;
  }

  /**
   * Encodes the state (applied through `meta.index`, the caller checked) into a new snapshot
   * file and publishes it; returns how long applies were held. Called in the turn the index
   * was read, so the hold starts before anything more is applied. An error drops the
   * unfinished file; a crash leaves only a temp file, removed at the next start.
   */
  private async encodeInto(meta: SnapshotMeta): Promise<number> {
    const { scheduler } = this.options;
    const slice = this.options.encodeSlice ?? SNAPSHOT_ENCODE_SLICE;
    const release = this.options.holdApplies();
    const heldAtMs = scheduler.nowMs();
    let applyHoldMs: number;
    const writer = this.options.store.create(meta);
    try {
      const encoder = this.options.stateMachine.snapshotEncoder({ stepItems: slice.stepItems });
      writer.write(this.options.stateMachine.snapshotPrefix());
      await encodeInSlices(encoder, (bytes) => writer.write(bytes), scheduler, slice);
    } catch (error) {
      writer.abort();
      throw error;
    } finally {
      applyHoldMs = scheduler.nowMs() - heldAtMs;
      release();
    }
    await writer.finish();
    return applyHoldMs;
  }

  /**
   * Drops whole log segments below the newest snapshot all of whose entries retention lets
   * go (its index below `keepFrom`), and makes that snapshot the one the core sends a
   * follower behind the compaction point. Not simply the newest: a follower that installs a
   * snapshot holds no entry at or below it, so the entries a snapshot it is sent covers must
   * all be ones retention could delete (none a consumer or the broker still needs).
   */
  private async compact(): Promise<void> {
    const keepFrom = this.options.keepFrom();
    // Only a snapshot of state this node has applied: a leader's newer one may sit finished
    // in the store while its install waits (restore() makes it the compaction point then).
    const applied = this.options.appliedIndex();
    const candidate = this.options.store
      .list()
      .filter((s) => s.index < keepFrom && s.index <= applied)
      .at(-1);
    if (candidate === undefined || candidate.index < (this.compactionSnapshot?.index ?? 0)) return;
    const snapshot = this.metaAt(candidate.index, candidate.term);
    if (snapshot === null) return;
    this.compactionSnapshot = snapshot;
    this.options.raft.snapshotTaken(snapshot);
    if (candidate.index + 1 > this.options.log.firstIndex()) await this.options.compactLog((candidate.index + 1) as Index);
    this.options.onCompacted?.(Math.min(candidate.index + 1, this.options.log.firstIndex()) as Index);
  }

  /**
   * A snapshot's meta at `index`: the configuration the core holds as of that index (voters,
   * and learners when there are any). Null below the core's oldest configuration (its newest
   * snapshot's): a snapshot that old is not needed.
   */
  private metaAt(index: Index, term: Term): SnapshotMeta | null {
    const config = this.options.raft.configurationAt(index);
    if (config === undefined) return null;
    const meta = { index, term, voters: config.voters };
    return config.learners.length === 0 ? meta : { ...meta, learners: config.learners };
  }

  /** Loads the snapshot `meta` (the newest in the store) into the state machine. */
  async restore(meta: SnapshotMeta): Promise<void> {
    const reader = this.options.store.open(meta);
    try {
      this.options.stateMachine.restoreSnapshot(await reader.readPayload(), meta);
    } finally {
      reader.close();
    }
    this.lastIndex = Math.max(this.lastIndex, meta.index);
    // The log is reset to continue after it: it is the compaction point's snapshot now.
    this.compactionSnapshot = meta;
    this.options.onSnapshot?.(meta, 'installed');
  }

  /** Sends `message`'s snapshot to its peer, unless one is already on its way there. */
  ship(message: InstallSnapshot): void {
    const going = this.shipping.get(message.to);
    if (going !== undefined && going.index >= message.snapshot.index) return;
    this.shipping.set(message.to, message.snapshot);
    let source: SnapshotSource;
    try {
      source = this.sourceOf(message.snapshot);
    } catch (error) {
      this.shipping.delete(message.to);
      this.options.onShipmentFailed(message, error);
      return;
    }
    this.options.shipping.sendSnapshot(message, source).then(
      () => {
        if (this.shipping.get(message.to) === message.snapshot) this.shipping.delete(message.to);
      },
      (error: unknown) => {
        if (this.shipping.get(message.to) === message.snapshot) this.shipping.delete(message.to);
        this.options.onShipmentFailed(message, error);
      },
    );
  }

  /** The snapshot file as a transport reads it: raw bytes (the receiver checks each unit of them). */
  private sourceOf(meta: SnapshotMeta): SnapshotSource {
    const reader = this.options.store.open(meta);
    return {
      totalBytes: reader.fileBytes,
      read: (offset, length) => Promise.resolve(reader.readBytes(offset, length)),
      close: () => reader.close(),
    };
  }

  /**
   * Where snapshots a leader streams here are written. The store keeps one partial copy, so
   * a transfer of the same snapshot that broke is resumed where the copy's last whole unit
   * ends; a stream that opens a copy already published (a retry after a slow finish) is told
   * it has every byte and its finish only delivers the message again.
   */
  readonly receiving: SnapshotReceiving = {
    open: (message: InstallSnapshot, totalBytes: number): Promise<SnapshotIntake> => {
      // A snapshot this node already holds, or has applied past (it may be writing its own
      // at that very index), needs no bytes: the core answers it as stale, with its commit.
      const latest = this.options.store.latest();
      const held = latest !== null && latest.index === message.snapshot.index && latest.term === message.snapshot.term;
      if (held || message.snapshot.index <= this.options.appliedIndex()) {
        return Promise.resolve(publishedIntake(totalBytes, () => this.options.deliver(message)));
      }
      return Promise.resolve(new UnitIntake(this.options.store.receive(message.snapshot), () => this.options.deliver(message)));
    },
  };
}

/** A snapshot this node needs no bytes of: nothing more to receive; finishing delivers the message. */
function publishedIntake(totalBytes: number, deliver: () => void): SnapshotIntake {
  return {
    receivedBytes: totalBytes,
    write: (offset) => Promise.reject(new SnapshotTransferError('after-end', offset, totalBytes)),
    finish: () => {
      deliver();
      return Promise.resolve();
    },
  };
}

/**
 * A transport's pieces (any size) gathered into the snapshot file's units, each handed to
 * the store's receiver whole, which checks it. Bytes of a unit not yet whole are held here
 * and lost if the stream breaks: the next stream resumes at the last whole unit.
 */
class UnitIntake implements SnapshotIntake {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly receiver: SnapshotReceiver,
    private readonly deliver: () => void,
  ) {}

  get receivedBytes(): number {
    return this.receiver.receivedBytes + this.pendingBytes;
  }

  /** Rejects (never throws) with the receiver's SnapshotTransferError for a unit it refuses. */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    try {
      return this.gather(offset, bytes);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private gather(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.receivedBytes) return Promise.reject(new SnapshotTransferError('wrong-offset', offset, this.receivedBytes));
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    // Bounded by the bytes held: each pass hands one whole unit on.
    for (let need = this.receiver.nextUnitBytes; need > 0 && this.pendingBytes >= need; need = this.receiver.nextUnitBytes) {
      const joined = this.pending.length === 1 ? (this.pending[0] as Uint8Array) : Buffer.concat(this.pending);
      this.receiver.accept(this.receiver.receivedBytes, joined.subarray(0, need));
      const rest = joined.subarray(need);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    if (this.receiver.nextUnitBytes === 0 && this.pendingBytes > 0) return Promise.reject(new SnapshotTransferError('after-end', offset, this.receivedBytes));
    return Promise.resolve();
  }

  async finish(): Promise<void> {
    await this.receiver.finish();
    this.deliver();
  }
}

/** Snapshots kept between the one the log is compacted below and the two newest. */
export const SNAPSHOTS_BETWEEN_MAX = 8;

type SnapshotPoint = { readonly index: number; readonly term: number };

/**
 * Which snapshots to delete. Kept: the two newest (one to fall back on by hand), the one the
 * log is compacted below (the core sends it), and at most SNAPSHOTS_BETWEEN_MAX between,
 * spread out: as retention moves on, the log is compacted below the newest kept snapshot it
 * lets go, so the log holds at most about 1/SNAPSHOTS_BETWEEN_MAX of the retention window
 * more than retention asks, never less, and the disk holds a bounded number of snapshots.
 * Older than the compaction snapshot: never needed again (the compaction point only moves on).
 */
export function snapshotsNotKept(stored: readonly SnapshotPoint[], compaction: SnapshotPoint | null): SnapshotPoint[] {
  const floor = compaction?.index ?? 0;
  const newest = stored.slice(-2);
  const older = stored.slice(0, -2);
  const removed = older.filter((s) => s.index < floor);
  const between = older.filter((s) => s.index > floor);
  // Bounded by the snapshots between: each pass removes one.
  while (between.length > SNAPSHOTS_BETWEEN_MAX) {
    let drop = 0;
    let smallest = Infinity;
    for (let k = 0; k < between.length; k++) {
      const before = k === 0 ? floor : (between[k - 1] as SnapshotPoint).index;
      const after = k === between.length - 1 ? ((newest[0] as SnapshotPoint | undefined)?.index ?? Infinity) : (between[k + 1] as SnapshotPoint).index;
      if (after - before < smallest) {
        smallest = after - before;
        drop = k;
      }
    }
    removed.push(...between.splice(drop, 1));
  }
  return removed;
}
