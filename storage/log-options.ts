/** What openLog() takes (storage/commit-log.ts), with its defaults. */
import type { FileSystem } from './file-system.js';
import type { CorruptRecordError } from './errors.js';
import type { Scheduler } from './scheduler.js';
import type { LogPosition } from './state-file.js';

/**
 * When an append's promise resolves.
 * - sync: after the fdatasync that covers it and, with `mark: 'ordered'` (the default), the
 *   fdatasync of the durable mark that records it, written after the data's. Appends that
 *   arrive while a sync is in flight share the next one (group commit).
 *   With `mark: 'lagging'` an append resolves after its data's fdatasync alone and the mark
 *   follows it: one fdatasync less on the acknowledgement's path, but a disk that loses
 *   the last acknowledged group at a power failure goes unnoticed (the mark had not yet
 *   recorded it), where the ordered mark reports it as lost entries (docs/storage.md).
 * - async: as soon as it is written to the page cache; a timer syncs every intervalMs.
 *   A power failure (or kernel crash) loses what was acknowledged in the last
 *   intervalMs or so; a process crash alone loses nothing (the page cache survives it).
 */
export type FlushPolicy =
  | { readonly mode: 'sync'; readonly mark?: DurableMarkPolicy }
  | { readonly mode: 'async'; readonly intervalMs: number };

/** Whether a sync-mode append waits for the durable mark's fdatasync too (see FlushPolicy). */
export type DurableMarkPolicy = 'ordered' | 'lagging';

/** The mark a policy runs with: its own, 'ordered' when a sync policy names none, null for async. */
export function durableMarkOf(flush: FlushPolicy): DurableMarkPolicy | null {
  return flush.mode === 'sync' ? (flush.mark ?? 'ordered') : null;
}

export interface OpenLogOptions {
  readonly dir: string;
  readonly fs: FileSystem;
  /** A segment is sealed and a new one started once it would pass this size. */
  readonly segmentBytes?: number;
  readonly flush?: FlushPolicy;
  /** Largest payload accepted; larger appends reject with RecordTooLargeError. */
  readonly payloadBytesMax?: number;
  /** Bytes written but not yet durable beyond which appends reject with AppendBacklogError. */
  readonly pendingBytesMax?: number;
  /** Appends waiting for their group's fdatasync beyond which appends reject with AppendBacklogError. */
  readonly pendingAppendsMax?: number;
  /** Entries returned by one entries() call at most, whatever the byte budget. */
  readonly readEntriesMax?: number;
  /**
   * Zeros written ahead of the active segment's end, this many bytes at a time (default
   * 1 MiB; 0 turns it off): a group's fdatasync then overwrites allocated blocks instead of
   * growing the file. Recovery treats zeros after the last record as a clean end.
   */
  readonly preallocateBytes?: number;
  /** Timers of async flush and group commit (default realScheduler; the simulator passes its own). */
  readonly scheduler?: Scheduler;
  /**
   * What recovery does with damage that is not a torn tail (a bad record with good ones after
   * it, a hole, a missing or unreadable segment). 'refuse' (the default): open rejects with
   * CorruptRecordError or MissingSegmentError and changes nothing. 'truncate': sealed segments
   * are verified record by record too (those below `restorePoint` excepted), and the log is cut just before the first damaged
   * record, everything from there on discarded and listed in `recovery.damage`; the caller
   * must then get the discarded entries back from elsewhere (a node: from its leader, not
   * voting until it has them, since `recovery.lostEntries` is set).
   */
  readonly onDamage?: 'refuse' | 'truncate';
  /**
   * The position the caller restores its state from (a node: its newest snapshot), so that
   * entries at or below it are not replayed. With `onDamage: 'truncate'`, sealed segments
   * wholly at or below it are then opened through their indexes without reading their
   * records (as 'refuse' opens every sealed segment), so open costs the same whatever the
   * history below the point; the segments after it are verified record by record as before.
   * Only if the recovered log does not hold the point (its entry is missing or has another
   * term) is every segment verified after all, exactly as without this option. A damaged
   * record in a deferred segment is found when it is read (see `onReadDamage`).
   */
  readonly restorePoint?: LogPosition;
  /**
   * Told when a read of the log finds a record that fails its checks (the read then throws
   * that CorruptRecordError: never wrong bytes). A sealed segment found damaged this way loses
   * its index file, so the next open reads it whole to rebuild the index and finds the damage
   * there: with 'truncate' it is cut as at any open. For a log line or a metric.
   */
  readonly onReadDamage?: (error: CorruptRecordError) => void;
}

export const MiB = 1024 * 1024;
export const LOG_DEFAULTS = {
  segmentBytes: 64 * MiB,
  payloadBytesMax: 64 * MiB,
  pendingBytesMax: 256 * MiB,
  pendingAppendsMax: 65_536,
  readEntriesMax: 65_536,
  // On: 1 MiB ahead measured faster with preallocation than without in interleaved bench
  // runs (see docs/storage.md, "Preallocation"). 0 turns it off.
  preallocateBytes: 1 * MiB,
} as const;
