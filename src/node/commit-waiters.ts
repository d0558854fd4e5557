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
 *
 * One index can have several waiters, each of another term: a leader whose uncommitted
 * suffix was cut can lead again and propose at an index a client of its earlier term still
 * waits on. Each waiter is answered on its own (its timer removes only itself).
 */
export class CommitWaiters {
  /** Waiters by index, oldest proposal first; never an empty list. */
  private readonly waiters = new Map<Index, Waiter[]>();
  private count = 0;

  constructor(
    private readonly capacity: number,
    private readonly scheduler: Scheduler,
  ) {}

  get size(): number {
    return this.count;
  }

  isFull(): boolean {
    return this.count >= this.capacity;
  }

  /** Resolves when the entry at `index` is applied with `term`, with what applying it returned. */
  wait(index: Index, term: Term, timeoutMs: number): Promise<ApplyResult | null> {
    return new Promise((resolve, reject) => {
      const timer = this.scheduler.after(timeoutMs, () => {
        this.remove(index, waiter);
        reject(new DeadlineExceededError(`entry ${index} was not committed within ${timeoutMs} ms; it may still commit`));
      });
      const waiter: Waiter = { term, resolve, reject, timer };
      const atIndex = this.waiters.get(index);
      if (atIndex === undefined) this.waiters.set(index, [waiter]);
      else atIndex.push(waiter);
      this.count++;
    });
  }

  /** Answers the waiters of `entry`, just applied (in index order), with what applying it returned. */
  applied(entry: Entry, result: ApplyResult | null): void {
    if (this.count === 0) return;
    const atIndex = this.waiters.get(entry.index);
    if (atIndex === undefined) return;
    this.waiters.delete(entry.index);
    this.count -= atIndex.length;
    for (const waiter of atIndex) {
      waiter.timer.cancel();
      if (entry.term === waiter.term) {
        waiter.resolve(result);
      } else {
        waiter.reject(new UnavailableError(`entry ${entry.index} was replaced by a new leader's entry and will never commit; it is safe to retry`));
      }
    }
  }

  /** Fails every waiter (shutdown): their outcome is unknown to this node from now on. */
  failAll(reason: string): void {
    for (const [index, atIndex] of this.waiters) {
      for (const waiter of atIndex) {
        waiter.timer.cancel();
        waiter.reject(new UnavailableError(`${reason}; entry ${index} may or may not commit`));
      }
    }
    this.waiters.clear();
    this.count = 0;
  }

  private remove(index: Index, waiter: Waiter): void {
    const atIndex = this.waiters.get(index);
    const at = atIndex?.indexOf(waiter) ?? -1;
    if (atIndex === undefined || at < 0) return;
    atIndex.splice(at, 1);
    if (atIndex.length === 0) this.waiters.delete(index);
    this.count--;
  }
}
