import type { Entry, Index, Term } from '../../raft/index.js';
import type { Scheduler } from '../../storage/index.js';
import type { ApplyResult } from '../broker/index.js';
import { DeadlineExceededError, UnavailableError } from '../transport/index.js';
import { TermWaiters } from './term-waiters.js';

/**
 * Clients waiting for their entries to be applied, keyed by the index of their last entry.
 *
 * An entry proposed at (index, term) is committed exactly when the entry applied at that
 * index has that term; if another term shows up there, the proposal was overwritten and can
 * never commit, which is a definite failure. Only a timeout leaves the outcome unknown.
 *
 * One index can have several waiters, each of another term: a leader whose uncommitted
 * suffix was cut can lead again and propose at an index a client of its earlier term still
 * waits on. Each waiter is answered on its own (its timer removes only itself).
 */
export class CommitWaiters {
  private readonly waiting: TermWaiters<ApplyResult | null>;

  constructor(
    private readonly capacity: number,
    scheduler: Scheduler,
  ) {
    this.waiting = new TermWaiters(scheduler);
  }

  get size(): number {
    return this.waiting.size;
  }

  isFull(): boolean {
    return this.waiting.size >= this.capacity;
  }

  /** Resolves when the entry at `index` is applied with `term`, with what applying it returned. */
  wait(index: Index, term: Term, timeoutMs: number): Promise<ApplyResult | null> {
    return this.waiting.wait(index, term, timeoutMs, () => new DeadlineExceededError(`entry ${index} was not committed within ${timeoutMs} ms; it may still commit`));
  }

  /** Answers the waiters of `entry`, just applied (in index order), with what applying it returned. */
  applied(entry: Entry, result: ApplyResult | null): void {
    // Every applied entry passes here: no closure unless someone waits.
    if (this.waiting.size === 0) return;
    this.waiting.settle(entry.index, (waiter) =>
      entry.term === waiter.term ? { resolve: result } : { reject: new UnavailableError(`entry ${entry.index} was replaced by a new leader's entry and will never commit; it is safe to retry`) },
    );
  }

  /** Fails every waiter (shutdown): their outcome is unknown to this node from now on. */
  failAll(reason: string): void {
    this.waiting.failAll((index) => new UnavailableError(`${reason}; entry ${index} may or may not commit`));
  }
}
