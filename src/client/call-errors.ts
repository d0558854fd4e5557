/**
 * How a failed gRPC call reads to the client library: its error code, whether a stream
 * may be reopened, and which typed error (errors.ts) it is. Every answer of a node carries
 * its code (ErrorCode) in the trailers, and the class is picked from that code; the gRPC
 * status counts only when no code came (a proxy, a foreign server, or grpc-js itself).
 * Nothing here reads message text.
 */

import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '../../errors/index.js';
import { codeOfGrpcStatus, ErrorMetadataKey, readErrorCode } from '../transport/index.js';
import {
  AlreadyExistsError,
  DataLossError,
  DuplicateTooOldError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  OutOfOrderSequenceError,
  OutOfRangeError,
  ResourceExhaustedError,
  TransactionDecidedError,
  UnavailableError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnknownProducerError,
  type QuorumlogClientError,
} from './errors.js';

/** How a request may be retried: 'idempotent' always; 'once' only when it certainly was not sent. */
export type Delivery = 'idempotent' | 'once';

/**
 * The statuses grpc-js fails a call with when the connection or the stream broke under it:
 * no connection, a dropped one, a cancelled or timed-out call, and a reset HTTP/2 stream
 * (which grpc-js reports as INTERNAL).
 */
const BROKEN_CALL_STATUSES: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.CANCELLED, status.DEADLINE_EXCEEDED, status.INTERNAL]);

/** Codes after which the same call may succeed later, here or at another broker. */
const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set([ErrorCode.notLeader, ErrorCode.unavailable, ErrorCode.deadlineExceeded]);

/**
 * The call failed below the node (no connection, a connection dropped or reset, no answer
 * in time), not with an answer of the node's own: every node answer carries its error code.
 */
export function failedBelowNode(error: ServiceError): boolean {
  return readErrorCode(error.metadata) === undefined && BROKEN_CALL_STATUSES.has(error.code);
}

/**
 * The code a failure stands for: the node's own; for a call that broke below any node,
 * deadlineExceeded or unavailable; otherwise the code the gRPC status stands for.
 */
export function failureCode(error: ServiceError): ErrorCode {
  const nodeCode = readErrorCode(error.metadata);
  if (nodeCode !== undefined) return nodeCode;
  if (BROKEN_CALL_STATUSES.has(error.code)) return error.code === status.DEADLINE_EXCEEDED ? ErrorCode.deadlineExceeded : ErrorCode.unavailable;
  return codeOfGrpcStatus(error.code);
}

/** Codes with which a node that was reached refuses this client (its credentials, or its rights). */
const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set([ErrorCode.unauthenticated, ErrorCode.permissionDenied]);

/** The node was reached and refused this client, as opposed to not being reached at all. */
export function refusedClient(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && 'metadata' in error && REFUSAL_CODES.has(failureCode(error as ServiceError));
}

/** A stream that broke this way may be opened again (here or at another broker). */
export function isRetriable(error: ServiceError): boolean {
  return TRANSIENT_CODES.has(failureCode(error));
}

/** An operation's name as words for messages: 'describeGroup' -> 'describe group'. */
export function operationWords(operation: string): string {
  return operation.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

type ClientErrorClass = new (message: string, options?: ErrorOptions) => QuorumlogClientError;

/** The class of each code a node answers with that the client passes on as it is. */
const CLASS_BY_NODE_CODE: ReadonlyMap<ErrorCode, ClientErrorClass> = new Map<ErrorCode, ClientErrorClass>([
  [ErrorCode.invalidArgument, InvalidArgumentError],
  [ErrorCode.notFound, NotFoundError],
  [ErrorCode.alreadyExists, AlreadyExistsError],
  [ErrorCode.resourceExhausted, ResourceExhaustedError],
  [ErrorCode.failedPrecondition, FailedPreconditionError],
  [ErrorCode.unknownProducer, UnknownProducerError],
  [ErrorCode.outOfOrderSequence, OutOfOrderSequenceError],
  [ErrorCode.duplicateTooOld, DuplicateTooOldError],
  [ErrorCode.transactionDecided, TransactionDecidedError],
  [ErrorCode.internal, InternalError],
  [ErrorCode.unauthenticated, UnauthenticatedError],
  [ErrorCode.permissionDenied, PermissionDeniedError],
]);

/**
 * A gRPC failure as the typed error of errors.ts, by its code (failureCode). A write sent
 * 'once' whose answer never came is OutcomeUnknownError; a code no node answers with (or
 * one this client does not know) is InternalError.
 */
export function toClientError(error: ServiceError, rawOperation: string, delivery: Delivery): QuorumlogClientError {
  const operation = operationWords(rawOperation);
  const details = error.details || error.message;
  const options = { cause: error };
  const code = failureCode(error);
  switch (code) {
    case ErrorCode.notLeader:
      // Nothing was proposed, whatever the delivery.
      return new UnavailableError(`${operation}: ${details}`, options);
    case ErrorCode.unavailable:
    case ErrorCode.deadlineExceeded:
      if (delivery === 'once') {
        return new OutcomeUnknownError(`${operation}: the request reached a node but no answer came back (${details}); it may or may not have been committed`, options);
      }
      return new UnavailableError(`${operation}: ${details}`, options);
    case ErrorCode.corruptRecord:
    case ErrorCode.missingSegment:
    case ErrorCode.corruptHardState:
    case ErrorCode.malformedRecord:
      return new DataLossError(code, `${operation}: ${details}`, options);
    case ErrorCode.outOfRange: {
      const outOfRange = new OutOfRangeError(`${operation}: ${details}`, options);
      outOfRange.earliestOffset = Number(firstValue(error.metadata, ErrorMetadataKey.earliestOffset) ?? -1);
      return outOfRange;
    }
    default: {
      const ErrorClass = CLASS_BY_NODE_CODE.get(code) ?? InternalError;
      return new ErrorClass(`${operation}: ${details}`, options);
    }
  }
}

export function firstValue(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function describe(error: unknown): string {
  if (error === null || error === undefined) return 'no attempt finished';
  if (typeof error === 'object' && 'details' in error && typeof error.details === 'string' && error.details !== '') return error.details;
  return error instanceof Error ? error.message : String(error);
}
