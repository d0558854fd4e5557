import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { ErrorCode, isErrorCode } from '../../errors/index.js';
import { NodeError, NotLeaderError, OutOfRangeError } from './node-errors.js';

/** Trailing metadata keys that travel with an error status. */
export const ErrorMetadataKey = {
  /** The error code (ErrorCode) on every error a node's services return: the client picks its error class from it. */
  errorCode: 'quorumlog-error',
  /** On notLeader, when a leader is known: its node id. */
  leaderId: 'leader-id',
  /** On notLeader, when a leader is known: its client address (host:port), where the client should go. */
  leaderAddress: 'leader-address',
  /** On outOfRange: the earliest offset of the topic still kept, in decimal. */
  earliestOffset: 'earliest-offset',
} as const;

export type GrpcErrorStatus = Pick<StatusObject, 'code' | 'details' | 'metadata'>;

const DETAILS_MAX_CHARS = 500;

/**
 * The one table from error codes to gRPC statuses. Total over ErrorCode, so a new code does
 * not compile until it is given a status. The codes that never leave a node or a client
 * (storage, listening, the spool...) have the status gRPC would name them by; what a node
 * sends is decided by toGrpcStatus, which sends a NodeError's code and anything else as
 * internal.
 */
const GRPC_STATUS_BY_CODE: { readonly [C in ErrorCode]: status } = {
  invalidArgument: status.INVALID_ARGUMENT,
  notFound: status.NOT_FOUND,
  alreadyExists: status.ALREADY_EXISTS,
  resourceExhausted: status.RESOURCE_EXHAUSTED,
  failedPrecondition: status.FAILED_PRECONDITION,
  // UNAVAILABLE, with the leader in the trailers when known, so the client goes there.
  notLeader: status.UNAVAILABLE,
  unavailable: status.UNAVAILABLE,
  deadlineExceeded: status.DEADLINE_EXCEEDED,
  internal: status.INTERNAL,
  unimplemented: status.UNIMPLEMENTED,
  unknownProducer: status.FAILED_PRECONDITION,
  outOfOrderSequence: status.FAILED_PRECONDITION,
  duplicateTooOld: status.FAILED_PRECONDITION,
  transactionDecided: status.FAILED_PRECONDITION,
  outOfRange: status.OUT_OF_RANGE,
  unauthenticated: status.UNAUTHENTICATED,
  permissionDenied: status.PERMISSION_DENIED,
  outcomeUnknown: status.DEADLINE_EXCEEDED,
  closed: status.UNAVAILABLE,
  aborted: status.CANCELLED,
  producerIdChanged: status.FAILED_PRECONDITION,
  deliveryTimeout: status.DEADLINE_EXCEEDED,
  spoolFull: status.RESOURCE_EXHAUSTED,
  spool: status.INTERNAL,
  corruptRecord: status.DATA_LOSS,
  missingSegment: status.DATA_LOSS,
  corruptHardState: status.DATA_LOSS,
  storageFailed: status.INTERNAL,
  ioFailed: status.INTERNAL,
  recordTooLarge: status.INVALID_ARGUMENT,
  appendBacklog: status.RESOURCE_EXHAUSTED,
  entriesTruncated: status.UNAVAILABLE,
  directoryLocked: status.FAILED_PRECONDITION,
  listenFailed: status.UNAVAILABLE,
  malformedMessage: status.INVALID_ARGUMENT,
  malformedRecord: status.DATA_LOSS,
  duplicateNodeId: status.FAILED_PRECONDITION,
  tlsMaterial: status.FAILED_PRECONDITION,
  dataDirWiped: status.FAILED_PRECONDITION,
};

/** The gRPC status a code crosses the wire as. */
export function grpcStatusOf(code: ErrorCode): status {
  return GRPC_STATUS_BY_CODE[code];
}

/**
 * The code a status stands for when no code came with it (a proxy or a foreign server):
 * each status the table uses reads as the one code of that status a node answers with
 * (or, for the statuses only local codes use, that code), so the table reads back; any
 * other status is internal. The client treats failures below any node (grpc-js's own
 * UNAVAILABLE, CANCELLED, reset streams) before it comes to this.
 */
export function codeOfGrpcStatus(grpc: status): ErrorCode {
  return CODE_BY_GRPC_STATUS.get(grpc) ?? ErrorCode.internal;
}

const CODE_BY_GRPC_STATUS: ReadonlyMap<status, ErrorCode> = new Map([
  [status.INVALID_ARGUMENT, ErrorCode.invalidArgument],
  [status.NOT_FOUND, ErrorCode.notFound],
  [status.ALREADY_EXISTS, ErrorCode.alreadyExists],
  [status.RESOURCE_EXHAUSTED, ErrorCode.resourceExhausted],
  [status.FAILED_PRECONDITION, ErrorCode.failedPrecondition],
  [status.UNAVAILABLE, ErrorCode.unavailable],
  [status.DEADLINE_EXCEEDED, ErrorCode.deadlineExceeded],
  [status.INTERNAL, ErrorCode.internal],
  [status.UNIMPLEMENTED, ErrorCode.unimplemented],
  [status.CANCELLED, ErrorCode.aborted],
  [status.DATA_LOSS, ErrorCode.corruptRecord],
  [status.OUT_OF_RANGE, ErrorCode.outOfRange],
  [status.UNAUTHENTICATED, ErrorCode.unauthenticated],
  [status.PERMISSION_DENIED, ErrorCode.permissionDenied],
]);

/** The code a node sent in the trailers, or undefined when none came or it is not one of ours. */
export function readErrorCode(metadata: Metadata | undefined): ErrorCode | undefined {
  const value = metadata?.get(ErrorMetadataKey.errorCode)[0];
  return typeof value === 'string' && isErrorCode(value) ? value : undefined;
}

/**
 * The one place that maps a failure to a gRPC status: the table's status, the code in the
 * trailers. Node errors keep their message; anything else is INTERNAL with its first line
 * of message, never a stack.
 */
export function toGrpcStatus(error: unknown): GrpcErrorStatus {
  const metadata = new Metadata();
  // An error of a lower layer that carries one of the product's codes (storage's, such as a
  // record found damaged on read: corruptRecord, DATA_LOSS) crosses with that code.
  const code = codeCarried(error);
  if (!(error instanceof NodeError) && code !== undefined && code !== ErrorCode.internal) {
    metadata.set(ErrorMetadataKey.errorCode, code);
    return { code: grpcStatusOf(code), details: readableMessage(error), metadata };
  }
  if (!(error instanceof NodeError)) {
    metadata.set(ErrorMetadataKey.errorCode, ErrorCode.internal);
    return { code: status.INTERNAL, details: `internal error: ${readableMessage(error)}`, metadata };
  }
  metadata.set(ErrorMetadataKey.errorCode, error.code);
  if (error instanceof OutOfRangeError) metadata.set(ErrorMetadataKey.earliestOffset, String(error.earliestOffset));
  if (error instanceof NotLeaderError && error.leader !== null) {
    metadata.set(ErrorMetadataKey.leaderId, error.leader.id);
    metadata.set(ErrorMetadataKey.leaderAddress, error.leader.clientAddress);
  }
  const details = readableMessage(error);
  return { code: grpcStatusOf(error.code), details: error.code === ErrorCode.internal ? `internal error: ${details}` : details, metadata };
}

function codeCarried(error: unknown): ErrorCode | undefined {
  if (!(error instanceof Error) || !('code' in error)) return undefined;
  return typeof error.code === 'string' && isErrorCode(error.code) ? error.code : undefined;
}

function readableMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const firstLine = raw.split('\n', 1)[0] ?? '';
  const trimmed = firstLine.length > DETAILS_MAX_CHARS ? `${firstLine.slice(0, DETAILS_MAX_CHARS)}...` : firstLine;
  return trimmed === '' ? 'no message' : trimmed;
}
