import type { Entry, HardState, Index, Message, NodeId, ReadState, Ready, Term } from '../../raft/types.js';
import { EventQueue } from './event-queue.js';
import { Invariant, SafetyChecker, SafetyViolation, entryKey } from './invariants.js';
import type { MemoryLog } from './memory-log.js';
import type { NodeFactory, NodeTuning, RaftNodeLike, SimStatus } from './node-api.js';
import { NodeHost, type Proposal } from './node-host.js';
import { Prng } from './prng.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork, reliableNetwork } from './sim-network.js';

/**
 * A whole cluster of cores in one process: one event queue, one virtual clock, one seed.
 *
 * Each node has a driver (`NodeHost`) that honours the Ready contract against a simulated
 * disk: `messages` leave at once, entries and hard state are written and an fsync is started;
 * only when the fsync completes (simulated milliseconds later) do `persistedMessages` leave,
 * committed entries get applied and `advance()` is called. A crash can land anywhere in between.
 * With `asyncStorage` the driver instead accepts each Ready as soon as its writes are issued
 * and keeps several fsyncs in flight, finishing them in order (the Ready contract's second
 * form, as src/node/replica.ts drives it).
 * Every step is followed by the safety checks in SafetyChecker.
 */
export interface ClusterOptions {
  readonly seed: number;
  readonly size: number;
  readonly factory: NodeFactory;
  readonly tuning?: NodeTuning;
  /** Virtual milliseconds between two ticks of one node. */
  readonly tickMs?: number;
  /** Every link delivers in order (TCP-like), in all network conditions the run sets. */
  readonly orderedLinks?: boolean;
  /** Clock drift: each node's tick period is drawn once from tickMs * [1 - skew, 1 + skew]. */
  readonly tickSkew?: number;
  readonly fsyncMinMs?: number;
  readonly fsyncMaxMs?: number;
  /** Per-node initial disk content (scripted scenarios). */
  readonly initialDisks?: ReadonlyMap<NodeId, { readonly log?: MemoryLog; readonly hardState?: HardState; readonly applied?: Index }>;
  /** Runs before a sent message reaches the network: 'drop' loses it (tests use it to cut specific traffic). */
  readonly intercept?: (message: Message, cluster: Cluster) => 'pass' | 'drop';
  /**
   * Check at send time that an append acknowledgement or a granted vote only leaves once what
   * it promises is on the sender's durable disk (default true). Off lets a test show that the
   * end-to-end properties catch a driver that acknowledges early.
   */
  readonly checkDurableBeforeAck?: boolean;
  /** Sees every message the moment it is delivered to a live node, before the node steps it. */
  readonly onDeliver?: (message: Message, cluster: Cluster) => void;
  /** Drive the cores with accept()/persisted(): up to ASYNC_INFLIGHT_MAX Readies' fsyncs in flight per node. */
  readonly asyncStorage?: boolean;
}

type SimEvent =
  | { readonly kind: 'tick'; readonly node: NodeId; readonly epoch: number }
  | { readonly kind: 'deliver'; readonly message: Message }
  | { readonly kind: 'fsync'; readonly node: NodeId; readonly epoch: number; readonly token: number }
  | { readonly kind: 'action'; readonly label: string; readonly run: () => void };

const TRACE_KEPT = 60;
const PUMP_BOUND = 10_000;
const BARRIER_RETRY_MS = 500;
/** Readies an asynchronous driver keeps accepted but not yet durable, per node. */
const ASYNC_INFLIGHT_MAX = 4;

export class Cluster {
  readonly ids: readonly NodeId[];
  readonly checker = new SafetyChecker();
  readonly network: SimNetwork;
  readonly proposals: Proposal[] = [];
  /** Events processed so far: the simulator's "steps". */
  steps = 0;
  /** Set once the end-of-run recovery check starts: background clients stop. */
  recovering = false;
  /** Highest index of any acknowledged proposal so far. */
  maxAckedIndex: Index = 0 as Index;
  readsConfirmed = 0;
  private nextReadId = 1;
  private readonly hosts = new Map<NodeId, NodeHost>();
  private readonly queue = new EventQueue<SimEvent>();
  private readonly diskPrng: Prng;
  private readonly clientPrng: Prng;
  private readonly corePrng: Prng;
  private readonly tickMs: number;
  private readonly trace: string[] = [];
  private nextProposalId = 1;

  constructor(readonly options: ClusterOptions) {
    const root = new Prng(options.seed);
    this.network = new SimNetwork(root.fork(), (delayMs, message) => this.queue.push(delayMs, { kind: 'deliver', message }), () => this.queue.now);
    this.diskPrng = root.fork();
    this.clientPrng = root.fork();
    this.corePrng = root.fork();
    this.tickMs = options.tickMs ?? 10;
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}` as NodeId);
    for (const id of this.ids) {
      const initial = options.initialDisks?.get(id);
      const disk = new SimDisk({ ...(initial?.log ? { log: initial.log } : {}), ...(initial?.hardState ? { hardState: initial.hardState } : {}) });
      this.hosts.set(id, new NodeHost(id, disk, options.fsyncMinMs ?? 1, options.fsyncMaxMs ?? 6));
    }
    if (options.orderedLinks === true) this.network.conditions = { ...reliableNetwork, ordered: true };
    const skew = options.tickSkew ?? 0;
    for (const id of this.ids) {
      const factor = 1 + ((this.diskPrng.nextInt(2001) - 1000) / 1000) * skew;
      this.host(id).tickMs = Math.max(1, Math.round(this.tickMs * factor));
    }
    for (const id of this.ids) this.start(id, { applied: options.initialDisks?.get(id)?.applied });
  }

  get now(): number {
    return this.queue.now;
  }

  host(id: NodeId): NodeHost {
    const host = this.hosts.get(id);
    if (host === undefined) throw new Error(`cluster: unknown node ${id}`);
    return host;
  }

  /** The up node that believes it leads in the highest term, if any. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const host of this.hosts.values()) {
      if (host.core === null) continue;
      const st = host.core.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = host.id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // ---- time ----------------------------------------------------------------------------

  /** Schedules a scripted action `delayMs` from now. */
  at(delayMs: number, label: string, run: () => void): void {
    this.queue.push(delayMs, { kind: 'action', label, run });
  }

  /** Processes events until virtual time advances by `ms`. */
  runFor(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = this.queue.peekTime();
      if (next === undefined || next > until) break;
      this.stepOnce();
    }
  }

  /** Runs until `predicate` holds (checked after every event) or `maxMs` pass; returns whether it held. */
  runUntil(predicate: () => boolean, maxMs: number): boolean {
    const until = this.now + maxMs;
    if (predicate()) return true;
    for (;;) {
      const next = this.queue.peekTime();
      if (next === undefined || next > until) return false;
      this.stepOnce();
      if (predicate()) return true;
    }
  }

  private stepOnce(): void {
    const event = this.queue.pop();
    if (event === undefined) return;
    this.steps++;
    this.checker.nowMs = this.now;
    this.record(event);
    switch (event.kind) {
      case 'tick': {
        const host = this.host(event.node);
        if (host.core === null || host.epoch !== event.epoch) return;
        host.core.tick();
        this.queue.push(host.tickMs, event);
        this.settle(host);
        return;
      }
      case 'deliver': {
        const host = this.host(event.message.to);
        if (host.core === null || !this.network.deliverable(event.message)) return;
        this.options.onDeliver?.(event.message, this);
        host.core.step(event.message);
        this.settle(host);
        return;
      }
      case 'fsync': {
        const host = this.host(event.node);
        if (this.options.asyncStorage === true) {
          if (host.core === null || host.epoch !== event.epoch) return;
          const done = host.inflight.find((item) => item.token === event.token);
          if (done !== undefined) done.done = true;
          this.finishInOrder(host);
          this.settle(host);
          return;
        }
        if (host.core === null || host.epoch !== event.epoch || host.outstanding === null) return;
        host.disk.completeSync(event.token);
        this.finishReady(host, host.outstanding);
        this.settle(host);
        return;
      }
      case 'action': {
        event.run();
        for (const host of this.hosts.values()) if (host.core !== null) this.settle(host);
        return;
      }
    }
  }

  // ---- the driver ----------------------------------------------------------------------

  /** Takes Readies while the node has them and none is outstanding, then checks the node. */
  settle(host: NodeHost): void {
    const async = this.options.asyncStorage === true;
    for (let i = 0; host.core !== null && host.outstanding === null && host.core.hasReady(); i++) {
      if (i >= PUMP_BOUND) throw new Error(`cluster: ${host.id} produced Readies without end`);
      if (async && host.inflight.length >= ASYNC_INFLIGHT_MAX) break;
      this.handleReady(host, host.core.ready());
    }
    if (host.core !== null) this.observe(host, host.core.status());
  }

  private handleReady(host: NodeHost, ready: Ready): void {
    const core = host.core as RaftNodeLike;
    const wasLeaderInTerm = host.role === 'leader' ? host.roleTerm : null;
    let stillLeaderInTerm = wasLeaderInTerm;
    if (ready.softState !== null) {
      if (ready.softState.role === 'leader') this.checker.leaderSeen(host.id, ready.softState.term);
      if (ready.softState.role !== 'leader' || ready.softState.term !== wasLeaderInTerm) stillLeaderInTerm = null;
      host.role = ready.softState.role;
      host.roleTerm = ready.softState.term;
    }
    for (const message of ready.messages) this.send(message);
    this.checker.entriesWritten(host.id, host.disk.log, ready.entries, stillLeaderInTerm);
    if (ready.hardState !== null) this.checker.hardStateWritten(host.id, host.disk.hardState, ready.hardState);
    const first = ready.entries[0];
    if (first !== undefined && first.index <= host.disk.log.lastIndex()) this.conflict(host, first.index);
    host.disk.write(ready.entries, ready.hardState);
    const st = core.status();
    if (st.role === 'leader' && host.completenessCheckedTerm !== st.term) {
      this.checker.leaderLogComplete(host.id, st.term, host.disk.log);
      if (host.disk.log.lastIndex() === st.lastIndex) host.completenessCheckedTerm = st.term;
    }
    if (this.options.asyncStorage === true) {
      this.acceptReady(host, ready);
      return;
    }
    if (ready.entries.length > 0 || ready.hardState !== null) {
      host.outstanding = ready;
      const token = host.disk.beginSync();
      const delayMs = this.diskPrng.between(host.fsyncMinMs, host.fsyncMaxMs);
      this.queue.push(delayMs, { kind: 'fsync', node: host.id, epoch: host.epoch, token });
    } else {
      host.outstanding = ready;
      this.finishReady(host, ready);
    }
  }

  /** A Ready replaces entries from `from` on: earlier Readies in flight will not make them durable. */
  private conflict(host: NodeHost, from: Index): void {
    for (const item of host.inflight) {
      if ((item.ready.entries.at(-1)?.index ?? 0) >= from) item.superseded = true;
    }
    if (host.durableThrough >= from) host.durableThrough = (from - 1) as Index;
  }

  /**
   * The asynchronous driver: the writes are issued, the core may hand out the next Ready.
   * Committed entries already durable here are applied now, unless an earlier Ready still
   * holds some back (order); the rest wait for this Ready's fsync.
   */
  private acceptReady(host: NodeHost, ready: Ready): void {
    const core = host.core as RaftNodeLike;
    if (core.accept === undefined) throw new Error('cluster: asyncStorage needs a core with accept() and persisted()');
    const holding = host.inflight.some((item) => item.late.length > 0);
    let early = 0;
    while (!holding && early < ready.committedEntries.length && (ready.committedEntries[early]?.index ?? Infinity) <= host.durableThrough) early++;
    for (const entry of ready.committedEntries.slice(0, early)) this.apply(host, entry);
    const writes = ready.entries.length > 0 || ready.hardState !== null;
    const token = writes ? host.disk.beginSync() : null;
    host.inflight.push({ ready, token, late: ready.committedEntries.slice(early), done: !writes, superseded: false });
    core.accept(ready);
    if (token !== null) {
      const delayMs = this.diskPrng.between(host.fsyncMinMs, host.fsyncMaxMs);
      this.queue.push(delayMs, { kind: 'fsync', node: host.id, epoch: host.epoch, token });
    } else {
      this.finishInOrder(host);
    }
  }

  /** Finishes the durable Readies at the head of the in-flight queue, oldest first. */
  private finishInOrder(host: NodeHost): void {
    // Bounded by the queue's length.
    while (host.core !== null && host.inflight[0]?.done === true) {
      const item = host.inflight.shift();
      if (item === undefined) break;
      if (item.token !== null) host.disk.completeSync(item.token);
      const last = item.ready.entries.at(-1);
      if (last !== undefined && !item.superseded && last.index > host.durableThrough) host.durableThrough = last.index;
      for (const message of item.ready.persistedMessages) {
        if (item.superseded && message.type === 'appendResp') continue;
        this.send(message);
      }
      host.core.persisted?.(item.ready);
      for (const entry of item.late) this.apply(host, entry);
      for (const rs of item.ready.readStates) this.readConfirmed(host, rs);
    }
  }

  /** Ready steps 3-5, once the write is durable. */
  private finishReady(host: NodeHost, ready: Ready): void {
    const core = host.core as RaftNodeLike;
    for (const message of ready.persistedMessages) this.send(message);
    for (const entry of ready.committedEntries) this.apply(host, entry);
    for (const rs of ready.readStates) this.readConfirmed(host, rs);
    host.outstanding = null;
    core.advance(ready);
  }

  private readConfirmed(host: NodeHost, rs: ReadState): void {
    host.readStates.push(rs);
    const read = host.pendingReads.get(rs.context);
    if (read === undefined) return;
    host.pendingReads.delete(rs.context);
    this.readsConfirmed++;
    if (rs.index < read.mustCover) {
      this.checker.violation(Invariant.linearizableRead, `${host.id} confirmed read ${rs.context} at index ${rs.index}, but index ${read.mustCover} was acknowledged before the read began`);
    }
  }

  private apply(host: NodeHost, entry: Entry): void {
    if (entry.index !== host.appliedIndex + 1) {
      this.checker.violation(Invariant.applyOrder, `${host.id} applied ${entry.index} after ${host.appliedIndex}`);
    }
    this.checker.applied(host.id, entry);
    host.appliedIndex = entry.index;
    host.stateMachine.set(entry.index, entryKey(entry));
    const proposal = host.pending.get(entry.index);
    if (proposal !== undefined) {
      host.pending.delete(entry.index);
      const same = entry.term === proposal.term;
      if (same && Buffer.compare(Buffer.from(entry.payload), Buffer.from(proposal.payload)) !== 0) {
        this.checker.violation(Invariant.logMatching, `${host.id} applied (${entry.index}, ${entry.term}) with a payload other than the proposal's`);
      }
      proposal.state = same ? 'acked' : 'lost';
      if (same && entry.index > this.maxAckedIndex) this.maxAckedIndex = entry.index;
    }
  }

  private observe(host: NodeHost, st: SimStatus): void {
    if (host.damaged && !st.votingBlocked) host.damaged = false;
    if (st.role !== 'leader') return;
    this.checker.leaderSeen(host.id, st.term);
    if (st.commit > this.checker.maxCommitted) {
      if (this.options.checkDurableBeforeAck !== false) this.checkCommitDurable(host, st.commit);
      this.checker.leaderCommitted(host.id, st.term, st.commit, host.disk.log);
    }
  }

  /**
   * The counting half of the durability contract: every entry a leader newly reports committed
   * is on a majority of disks durably (a disk counts for an index it once lost to damage: its
   * acknowledgement may predate the loss). Catches a leader counting its own write before its
   * fsync.
   */
  private checkCommitDurable(leader: NodeHost, commit: Index): void {
    const majority = Math.floor(this.ids.length / 2) + 1;
    for (let at = (this.checker.maxCommitted + 1) as Index; at <= commit; at++) {
      const entry = leader.disk.log.entry(at);
      if (entry === undefined) continue; // leaderCommitted reports it
      const key = entryKey(entry);
      let holders = 0;
      for (const host of this.hosts.values()) {
        const durable = host.disk.durable.log.entry(at);
        if (host.lostEntries.has(at) || (durable !== undefined && entryKey(durable) === key)) holders++;
      }
      if (holders < majority) {
        this.checker.violation(Invariant.durableBeforeAck, `${leader.id} reports ${at} committed while only ${holders} of ${this.ids.length} disks hold it durably`);
      }
    }
  }

  private send(message: Message): void {
    if (message.type === 'voteResp' && message.granted) this.checker.voteGranted(message.from, message.to, message.term);
    if (this.options.checkDurableBeforeAck !== false) this.checkDurable(message);
    if (this.options.intercept?.(message, this) === 'drop') return;
    this.network.send(message);
  }

  private checkDurable(message: Message): void {
    const disk = this.host(message.from).disk;
    if (message.type === 'appendResp' && message.success && message.index >= disk.durable.log.firstIndex()) {
      const durableTerm = disk.durable.log.term(message.index);
      if (durableTerm === undefined || durableTerm !== disk.log.term(message.index)) {
        this.checker.violation(Invariant.durableBeforeAck, `${message.from} acknowledged index ${message.index} to ${message.to} before it was durable (durable last ${disk.durable.log.lastIndex()})`);
      }
      // The acknowledgement promises agreement with the leader it answers: the same entry there
      // (FINDINGS O2: an ack queued for a leader deposed in the same Ready used to break this).
      const leader = this.host(message.to);
      const leaderStatus = leader.core?.status();
      const leaderTerm = leader.disk.log.term(message.index);
      if (leaderStatus?.role === 'leader' && leaderStatus.term === message.term && leaderTerm !== undefined && leaderTerm !== durableTerm) {
        this.checker.violation(
          Invariant.durableBeforeAck,
          `${message.from} acknowledged index ${message.index} to ${message.to} (leader of term ${message.term}, entry term ${leaderTerm}) but durably holds term ${String(durableTerm)} there`,
        );
      }
    }
    if (message.type === 'voteResp' && message.granted) {
      // Durable proof it will not vote for another in that term: the vote itself, or a later term.
      const hs = disk.durable.hardState;
      if (hs.term < message.term || (hs.term === message.term && hs.vote !== message.to)) {
        this.checker.violation(Invariant.durableBeforeAck, `${message.from} granted ${message.to} its vote in term ${message.term} before persisting it (durable term ${hs.term} vote ${String(hs.vote)})`);
      }
    }
  }

  // ---- faults --------------------------------------------------------------------------

  /** Power loss: the node's memory is gone, its disk keeps what was synced (plus a torn prefix if `tear`). */
  crash(id: NodeId, options: { tear: boolean } = { tear: true }): void {
    const host = this.host(id);
    if (host.core === null) return;
    host.core = null;
    host.epoch++;
    host.crashes++;
    host.outstanding = null;
    host.inflight = [];
    host.role = 'follower';
    for (const proposal of host.pending.values()) proposal.state = 'unknown';
    host.pending.clear();
    host.pendingReads.clear();
    host.disk.crash(this.diskPrng, options);
  }

  /**
   * Damage beyond power loss on one node: it crashes, its disk loses the last `lose` durable
   * entries, and it restarts with votingBlockedBelow set, as storage recovery would report.
   * Only one node may be damaged and unrepaired at a time (more could lose a majority's copy
   * of an acknowledged entry, which no protocol survives); otherwise this does nothing.
   */
  damage(id: NodeId, lose: number): boolean {
    for (const other of this.hosts.values()) {
      if (other.damaged && other.core !== null && !other.core.status().votingBlocked) other.damaged = false;
      if (other.damaged) return false;
    }
    const host = this.host(id);
    this.crash(id, { tear: false });
    const lostFrom = host.disk.durable.log.lastIndex();
    if (lostFrom < host.disk.durable.log.firstIndex()) return false;
    const lostAfter = Math.max(host.disk.durable.log.firstIndex() - 1, lostFrom - lose) as Index;
    host.disk.loseDurableTail(lose);
    host.damaged = true;
    for (let at = lostAfter + 1; at <= lostFrom; at++) host.lostEntries.add(at as Index);
    this.restart(id, { votingBlockedBelow: lostFrom });
    return true;
  }

  restart(id: NodeId, options: { votingBlockedBelow?: Index } = {}): void {
    const host = this.host(id);
    if (host.core !== null) return;
    // Storage remembers that this disk lost entries until the node is repaired.
    const blocked = options.votingBlockedBelow ?? (host.damaged ? host.damagedBelow : undefined);
    if (options.votingBlockedBelow !== undefined) host.damagedBelow = options.votingBlockedBelow;
    this.start(id, blocked === undefined ? {} : { votingBlockedBelow: blocked });
  }

  private start(id: NodeId, options: { applied?: Index | undefined; votingBlockedBelow?: Index | undefined }): void {
    const host = this.host(id);
    const log = host.disk.log;
    const applied = options.applied ?? ((log.firstIndex() - 1) as Index);
    host.stateMachine = new Map();
    host.appliedIndex = applied;
    host.role = 'follower';
    host.roleTerm = host.disk.hardState.term;
    host.completenessCheckedTerm = -1 as Term;
    host.inflight = [];
    host.durableThrough = log.lastIndex();
    host.core = this.options.factory({
      ...this.options.tuning,
      id,
      voters: this.ids,
      log,
      hardState: host.disk.hardState,
      random: this.corePrng.fork(),
      applied,
      ...(options.votingBlockedBelow !== undefined ? { votingBlockedBelow: options.votingBlockedBelow } : {}),
    });
    // Stagger the first tick so nodes do not tick in lockstep.
    this.queue.push(this.diskPrng.between(1, this.tickMs), { kind: 'tick', node: id, epoch: host.epoch });
  }

  setFsyncMs(id: NodeId, minMs: number, maxMs: number): void {
    const host = this.host(id);
    host.fsyncMinMs = minMs;
    host.fsyncMaxMs = maxMs;
  }

  /** Everything back to normal: links healed, reliable network, every node up, fast disks. */
  healAll(): void {
    this.network.heal();
    this.network.conditions = { ...reliableNetwork, ...(this.options.orderedLinks === true ? { ordered: true } : {}) };
    for (const id of this.ids) {
      this.setFsyncMs(id, this.options.fsyncMinMs ?? 1, this.options.fsyncMaxMs ?? 6);
      this.restart(id);
    }
  }

  // ---- clients -------------------------------------------------------------------------

  /** A client proposes a fresh payload to the current leader (or, with none, a random up node). */
  propose(to?: NodeId, payloadBytes?: number): Proposal | null {
    const target = to ?? this.leader() ?? this.randomUpNode();
    if (target === null) return null;
    const host = this.host(target);
    if (host.core === null) return null;
    const id = this.nextProposalId++;
    const name = `p${id}`;
    const payload = Buffer.from(payloadBytes === undefined ? name : name.padEnd(payloadBytes, '.'), 'latin1');
    const result = host.core.propose(payload);
    if (!result.accepted) return null;
    const proposal: Proposal = { id, payload, node: target, index: result.index, term: result.term, state: 'pending' };
    const displaced = host.pending.get(result.index);
    if (displaced !== undefined) displaced.state = 'lost';
    host.pending.set(result.index, proposal);
    this.proposals.push(proposal);
    this.settle(host);
    return proposal;
  }

  /** A client proposes `count` fresh payloads as one all-or-nothing batch to the current leader. */
  proposeBatch(count: number): Proposal[] {
    const target = this.leader();
    if (target === null) return [];
    const host = this.host(target);
    if (host.core?.proposeBatch === undefined) return [];
    const ids = Array.from({ length: count }, () => this.nextProposalId++);
    const payloads = ids.map((id) => Buffer.from(`p${id}`, 'latin1'));
    const result = host.core.proposeBatch(payloads);
    if (!result.accepted) return [];
    if (result.lastIndex - result.firstIndex + 1 !== count) {
      throw new Error(`cluster: batch of ${count} accepted as [${result.firstIndex}, ${result.lastIndex}]`);
    }
    const made = ids.map((id, k): Proposal => {
      const index = (result.firstIndex + k) as Index;
      const proposal: Proposal = { id, payload: payloads[k] as Uint8Array, node: target, index, term: result.term, state: 'pending' };
      const displaced = host.pending.get(index);
      if (displaced !== undefined) displaced.state = 'lost';
      host.pending.set(index, proposal);
      return proposal;
    });
    this.proposals.push(...made);
    this.settle(host);
    return made;
  }

  /** A client asks the current leader (or `to`) for a linearizable read point. Returns whether it was accepted. */
  read(to?: NodeId): boolean {
    // Clients may well be talking to a deposed leader that does not know it yet.
    const leaders = this.ids.filter((id) => this.host(id).core?.status().role === 'leader');
    const target = to ?? (leaders.length === 0 ? null : this.clientPrng.pick(leaders));
    if (target === null) return false;
    const host = this.host(target);
    if (host.core === null) return false;
    const context = `r${this.nextReadId++}`;
    const result = host.core.readIndex(context);
    if (!result.accepted) return false;
    host.pendingReads.set(context, { context, mustCover: this.maxAckedIndex });
    this.settle(host);
    return true;
  }

  private randomUpNode(): NodeId | null {
    const up = this.ids.filter((id) => this.host(id).up);
    return up.length === 0 ? null : this.clientPrng.pick(up);
  }

  get clientRandom(): Prng {
    return this.clientPrng;
  }

  // ---- end-of-run checks ---------------------------------------------------------------

  /**
   * After faults heal: a leader within `electionBoundMs`; then a fresh proposal and every
   * acknowledged one applied on every node within `applyBoundMs`.
   */
  checkRecovery(electionBoundMs: number, applyBoundMs: number, onElected?: () => void): void {
    this.recovering = true;
    this.healAll();
    const elected = this.runUntil(() => this.leader() !== null, electionBoundMs);
    if (!elected) this.checker.violation(Invariant.liveness, `no leader within ${electionBoundMs}ms of healing`);
    onElected?.();
    let barrier: Proposal | null = null;
    let proposedAt = 0;
    const deadline = this.now + applyBoundMs;
    const done = this.runUntil(() => {
      // A client retries when its proposal was lost, or after a timeout: a deposed leader
      // may never learn the fate of what it accepted.
      if (barrier === null || barrier.state === 'lost' || barrier.state === 'unknown' || (barrier.state === 'pending' && this.now - proposedAt > BARRIER_RETRY_MS)) {
        barrier = this.propose();
        proposedAt = this.now;
      }
      if (barrier === null || barrier.state !== 'acked') return false;
      return this.ids.every((id) => this.host(id).appliedIndex >= (barrier as Proposal).index);
    }, Math.max(0, deadline - this.now));
    if (!done) {
      const applied = this.ids.map((id) => `${id}:${this.host(id).appliedIndex}`).join(' ');
      this.checker.violation(Invariant.liveness, `not every node applied a fresh proposal within ${applyBoundMs}ms (applied ${applied}, leader ${String(this.leader())})`);
    }
    this.checkAcknowledgedEverywhere();
  }

  /** Every acknowledged proposal sits, at its index, in every node's state machine. */
  checkAcknowledgedEverywhere(): void {
    for (const proposal of this.proposals) {
      if (proposal.state !== 'acked') continue;
      const key = `${proposal.term}/1/${Buffer.from(proposal.payload).toString('latin1')}`;
      for (const id of this.ids) {
        const held = this.host(id).stateMachine.get(proposal.index);
        if (held !== key) {
          this.checker.violation(Invariant.ackDurable, `acknowledged proposal p${proposal.id} (${proposal.index}, ${proposal.term}) missing on ${id}`);
        }
      }
    }
  }

  // ---- diagnostics ---------------------------------------------------------------------

  private record(event: SimEvent): void {
    if (this.trace.length >= TRACE_KEPT) this.trace.shift();
    this.trace.push(`${this.now} ${describeEvent(event)}`);
  }

  /** The last events processed, newest last: printed with a violation. */
  recentTrace(): string {
    return this.trace.join('\n');
  }
}

function describeEvent(event: SimEvent): string {
  switch (event.kind) {
    case 'tick':
      return `tick ${event.node}`;
    case 'fsync':
      return `fsync ${event.node}`;
    case 'action':
      return `action ${event.label}`;
    case 'deliver': {
      const m = event.message;
      const extra =
        m.type === 'append'
          ? ` prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`
          : m.type === 'appendResp'
            ? ` ok=${m.success} index=${m.index} hint=${m.hintIndex}/${m.hintTerm}`
            : m.type === 'voteResp' || m.type === 'preVoteResp'
              ? ` granted=${m.granted}`
              : m.type === 'vote' || m.type === 'preVote'
                ? ` last=${m.lastIndex}/${m.lastTerm}`
                : '';
      return `${m.type} ${m.from}->${m.to} t${m.term}${extra}`;
    }
  }
}

export { SafetyViolation };
export { NodeHost, type PendingRead, type Proposal, type ProposalState } from './node-host.js';
