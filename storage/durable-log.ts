import type { Entry, HardState, Index } from '../raft/index.js';
import type { LogPosition } from './state-file.js';

/**
 * What a node's replica asks of its log: the writes a Ready hands it and the two reads it
 * needs to start. CommitLog implements it on a FileSystem; the simulator runs that same
 * CommitLog over a MemoryFileSystem, so this seam has one implementation and two disks.
 *
 * Writes are issued in call order. `append` and `saveHardState` resolve once what they wrote
 * is durable as the flush policy promises; `truncateAfter` resolves once the cut is, and
 * fails the promises of appends it removed with EntriesTruncatedError.
 */
export interface DurableLog {
  lastIndex(): Index;
  /** The newest hard state saved (its save may still be in flight). */
  hardState(): HardState;
  /** Entries that continue the log exactly (the first at lastIndex() + 1). */
  append(entries: readonly Entry[]): Promise<void>;
  /** Removes every entry after `at`. */
  truncateAfter(at: Index): Promise<void>;
  saveHardState(hardState: HardState): Promise<void>;
  /**
   * Drops whole segments whose entries all lie below `before` (a durable snapshot covers
   * them). Resolves once the new compaction point is durable and the files are gone.
   */
  compactBefore(before: Index): Promise<void>;
  /**
   * After installing a durable snapshot whose last entry `point` the log does not hold:
   * discards the whole log, which continues at point.index + 1. Durable when it resolves;
   * a crash reopens either a prefix of the old log or the empty log after `point`.
   */
  resetToSnapshot(point: LogPosition): Promise<void>;
}
