import { ErrorCode } from '../../errors/index.js';

/**
 * The codes a broker command's application can refuse it with, from the product's one set
 * (errors/). Refusals are results of a deterministic state machine (every replica reaches
 * the same one for the same entry), so each carries only data that came from the log.
 */
export type BrokerRefusalCode =
  | typeof ErrorCode.invalidArgument
  | typeof ErrorCode.notFound
  | typeof ErrorCode.alreadyExists
  | typeof ErrorCode.unknownProducer
  | typeof ErrorCode.outOfOrderSequence
  | typeof ErrorCode.duplicateTooOld
  /** The request is well formed but the state does not allow it (acking a message already acked, a group on another topic). */
  | typeof ErrorCode.failedPrecondition
  /** A bounded table is full (undecided transactions). */
  | typeof ErrorCode.resourceExhausted
  /** A transaction was already decided the other way (commit after rollback, rollback after commit). */
  | typeof ErrorCode.transactionDecided;

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly code: BrokerRefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A log entry whose payload is not a broker command this version understands. */
export class MalformedCommandError extends Error {
  override readonly name = 'MalformedCommandError';
  readonly code = ErrorCode.malformedRecord;
}

/**
 * Bytes that are not a broker snapshot this version can read: an unknown format version,
 * a snapshot cut short or followed by more bytes, a field out of range, or parts that
 * disagree. The file layer's checksum catches damage; this catches the rest.
 */
export class BrokerSnapshotError extends Error {
  override readonly name = 'BrokerSnapshotError';
  readonly code = ErrorCode.malformedRecord;
}
