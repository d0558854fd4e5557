/** The public API of storage/: the durable commit log and the file-system seam. */
export { AssertionError } from './assert.js';
export { CommitLog, openLog, type SegmentSpan } from './commit-log.js';
export type { DurableLog } from './durable-log.js';
export { durableMarkOf, LOG_DEFAULTS, type DurableMarkPolicy, type FlushPolicy, type OpenLogOptions } from './log-options.js';
export {
  AppendBacklogError,
  CorruptHardStateError,
  CorruptRecordError,
  CorruptSnapshotError,
  DirectoryLockedError,
  EntriesTruncatedError,
  MissingSegmentError,
  RecordTooLargeError,
  StorageClosedError,
  StorageError,
  StorageFailedError,
  StorageIoError,
  SnapshotTransferError,
  type RecordFault,
  type SnapshotFault,
} from './errors.js';
export { DURABLE_WRITE_BLOCK_BYTES, durableWriteEnd, OpenMode, writeThenSync, type DirectoryLock, type FileHandle, type FileSystem } from './file-system.js';
export { MemoryFileSystem, type CrashOptions } from './memory-file-system.js';
export { NodeFileSystem } from './node-file-system.js';
export { PowerLossFileSystem } from './power-loss-file-system.js';
export type { DamagePolicy, LogDamage, RecoveryReport } from './recovery.js';
export type { LogPosition } from './state-file.js';
export { realScheduler, type Scheduler, type Timer } from './scheduler.js';
export { CHUNK_BYTES_DEFAULT } from './snapshot-file.js';
export type { SnapshotReader, SnapshotUnit } from './snapshot-reader.js';
export { newestSnapshotPosition, openSnapshotStore, SNAPSHOTS_KEPT, type SnapshotStore, type SnapshotStoreOptions } from './snapshot-store.js';
export type { SnapshotReceiver } from './snapshot-receiver.js';
export type { SnapshotWriter } from './snapshot-writer.js';
