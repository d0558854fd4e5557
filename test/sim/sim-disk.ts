import type { Entry, HardState, Index } from '../../raft/types.js';
import { MemoryLog } from './memory-log.js';
import type { Prng } from './prng.js';

/**
 * One node's simulated disk, modelling power loss.
 *
 * Writes land in the page cache at once (what the running node reads back) and in a journal
 * of unsynced operations. An fsync covers every operation issued before it began and completes
 * after simulated time; only then are those operations durable. A crash keeps the durable
 * state plus a prefix of the unsynced journal (a torn tail): writes reach the platter in the
 * order they were issued, each log entry is its own record, and a hard-state write is atomic
 * (old or new, never a mix). A Ready's entries are journalled before its hard state, so a
 * surviving hard state never points past the entries it was written with.
 */
type Op = { readonly kind: 'entry'; readonly entry: Entry } | { readonly kind: 'hardState'; readonly hardState: HardState };

export interface CrashOutcome {
  readonly unsyncedOps: number;
  readonly keptOps: number;
}

export class SimDisk {
  private durableLog: MemoryLog;
  private durableHardState: HardState;
  private cacheLog: MemoryLog;
  private cacheHardState: HardState;
  private journal: Op[] = [];
  /** Operations made durable by fsyncs since the last crash: sync tokens count from here. */
  private syncedOps = 0;
  /** Number of fsyncs completed; lets tests count syncs. */
  syncCount = 0;

  constructor(initial: { log?: MemoryLog; hardState?: HardState } = {}) {
    this.durableLog = initial.log?.clone() ?? new MemoryLog();
    this.durableHardState = initial.hardState ?? { term: 0 as HardState['term'], vote: null, commit: 0 as Index };
    this.cacheLog = this.durableLog.clone();
    this.cacheHardState = this.durableHardState;
  }

  /** The page-cache view: what a running node reads. Replaced (not mutated) by a crash. */
  get log(): MemoryLog {
    return this.cacheLog;
  }

  get hardState(): HardState {
    return this.cacheHardState;
  }

  /** What survives a crash with no torn writes. */
  get durable(): { readonly log: MemoryLog; readonly hardState: HardState } {
    return { log: this.durableLog, hardState: this.durableHardState };
  }

  get unsyncedOps(): number {
    return this.journal.length;
  }

  /** Ready step 2, issued but not yet durable. */
  write(entries: readonly Entry[], hardState: HardState | null): void {
    if (entries.length > 0) {
      this.cacheLog.append(entries);
      for (const entry of entries) this.journal.push({ kind: 'entry', entry });
    }
    if (hardState !== null) {
      this.cacheHardState = hardState;
      this.journal.push({ kind: 'hardState', hardState });
    }
  }

  /** Starts an fsync: returns a token naming the operations it covers. */
  beginSync(): number {
    return this.syncedOps + this.journal.length;
  }

  /**
   * Completes an fsync begun with `token`. Tokens count operations issued since the last
   * crash, so they are only valid until the next crash (the driver drops pending syncs on
   * crash); several may be outstanding, and must complete in the order they began.
   */
  completeSync(token: number): void {
    const covered = this.journal.splice(0, Math.max(0, token - this.syncedOps));
    this.syncedOps += covered.length;
    for (const op of covered) this.applyDurably(op);
    this.syncCount++;
  }

  /** Power loss: durable state plus a random prefix of the unsynced journal survive. */
  crash(prng: Prng, options: { tear: boolean }): CrashOutcome {
    const unsyncedOps = this.journal.length;
    const keptOps = options.tear && unsyncedOps > 0 ? prng.nextInt(unsyncedOps + 1) : 0;
    for (const op of this.journal.slice(0, keptOps)) this.applyDurably(op);
    this.journal = [];
    this.syncedOps = 0;
    this.cacheLog = this.durableLog.clone();
    this.cacheHardState = this.durableHardState;
    return { unsyncedOps, keptOps };
  }

  /** Damage beyond power loss: the last `count` durable entries are gone (a failed sector). */
  loseDurableTail(count: number): void {
    const from = Math.max(this.durableLog.firstIndex(), this.durableLog.lastIndex() - count + 1) as Index;
    this.durableLog.truncateFrom(from);
    this.journal = [];
    this.syncedOps = 0;
    this.cacheLog = this.durableLog.clone();
    this.cacheHardState = this.durableHardState;
  }

  private applyDurably(op: Op): void {
    if (op.kind === 'entry') this.durableLog.append([op.entry]);
    else this.durableHardState = op.hardState;
  }
}
