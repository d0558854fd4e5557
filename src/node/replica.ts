import { RaftInvariantError, type Entry, type HardState, type Index, type Message, type NodeId, type RaftNode, type Ready, type Role, type Term } from '../../raft/index.js';
import type { CommitLog } from '../../storage/index.js';
import type { ApplyResult } from '../broker/index.js';
import { CommitWaiters } from './commit-waiters.js';
import { DeadlineExceededError, InternalError, NotLeaderError, ResourceExhaustedError, UnavailableError } from './errors.js';

/** What the replica needs from the network: fire-and-forget sends. */
export interface MessageSink {
  send(messages: readonly Message[]): void;
}

export interface ReplicaOptions {
  readonly raft: RaftNode;
  readonly log: CommitLog;
  readonly sink: MessageSink;
  /**
   * Applies one committed entry to the node's state machine, in log order, exactly once per
   * entry per process run; what it returns answers the client waiting for that entry.
   */
  readonly apply: (entry: Entry) => ApplyResult | null;
  /** Looks up a member's client address, for redirects. */
  readonly clientAddressOf: (id: NodeId) => string | null;
  /** Storage failed: the replica has stopped and the process must not go on serving. */
  readonly onFatal: (error: unknown) => void;
  /** Most client writes waiting for commit at once; more are refused as RESOURCE_EXHAUSTED. */
  readonly waitersMax?: number;
}

type ReplicaState = 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * How far appendUntil goes before it resolves: 'durable' (in this node's own log on disk: the
 * Ready carrying it was persisted; not yet known to be replicated, so a failover can lose it)
 * or 'accepted' (taken into the core's log, nothing durable yet). append() waits for commit.
 */
export type AppendUntil = 'durable' | 'accepted';

interface DurableWaiter {
  readonly term: Term;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Drives the pure Raft core with real time, real files and a real network: the one place
 * where the core's Ready contract is carried out.
 *
 * One Ready is processed at a time. While its entries are being made durable, new messages
 * and proposals keep flowing into the core and are batched into the next Ready, so one
 * fdatasync covers everything that arrived meanwhile (group commit at the node level).
 */
export class Replica {
  private readonly raft: RaftNode;
  private readonly log: CommitLog;
  private readonly sink: MessageSink;
  private readonly options: ReplicaOptions;
  private readonly waiters: CommitWaiters;
  /** Appends waiting for their last entry to be durable in this node's log, by that entry's index. */
  private readonly durableWaiters = new Map<Index, DurableWaiter>();
  private readonly waitersMax: number;
  private state: ReplicaState = 'running';
  /** A Ready is being processed, or one is scheduled to be. */
  private pumping: Promise<void> | null = null;
  /** Term and vote as last made durable: only a change to them costs a state-file write. */
  private savedTermVote: Pick<HardState, 'term' | 'vote'>;
  private readonly appliedListeners = new Set<() => void>();
  private readonly roleListeners = new Set<() => void>();

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.raft = options.raft;
    this.log = options.log;
    this.sink = options.sink;
    this.waitersMax = options.waitersMax ?? 100_000;
    this.waiters = new CommitWaiters(this.waitersMax);
    const hs = options.log.hardState();
    this.savedTermVote = { term: hs.term, vote: hs.vote };
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

  private failStop(error: unknown, what: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.waiters.failAll(`this node stopped: ${what}`);
    this.failDurableWaiters(`this node stopped: ${what}`);
    this.options.onFatal(new InternalError(`${what}; the node stops rather than acknowledge anything more`, { cause: error }));
  }

  /**
   * Proposes payloads as consecutive entries and resolves with their indexes once they are
   * committed and applied here, and with what applying the last one returned. The caller
   * validated sizes and tagged the payloads.
   */
  async append(payloads: readonly Uint8Array[], timeoutMs: number): Promise<{ firstIndex: Index; lastIndex: Index; result: ApplyResult | null }> {
    const proposed = this.propose(payloads);
    const done = this.waiters.wait(proposed.lastIndex, proposed.term, timeoutMs);
    this.pump();
    const applied = await done;
    return { firstIndex: proposed.firstIndex, lastIndex: proposed.lastIndex, result: applied };
  }

  /**
   * Proposes payloads as consecutive entries and resolves with their indexes and term at the
   * point `until` names. Nothing here says the entries will commit.
   */
  async appendUntil(payloads: readonly Uint8Array[], timeoutMs: number, until: AppendUntil): Promise<{ firstIndex: Index; lastIndex: Index; term: Term }> {
    const proposed = this.propose(payloads);
    if (until === 'durable') {
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.durableWaiters.delete(proposed.lastIndex);
          reject(new DeadlineExceededError(`entry ${proposed.lastIndex} was not durable in the leader's log within ${timeoutMs} ms; it may still be written`));
        }, timeoutMs);
        this.durableWaiters.set(proposed.lastIndex, { term: proposed.term, resolve, reject, timer });
      });
      this.pump();
      await done;
    } else {
      this.pump();
    }
    return { firstIndex: proposed.firstIndex, lastIndex: proposed.lastIndex, term: proposed.term };
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

  /** Answers the appends whose last entry the Ready just persisted, if it is still theirs (same term). */
  private persisted(entries: readonly Entry[]): void {
    if (this.durableWaiters.size === 0) return;
    for (const entry of entries) {
      const waiter = this.durableWaiters.get(entry.index);
      if (waiter === undefined) continue;
      this.durableWaiters.delete(entry.index);
      clearTimeout(waiter.timer);
      if (entry.term === waiter.term) waiter.resolve();
      else waiter.reject(new UnavailableError(`entry ${entry.index} was replaced by a new leader's entry before it was durable here; it will never commit`));
    }
  }

  private failDurableWaiters(reason: string): void {
    for (const [index, waiter] of this.durableWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new UnavailableError(`${reason}; entry ${index} may or may not be written`));
    }
    this.durableWaiters.clear();
  }

  /** Processes whatever the core has to do now (after a direct call into it, such as a transfer). */
  wake(): void {
    this.pump();
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
    this.waiters.failAll('the node shut down');
    this.failDurableWaiters('the node shut down');
    if (this.state === 'stopping') this.state = 'stopped';
  }

  private pump(): void {
    if (this.pumping !== null || this.state !== 'running') return;
    // setImmediate lets a burst of messages from one socket read land in the same Ready.
    this.pumping = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.processReadies());
  }

  private async processReadies(): Promise<void> {
    try {
      // Bounded by the work that keeps arriving; each round makes progress or stops.
      while (this.state === 'running' && this.raft.hasReady()) {
        const ready = this.raft.ready();
        await this.carryOut(ready);
        this.raft.advance(ready);
      }
    } catch (error) {
      this.failStop(error, error instanceof RaftInvariantError ? 'the consensus core found a broken invariant' : 'storage failed');
    } finally {
      this.pumping = null;
    }
    if (this.state === 'running' && this.raft.hasReady()) this.pump();
  }

  /**
   * The Ready contract of raft/types.ts, step by step, with one reordering it allows:
   * committed entries that an earlier Ready already made durable here are applied before
   * this Ready's fsync, not after it. They are committed (durable on a quorum) and in this
   * node's log, so nothing waits on the new entries' fsync to answer for them: under load
   * the leader's acknowledgements no longer queue behind the next group's fsync. Committed
   * entries this Ready brings itself are applied after they are persisted, as before (a
   * read of the log by index must find them).
   */
  private async carryOut(ready: Ready): Promise<void> {
    if (ready.messages.length > 0) this.sink.send(ready.messages);
    const firstNew = ready.entries[0]?.index ?? Infinity;
    const durableEnd = Math.min(this.log.lastIndex(), firstNew - 1);
    let early = 0;
    while (early < ready.committedEntries.length && (ready.committedEntries[early]?.index ?? Infinity) <= durableEnd) early++;
    this.applyCommitted(ready.committedEntries.slice(0, early));
    await this.persist(ready.entries, ready.hardState);
    this.persisted(ready.entries);
    if (ready.persistedMessages.length > 0) this.sink.send(ready.persistedMessages);
    this.applyCommitted(ready.committedEntries.slice(early));
    if (ready.softState !== null) {
      for (const listener of this.roleListeners) listener();
    }
  }

  private applyCommitted(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const results = entries.map((entry) => this.options.apply(entry));
    this.waiters.applied(entries, results);
    for (const listener of this.appliedListeners) listener();
  }

  /** Entries first, then term and vote: hard state never claims a log the disk lacks. */
  private async persist(entries: readonly Entry[], hardState: HardState | null): Promise<void> {
    const first = entries[0];
    if (first !== undefined) {
      if (first.index <= this.log.lastIndex()) await this.log.truncateAfter((first.index - 1) as Index);
      await this.log.append(entries);
    }
    // The commit index is only an optimisation on restart (a leader re-teaches it), so a
    // Ready that changes nothing else costs no state-file write.
    if (hardState !== null && (hardState.term !== this.savedTermVote.term || hardState.vote !== this.savedTermVote.vote)) {
      await this.log.saveHardState(hardState);
      this.savedTermVote = { term: hardState.term, vote: hardState.vote };
    }
  }
}
