import { ErrorCode } from '../../errors/index.js';

/**
 * What a client call can fail with. Each class has a literal `code` from the product's one
 * set (ErrorCode, errors/) to branch on, and keeps the underlying gRPC error (or the last
 * one seen) as `cause`.
 */
export abstract class QuorumlogClientError extends Error {
  abstract readonly code: ErrorCode;
}

/** The request was refused as malformed (by the client or the node); retrying will not help. */
export class InvalidArgumentError extends QuorumlogClientError {
  override readonly name = 'InvalidArgumentError';
  readonly code = ErrorCode.invalidArgument;
}

export class NotFoundError extends QuorumlogClientError {
  override readonly name = 'NotFoundError';
  readonly code = ErrorCode.notFound;
}

/**
 * The offset asked for was deleted by retention: `earliestOffset` is the first one the topic
 * still keeps (read from there, or move the group with `group reset --to-earliest`).
 */
export class OutOfRangeError extends QuorumlogClientError {
  override readonly name = 'OutOfRangeError';
  readonly code = ErrorCode.outOfRange;
  /** -1 when the node did not say (an older node). */
  earliestOffset = -1;
}

/** The node's queue is full (or the request is above its message size limit): back off, or send less. */
export class ResourceExhaustedError extends QuorumlogClientError {
  override readonly name = 'ResourceExhaustedError';
  readonly code = ErrorCode.resourceExhausted;
}

/**
 * The request reached a node but no answer came back (timed out waiting for commit, lost
 * leadership while waiting, or the connection dropped after the request left). A write may
 * or may not have committed; the client does not retry it, because an append is not
 * idempotent at this layer.
 */
export class OutcomeUnknownError extends QuorumlogClientError {
  override readonly name = 'OutcomeUnknownError';
  readonly code = ErrorCode.outcomeUnknown;
}

/** No broker could serve the call within its time budget (all down, or no leader elected). */
export class UnavailableError extends QuorumlogClientError {
  override readonly name = 'UnavailableError';
  readonly code = ErrorCode.unavailable;
}

/** The node failed internally, or answered something this client does not understand. */
export class InternalError extends QuorumlogClientError {
  override readonly name = 'InternalError';
  readonly code = ErrorCode.internal;
}

/**
 * The node's storage found the data asked for damaged or missing (a record failing its
 * checksum, a segment gone): gRPC DATA_LOSS. `code` says which. The node logs it and repairs
 * the damage from its peers at its next start; another replica may serve the read meanwhile.
 */
export class DataLossError extends QuorumlogClientError {
  override readonly name = 'DataLossError';
  constructor(
    readonly code: typeof ErrorCode.corruptRecord | typeof ErrorCode.missingSegment | typeof ErrorCode.corruptHardState | typeof ErrorCode.malformedRecord,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The client was closed before or during the call. */
export class ClientClosedError extends QuorumlogClientError {
  override readonly name = 'ClientClosedError';
  readonly code = ErrorCode.closed;
}

/** A topic of that name exists already. */
export class AlreadyExistsError extends QuorumlogClientError {
  override readonly name = 'AlreadyExistsError';
  readonly code = ErrorCode.alreadyExists;
}

/** The producer id was never granted, or expired after being idle: ask for a new one. */
export class UnknownProducerError extends QuorumlogClientError {
  override readonly name = 'UnknownProducerError';
  readonly code = ErrorCode.unknownProducer;
}

/** A batch's sequence does not follow the producer's last batch on the topic: an earlier batch is missing. */
export class OutOfOrderSequenceError extends QuorumlogClientError {
  override readonly name = 'OutOfOrderSequenceError';
  readonly code = ErrorCode.outOfOrderSequence;
}

/** A retried batch is older than the window the broker remembers: whether it was written is not known from its answer. */
export class DuplicateTooOldError extends QuorumlogClientError {
  override readonly name = 'DuplicateTooOldError';
  readonly code = ErrorCode.duplicateTooOld;
}

/**
 * The producer's id expired (or was unknown) while this message's batch was unanswered, and
 * the producer took a new id. The batch may have been written under the old id by an
 * earlier attempt; resending it under the new one could duplicate it, so it is not resent.
 */
export class ProducerIdChangedError extends QuorumlogClientError {
  override readonly name = 'ProducerIdChangedError';
  readonly code = ErrorCode.producerIdChanged;
}

/** The message was not acknowledged within the producer's deliveryTimeoutMs; it may or may not have been written. */
export class DeliveryTimeoutError extends QuorumlogClientError {
  override readonly name = 'DeliveryTimeoutError';
  readonly code = ErrorCode.deliveryTimeout;
}

/** The producer's spool is full: this message was neither delivered nor spooled. Wait for the cluster to take the spooled ones. */
export class SpoolFullError extends QuorumlogClientError {
  override readonly name = 'SpoolFullError';
  readonly code = ErrorCode.spoolFull;
}

/** The spool file is damaged other than by a torn tail, is closed, or another live process holds it. */
export class SpoolError extends QuorumlogClientError {
  override readonly name = 'SpoolError';
  readonly code = ErrorCode.spool;
}

/** The request is well formed but the state does not allow it: acking a message already acked, a stale delivery, a group on another topic. */
export class FailedPreconditionError extends QuorumlogClientError {
  override readonly name = 'FailedPreconditionError';
  readonly code = ErrorCode.failedPrecondition;
}

/** The transaction was already decided the other way: a commit after its rollback, or a rollback after its commit. Nothing changed. */
export class TransactionDecidedError extends QuorumlogClientError {
  override readonly name = 'TransactionDecidedError';
  readonly code = ErrorCode.transactionDecided;
}

/**
 * The caller's AbortSignal ended the call. A write that had already left (an append, a
 * produce batch in flight) may still be committed; the message says which.
 */
export class AbortedError extends QuorumlogClientError {
  override readonly name = 'AbortedError';
  readonly code = ErrorCode.aborted;
}

/**
 * The node knows who this client is, but no ACL rule lets it do this operation to this
 * topic or group (the message names them). Not retried: nothing was done.
 */
export class PermissionDeniedError extends QuorumlogClientError {
  override readonly name = 'PermissionDeniedError';
  readonly code = ErrorCode.permissionDenied;
}

/**
 * The node refused to serve this client: no credentials where it requires them, an unknown
 * user or wrong password, or a password sent over plaintext. Not retried: nothing was done.
 */
export class UnauthenticatedError extends QuorumlogClientError {
  override readonly name = 'UnauthenticatedError';
  readonly code = ErrorCode.unauthenticated;
}
