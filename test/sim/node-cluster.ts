import { RaftNode, type Entry, type HardState, type LogReader, type Message, type NodeId, type RaftOptions, type SnapshotMeta, type Status } from '../../raft/index.js';
import { MemoryFileSystem, type CommitLog, type DurableMarkPolicy } from '../../storage/index.js';
import { NODE_DEFAULTS, type NodeConfig, type RetentionConfig } from '../../src/node/config.js';
import type { DiskUsageSource } from '../../src/node/disk-guard.js';
import type { NodeTuning } from './node-api.js';
import { assembleNode } from '../../src/node/node-assembly.js';
import { DataDirWipedError } from '../../src/node/bootstrap-check.js';
import type { SnapshotEncodeSlice } from '../../src/node/snapshot-slices.js';
import type { ApplyResult } from '../../src/broker/index.js';
import { DurabilityChecks } from './durability-checks.js';
import { Invariant, SafetyChecker, SafetyViolation } from './invariants.js';
import { damageLastSegment, writeInitialDisk } from './node-disk.js';
import { ObservedStateMachine, observeWrites } from './node-observers.js';
import { checkAcknowledged, checkedLog, clusterDigest, nodeDigests, wholeLog } from './node-state.js';
import { Prng } from './prng.js';
import { SimProcess, SimScheduler, SimWorld } from './sim-scheduler.js';
import { SimNetwork, reliableNetwork } from './sim-network.js';
import { SimSnapshotLink } from './sim-snapshot-link.js';
import { SimPeerLinks } from './sim-peer-links.js';
import { SimDelivery } from './sim-delivery.js';
import { ClientAppends } from './client-appends.js';
import { logTo } from '../../src/log/index.js';
import { SimNode, type AppendState, type CallOutcome, type ClientAppend } from './sim-node.js';

export type { AppendState, CallOutcome, ClientAppend } from './sim-node.js';

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

/**
 * Snapshots are encoded two items a slice, a virtual millisecond apart: the small states of a
 * simulation then take tens of slices, with applies held throughout, while entries commit,
 * nodes crash and leaders' snapshots arrive, as a large state's encoding does in production.
 */
const SIM_SNAPSHOT_ENCODE_SLICE: SnapshotEncodeSlice = { sliceMs: 2, stepsMax: 1, stepItems: 2, pauseMs: 1 };
const TRACE_KEPT = 60;

/**
 * A cluster of production nodes in one process: each node is `assembleNode` (src/node) —
 * the real Replica, CommitLog, broker state machine and services — over its own
 * MemoryFileSystem (syncs take virtual time; a crash keeps only what was synced, optionally
 * tearing the last write) and a SimScheduler on the shared virtual clock. Raft messages
 * travel a SimNetwork. Clients call the node's services as the gRPC handlers do.
 *
 * One seed drives every choice (delays, drops, tears, election jitter, clock skew), so a run
 * replays bit for bit.
 */
export class NodeCluster {
  /** Every node ever started, in start order: the bootstrapped ones, then joiners. */
  private readonly idList: NodeId[] = [];
  /** The members the cluster was bootstrapped with (`--members` of every node started without `--join`). */
  readonly bootstrapIds: readonly NodeId[];
  /** Each node's transport as production keeps it: who it dials, whom it takes messages from. */
  readonly peerLinks = new SimPeerLinks();
  /** Some node held a configuration of fewer than three voters at some point: no disk is damaged or wiped from then on. */
  private fewVotersSeen = false;
  /** The highest term a leader was seen in, and who wants to hear of a leader in a higher one. */
  private newestLeaderTerm = -1;
  private readonly leaderListeners: (() => void)[] = [];
  /** The configuration of the last leader seen: what newestConfiguration() says while no node runs. */
  private lastLeaderConfig: { readonly voters: readonly NodeId[]; readonly learners: readonly NodeId[] } | null = null;
  readonly world = new SimWorld();
  readonly checker = new SafetyChecker();
  readonly network: SimNetwork;
  /** Set once the end-of-run recovery check starts: background clients stop. */
  recovering = false;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly clients = new SimProcess('clients');
  private readonly appenders = new ClientAppends({
    world: this.world,
    process: this.clients,
    target: () => this.leader() ?? this.randomUpNode(),
    running: (id) => this.node(id).node,
  });
  private readonly diskPrng: Prng;
  private readonly clientPrng: Prng;
  private readonly corePrng: Prng;
  /** For workloads beside the raw appends (broker-workload.ts); forked last, so runs without one are unchanged. */
  readonly workloadRandom: Prng;
  private readonly trace: string[] = [];
  private readonly durableMark: DurableMarkPolicy;
  private readonly applyListeners: ((node: NodeId, entry: Entry, result: ApplyResult | null) => void)[] = [];
  /** Snapshots streamed between nodes (InstallSnapshot). */
  readonly snapshotLink: SimSnapshotLink = new SimSnapshotLink({
    world: this.world,
    network: () => this.network,
    processOf: (id) => this.node(id).process,
    receivingOf: (id) => this.node(id).node?.snapshotReceiving ?? null,
    admits: (from, to) => this.peerLinks.mayDial(from, to) && this.delivery.admits(to, from),
  });
  /** A node's process failed (storage or a broken invariant): the run records it as a violation. */
  private fatal: { readonly node: NodeId; readonly error: unknown } | null = null;
  private readonly durability = new DurabilityChecks(this.checker, {
    all: () => this.nodes.values(),
    get: (id) => this.node(id),
  });
  /** A check called from inside a node failed (see checkInNode): the step raises it. */
  private nodeViolation: SafetyViolation | null = null;
  /** Raft messages and CheckIncarnation calls between the nodes. */
  private readonly delivery: SimDelivery;

  constructor(readonly options: NodeClusterOptions) {
    const root = new Prng(options.seed);
    this.delivery = new SimDelivery({
      world: this.world,
      checker: this.checker,
      peerLinks: this.peerLinks,
      intercept: (message) => this.options.intercept?.(message, this) ?? 'pass',
      delivered: (message) => this.options.onDeliver?.(message, this),
      network: () => this.network,
      node: (id) => this.node(id),
      raft: (id) => this.raft(id),
      addressOf: (id) => this.addressOf(id),
      checkInNode: (check) => this.checkInNode(check),
      durabilitySent: (message) => {
        if (this.options.checkDurability !== false) this.durability.sent(message);
      },
    });
    this.network = new SimNetwork(root.fork(), (delayMs, message) => this.delivery.scheduleDelivery(delayMs, message), () => this.world.nowMs);
    this.diskPrng = root.fork();
    this.clientPrng = root.fork();
    this.corePrng = root.fork();
    this.workloadRandom = root.fork();
    this.durableMark = options.durableMark ?? 'ordered';
    this.bootstrapIds = Array.from({ length: options.size }, (_, i) => `n${i + 1}` as NodeId);
    for (const id of this.bootstrapIds) this.create(id).initial = options.initialDisks?.get(id) ?? null;
    for (const id of this.ids) this.start(id);
  }

  /** Every node ever started, in start order (bootstrapped, then joined); removed ones included. */
  get ids(): readonly NodeId[] {
    return this.idList;
  }

  private create(id: NodeId): SimNode {
    const skewMax = this.options.clockSkewMaxMs ?? 0;
    const driftMax = this.options.clockDriftMax ?? 0;
    const skewMs = skewMax === 0 ? 0 : this.diskPrng.between(-skewMax, skewMax);
    const rate = driftMax === 0 ? 1 : 1 + (this.diskPrng.between(-1000, 1000) / 1000) * driftMax;
    const node = new SimNode(id, skewMs, rate, this.options.fsyncMinMs ?? 1, this.options.fsyncMaxMs ?? 6);
    this.nodes.set(id, node);
    this.idList.push(id);
    node.fs.delaySyncs(() => this.syncDelay(node));
    return node;
  }

  /** Raft messages handed to the network. */
  get messagesSent(): number {
    return this.delivery.sent;
  }

  get nowMs(): number {
    return this.world.nowMs;
  }

  get steps(): number {
    return this.world.steps;
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`node-cluster: unknown node ${id}`);
    return node;
  }

  /** The node's consensus core while it runs (null while down or starting). */
  raft(id: NodeId): RaftNode | null {
    return this.node(id).node?.raft ?? null;
  }

  /** The node's core status; throws when the node is not running (a test bug). */
  status(id: NodeId): Status {
    const raft = this.raft(id);
    if (raft === null) throw new Error(`node-cluster: ${id} is not running`);
    return raft.status();
  }

  /** The node's commit log while it runs. */
  log(id: NodeId): CommitLog | null {
    return this.node(id).node?.log ?? null;
  }

  /** Snapshots node `id` was restored from so far (starts and installs), oldest first. */
  restores(id: NodeId): readonly SnapshotMeta[] {
    return this.node(id).restores;
  }

  /** How many of restores(id) were at a start, from the node's own snapshot. */
  restoresAtStart(id: NodeId): number {
    return this.node(id).restoresAtStart;
  }

  /** Highest index the node's current process has applied. */
  appliedIndex(id: NodeId): number {
    return this.node(id).appliedIndex;
  }

  /** The running node that believes it leads in the highest term, if any. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const sim of this.nodes.values()) {
      const st = sim.node?.raft.status();
      if (st?.role === 'leader' && st.term > bestTerm) {
        best = sim.id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // ---- time ----------------------------------------------------------------------------

  /** Schedules a scripted action `delayMs` from now (a client or fault, never killed). */
  at(delayMs: number, label: string, run: () => void): void {
    this.world.schedule(delayMs, this.clients, label, run);
  }

  /** Processes tasks until virtual time advances by `ms`. */
  async runFor(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      const next = this.world.nextAtMs();
      if (next === undefined || next > until) break;
      await this.stepOnce();
    }
    this.world.advanceTo(until);
  }

  /**
   * Runs until `call` settles (within `boundMs` of virtual time): how it settled. Throws when
   * it did not settle in time.
   */
  async outcome<T>(call: Promise<T>, boundMs = 10_000): Promise<CallOutcome<T>> {
    let outcome: CallOutcome<T> | null = null;
    call.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    await this.runUntil(() => outcome !== null, boundMs);
    const settled = outcome as CallOutcome<T> | null;
    if (settled === null) throw new Error(`no answer within ${boundMs} virtual ms`);
    return settled;
  }

  /** Runs until `call` settles (within `boundMs` of virtual time): its value, or it throws what it rejected with. */
  async settle<T>(call: Promise<T>, boundMs = 10_000): Promise<T> {
    const outcome = await this.outcome(call, boundMs);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Runs until `predicate` holds (checked after every task) or `maxMs` pass; returns whether it held. */
  async runUntil(predicate: () => boolean, maxMs: number): Promise<boolean> {
    const until = this.nowMs + maxMs;
    if (predicate()) return true;
    for (;;) {
      const next = this.world.nextAtMs();
      if (next === undefined || next > until) {
        this.world.advanceTo(until);
        return false;
      }
      await this.stepOnce();
      if (predicate()) return true;
    }
  }

  private async stepOnce(): Promise<void> {
    const label = await this.world.step();
    if (label === null) return;
    this.checker.nowMs = this.nowMs;
    this.record(label);
    if (this.nodeViolation !== null) throw this.nodeViolation;
    if (this.fatal !== null) {
      const { node, error } = this.fatal;
      this.checker.violation(Invariant.nodeFailed, `${node} stopped: ${describeError(error)}`);
    }
    this.observe();
  }

  /** The properties a step can break, read from every running node. */
  private observe(): void {
    for (const sim of this.nodes.values()) {
      const node = sim.node;
      if (node === null) continue;
      const held = node.raft.configuration().voters.length;
      if (held > 0 && held < 3) this.fewVotersSeen = true;
      const st = node.raft.status();
      if (st.role !== 'leader') continue;
      this.lastLeaderConfig = st.config;
      if (st.term > this.newestLeaderTerm) {
        this.newestLeaderTerm = st.term;
        for (const listener of this.leaderListeners) this.at(0, 'new leader', listener);
      }
      this.checker.leaderSeen(sim.checkerId, st.term);
      if (sim.completenessCheckedTerm !== st.term && node.log.lastIndex() === st.lastIndex) {
        this.checker.leaderLogComplete(sim.id, st.term, checkedLog(node.log));
        sim.completenessCheckedTerm = st.term;
      }
      if (st.commit <= this.checker.maxCommitted) continue;
      if (this.options.checkDurability !== false) this.durability.commit(sim.id, node, st.commit, st.config.voters);
      this.checker.leaderCommitted(sim.id, st.term, st.commit, checkedLog(node.log));
    }
  }

  // ---- nodes ---------------------------------------------------------------------------

  /** Where node `id` listens: the k-th node started gets peer port 7601 + k, client port 7501 + k. */
  addressOf(id: NodeId): { readonly id: NodeId; readonly peerAddress: string; readonly clientAddress: string } {
    const k = this.idList.indexOf(id);
    if (k < 0) throw new Error(`node-cluster: unknown node ${id}`);
    return { id, peerAddress: `127.0.0.1:${7601 + k}`, clientAddress: `127.0.0.1:${7501 + k}` };
  }

  /**
   * The node's command line: a bootstrapped node's --members are the bootstrap members; a
   * joiner's (`--join`) are what the Members RPC answers as it starts (the leader's
   * configuration, else every node known), and itself.
   */
  private config(id: NodeId): NodeConfig {
    const sim = this.node(id);
    let members = this.bootstrapIds;
    if (sim.joiner) {
      const leader = this.leader();
      const config = leader === null ? null : this.status(leader).config;
      const named = config === null ? this.idList : [...config.voters, ...config.learners];
      members = [...named.filter((m) => m !== id), id];
    }
    sim.flags = members;
    return {
      id,
      members: members.map((member) => this.addressOf(member)),
      ...(sim.joiner ? { join: true } : {}),
      clusterId: 'sim',
      dataDir: `/data/${id}`,
      flush: { mode: 'sync', mark: this.durableMark },
      tickMs: this.options.tickMs ?? 10,
      electionTicks: this.options.tuning?.electionTicks ?? this.options.electionTicks ?? NODE_DEFAULTS.electionTicks,
      heartbeatTicks: this.options.tuning?.heartbeatTicks ?? this.options.heartbeatTicks ?? NODE_DEFAULTS.heartbeatTicks,
      preferredLeader: this.options.tuning?.preferredLeader ?? null,
      messageBytesMax: 4 * 1024 * 1024,
      recordBytesMax: 64 * 1024,
      segmentBytes: this.options.segmentBytes ?? 64 * 1024,
      snapshotEntries: this.options.snapshotEntries ?? NODE_DEFAULTS.snapshotEntries,
      retention: this.options.retention ?? NODE_DEFAULTS.retention,
      producerIdleExpiryMs: NODE_DEFAULTS.producerIdleExpiryMs,
      diskHighWatermarkPercent: this.options.diskHighWatermarkPercent ?? NODE_DEFAULTS.diskHighWatermarkPercent,
      dialAddresses: new Map(),
      powerLoss: false,
    };
  }

  /** Starts a process on the node's disk: recovery runs on the virtual clock like any work. */
  private start(id: NodeId): void {
    const sim = this.node(id);
    if (sim.up || sim.stoppedForGood) return;
    const process = new SimProcess(id);
    const scheduler = new SimScheduler(this.world, process, (this.options.clockOriginMs ?? 0) + sim.skewMs, sim.clockRate);
    sim.process = process;
    sim.scheduler = scheduler;
    sim.appliedIndex = 0;
    sim.completenessCheckedTerm = -1;
    const random = this.corePrng.fork();
    const initial = sim.initial;
    sim.initial = null;
    const tuning = this.options.tuning;
    const createRaft = this.options.createRaft ?? ((options: RaftOptions) => new RaftNode(options));
    sim.fs.mkdir(`/data/${id}/log`);
    const config = this.config(id);
    const starting = (async () => {
      if (initial !== null) await writeInitialDisk(sim.fs, config.dataDir, initial);
      return assembleNode(
        config,
        {
          fs: sim.fs,
          scheduler,
          random,
          createRaft: (options) => createRaft({ ...options, ...tuning }),
          snapshotEncodeSlice: SIM_SNAPSHOT_ENCODE_SLICE,
          ...(sim.generation === 0 && this.options.bootstrapCheck !== 'every-disk' ? {} : { incarnation: sim.incarnation }),
          ...(this.options.diskUsage === undefined ? {} : { diskUsage: this.options.diskUsage(id) }),
          log: logTo((_level, line) => {
            if (process.alive) this.options.onNodeLog?.(id, line);
          }, 'trace'),
          createStateMachine: () =>
            new ObservedStateMachine(
              (entry) => this.applied(sim, process, entry),
              (snapshot) => this.restored(sim, process, snapshot),
              (entry, result) => {
                if (process.alive) for (const listener of this.applyListeners) listener(sim.id, entry, result);
              },
            ),
        },
        {
          send: (messages) => {
            if (process.alive) for (const message of messages) this.delivery.send(message);
          },
          onFatal: (error) => {
            if (!process.alive) return;
            // A wiped disk told so by a member stops for good, as a process would exit: not a failure.
            if (error instanceof DataDirWipedError) this.world.schedule(0, this.clients, `${id} stops for good`, () => this.stopForGood(id, process));
            else this.fatal ??= { node: id, error };
          },
          shipping: this.snapshotLink.shippingFor(id, process),
          checkIncarnation: (peer) => this.delivery.askIncarnation(id, process, peer),
        },
      );
    })();
    starting.then(
      (node) => {
        if (!process.alive) return;
        sim.node = node;
        // As node.ts does once its transport is up: the peer links follow the configuration.
        node.membership.onPeers((peers) => {
          if (process.alive) this.peerLinks.setPeers(id, node.membership, peers);
        });
        observeWrites(sim.checkerId, node, { checker: this.checker, alive: () => process.alive, check: (run) => this.checkInNode(run) });
      },
      (error: unknown) => {
        if (process.alive) this.fatal ??= { node: id, error };
      },
    );
  }

  /** The node's state machine took a snapshot's state: it applies from the entry after it. */
  private restored(sim: SimNode, process: SimProcess, snapshot: SnapshotMeta): void {
    if (!process.alive) return;
    this.checkInNode(() => {
      if (snapshot.index < sim.appliedIndex) {
        this.checker.violation(Invariant.applyOrder, `${sim.id} restored a snapshot at ${snapshot.index} after applying ${sim.appliedIndex}`);
      }
      sim.appliedIndex = snapshot.index;
      sim.restores.push(snapshot);
      if (sim.node === null) sim.restoresAtStart++;
    });
  }

  private applied(sim: SimNode, process: SimProcess, entry: Entry): void {
    if (!process.alive) return;
    this.checkInNode(() => {
      if (entry.index !== sim.appliedIndex + 1) {
        this.checker.violation(Invariant.applyOrder, `${sim.id} applied ${entry.index} after ${sim.appliedIndex}`);
      }
      sim.appliedIndex = entry.index;
      this.checker.applied(sim.checkerId, entry);
    });
  }

  /** Calls `listener` (as a scripted action, at once) whenever a leader of a higher term than any before appears. */
  onNewLeader(listener: () => void): void {
    this.leaderListeners.push(listener);
  }

  /** Calls `listener` with every entry any node applies and what applying it returned (a restart applies some again). */
  onApply(listener: (node: NodeId, entry: Entry, result: ApplyResult | null) => void): void {
    this.applyListeners.push(listener);
  }

  /**
   * Runs a check called from inside a node (a send, an apply). Thrown there, a violation
   * would be taken by the replica for its own failure and reported as the node stopping:
   * it is kept for the step to raise instead.
   */
  private checkInNode(check: () => void): void {
    try {
      check();
    } catch (error) {
      if (!(error instanceof SafetyViolation)) throw error;
      this.nodeViolation ??= error;
    }
  }

  /** Power loss of one node: its process dies mid-whatever; the disk keeps what was synced. */
  crash(id: NodeId, options: { readonly tear: boolean } = { tear: true }): void {
    const sim = this.node(id);
    if (sim.process === null) return;
    sim.process.die();
    sim.process = null;
    sim.node = null;
    sim.scheduler = null;
    sim.crashAfterSyncs = null;
    sim.crashes++;
    this.peerLinks.down(id);
    this.appenders.crashed(id);
    const tear = options.tear ? { tearLastWrite: { atByte: this.diskPrng.nextInt(64) } } : {};
    sim.fs = sim.fs.crash(tear);
  }

  restart(id: NodeId): void {
    this.start(id);
  }

  /** Nodes that stopped for good on their own: a member told them their disk was wiped. */
  get stoppedForGood(): NodeId[] {
    return this.idList.filter((id) => this.node(id).stoppedForGood);
  }

  private stopForGood(id: NodeId, process: SimProcess): void {
    const sim = this.node(id);
    if (sim.process !== process) return;
    this.crash(id, { tear: false });
    sim.stoppedForGood = true;
  }


  /**
   * A new node starts, joining the running cluster (`--join`: no bootstrap configuration, so
   * it neither votes nor campaigns until a leader's log or snapshot gives it one); an operator
   * adds it through a leader's ChangeMember. Its id is the next free `nK`.
   */
  startJoiner(): NodeId {
    const id = `n${this.idList.length + 1}` as NodeId;
    this.create(id).joiner = true;
    this.start(id);
    return id;
  }

  /**
   * The node's disk is wiped (or replaced) and it restarts on the empty one under its id, with
   * the command line it had (a bootstrapped member bootstraps again, as a voter with an empty
   * log). Every member must refuse it (its incarnation is new): it must never vote or count,
   * until an operator replaces it. Refused (false) while another node's disk is damaged or
   * wiped and not yet removed (two lost disks of three could hold the only copies of an
   * acknowledged entry), and while some running member has recorded no incarnation for it
   * (a member heard first after the wipe would take the new disk for the member: the limit
   * docs/membership.md names), or is down. Only a voter of the configuration is wiped.
   */
  wipe(id: NodeId): boolean {
    const sim = this.node(id);
    if (this.staleWiped().length > 0 || this.damagedUnrepaired()) return false;
    const config = this.newestConfiguration();
    // As with damage: a configuration of two voters, one of them wiped, elects no one; and
    // while a change is on its way, some node may already hold one of two.
    const leader = this.leader();
    const settled = leader !== null && this.status(leader).configIndex <= this.status(leader).commit;
    if (config === null || !config.voters.includes(id) || !settled || this.someoneHoldsFewVoters()) return false;
    for (const member of [...config.voters, ...config.learners]) {
      const other = this.node(member).node;
      if (member === id) continue;
      if (other === null || this.peerLinks.recorded(member, other.membership, id) !== sim.incarnation) return false;
    }
    this.loseDisk(id);
    return true;
  }

  /**
   * The node's disk is lost and it restarts on an empty one under its id, with the command
   * line it had; none of wipe()'s limits apply (a scripted test that loses a majority's disks
   * takes what that costs).
   */
  loseDisk(id: NodeId): void {
    const sim = this.node(id);
    this.crash(id, { tear: false });
    sim.fs = new MemoryFileSystem();
    sim.fs.delaySyncs(() => this.syncDelay(sim));
    sim.generation++;
    this.peerLinks.wiped(id);
    this.delivery.diskReplaced(id);
    this.start(id);
  }

  /**
   * Wiped nodes that the configuration (the leader's, else any running node's newest) still
   * names, or may (no node runs to say): they must be replaced.
   */
  staleWiped(): NodeId[] {
    const config = this.newestConfiguration();
    return this.idList.filter((id) => {
      const sim = this.node(id);
      if (sim.generation === 0 || sim.wipeRemoved) return false;
      if (config === null || config.voters.includes(id) || config.learners.includes(id)) return true;
      sim.wipeRemoved = true;
      return false;
    });
  }

  /** The leader's configuration, else the newest any running node holds, else the last leader's or the bootstrap one (none runs). */
  private newestConfiguration(): { readonly voters: readonly NodeId[]; readonly learners: readonly NodeId[] } | null {
    const leader = this.leader();
    if (leader !== null) return this.status(leader).config;
    let newest: Status | null = null;
    for (const sim of this.nodes.values()) {
      const st = sim.node?.raft.status();
      if (st !== undefined && (newest === null || st.configIndex > newest.configIndex)) newest = st;
    }
    return newest?.config ?? this.lastLeaderConfig ?? { voters: this.bootstrapIds, learners: [] };
  }

  /**
   * The members the end-of-run checks hold to: the leader's configuration, voters and
   * learners, less a wiped disk it still names (nothing of the old disk is there to check);
   * every node when there is no leader. Removed nodes are left out: they may run on, but
   * take no part.
   */
  members(): NodeId[] {
    const config = this.newestConfiguration();
    if (config === null) return [...this.idList];
    const stale = new Set(this.staleWiped());
    return [...config.voters, ...config.learners].filter((id) => !stale.has(id));
  }

  /**
   * Disk damage beyond power loss on one node: it crashes, and its last segment loses its
   * last `lose` x 16 bytes durably, or (odd `lose`) has a bit flipped in that range; it
   * restarts, recovery cuts the damage and reports lost entries, and the node must not vote
   * until a leader has repaired it. Only one node may be damaged and unrepaired at a time
   * (more could destroy a majority's copies of an acknowledged entry, which no protocol
   * survives); otherwise this does nothing and returns false.
   */
  damage(id: NodeId, lose: number): boolean {
    // Two voters, one of them damaged, elect no one: the damaged one waits for a leader's
    // repair, the other for its vote. So only a configuration of three voters or more
    // takes damage (as only one node at a time), and no wiped disk may be a member meanwhile.
    const config = this.newestConfiguration();
    if (this.staleWiped().length > 0 || config === null || config.voters.length < 3 || this.someoneHoldsFewVoters() || this.damagedUnrepaired()) return false;
    const sim = this.node(id);
    this.crash(id, { tear: false });
    if (damageLastSegment(sim.fs, `/data/${id}/log`, lose, this.diskPrng)) sim.damaged = true;
    this.start(id);
    return sim.damaged;
  }

  /**
   * Whether some node holds, or held, a configuration of fewer than three voters: one lost
   * disk there loses its quorum, and a node down now may still hold one (so any seen counts).
   */
  private someoneHoldsFewVoters(): boolean {
    if (this.fewVotersSeen) return true;
    for (const sim of this.nodes.values()) {
      const config = sim.node?.raft.configuration();
      if (config !== undefined && config.voters.length > 0 && config.voters.length < 3) return true;
    }
    return false;
  }

  /** Whether a node's disk was damaged and it has not been seen repaired (voting again) since. */
  damagedUnrepaired(): boolean {
    for (const other of this.nodes.values()) {
      if (!other.damaged) continue;
      if (other.node !== null && !other.node.raft.status().votingBlocked) other.damaged = false;
      else return true;
    }
    return false;
  }

  /**
   * Crashes the node right after `syncs` more of its syncs complete: the way to land a crash
   * between a data write's fsync and the durable mark's, or between a mark and its ack.
   */
  crashAfterSyncs(id: NodeId, syncs: number, options: { readonly tear: boolean }): void {
    const sim = this.node(id);
    if (sim.up) sim.crashAfterSyncs = { remaining: Math.max(1, syncs), tear: options.tear };
  }

  /**
   * Stops the node's process for `ms` (SIGSTOP, a long GC pause): its timers, syncs and the
   * messages reaching it wait and then run late, so a leader resumes deposed, not knowing it.
   */
  pause(id: NodeId, ms: number): void {
    const process = this.node(id).process;
    if (process !== null) process.pausedUntilMs = Math.max(process.pausedUntilMs, this.nowMs + ms);
  }

  /** `id` starts an election now (a deposed or partitioned node resuming, say). */
  campaign(id: NodeId): void {
    const node = this.node(id).node;
    if (node === null) return;
    node.raft.campaign();
    node.replica.wake();
  }

  setFsyncMs(id: NodeId, minMs: number, maxMs: number): void {
    const sim = this.node(id);
    sim.fsyncMinMs = minMs;
    sim.fsyncMaxMs = maxMs;
  }

  /** Everything back to normal: links healed, reliable network, every node up and running, fast disks, no crash armed. */
  healAll(): void {
    this.network.heal();
    this.network.conditions = reliableNetwork;
    for (const id of this.ids) {
      const sim = this.node(id);
      this.setFsyncMs(id, this.options.fsyncMinMs ?? 1, this.options.fsyncMaxMs ?? 6);
      sim.crashAfterSyncs = null;
      if (sim.process !== null) sim.process.pausedUntilMs = 0;
      this.restart(id);
    }
  }

  transfer(to: NodeId): void {
    const leader = this.leader();
    if (leader === null) return;
    const node = this.node(leader).node;
    if (node === null) return;
    node.service.transfer(to, { timeoutMs: 2_000 }).catch(() => undefined);
  }

  /** A sync of this node's disk completes after a drawn delay, on the node's own process. */
  private syncDelay(sim: SimNode): Promise<void> {
    const process = sim.process;
    if (process === null) return new Promise(() => undefined);
    const delayMs = this.diskPrng.between(sim.fsyncMinMs, sim.fsyncMaxMs);
    return new Promise((resolve) =>
      this.world.schedule(delayMs, process, `${sim.id} sync`, () => {
        resolve();
        const armed = sim.crashAfterSyncs;
        if (armed === null || --armed.remaining > 0) return;
        sim.crashAfterSyncs = null;
        // The sync is durable and the process takes its next step (say, writing the durable
        // mark), then dies before that step's own sync completes.
        this.world.schedule(0, this.clients, `${sim.id} crashes after a sync`, () => this.crash(sim.id, { tear: armed.tear }));
      }),
    );
  }

  // ---- clients -------------------------------------------------------------------------

  /**
   * A client appends one fresh record through the leader (or, with none known, a random up
   * node); `payloadBytes` pads the record to that size (tests of batching by bytes).
   */
  append(to?: NodeId, payloadBytes?: number): ClientAppend | null {
    return this.appenders.appendBatch(1, to, payloadBytes)[0] ?? null;
  }

  /** A client appends `count` fresh records in one call: they commit together or not at all (SimClients). */
  appendBatch(count: number, to?: NodeId, payloadBytes = 0): ClientAppend[] {
    return this.appenders.appendBatch(count, to, payloadBytes);
  }

  /** Every append a client made, in order, with what it learnt of each. */
  get appends(): readonly ClientAppend[] {
    return this.appenders.appends;
  }

  private randomUpNode(): NodeId | null {
    const up = this.ids.filter((id) => this.node(id).node !== null);
    return up.length === 0 ? null : this.clientPrng.pick(up);
  }

  get clientRandom(): Prng {
    return this.clientPrng;
  }

  // ---- end-of-run checks ---------------------------------------------------------------

  /**
   * After faults heal: a leader within `electionBoundMs`; then `settle` (membership changes
   * finish); then a fresh append and every acknowledged one applied on every member
   * (members()) within `applyBoundMs`; then every member's log holds each acknowledged record
   * once, at its index, and all logs agree.
   */
  async checkRecovery(electionBoundMs: number, applyBoundMs: number, settle?: () => Promise<void>): Promise<void> {
    this.recovering = true;
    this.healAll();
    if (!(await this.runUntil(() => this.leader() !== null, electionBoundMs))) {
      this.checker.violation(Invariant.liveness, `no leader within ${electionBoundMs}ms of healing`);
    }
    await settle?.();
    let barrier: ClientAppend | null = null;
    const deadline = this.nowMs + applyBoundMs;
    const done = await this.runUntil(() => {
      if (barrier === null || barrier.state === 'failed' || barrier.state === 'unknown') barrier = this.append();
      if (barrier?.state !== 'acked' || barrier.index === null) return false;
      const at = barrier.index;
      return this.members().every((id) => this.node(id).appliedIndex >= at);
    }, Math.max(0, deadline - this.nowMs));
    if (!done) {
      const applied = this.members().map((id) => `${id}:${this.node(id).appliedIndex}`).join(' ');
      this.checker.violation(Invariant.liveness, `not every node applied a fresh append within ${applyBoundMs}ms (applied ${applied}, leader ${String(this.leader())})`);
    }
    this.checkAcknowledgedEverywhere();
    this.checkStatesAgree();
  }

  /**
   * Nodes that applied through the same index hold the same broker state, byte for byte in
   * its snapshot encoding, however each got there: replaying the log, restarting from its own
   * snapshot, or installing a leader's. A snapshot that leaves something out, or a restore
   * that rebuilds it differently, shows here.
   */
  checkStatesAgree(): void {
    const byApplied = new Map<number, { id: NodeId; encoded: Buffer }[]>();
    for (const id of this.members()) {
      const node = this.node(id).node;
      if (node === null) continue;
      const at = node.replica.appliedIndex;
      byApplied.set(at, [...(byApplied.get(at) ?? []), { id, encoded: Buffer.from(node.stateMachine.encodeSnapshot()) }]);
    }
    for (const [at, states] of byApplied) {
      const [first, ...rest] = states;
      for (const other of rest) {
        if (first !== undefined && !first.encoded.equals(other.encoded)) {
          this.checker.violation(Invariant.stateMachineSafety, `${first.id} and ${other.id} applied through ${at} but hold different broker states (restores: ${this.restores(first.id).length} and ${this.restores(other.id).length})`);
        }
      }
    }
  }

  /** Every acknowledged record sits once, at its index, in every member's log (members()); the logs agree. */
  checkAcknowledgedEverywhere(): void {
    checkAcknowledged(this.checker, this.members().map((id) => ({ id, entries: this.logEntries(id) })), this.appends);
  }

  /** A node's whole log, read through the running process (empty while it is down). */
  logEntries(id: NodeId): Entry[] {
    const node = this.node(id).node;
    return node === null ? [] : wholeLog(node.log);
  }

  /** The final state of every node, hashed (clusterDigest). */
  digest(): string {
    return clusterDigest(this);
  }

  /** Each node's final state hashed on its own, in id order (nodeDigests). */
  nodeDigests(): [NodeId, string][] {
    return nodeDigests(this);
  }

  // ---- diagnostics ---------------------------------------------------------------------

  private record(label: string): void {
    if (this.trace.length >= TRACE_KEPT) this.trace.shift();
    this.trace.push(`${this.nowMs} ${label}`);
  }

  /** The last tasks run, newest last: printed with a violation. */
  recentTrace(): string {
    return this.trace.join('\n');
  }
}


/** An error and its causes, outermost first (a node wraps what stopped it). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  // Bounded: a cause chain deeper than this is cut.
  for (let at: unknown = error, depth = 0; at !== undefined && depth < 4; depth++) {
    parts.push(at instanceof Error ? `${at.name}: ${at.message}` : String(at));
    at = at instanceof Error ? at.cause : undefined;
  }
  return parts.join(' <- ');
}
