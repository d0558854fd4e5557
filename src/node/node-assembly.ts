import * as path from 'node:path';

import { RaftNode, type Index, type InstallSnapshot, type Message, type NodeId, type RaftOptions, type RandomSource, type SnapshotMeta, type Term } from '../../raft/index.js';
import { CorruptSnapshotError, newestSnapshotPosition, openLog, openSnapshotStore, type CommitLog, type FileSystem, type RecoveryReport, type Scheduler, type SnapshotStore, type Timer } from '../../storage/index.js';
import { heldBackNote, LogEvent, RepeatGate, SILENT_LOG, type Log } from '../log/index.js';
import type { IncarnationCheckAnswer, SnapshotReceiving, SnapshotShipping } from '../transport/index.js';
import { BootstrapCheck } from './bootstrap-check.js';
import type { NodeConfig } from './config.js';
import { NodeMembersService } from './members-service.js';
import { NodeMembership } from './node-membership.js';
import { NodeBrokerService } from './broker-service.js';
import { DiskGuard, type DiskUsageSource } from './disk-guard.js';
import { snapshotFilesBytes } from './disk-usage.js';
import { NodeGroupService } from './group-service.js';
import { NO_PROBE, type NodeProbe } from './node-probe.js';
import { NodeService } from './node-service.js';
import { NodeSnapshots } from './node-snapshots.js';
import type { SnapshotEncodeSlice } from './snapshot-slices.js';
import { retentionFloor } from './retention.js';
import { logBytes, StorageHistory, type StorageStatus } from './storage-status.js';
import { NodeTransactionService } from './transaction-service.js';
import { Replica } from './replica.js';
import { NodeStateMachine } from './state-machine.js';

/**
 * Every source of nondeterminism one node uses. A process passes the real ones
 * (startNode); the simulator passes its in-memory file system, virtual clock and seeded
 * generator, and so runs this same assembly, unchanged.
 */
export interface NodeEnvironment {
  readonly fs: FileSystem;
  readonly scheduler: Scheduler;
  /** Election jitter. */
  readonly random: RandomSource;
  /** Builds the consensus core; the simulator passes cores with bugs planted on purpose. */
  readonly createRaft?: (options: RaftOptions) => RaftNode;
  /** Builds the state machine; the simulator passes one that also records what it applies. */
  readonly createStateMachine?: () => NodeStateMachine;
  /** Told of requests and writes as they happen, for metrics (NO_PROBE by default). */
  readonly probe?: NodeProbe;
  /**
   * Reads how full the data directory's file system is, for the disk guard and status
   * (statfs in a process, a fake in tests); absent, the disk is never sampled and the guard
   * refuses nothing.
   */
  readonly diskUsage?: DiskUsageSource;
  /**
   * When the snapshot file a node starts from was written (ms, this node's clock), given the
   * snapshot directory; absent or null, the time it was loaded stands in.
   */
  readonly snapshotFileTimeMs?: (dir: string) => number | null;
  /**
   * How snapshots are encoded across turns (SNAPSHOT_ENCODE_SLICE by default); the simulator
   * passes tiny slices, so that its small states are encoded over many turns too.
   */
  readonly snapshotEncodeSlice?: SnapshotEncodeSlice;
  /** Where the node's own log lines go (snapshots, retention, the disk guard...); dropped when absent. */
  readonly log?: Log;
  /** This data directory's incarnation (data-dir.ts), reported by status; absent in the simulator. */
  readonly incarnation?: string;
}

/** Where an assembled node's effects leave it: the peer network, and a fatal stop. */
export interface NodeWiring {
  /** Sends Raft messages to peers (fire and forget; the transport may drop them). */
  readonly send: (messages: readonly Message[]) => void;
  /** Storage failed or the core found a broken invariant: the node must stop serving. */
  readonly onFatal: (error: unknown) => void;
  /** Streams a snapshot to a peer beside its InstallSnapshot message. */
  readonly shipping: SnapshotShipping;
  /**
   * Asks a peer whether it knows another data directory under this node's id than
   * environment.incarnation (PeerTransport.checkIncarnation); rejects when it does not answer.
   */
  readonly checkIncarnation: (peer: NodeId) => Promise<IncarnationCheckAnswer>;
}

/** One node's replica, state machine and services, ticking on its scheduler. */
export interface AssembledNode {
  readonly raft: RaftNode;
  readonly log: CommitLog;
  readonly replica: Replica;
  readonly stateMachine: NodeStateMachine;
  readonly service: NodeService;
  readonly broker: NodeBrokerService;
  readonly groups: NodeGroupService;
  readonly transactions: NodeTransactionService;
  readonly snapshots: NodeSnapshots;
  /** Who the peers are and where: the configuration with the member book's addresses. */
  readonly membership: NodeMembership;
  /** Members list and changes over the client API. */
  readonly members: NodeMembersService;
  /** Refuses new messages while the disk is above the high watermark. */
  readonly diskGuard: DiskGuard;
  /** What the node's disk holds now: snapshot, log and disk sizes, the guard's state, counts since start. */
  storageStatus(): StorageStatus;
  /** Where a peer's snapshot stream is written (the transport calls it). */
  readonly snapshotReceiving: SnapshotReceiving;
  /** Hands a message from a peer to the core. */
  receive(message: Message): void;
  /** Stops ticking, finishes the fsync in progress, fails waiting clients, closes the log. */
  stop(): Promise<void>;
}

/**
 * Opens the node's log under `config.dataDir` (the caller holds the directory's lock),
 * recovers it, and assembles the consensus core, the replica that drives it, the broker
 * state machine and the services clients call, ticking every `config.tickMs`.
 */
export async function assembleNode(config: NodeConfig, environment: NodeEnvironment, wiring: NodeWiring): Promise<AssembledNode> {
  const logLine = environment.log ?? SILENT_LOG;
  const { scheduler } = environment;
  const probe = environment.probe ?? NO_PROBE;
  const snapshotDir = path.join(config.dataDir, 'snapshots');
  const bootstrapVoters = config.join === true ? [] : config.members.map((m) => m.id);
  // Before the log exists: a new directory that bootstraps is held out of elections until its
  // members confirm they knew no other under its id (BootstrapCheck).
  const incarnation = environment.incarnation ?? '';
  const checkPending = bootstrapVoters.length > 1 && incarnation !== '' && (await BootstrapCheck.pending(environment.fs, config.dataDir, path.join(config.dataDir, 'log'), incarnation));
  // The newest snapshot (by its name: the store verifies it below) is where the node restores
  // from, so the log need not verify at open the segments wholly below it.
  const log = await openNodeLog(config, environment, newestSnapshotPosition(environment.fs, snapshotDir));
  const history = new StorageHistory();
  let store: SnapshotStore;
  let snapshot: SnapshotMeta | null;
  let compactionSnapshot: SnapshotMeta | null;
  let stateMachine: NodeStateMachine;
  try {
    store = await openSnapshotStore({ fs: environment.fs, dir: snapshotDir, scheduler });
    stateMachine = environment.createStateMachine?.() ?? new NodeStateMachine();
    snapshot = await startingSnapshot(store, log, bootstrapVoters);
    if (snapshot !== null) {
      await loadSnapshot(store, snapshot, stateMachine, log);
      history.snapshot(snapshot, 'loaded', environment.snapshotFileTimeMs?.(snapshotDir) ?? scheduler.nowMs());
      logLine.info(`started from the snapshot through index ${snapshot.index}; replaying the log after it`, { event: LogEvent.snapshotLoaded, index: snapshot.index, snapshotTerm: snapshot.term });
    }
    compactionSnapshot = compactionSnapshotAtStart(store, log, bootstrapVoters, retentionFloor(config.retention, stateMachine.broker, log.segmentSpans()).keepFrom);
  } catch (error) {
    await log.close();
    throw error;
  }
  const raftOptions: RaftOptions = {
    id: config.id,
    // Bootstraps a new cluster only: once the log or a snapshot holds a configuration, that
    // one is used (a joining node bootstraps none, and waits for the leader's).
    voters: bootstrapVoters,
    log,
    hardState: log.hardState(),
    random: environment.random,
    // The broker's state lives in memory: it is the newest snapshot's, and every committed
    // entry after it is applied again on start (plain records cost a one-byte look each).
    applied: (snapshot?.index ?? 0) as Index,
    snapshot: compactionSnapshot,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    preferredLeader: config.preferredLeader,
    batchBytesMax: Math.min(1024 * 1024, Math.floor(config.messageBytesMax / 4)),
    votingBlockedBelow: repairTarget(log.recovery),
    votingHeld: checkPending,
  };
  const raft = environment.createRaft?.(raftOptions) ?? new RaftNode(raftOptions);
  const membership = new NodeMembership({ config, raft, book: () => stateMachine.members, log: logLine, logReader: log });
  let snapshots: NodeSnapshots | null = null;
  const shipmentFailures = new RepeatGate({ intervalMs: REPEAT_LOG_INTERVAL_MS, keysMax: 64, nowMs: () => scheduler.nowMs() });
  // Built after the snapshots (it needs the replica they feed); set before anything is applied.
  let brokerService: NodeBrokerService | null = null;
  const replica = new Replica({
    raft,
    log,
    scheduler,
    apply: (entry) => stateMachine.apply(entry),
    restoreSnapshot: (meta) => (snapshots as NodeSnapshots).restore(meta),
    appliedAtStart: (snapshot?.index ?? 0) as Index,
    sink: {
      send: (messages) => {
        // A member added by an entry this batch appends is dialled before its first message.
        membership.sync();
        // A snapshot travels as a stream of its own beside the Raft traffic.
        const plain = messages.filter((m) => m.type !== 'snapshot');
        for (const m of messages) if (m.type === 'snapshot') snapshots?.ship(m);
        if (plain.length > 0) wiring.send(plain);
      },
    },
    clientAddressOf: (id: NodeId) => membership.clientAddressOf(id),
    onFatal: wiring.onFatal,
    probe,
  });
  snapshots = new NodeSnapshots({
    store,
    log,
    raft,
    stateMachine,
    compactionSnapshot,
    scheduler,
    snapshotEntries: config.snapshotEntries,
    compactLog: async (before) => {
      const spans = log.segmentSpans();
      await replica.compactLog(before);
      const after = log.segmentSpans();
      history.compacted(spans, after);
      if (after.length < spans.length) {
        logLine.info(`retention deleted ${spans.length - after.length} log segment(s): the log now starts at ${log.firstIndex()}`, {
          event: LogEvent.retentionDeleted,
          segments: spans.length - after.length,
          firstIndex: log.firstIndex(),
        });
      }
    },
    keepFrom: () => retentionFloor(config.retention, stateMachine.broker, log.segmentSpans()).keepFrom,
    onCompacted: (before) => brokerService?.proposeTrim(before),
    appliedIndex: () => replica.appliedIndex,
    holdApplies: () => replica.holdApplies(),
    ...(environment.snapshotEncodeSlice === undefined ? {} : { encodeSlice: environment.snapshotEncodeSlice }),
    shipping: wiring.shipping,
    deliver: (message) => replica.receive(message),
    onShipmentFailed: (message: InstallSnapshot, error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      // The leader tries again while the follower stays behind: one line per peer and cause a minute.
      const heldBack = shipmentFailures.pass(`${message.to} ${why}`);
      if (heldBack !== null) {
        logLine.warn(`sending snapshot ${message.snapshot.index} to ${message.to} failed: ${why}${heldBackNote(heldBack)}`, { event: LogEvent.snapshotSendFailed, index: message.snapshot.index, to: message.to });
      }
      raft.snapshotFailed(message.to);
      replica.wake();
    },
    onFatal: wiring.onFatal,
    onSnapshot: (meta, how, written) => {
      history.snapshot(meta, how, scheduler.nowMs());
      if (how === 'written') {
        const applyHoldMs = written?.applyHoldMs ?? 0;
        logLine.info(`snapshot written through index ${meta.index} (term ${meta.term}); applies held ${applyHoldMs} ms while it was encoded`, { event: LogEvent.snapshotWritten, index: meta.index, snapshotTerm: meta.term, applyHoldMs });
      } else {
        logLine.info(`installed the leader's snapshot through index ${meta.index} (term ${meta.term}); the log continues after it`, { event: LogEvent.snapshotInstalled, index: meta.index, snapshotTerm: meta.term });
      }
      // A snapshot is the moment the disk grows by the most at once: look again now.
      if (how === 'written') void diskGuard.sample();
    },
  });
  // A learner that installed an old snapshot may hold a configuration without its leader.
  replica.onRoleChange(() => membership.leaderIs(raft.status().leader));
  const nodeSnapshots = snapshots;
  replica.onApplied(() => nodeSnapshots.afterApply());
  const diskGuard = new DiskGuard({
    diskUsage: environment.diskUsage ?? null,
    highWatermarkPercent: config.diskHighWatermarkPercent,
    scheduler,
    isLeader: () => replica.role() === 'leader',
    log: logLine,
  });
  const storageStatus = (): StorageStatus => {
    // The newest written or installed, not the one the log was compacted below (the core's).
    const newest = (nodeSnapshots.latest()?.index ?? 0) as Index;
    return {
      firstIndex: log.firstIndex(),
      snapshotIndex: newest,
      snapshotAgeMs: history.snapshotAgeMs(newest, scheduler.nowMs()),
      logBytes: logBytes(log.segmentSpans()),
      snapshotBytes: snapshotFilesBytes(environment.fs, snapshotDir),
      disk: diskGuard.usage,
      diskHighWatermarkPercent: diskGuard.highWatermarkPercent,
      produceRefused: diskGuard.refusing,
      snapshotsWritten: history.snapshotsWritten,
      snapshotsInstalled: history.snapshotsInstalled,
      logSegmentsDeleted: history.logSegmentsDeleted,
    };
  };
  const service = new NodeService(config, raft, log, replica, probe, { status: storageStatus, admission: diskGuard }, { membership, incarnation: environment.incarnation ?? '' });
  const members = new NodeMembersService({ raft, replica, membership, log: logLine, electionTimeoutMs: config.tickMs * config.electionTicks });
  const broker = new NodeBrokerService(config, log, replica, stateMachine, probe, diskGuard);
  brokerService = broker;
  const groups = new NodeGroupService(replica, stateMachine, broker, probe);
  const leadership = {
    isLeader: () => replica.role() === 'leader',
    leaderRef: () => replica.leaderRef(raft.status().leader),
    appliedAllCommitted: () => {
      const status = raft.status();
      return status.role === 'leader' && log.term(status.commit) === status.term && replica.appliedIndex >= status.commit;
    },
  };
  const transactions = new NodeTransactionService(log, stateMachine, broker, leadership, probe);
  const ticker: Timer = scheduler.every(config.tickMs, () => {
    replica.tick();
    membership.sync();
    broker.advanceClockIfDue();
    groups.tick();
    transactions.tick();
  });
  diskGuard.start();
  const bootstrapCheck = checkPending
    ? new BootstrapCheck({
        self: config.id,
        incarnation,
        peers: bootstrapVoters,
        fs: environment.fs,
        dataDir: config.dataDir,
        scheduler,
        ask: wiring.checkIncarnation,
        log: logLine,
        onConfirmed: () => {
          raft.releaseVotingHold();
          replica.wake();
        },
        onFatal: wiring.onFatal,
      })
    : null;
  bootstrapCheck?.start();
  let stopping: Promise<void> | null = null;
  return {
    raft,
    log,
    replica,
    stateMachine,
    service,
    broker,
    groups,
    transactions,
    snapshots: nodeSnapshots,
    membership,
    members,
    diskGuard,
    storageStatus,
    snapshotReceiving: nodeSnapshots.receiving,
    receive: (message) => replica.receive(message),
    stop() {
      stopping ??= (async () => {
        ticker.cancel();
        diskGuard.stop();
        bootstrapCheck?.stop();
        await replica.stop();
        // A clean shutdown leaves a snapshot of everything applied: the next start replays nothing.
        // One being written is of an earlier index (applies were held): then one more, of the rest.
        await nodeSnapshots.take().catch(() => null);
        await nodeSnapshots.take().catch(() => null);
        store.close();
        await log.close();
      })();
      return stopping;
    },
  };
}

/** A condition that repeats (a snapshot the leader keeps failing to send) is logged at most once a minute per peer and cause. */
const REPEAT_LOG_INTERVAL_MS = 60_000;

/**
 * Opens the node's log. Damage is cut away, not refused: the node then repairs from its
 * leader (not voting until it has), where refusing would leave an operator editing files by
 * hand. Segments wholly at or below `newestSnapshot` are verified when read rather than at
 * open (the log verifies them all if it turns out not to hold that snapshot's entry, when the
 * node starts from an older state); damage a read finds there is logged, and cut at the next
 * start.
 */
function openNodeLog(config: NodeConfig, environment: NodeEnvironment, newestSnapshot: { readonly index: Index; readonly term: Term } | null): Promise<CommitLog> {
  const logLine = environment.log ?? SILENT_LOG;
  // Every read of the damaged segment finds it again until the next start: one line per damage.
  const damageSeen = new RepeatGate({ intervalMs: Infinity, keysMax: 64, nowMs: () => environment.scheduler.nowMs() });
  return openLog({
    dir: path.join(config.dataDir, 'log'),
    fs: environment.fs,
    scheduler: environment.scheduler,
    flush: config.flush,
    segmentBytes: config.segmentBytes,
    payloadBytesMax: config.recordBytesMax + 1,
    onDamage: 'truncate',
    ...(newestSnapshot === null ? {} : { restorePoint: { index: newestSnapshot.index, term: newestSnapshot.term } }),
    onReadDamage: (error) => {
      if (damageSeen.pass(error.message) === null) return;
      logLine.warn(`log damage found on read: ${error.message}; the segment will be verified, and the damage cut and repaired from the leader, at the next start`, { event: LogEvent.logDamageOnRead });
    },
  });
}

/**
 * The snapshot to start from: the newest whose last entry the log holds (the log keeps the
 * entries after it); else none, when the log still starts at index 1 (it was cut short by
 * damage, or a crash came after a leader's snapshot was published and before the log was
 * reset: replaying the log keeps every entry retention still wants, and a leader repairs the
 * rest); else the newest, the log then reset to continue after it. A newest snapshot that
 * cannot be read is a startup error (CorruptSnapshotError), never a silent start from an
 * older state.
 */
async function startingSnapshot(store: SnapshotStore, log: CommitLog, bootstrapVoters: readonly NodeId[]): Promise<SnapshotMeta | null> {
  const newest = store.latest();
  if (newest === null) return null;
  const held = heldSnapshots(store, log).at(-1);
  if (held !== undefined) return held.index === newest.index ? newest : storedMeta(store, held, bootstrapVoters);
  if (log.firstIndex() === 1) return null;
  return newest;
}

/** The stored snapshots whose last entry the log holds (at or after its compaction point), oldest first. */
function heldSnapshots(store: SnapshotStore, log: CommitLog): { readonly index: Index; readonly term: Term }[] {
  return store.list().filter((s) => s.index >= log.firstIndex() - 1 && log.term(s.index) === s.term);
}

/**
 * The snapshot the core may send a follower behind the compaction point (see
 * NodeSnapshots.compact): the newest the log holds whose entries retention lets go, or the
 * oldest it holds at or after the compaction point when none is (it covers that point).
 */
function compactionSnapshotAtStart(store: SnapshotStore, log: CommitLog, bootstrapVoters: readonly NodeId[], keepFrom: number): SnapshotMeta | null {
  const held = heldSnapshots(store, log);
  const chosen = held.filter((s) => s.index < keepFrom).at(-1) ?? held[0];
  return chosen === undefined ? null : storedMeta(store, chosen, bootstrapVoters);
}

/**
 * The meta a stored snapshot's header holds (its configuration as of its index, which the
 * core starts from). A header that does not read is not this function's to report (reading
 * the snapshot does that): the bootstrap voters stand in, as they did before headers were read.
 */
function storedMeta(store: SnapshotStore, position: { readonly index: Index; readonly term: Term }, bootstrapVoters: readonly NodeId[]): SnapshotMeta {
  let reader;
  try {
    reader = store.open({ index: position.index, term: position.term, voters: [] });
  } catch (error) {
    if (!(error instanceof CorruptSnapshotError)) throw error;
    return { index: position.index, term: position.term, voters: bootstrapVoters };
  }
  try {
    return reader.meta;
  } finally {
    reader.close();
  }
}

/**
 * Loads `snapshot` into the state machine and makes the log continue from it: a log that
 * does not hold its point is reset now to continue after it, the same way an install does;
 * a log that holds it keeps the entries after it.
 */
async function loadSnapshot(store: SnapshotStore, snapshot: SnapshotMeta, stateMachine: NodeStateMachine, log: CommitLog): Promise<void> {
  const reader = store.open(snapshot);
  try {
    stateMachine.restoreSnapshot(await reader.readPayload(), snapshot);
  } finally {
    reader.close();
  }
  if (log.term(snapshot.index) !== snapshot.term) await log.resetToSnapshot({ index: snapshot.index, term: snapshot.term });
}

/**
 * The index a leader must have repaired this log through before it votes again: the durable
 * mark (the most it ever held durably) and, when damage was cut away, at least what was cut.
 */
export function repairTarget(recovery: RecoveryReport): Index {
  if (!recovery.lostEntries) return 0 as Index;
  return Math.max(recovery.durableMark.index, recovery.damage?.fromIndex ?? 0) as Index;
}
