import { RaftInvariantError, type ConfChange, type Configuration, type Entry, type HardState, type Index, type Message, type NodeId, type RaftNode, type Ready, type Role, type SnapshotMeta, type Term } from '../../raft/index.js';
import { EntriesTruncatedError, type DurableLog, type Scheduler } from '../../storage/index.js';
import type { ApplyResult } from '../broker/index.js';
import { CommitWaiters } from './commit-waiters.js';
import { TermWaiters } from './term-waiters.js';
import { NO_PROBE, type NodeProbe } from './node-probe.js';
import { DeadlineExceededError, InternalError, MembershipRefusedError, NotLeaderError, ResourceExhaustedError, UnavailableError } from '../transport/index.js';
import type { ProduceAcks } from '../transport/index.js';

/** A membership change cannot be made at this moment (a transfer, a new leader's first commit, another change on its way): it can be asked again shortly. */
export class MembershipBusyError extends UnavailableError {}

/** What the replica needs from the network: fire-and-forget sends. */
export interface MessageSink {
  send(messages: readonly Message[]): void;
}

export interface ReplicaOptions {
  readonly raft: RaftNode;
  readonly log: DurableLog;
  readonly sink: MessageSink;
  /** The node's clock and timers (realScheduler in a process, the simulator's in test/sim). */
  readonly scheduler: Scheduler;
  /**
   * Applies one committed entry to the node's state machine, in log order, exactly once per
   * entry per process run; what it returns answers the client waiting for that entry.
   */
  readonly apply: (entry: Entry) => ApplyResult | null;
  /**
   * Replaces the state machine's state by the snapshot a leader sent (already received whole
   * and published in the node's snapshot files), as if every entry through its index had
   * been applied. The replica resets the log after it.
   */
  readonly restoreSnapshot: (snapshot: SnapshotMeta) => Promise<void>;
  /** The state machine's state was loaded from a snapshot through this index at start (0: none). */
  readonly appliedAtStart?: Index;
  /** Looks up a member's client address, for redirects. */
  readonly clientAddressOf: (id: NodeId) => string | null;
  /** Storage failed: the replica has stopped and the process must not go on serving. */
  readonly onFatal: (error: unknown) => void;
  /** Most client writes waiting for commit at once; more are refused as RESOURCE_EXHAUSTED. */
  readonly waitersMax?: number;
  /** Told of proposals and of each Ready's write becoming durable (NO_PROBE by default). */
  readonly probe?: NodeProbe;
}

type ReplicaState = 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * How far an append goes before it is answered: 'applied' (committed, and applied here in log
 * order), 'durable' (in this node's own log on disk: the Ready carrying it was persisted; not
 * yet known to be replicated, so a failover can lose it) or 'accepted' (taken into the core's
 * log, nothing durable yet). Only 'applied' says the entries are committed.
 */
export type AppendUntil = 'applied' | 'durable' | 'accepted';

/** What each client acks setting waits for (AppendAcks is a subset of ProduceAcks). */
export const UNTIL_OF_ACKS: Readonly<Record<ProduceAcks, AppendUntil>> = { all: 'applied', leader: 'durable', none: 'accepted' };

/** Where an append's entries went, and for 'applied' what applying the last one returned. */
export interface Appended {
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  /** The state machine's answer for the last entry; null unless waited for 'applied' and it answered. */
  readonly result: ApplyResult | null;
}

/** A Ready accepted by the core whose writes are not yet durable. */
interface InflightReady {
  readonly ready: Ready;
  /** Committed entries to apply once this Ready is durable (they, or entries before them, were not yet). */
  readonly late: readonly Entry[];
  /** A later Ready replaced this one's entries from here on (a conflict); Infinity if none. */
  supersededFrom: number;
  /**
   * The lowest index a later Ready cut from the log while this one was in flight; Infinity
   * if none. Its acknowledgements at or past it name entries the log no longer holds (one
   * that wrote nothing may still acknowledge a retransmitted entry), so they do not leave.
   */
  acksCutFrom: number;
}

/**
 * Readies taken before the oldest is durable. Each costs little (its writes join the storage's
 * next group commit); the bound keeps a stalled disk from queueing without end.
 */
const INFLIGHT_READIES_MAX = 64;

/**
 * Drives the pure Raft core with real time, real files and a real network: the one place
 * where the core's Ready contract is carried out.
 *
 * Persistence is asynchronous (the contract's accept/persisted form, see raft/types.ts): a
 * Ready's messages leave and its entries are written at once, then the core is free to hand
 * out the next Ready while the storage's group commit makes this one durable. Readies finish
 * in the order they were taken: acknowledgements leave, the leader counts its own copy and
 * committed entries that were waiting for this node's fsync are applied. So a leader's new
 * appends go to its followers, and a follower's acknowledgements go back, without queueing
 * behind the fsync in progress, and one fdatasync still covers everything written meanwhile.
 */
export class Replica {
  private readonly raft: RaftNode;
  private readonly log: DurableLog;
  private readonly sink: MessageSink;
  /** The node's clock and timers; the services on this replica use the same one. */
  readonly scheduler: Scheduler;
  private readonly options: ReplicaOptions;
  private readonly probe: NodeProbe;
  private readonly waiters: CommitWaiters;
  /** Appends waiting for their last entry to be durable in this node's log (acks 'leader'). */
  private readonly durableWaiters: TermWaiters<null>;
  private readonly waitersMax: number;
  private state: ReplicaState = 'running';
  /** Readies are being taken, or a round of taking them is scheduled. */
  private pumping: Promise<void> | null = null;
  /** Taken Readies not yet durable, oldest first. */
  private readonly inflight: InflightReady[] = [];
  /** Compactions asked for, run between two Readies (the log takes no appends while it changes). */
  private readonly compactions: { readonly before: Index; readonly settle: (error: unknown) => void }[] = [];
  /** The end of the chain that finishes Readies in order. */
  private finishing: Promise<void> = Promise.resolve();
  /** This node's log is durable through here (as far as finished Readies tell). */
  private durableThrough: number;
  /** The last entry applied to the state machine (or covered by the snapshot it was restored from). */
  private appliedThrough: number;
  /** Term and vote as last made durable: only a change to them costs a state-file write. */
  private savedTermVote: Pick<HardState, 'term' | 'vote'>;
  /**
   * Holds on applying (holdApplies): while above 0, committed entries wait in `held`, in log
   * order, and the state machine does not change.
   */
  private applyHolds = 0;
  /** Committed entries, durable here, waiting for the holds to end; applied first when they do. */
  private readonly held: Entry[] = [];
  /** Resolves when the holds end (a snapshot install waits for it: the held entries go first). */
  private holdsEnded: Promise<void> = Promise.resolve();
  private endHolds: () => void = () => undefined;
  private readonly appliedListeners = new Set<() => void>();
  private readonly roleListeners = new Set<() => void>();

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.raft = options.raft;
    this.log = options.log;
    this.sink = options.sink;
    this.scheduler = options.scheduler;
    this.probe = options.probe ?? NO_PROBE;
    this.waitersMax = options.waitersMax ?? 100_000;
    this.waiters = new CommitWaiters(this.waitersMax, options.scheduler);
    this.durableWaiters = new TermWaiters(options.scheduler);
    const hs = options.log.hardState();
    this.savedTermVote = { term: hs.term, vote: hs.vote };
    this.durableThrough = options.log.lastIndex();
    this.appliedThrough = options.appliedAtStart ?? 0;
  }

  /** The last entry applied to the state machine here: what a snapshot taken now covers. */
  get appliedIndex(): Index {
    return this.appliedThrough as Index;
  }

  tick(): void {
    if (this.state !== 'running') return;
    this.guard(() => this.raft.tick());
    this.pump();
  }

  receive(message: Message): void {
    if (this.state !== 'running') return;
    this.guard(() => this.raft.step(message));
    this.pump();
  }

  /**
   * The core asserts its invariants; one that breaks (say, a leader disagreeing with an entry
   * this node holds as committed) means this replica can no longer be trusted. It stops, and
   * the process with it, loudly, rather than acknowledge anything more.
   */
  private guard(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.failStop(error, 'the consensus core found a broken invariant');
    }
  }

  /** Stops for an error out of carrying out a Ready: a broken core invariant, or storage. */
  private failStopOn(error: unknown): void {
    this.failStop(error, error instanceof RaftInvariantError ? 'the consensus core found a broken invariant' : 'storage failed');
  }

  private failStop(error: unknown, what: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.waiters.failAll(`this node stopped: ${what}`);
    this.failDurableWaiters(`this node stopped: ${what}`);
    this.options.onFatal(new InternalError(`${what}; the node stops rather than acknowledge anything more`, { cause: error }));
  }

  /**
   * The one way a client write enters the log: proposes payloads (validated and tagged by the
   * caller) as consecutive entries and answers once they reached `until`. Every kind of wait
   * is registered before the next Ready is taken, so none can miss its entry.
   */
  async append(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number; readonly until: AppendUntil }): Promise<Appended> {
    const proposed = this.propose(payloads);
    this.probe.proposed(proposed.lastIndex);
    const reached = this.waitUntil(proposed, options.until, options.timeoutMs);
    this.pump();
    return { firstIndex: proposed.firstIndex, lastIndex: proposed.lastIndex, result: await reached };
  }

  private waitUntil(proposed: { lastIndex: Index; term: Term }, until: AppendUntil, timeoutMs: number): Promise<ApplyResult | null> {
    switch (until) {
      case 'applied':
        return this.waiters.wait(proposed.lastIndex, proposed.term, timeoutMs);
      case 'durable':
        return this.waitDurable(proposed.lastIndex, proposed.term, timeoutMs);
      case 'accepted':
        return Promise.resolve(null);
    }
  }

  /** Resolves (with null: nothing is applied yet) once the entry at `index` is durable here with `term`. */
  private waitDurable(index: Index, term: Term, timeoutMs: number): Promise<null> {
    return this.durableWaiters.wait(index, term, timeoutMs, () => new DeadlineExceededError(`entry ${index} was not durable in the leader's log within ${timeoutMs} ms; it may still be written`));
  }

  private propose(payloads: readonly Uint8Array[]): { firstIndex: Index; lastIndex: Index; term: Term } {
    if (this.state !== 'running') throw new UnavailableError('the node is shutting down');
    if (this.waiters.size + this.durableWaiters.size >= this.waitersMax) throw new ResourceExhaustedError(`${this.waiters.size} writes are already waiting for commit; retry later`);
    let result: ReturnType<RaftNode['proposeBatch']>;
    try {
      result = this.raft.proposeBatch(payloads);
    } catch (error) {
      this.failStop(error, 'the consensus core found a broken invariant');
      throw new UnavailableError('this node stopped', { cause: error });
    }
    if (!result.accepted) {
      if (result.reason === 'notLeader') throw new NotLeaderError(this.leaderRef(result.leader));
      if (result.reason === 'transferring') throw new UnavailableError('leadership is being transferred; retry shortly');
      throw new ResourceExhaustedError('too many uncommitted entries; retry later');
    }
    return { firstIndex: result.firstIndex, lastIndex: result.lastIndex, term: result.term };
  }

  /**
   * Proposes one membership change (raft's proposeConfChange) and resolves once its config
   * entry is committed and applied here, with the configuration it made. Refusals: not the
   * leader (NotLeaderError), a moment when no change can be made (UnavailableError: a
   * transfer, this leader's first commit or another change still on its way), or the change
   * itself (MembershipRefusedError naming why).
   */
  async changeMembership(change: ConfChange, options: { readonly force: boolean; readonly timeoutMs: number }): Promise<{ index: Index; config: Configuration }> {
    if (this.state !== 'running') throw new UnavailableError('the node is shutting down');
    let result: ReturnType<RaftNode['proposeConfChange']>;
    try {
      result = this.raft.proposeConfChange(change, options.force ? { force: true } : {});
    } catch (error) {
      this.failStop(error, 'the consensus core found a broken invariant');
      throw new UnavailableError('this node stopped', { cause: error });
    }
    if (!result.accepted) {
      switch (result.reason) {
        case 'notLeader':
          throw new NotLeaderError(this.leaderRef(result.leader));
        case 'transferring':
        case 'noCommitInTerm':
        case 'changeInProgress':
          throw new MembershipBusyError(`no membership change can be made now: ${result.detail}; retry shortly`);
        case 'tooManyUncommitted':
          throw new ResourceExhaustedError('too many uncommitted entries; retry later');
        case 'wouldLoseQuorum':
          throw new MembershipRefusedError(result.reason, `${result.detail}; --force removes it anyway`);
        case 'learnerBehind':
          throw new MembershipRefusedError(result.reason, `${result.detail}; wait for it to catch up`);
        default:
          throw new MembershipRefusedError(result.reason, result.detail);
      }
    }
    const applied = this.waiters.wait(result.index, result.term, options.timeoutMs);
    this.pump();
    await applied;
    return { index: result.index, config: result.config };
  }

  /**
   * Answers the appends whose last entry the Ready just persisted (same term: the Ready wrote
   * their proposal), unless a later Ready replaced it from `supersededFrom` on. Waiters of
   * other terms at these indexes were proposed after this Ready was taken and wait on.
   */
  private resolveDurableWaiters(entries: readonly Entry[], supersededFrom: number): void {
    if (this.durableWaiters.size === 0) return;
    for (const entry of entries) {
      this.durableWaiters.settle(entry.index, (waiter) => {
        if (waiter.term !== entry.term) return 'keep';
        return entry.index < supersededFrom ? { resolve: null } : { reject: replacedHere(entry.index) };
      });
    }
  }

  /**
   * Answers, as a Ready is taken, the appends whose last entry it overwrites with another
   * term's: their proposal was cut before any Ready carried it, or an earlier Ready still in
   * flight carries it and this one replaces it.
   */
  private rejectReplacedDurableWaiters(entries: readonly Entry[]): void {
    if (this.durableWaiters.size === 0) return;
    for (const entry of entries) this.durableWaiters.settle(entry.index, (waiter) => (waiter.term === entry.term ? 'keep' : { reject: replacedHere(entry.index) }));
  }

  private failDurableWaiters(reason: string): void {
    this.durableWaiters.failAll((index) => new UnavailableError(`${reason}; entry ${index} may or may not be written`));
  }

  /** Processes whatever the core has to do now (after a direct call into it, such as a transfer). */
  wake(): void {
    this.pump();
  }

  /**
   * Holds applying committed entries until the returned function is called (once): the
   * state machine stays exactly as it is now, so a snapshot of it can be encoded across
   * several turns of the event loop. Everything else goes on: the core, replication,
   * elections, durable writes. Entries committed meanwhile wait, in log order, and are
   * applied when the last hold ends, before anything else runs; their clients' answers wait
   * with them (commit latency grows by the hold).
   */
  holdApplies(): () => void {
    if (this.applyHolds === 0) this.holdsEnded = new Promise<void>((resolve) => (this.endHolds = resolve));
    this.applyHolds++;
    let released = false;
    return () => {
      if (released) throw new InternalError('an apply hold was released twice');
      released = true;
      this.applyHolds--;
      if (this.applyHolds > 0) return;
      this.endHolds();
      this.applyCommitted(this.held.splice(0));
    };
  }

  /** Calls `listener` after each batch of entries is applied, until the returned function is called. */
  onApplied(listener: () => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Calls `listener` whenever the role or the known leader changes. */
  onRoleChange(listener: () => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  leaderRef(leader: NodeId | null): { id: NodeId; clientAddress: string } | null {
    if (leader === null) return null;
    const clientAddress = this.options.clientAddressOf(leader);
    return clientAddress === null ? null : { id: leader, clientAddress };
  }

  role(): Role {
    return this.raft.status().role;
  }

  /** The NotLeaderError to answer with here, naming the leader when one is known. */
  notLeader(): NotLeaderError {
    return new NotLeaderError(this.leaderRef(this.raft.status().leader));
  }

  /** Stops taking input, finishes the Ready in progress (its fsync), fails waiting clients. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    if (this.state === 'running') this.state = 'stopping';
    await this.pumping;
    await this.finishing;
    this.waiters.failAll('the node shut down');
    this.failDurableWaiters('the node shut down');
    if (this.state === 'stopping') this.state = 'stopped';
  }

  private pump(): void {
    if (this.pumping !== null || this.state !== 'running') return;
    // Busy (a Ready in flight): the next turn lets a burst of messages from one socket read
    // land in the same Ready. Idle: a lone request or message is taken as soon as the
    // callback that brought it returns, a loop turn sooner.
    const turn = this.inflight.length > 0 ? new Promise<void>((resolve) => this.scheduler.soon(resolve)) : Promise.resolve();
    this.pumping = turn.then(() => this.processReadies());
  }

  /**
   * Drops whole log segments below `before` (a snapshot covers them), between two Readies:
   * like a truncation, the change waits for the log's writes in flight and no append joins it.
   */
  compactLog(before: Index): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.compactions.push({ before, settle: (error) => (error === null ? resolve() : reject(error)) });
      this.pump();
    });
  }

  private async runCompactions(): Promise<void> {
    // Bounded by the requests queued; each leaves the queue.
    for (let request = this.compactions.shift(); request !== undefined; request = this.compactions.shift()) {
      try {
        await this.log.compactBefore(request.before);
        request.settle(null);
      } catch (error) {
        request.settle(error);
        throw error;
      }
    }
  }

  private async processReadies(): Promise<void> {
    try {
      // Bounded by the work that keeps arriving and by INFLIGHT_READIES_MAX.
      while (this.state === 'running' && (this.compactions.length > 0 || (this.raft.hasReady() && this.inflight.length < INFLIGHT_READIES_MAX))) {
        if (this.compactions.length > 0) await this.runCompactions();
        else await this.take(this.raft.ready());
      }
    } catch (error) {
      this.failStopOn(error);
    } finally {
      this.pumping = null;
    }
    if (this.state === 'running' && (this.compactions.length > 0 || (this.raft.hasReady() && this.inflight.length < INFLIGHT_READIES_MAX))) this.pump();
  }

  /**
   * The first half of the Ready contract: messages leave, entries and hard state are handed to
   * storage, committed entries already durable here are applied (unless an earlier Ready
   * still holds some back, to keep the order); then the core may hand out the next Ready.
   * Only two things wait here: a conflict (a new leader replacing this node's suffix), for
   * the truncation, which also fails the earlier Readies' writes of what it removed; and a
   * node that became leader without a vote request, for its term.
   */
  private async take(ready: Ready): Promise<void> {
    if (ready.messages.length > 0) this.sink.send(ready.messages);
    if (ready.snapshot !== null) await this.installSnapshot(ready.snapshot);
    const first = ready.entries[0];
    if (first !== undefined && first.index <= this.log.lastIndex()) {
      for (const item of this.inflight) {
        if ((item.ready.entries.at(-1)?.index ?? 0) >= first.index) item.supersededFrom = Math.min(item.supersededFrom, first.index);
        item.acksCutFrom = Math.min(item.acksCutFrom, first.index);
      }
      this.durableThrough = Math.min(this.durableThrough, first.index - 1);
      await this.log.truncateAfter((first.index - 1) as Index);
    }
    this.rejectReplacedDurableWaiters(ready.entries);
    let hardState = this.hardStateToSave(ready.hardState);
    if (hardState !== null && ready.softState?.role === 'leader') {
      // A node that wins alone (a one-node cluster) leads from the step it campaigns in: no
      // vote request waited for its term to be durable. Its entries wait for it here, or a
      // crash between their sync and the term's would bring it back in the old term, to win
      // the same term again and write different entries under it.
      await this.log.saveHardState(hardState);
      hardState = null;
    }
    const writtenMark = this.probe.startMark();
    const written = first !== undefined ? this.log.append(ready.entries) : null;
    const holding = this.inflight.some((item) => item.late.length > 0);
    let early = 0;
    while (!holding && early < ready.committedEntries.length && (ready.committedEntries[early]?.index ?? Infinity) <= this.durableThrough) early++;
    this.applyCommitted(ready.committedEntries.slice(0, early));
    const item: InflightReady = { ready, late: ready.committedEntries.slice(early), supersededFrom: Infinity, acksCutFrom: Infinity };
    this.inflight.push(item);
    this.raft.accept(ready);
    if (ready.softState !== null) {
      for (const listener of this.roleListeners) listener();
    }
    const previous = this.finishing;
    this.finishing = (async () => {
      if (written !== null) {
        try {
          await written;
          this.probe.logAppended(ready.entries.length, writtenMark);
        } catch (error) {
          // A later Ready's truncation removed these entries: nothing more of them will be durable.
          if (!(error instanceof EntriesTruncatedError && item.supersededFrom !== Infinity)) throw error;
        }
      }
      await previous;
      // Entries first, then term and vote: hard state never claims a log the disk lacks.
      if (hardState !== null) await this.log.saveHardState(hardState);
      this.finish(item);
    })().catch((error: unknown) => this.failStopOn(error));
  }

  /**
   * Installs a snapshot from the leader, never overlapped with other writes: the Readies taken
   * before it finish first (their acknowledgements dropped: they name entries the reset
   * discards), then the log is reset to continue after it and the state machine takes the
   * snapshot's state. A crash part way is safe: the snapshot file is published before the
   * core sees it, and a node that starts with a newest snapshot its log does not hold resets
   * the log the same way.
   */
  private async installSnapshot(snapshot: SnapshotMeta): Promise<void> {
    for (const item of this.inflight) item.acksCutFrom = 0;
    await this.finishing;
    // Entries held back by a snapshot being encoded are applied before the state is replaced.
    await this.holdsEnded;
    if (this.state === 'failed') return;
    // The log first: a state machine that says it applied through the snapshot is never
    // beside a log still holding what the snapshot replaces.
    await this.log.resetToSnapshot({ index: snapshot.index, term: snapshot.term });
    this.durableThrough = snapshot.index;
    await this.options.restoreSnapshot(snapshot);
    this.appliedThrough = snapshot.index;
    for (const listener of this.appliedListeners) listener();
  }

  /**
   * The second half, once `item` (the oldest taken Ready) is durable: the core counts it,
   * acknowledgements leave (not those of entries a later Ready replaced), and committed
   * entries that waited for this fsync are applied.
   */
  private finish(item: InflightReady): void {
    if (this.state === 'failed') return;
    const head = this.inflight.shift();
    if (head !== item) throw new InternalError('the replica finished its Readies out of order');
    const { ready } = item;
    const last = ready.entries.at(-1);
    const superseded = item.supersededFrom !== Infinity;
    if (last !== undefined && !superseded) this.durableThrough = Math.max(this.durableThrough, last.index);
    this.raft.persisted(ready);
    this.resolveDurableWaiters(ready.entries, item.supersededFrom);
    const messages = superseded || item.acksCutFrom !== Infinity ? ready.persistedMessages.filter((m) => m.type !== 'appendResp' || (!superseded && m.index < item.acksCutFrom)) : ready.persistedMessages;
    if (messages.length > 0) this.sink.send(messages);
    this.applyCommitted(item.late);
    this.pump();
  }

  private applyCommitted(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    if (this.applyHolds > 0) {
      // Bounded by the entries committed while held.
      for (const entry of entries) this.held.push(entry);
      return;
    }
    for (const entry of entries) this.waiters.applied(entry, this.options.apply(entry));
    this.appliedThrough = (entries.at(-1) as Entry).index;
    for (const listener of this.appliedListeners) listener();
  }

  /**
   * The hard state a Ready must persist, if its term or vote changed (and records it as the
   * one saved, so a later Ready with the same term and vote writes nothing): the commit index
   * is only an optimisation on restart (a leader re-teaches it), so a Ready that changes
   * nothing else costs no state-file write.
   */
  private hardStateToSave(hardState: HardState | null): HardState | null {
    if (hardState === null || (hardState.term === this.savedTermVote.term && hardState.vote === this.savedTermVote.vote)) return null;
    this.savedTermVote = { term: hardState.term, vote: hardState.vote };
    return hardState;
  }
}

/**
 * A leader's durable wait whose entry a new leader replaced on this node only: a copy another
 * node holds may still be committed by a later leader (the Raft paper's figure 8), so the
 * outcome is unknown, not refused.
 */
function replacedHere(index: Index): UnavailableError {
  return new UnavailableError(`entry ${index} was replaced here by a new leader's entry before it was durable; another node may still hold it, so whether it commits is unknown`);
}
