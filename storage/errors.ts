import { ErrorCode } from './error-codes.js';

/**
 * Operating conditions storage reports to its caller. Each class is one failure a caller
 * may branch on; `code` is a literal from the product's one set of codes (errors/), so a
 * `switch` over it is exhaustive.
 */

interface CauseOption {
  readonly cause?: unknown;
}

export abstract class StorageError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: CauseOption) {
    super(message, options);
  }
}

/** Why a record failed verification. */
export type RecordFault =
  | 'short-header'
  | 'bad-magic'
  | 'bad-crc'
  | 'short-payload'
  | 'too-large'
  | 'bad-kind'
  | 'wrong-index'
  | 'wrong-term-order';

/**
 * A record that is not a torn tail failed verification: damage in a sealed segment, or a
 * bad record followed by good ones in the last segment, or a read that found garbage.
 */
export class CorruptRecordError extends StorageError {
  override readonly name = 'CorruptRecordError';
  readonly code = ErrorCode.corruptRecord;
  constructor(
    readonly file: string,
    readonly byteOffset: number,
    readonly expectedIndex: number,
    readonly fault: RecordFault,
    options?: CauseOption,
  ) {
    super(`corrupt record in ${file} at byte ${byteOffset} (expected index ${expectedIndex}): ${fault}`, options);
  }
}

/** The segments on disk do not form one contiguous run of indexes. */
export class MissingSegmentError extends StorageError {
  override readonly name = 'MissingSegmentError';
  readonly code = ErrorCode.missingSegment;
  constructor(
    readonly dir: string,
    /** The index the missing segment should start at. */
    readonly expectedFirstIndex: number,
    /** The first index of the segment found instead, or null if none followed. */
    readonly foundFirstIndex: number | null,
    options?: CauseOption,
  ) {
    super(
      `missing segment in ${dir}: expected one starting at index ${expectedFirstIndex}, found ${
        foundFirstIndex === null ? 'none' : `one starting at ${foundFirstIndex}`
      }`,
      options,
    );
  }
}

/** Neither slot of the state file is valid (or the file is gone while segments exist). */
export class CorruptHardStateError extends StorageError {
  override readonly name = 'CorruptHardStateError';
  readonly code = ErrorCode.corruptHardState;
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: CauseOption,
  ) {
    super(`corrupt hard state ${file}: ${reason}`, options);
  }
}

export class StorageClosedError extends StorageError {
  override readonly name = 'StorageClosedError';
  readonly code = ErrorCode.closed;
  constructor(options?: CauseOption) {
    super('the commit log is closed', options);
  }
}

/**
 * An earlier fdatasync or write failed. After a failed fdatasync the kernel may have dropped
 * the dirty pages, so retrying cannot make them durable: the log refuses all further
 * writes until it is reopened (and recovery decides what survived).
 */
export class StorageFailedError extends StorageError {
  override readonly name = 'StorageFailedError';
  readonly code = ErrorCode.storageFailed;
  constructor(options?: CauseOption) {
    super('the commit log failed an earlier write or sync; reopen it', options);
  }
}

/** A file-system call failed (ENOSPC, EIO...). `cause` holds the system error. */
export class StorageIoError extends StorageError {
  override readonly name = 'StorageIoError';
  readonly code = ErrorCode.ioFailed;
  constructor(
    readonly operation: string,
    readonly path: string,
    options?: CauseOption,
  ) {
    super(`${operation} failed on ${path}`, options);
  }
}

export class RecordTooLargeError extends StorageError {
  override readonly name = 'RecordTooLargeError';
  readonly code = ErrorCode.recordTooLarge;
  constructor(
    readonly index: number,
    readonly payloadBytes: number,
    readonly payloadBytesMax: number,
  ) {
    super(`entry ${index} has ${payloadBytes} payload bytes, more than the limit of ${payloadBytesMax}`);
  }
}

/**
 * Too much is written but not yet durable (bytes, or appends waiting in sync mode): the
 * caller must wait for earlier appends before sending more.
 */
export class AppendBacklogError extends StorageError {
  override readonly name = 'AppendBacklogError';
  readonly code = ErrorCode.appendBacklog;
  constructor(
    readonly unit: 'bytes' | 'appends',
    readonly pending: number,
    readonly pendingMax: number,
  ) {
    super(`${pending} ${unit} would be waiting for fdatasync, the limit is ${pendingMax}`);
  }
}

/** A pending append was removed by truncateAfter() before it became durable. */
export class EntriesTruncatedError extends StorageError {
  override readonly name = 'EntriesTruncatedError';
  readonly code = ErrorCode.entriesTruncated;
  constructor(
    readonly lastIndex: number,
    readonly truncatedAfter: number,
  ) {
    super(`entries up to ${lastIndex} were truncated after ${truncatedAfter} before they became durable`);
  }
}

/** Another process (or another open in this one) holds the directory's lock: it owns the data there. */
export class DirectoryLockedError extends StorageError {
  override readonly name = 'DirectoryLockedError';
  readonly code = ErrorCode.directoryLocked;
  constructor(
    readonly dir: string,
    /** The holder's process id as it recorded it, or null when unknown. */
    readonly holderPid: number | null,
    options?: CauseOption,
  ) {
    super(`${dir} is in use by another process (${holderPid === null ? 'pid unknown' : `pid ${holderPid}`})`, options);
  }
}

/** Why a snapshot file, or a unit of one arriving from a leader, failed its checks. */
export type SnapshotFault =
  | 'short-header'
  | 'bad-header'
  | 'bad-crc'
  | 'bad-frame-length'
  | 'bad-end'
  /** The header names another index, term or voters than the file name or the transfer. */
  | 'wrong-meta'
  /** The file is shorter or longer than its header's layout says. */
  | 'wrong-size'
  /** A transfer's unit arrived at another offset than receivedBytes. */
  | 'wrong-offset'
  /** A transfer's bytes end inside a unit. */
  | 'short-unit'
  /** A transfer sent bytes after the end frame. */
  | 'after-end'
  /** finish() of a transfer whose end frame has not arrived. */
  | 'incomplete'
  /**
   * The transfer's partial copy was given up for another snapshot's (another leader's stream
   * began one); nothing of it is kept.
   */
  | 'superseded';

/**
 * A snapshot file failed verification: a bit flip, a cut, a foreign file. Never skipped:
 * when it is the newest snapshot, a node must not start from an older one or from nothing
 * (that would be a silent reset), so this is a clear startup error naming the file.
 * Carries corruptRecord, the code of data on disk that failed its checks.
 */
export class CorruptSnapshotError extends StorageError {
  override readonly name = 'CorruptSnapshotError';
  readonly code = ErrorCode.corruptRecord;
  constructor(
    readonly file: string,
    /** Where in the file the failing unit starts. */
    readonly byteOffset: number,
    readonly fault: SnapshotFault,
    options?: CauseOption,
  ) {
    super(`corrupt snapshot ${file} at byte ${byteOffset}: ${fault}`, options);
  }
}

/**
 * A snapshot unit from a leader was refused (a bad checksum, the wrong offset, an
 * incomplete transfer). What arrived before it is kept: the leader resends from
 * `receivedBytes`. Carries malformedMessage, the code of bytes from the wire that do not
 * decode to what was sent.
 */
export class SnapshotTransferError extends StorageError {
  override readonly name = 'SnapshotTransferError';
  readonly code = ErrorCode.malformedMessage;
  constructor(
    readonly fault: SnapshotFault,
    /** Where the refused unit was to start. */
    readonly byteOffset: number,
    /** Bytes kept: where the leader must resume. */
    readonly receivedBytes: number,
  ) {
    super(`snapshot transfer refused at byte ${byteOffset}: ${fault}; resume from byte ${receivedBytes}`);
  }
}
