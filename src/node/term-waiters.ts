import type { Index, Term } from '../../raft/index.js';
import type { Scheduler, Timer } from '../../storage/index.js';

/** One client's wait for the entry it proposed at an index in a term. */
export interface TermWaiter<T> {
  readonly term: Term;
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  readonly timer: Timer;
}

/** What settle() does with one waiter: answer it, fail it, or leave it waiting. */
export type Settlement<T> = { readonly resolve: T } | { readonly reject: Error } | 'keep';

/**
 * Client waits keyed by the index of a proposal's last entry. One index can hold waiters of
 * several terms: a leader whose uncommitted suffix was cut can lead again and propose at an
 * index a client of its earlier term still waits on. Each waiter times out alone (its timer
 * removes only itself). CommitWaiters (commit) and the replica's durable waits (the leader's
 * fsync) both keep their waits here.
 */
export class TermWaiters<T> {
  /** Waiters by index, oldest proposal first; never an empty list. */
  private readonly byIndex = new Map<Index, TermWaiter<T>[]>();
  private count = 0;

  constructor(private readonly scheduler: Scheduler) {}

  get size(): number {
    return this.count;
  }

  /** Waits until settle() answers it, or fails with `timedOut()` after `timeoutMs`. */
  wait(index: Index, term: Term, timeoutMs: number, timedOut: () => Error): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = this.scheduler.after(timeoutMs, () => {
        this.remove(index, waiter);
        reject(timedOut());
      });
      const waiter: TermWaiter<T> = { term, resolve, reject, timer };
      const atIndex = this.byIndex.get(index);
      if (atIndex === undefined) this.byIndex.set(index, [waiter]);
      else atIndex.push(waiter);
      this.count++;
    });
  }

  /** Hands each waiter at `index` to `decide`, and answers or fails the ones it settles. */
  settle(index: Index, decide: (waiter: TermWaiter<T>) => Settlement<T>): void {
    if (this.count === 0) return;
    const atIndex = this.byIndex.get(index);
    if (atIndex === undefined) return;
    for (const waiter of [...atIndex]) {
      const settlement = decide(waiter);
      if (settlement === 'keep') continue;
      this.remove(index, waiter);
      waiter.timer.cancel();
      if ('resolve' in settlement) waiter.resolve(settlement.resolve);
      else waiter.reject(settlement.reject);
    }
  }

  /** Fails every waiter with `failure(index)` (shutdown). */
  failAll(failure: (index: Index) => Error): void {
    for (const [index, atIndex] of this.byIndex) {
      for (const waiter of atIndex) {
        waiter.timer.cancel();
        waiter.reject(failure(index));
      }
    }
    this.byIndex.clear();
    this.count = 0;
  }

  private remove(index: Index, waiter: TermWaiter<T>): void {
    const atIndex = this.byIndex.get(index);
    const at = atIndex?.indexOf(waiter) ?? -1;
    if (atIndex === undefined || at < 0) return;
    atIndex.splice(at, 1);
    if (atIndex.length === 0) this.byIndex.delete(index);
    this.count--;
  }
}
