import type { Entry, Index, Term } from '../../raft/index.js';
import type { Scheduler, Timer } from '../../storage/index.js';
import type { ApplyResult } from '../broker/index.js';
import { DeadlineExceededError, UnavailableError } from '../transport/index.js';

interface Waiter {
  readonly term: Term;
  readonly resolve: (result: ApplyResult | null) => void;
  readonly reject: (error: Error) => void;
  readonly timer: Timer;
}

/**
 * Clients waiting for their entries to be applied, keyed by the index of their last entry.
 *
 * An entry proposed at (index, term) is committed exactly when the entry applied at that
 * index has that term; if another term shows up there, the proposal was overwritten and can
 * never commit, which is a definite failure. Only a timeout leaves the outcome unknown.
 */
export class CommitWaiters {
  private readonly waiters = new Map<Index, Waiter>();

  constructor(
    private readonly capacity: number,
    private readonly scheduler: Scheduler,
  ) {}

  get size(): number {
    return this.waiters.size;
  }

  isFull(): boolean {
    return this.waiters.size >= this.capacity;
  }

  /** Resolves when the entry at `index` is applied with `term`, with what applying it returned. */
  wait(index: Index, term: Term, timeoutMs: number): Promise<ApplyResult | null> {
    return new Promise((resolve, reject) => {
      const timer = this.scheduler.after(timeoutMs, () => {
        this.waiters.delete(index);
        reject(new DeadlineExceededError(`entry ${index} was not committed within ${timeoutMs} ms; it may still commit`));
      });
      this.waiters.set(index, { term, resolve, reject, timer });
    });
  }

  /**
   * Answers every waiter whose entry is among `applied` (in index order); `results[k]` is
   * what applying `entries[k]` returned.
   */
  applied(entries: readonly Entry[], results: readonly (ApplyResult | null)[]): void {
    if (this.waiters.size === 0) return;
    for (const [k, entry] of entries.entries()) {
      const waiter = this.waiters.get(entry.index);
      if (waiter === undefined) continue;
      this.waiters.delete(entry.index);
      waiter.timer.cancel();
      if (entry.term === waiter.term) {
        waiter.resolve(results[k] ?? null);
      } else {
        waiter.reject(new UnavailableError(`entry ${entry.index} was replaced by a new leader's entry and will never commit; it is safe to retry`));
      }
    }
  }

  /** Fails every waiter (shutdown): their outcome is unknown to this node from now on. */
  failAll(reason: string): void {
    for (const [index, waiter] of this.waiters) {
      waiter.timer.cancel();
      waiter.reject(new UnavailableError(`${reason}; entry ${index} may or may not commit`));
    }
    this.waiters.clear();
  }
}
