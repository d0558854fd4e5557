import { RaftNode, type Entry, type HardState, type Index, type Message, type NodeId, type RaftOptions, type SnapshotMeta, type Term } from '../../raft/index.js';
import { EventQueue } from './event-queue.js';
import { Invariant, SafetyChecker } from './invariants.js';
import { hardState } from './log-builder.js';
import { MemoryLog } from './memory-log.js';
import type { NodeTuning } from './node-api.js';
import { Prng } from './prng.js';
import { SimNetwork } from './sim-network.js';

/**
 * Bare consensus cores on one virtual clock: the raft-level simulator. Each node is a RaftNode
 * over a MemoryLog whose Readies are carried out at once (written, "synced", sent, applied),
 * so a crash loses nothing written and a restart rebuilds the core from exactly what was
 * persisted. Messages go through SimNetwork (delay, drop, duplicate, partitions). Cheap enough
 * for thousands of schedules: what the production node adds (fsync timing, torn writes, the
 * broker) is test/sim/node-cluster.ts's business.
 *
 * Nodes can be added while the run goes (a new member, started without a configuration) and
 * are never forgotten: a removed member keeps running, and may crash and come back.
 *
 * The SafetyChecker sees every write, vote, leadership, commit and apply, across every node
 * and every configuration, and throws SafetyViolation at the first broken property.
 */
export interface CoreClusterOptions {
  readonly seed: number;
  /** Initial voters n1..n{size}, bootstrapped from flags. */
  readonly size: number;
  readonly tuning?: NodeTuning;
  readonly createRaft?: (options: RaftOptions) => RaftNode;
  readonly tickMs?: number;
  /** A node snapshots after this many applied entries (0: never) and compacts all but `keepEntries` of its log. */
  readonly snapshotEvery?: number;
  readonly keepEntries?: number;
}

type Event = { readonly kind: 'tick'; readonly id: NodeId; readonly epoch: number } | { readonly kind: 'deliver'; readonly message: Message } | { readonly kind: 'call'; readonly run: () => void };

interface SimCore {
  readonly id: NodeId;
  /** Flags: the initial voters for the first nodes, none for a node that joins later. */
  readonly bootstrap: readonly NodeId[];
  core: RaftNode | null;
  readonly log: MemoryLog;
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  /** Highest index this process applied (its state machine's position). */
  applied: Index;
  /** The term this node led in as of its last Ready, or null. */
  leaderTerm: Term | null;
  /** Bumped at every crash, so the dead process's timers do not fire. */
  epoch: number;
}

export class CoreCluster {
  readonly checker = new SafetyChecker();
  readonly network: SimNetwork;
  private readonly queue = new EventQueue<Event>();
  private readonly prng: Prng;
  private readonly nodes = new Map<NodeId, SimCore>();
  private readonly tickMs: number;
  private proposals = 0;
  /** Called after a node becomes leader (the operator's cue). */
  onLeader: (id: NodeId) => void = () => {};
  readonly stats = { snapshotsInstalled: 0, snapshotsTaken: 0, elections: 0 };

  constructor(private readonly options: CoreClusterOptions) {
    this.prng = new Prng(options.seed);
    this.tickMs = options.tickMs ?? 10;
    this.network = new SimNetwork(this.prng.fork(), (delayMs, message) => this.queue.push(delayMs, { kind: 'deliver', message }), () => this.queue.now);
    const voters = Array.from({ length: options.size }, (_, k) => `n${k + 1}` as NodeId);
    for (const id of voters) this.start(id, voters);
  }

  get nowMs(): number {
    return this.queue.now;
  }

  /** Every node ever started, in start order. */
  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  core(id: NodeId): RaftNode | null {
    return this.nodes.get(id)?.core ?? null;
  }

  isUp(id: NodeId): boolean {
    return this.core(id) !== null;
  }

  /** The leader of the highest term among live nodes, or null. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const node of this.nodes.values()) {
      const st = node.core?.status();
      if (st?.role === 'leader' && (best === null || st.term > best.term)) best = { id: node.id, term: st.term };
    }
    return best?.id ?? null;
  }

  /** Starts a process for a new node (fresh disk; `bootstrap` voters, or none to join an existing cluster). */
  start(id: NodeId, bootstrap: readonly NodeId[] = []): void {
    if (this.nodes.has(id)) throw new Error(`core-cluster: ${id} exists`);
    this.nodes.set(id, { id, bootstrap, core: null, log: new MemoryLog(), hardState: hardState(0), snapshot: null, applied: 0 as Index, leaderTerm: null, epoch: 0 });
    this.restart(id);
  }

  crash(id: NodeId): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.core === null) return;
    node.core = null;
    node.epoch++;
    node.leaderTerm = null;
  }

  restart(id: NodeId): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.core !== null) return;
    // The state machine is rebuilt from the snapshot, then replays the log after it.
    node.applied = (node.snapshot?.index ?? 0) as Index;
    const options: RaftOptions = {
      ...this.options.tuning,
      id,
      voters: node.bootstrap,
      log: node.log,
      hardState: node.hardState,
      random: new Prng(this.prng.nextUint32()),
      applied: node.applied,
      snapshot: node.snapshot,
    };
    node.core = this.options.createRaft?.(options) ?? new RaftNode(options);
    this.scheduleTick(node, this.prng.nextInt(this.tickMs));
    this.drain(node);
  }

  /** Runs `run` at now + delayMs, inside the run's event order. */
  at(delayMs: number, run: () => void): void {
    this.queue.push(delayMs, { kind: 'call', run });
  }

  /** Proposes a fresh payload at the leader, if there is one. */
  propose(): void {
    const id = this.leader();
    const node = id === null ? undefined : this.nodes.get(id);
    if (node === undefined || node.core === null) return;
    node.core.propose(new TextEncoder().encode(`p${++this.proposals}`));
    this.drain(node);
  }

  /** Calls `fn` on a live node's core, then carries out what it produced. */
  act<T>(id: NodeId, fn: (core: RaftNode) => T): T | undefined {
    const node = this.nodes.get(id);
    if (node === undefined || node.core === null) return undefined;
    const result = fn(node.core);
    this.drain(node);
    return result;
  }

  /** Runs events until virtual time `untilMs` (bounded by the events due before it). */
  runUntil(untilMs: number): void {
    // Bounded: each event is taken once, and time only moves forward to untilMs.
    for (;;) {
      const next = this.queue.peekTime();
      if (next === undefined || next > untilMs) break;
      const event = this.queue.pop() as Event;
      this.checker.nowMs = this.queue.now;
      this.handle(event);
    }
    this.queue.advanceTo(untilMs);
  }

  /** Runs until `done()` holds, checking every `stepMs`, for at most `boundMs`. Returns whether it held. */
  runUntilTrue(done: () => boolean, boundMs: number, stepMs = 10): boolean {
    const end = this.nowMs + boundMs;
    while (this.nowMs < end) {
      if (done()) return true;
      this.runUntil(Math.min(end, this.nowMs + stepMs));
    }
    return done();
  }

  /** The entries of a node's durable log, and the index its state machine applied through. */
  logOf(id: NodeId): { readonly entries: readonly Entry[]; readonly applied: Index } | null {
    const node = this.nodes.get(id);
    return node === undefined ? null : { entries: node.log.all(), applied: node.applied };
  }

  private handle(event: Event): void {
    switch (event.kind) {
      case 'tick': {
        const node = this.nodes.get(event.id);
        if (node === undefined || node.core === null || node.epoch !== event.epoch) return;
        node.core.tick();
        this.drain(node);
        this.scheduleTick(node, this.tickMs);
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(event.message.to);
        // A link cut while a message is in flight loses it.
        if (node === undefined || node.core === null || this.network.isCut(event.message.from, event.message.to)) return;
        node.core.step(event.message);
        this.drain(node);
        return;
      }
      case 'call':
        event.run();
        return;
    }
  }

  private scheduleTick(node: SimCore, delayMs: number): void {
    this.queue.push(delayMs, { kind: 'tick', id: node.id, epoch: node.epoch });
  }

  /** Carries out every Ready the node has, in the driver's order (types.ts), checking each effect. */
  private drain(node: SimCore): void {
    for (let round = 0; node.core?.hasReady() === true; round++) {
      if (round > 1_000) throw new Error(`core-cluster: ${node.id} produces Readies without end`);
      const core = node.core;
      const ready = core.ready();
      for (const m of ready.messages) this.send(m);
      if (ready.snapshot !== null) {
        node.log.resetTo(ready.snapshot.index, ready.snapshot.term);
        node.snapshot = ready.snapshot;
        node.applied = ready.snapshot.index;
        this.stats.snapshotsInstalled++;
      }
      // Still the leader it was before this Ready (not deposed by it): it must only append.
      const soft = ready.softState;
      const stillLeading = soft === null || (soft.role === 'leader' && soft.term === node.leaderTerm) ? node.leaderTerm : null;
      this.checker.entriesWritten(node.id, node.log, ready.entries, stillLeading);
      node.log.append(ready.entries);
      if (ready.hardState !== null) {
        this.checker.hardStateWritten(node.id, node.hardState, ready.hardState);
        node.hardState = ready.hardState;
      }
      for (const m of ready.persistedMessages) this.send(m);
      for (const entry of ready.committedEntries) this.apply(node, entry);
      core.advance(ready);
      this.afterReady(node, ready.softState?.role === 'leader' && node.leaderTerm !== ready.softState.term);
    }
  }

  private afterReady(node: SimCore, becameLeader: boolean): void {
    const st = node.core?.status();
    if (st === undefined) return;
    node.leaderTerm = st.role === 'leader' ? st.term : null;
    if (st.role === 'leader') {
      this.checker.leaderSeen(node.id, st.term);
      if (becameLeader) {
        this.stats.elections++;
        this.checker.leaderLogComplete(node.id, st.term, node.log);
        this.onLeader(node.id);
      }
      this.checker.leaderCommitted(node.id, st.term, st.commit, node.log);
    }
    this.maybeSnapshot(node);
  }

  private apply(node: SimCore, entry: Entry): void {
    if (entry.index !== node.applied + 1) this.checker.violation(Invariant.applyOrder, `${node.id} applied ${entry.index} after ${node.applied}`);
    this.checker.applied(node.id, entry);
    node.applied = entry.index;
  }

  private send(m: Message): void {
    if (m.type === 'voteResp' && m.granted) this.checker.voteGranted(m.from, m.to, m.term);
    this.network.send(m);
  }

  /** Snapshots at the applied index every so many entries, with the core's configuration there, and compacts. */
  private maybeSnapshot(node: SimCore): void {
    const every = this.options.snapshotEvery ?? 0;
    const core = node.core;
    if (every === 0 || core === null || node.applied - (node.snapshot?.index ?? 0) < every) return;
    const at = node.applied;
    const config = core.configurationAt(at);
    const t = node.log.term(at);
    if (config === undefined || t === undefined) return;
    const meta: SnapshotMeta = { index: at, term: t, voters: config.voters, learners: config.learners };
    core.snapshotTaken(meta);
    node.snapshot = meta;
    this.stats.snapshotsTaken++;
    const compactThrough = at - (this.options.keepEntries ?? 3);
    if (compactThrough >= node.log.firstIndex()) node.log.compactThrough(compactThrough as Index);
  }
}
