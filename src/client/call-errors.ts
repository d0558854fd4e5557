/**
 * How a failed gRPC call reads to the client library: whether it certainly never left,
 * whether a stream may be reopened, and which typed error (errors.ts) it is.
 */

import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorMetadataKey } from '../transport/index.js';
import {
  AlreadyExistsError,
  DuplicateTooOldError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  OutOfOrderSequenceError,
  ResourceExhaustedError,
  TransactionDecidedError,
  UnavailableError,
  UnknownProducerError,
  type QuorumlogClientError,
} from './errors.js';

/** How a request may be retried: 'idempotent' always; 'once' only when it certainly was not sent. */
export type Delivery = 'idempotent' | 'once';

/**
 * A transport failure (no node error code) that says no connection was made: the request
 * never left. Anything else may have reached the node.
 */
export function neverSent(error: ServiceError, nodeCode: string | undefined): boolean {
  return nodeCode === undefined && /No connection established|ECONNREFUSED/.test(error.details);
}

/**
 * The call failed below the node (no connection, a connection dropped or reset, no answer
 * in time), not with an answer of the node's own: every node answer carries its error code.
 */
export function failedBelowNode(error: ServiceError): boolean {
  return firstValue(error.metadata, ErrorMetadataKey.errorCode) === undefined && isRetriable(error);
}

/** grpc-js's words for an HTTP/2 stream reset by the peer, which it reports as INTERNAL. */
export function isStreamReset(text: string): boolean {
  return /RST_STREAM|Received RST/.test(text);
}

/** A stream that broke this way may be opened again (here or at another broker). */
export function isRetriable(error: ServiceError): boolean {
  return (
    error.code === status.UNAVAILABLE ||
    error.code === status.CANCELLED ||
    error.code === status.DEADLINE_EXCEEDED ||
    (error.code === status.INTERNAL && isStreamReset(error.details))
  );
}

/** An operation's name as words for messages: 'describeGroup' -> 'describe group'. */
export function operationWords(operation: string): string {
  return operation.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/**
 * grpc-js's own words when a message is over a size limit (no node error code with them):
 * the node's receive limit, or this client's send limit. Said with the sizes and whose limit.
 */
function sizeLimitDetails(details: string): string | null {
  const received = /Received message larger than max \((\d+) vs\.? (\d+)\)/.exec(details);
  if (received !== null) return `the request is ${received[1]} bytes, above the ${received[2]} bytes the node takes in one message (its --max-message-bytes)`;
  const sent = /Attempted to send message with a size larger than (\d+)/.exec(details);
  if (sent !== null) return `the request is larger than the ${sent[1]} bytes this client sends in one message (maxMessageBytes)`;
  return null;
}

/** A gRPC failure as the typed error of errors.ts. */
export function toClientError(error: ServiceError, rawOperation: string, delivery: Delivery): QuorumlogClientError {
  const operation = operationWords(rawOperation);
  const nodeCode = firstValue(error.metadata, ErrorMetadataKey.errorCode);
  const sizeLimit = error.code === status.RESOURCE_EXHAUSTED && nodeCode === undefined ? sizeLimitDetails(error.details || error.message) : null;
  const details = sizeLimit ?? (error.details || error.message);
  const options = { cause: error };
  switch (error.code) {
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(`${operation}: ${details}`, options);
    case status.NOT_FOUND:
      return new NotFoundError(`${operation}: ${details}`, options);
    case status.RESOURCE_EXHAUSTED:
      // grpc-js's own size check, before anything left: a retry would be refused the same way.
      if (isLocalSizeRefusal(error)) return new InvalidArgumentError(`${operation}: the request is over the client's gRPC message limit (${details})`, options);
      return new ResourceExhaustedError(`${operation}: ${details}`, options);
    case status.ALREADY_EXISTS:
      return new AlreadyExistsError(`${operation}: ${details}`, options);
    case status.FAILED_PRECONDITION: {
      if (nodeCode === 'unknownProducer') return new UnknownProducerError(`${operation}: ${details}`, options);
      if (nodeCode === 'outOfOrderSequence') return new OutOfOrderSequenceError(`${operation}: ${details}`, options);
      if (nodeCode === 'duplicateTooOld') return new DuplicateTooOldError(`${operation}: ${details}`, options);
      if (nodeCode === 'transactionDecided') return new TransactionDecidedError(`${operation}: ${details}`, options);
      return new FailedPreconditionError(`${operation}: ${details}`, options);
    }
    case status.DEADLINE_EXCEEDED:
    case status.UNAVAILABLE:
    case status.CANCELLED:
      if (delivery === 'once') {
        return new OutcomeUnknownError(`${operation}: the request reached a node but no answer came back (${details}); it may or may not have been committed`, options);
      }
      return new UnavailableError(`${operation}: ${details}`, options);
    default:
      return new InternalError(`${operation}: ${details}`, options);
  }
}

/** grpc-js refused to send a message over the channel's limit (no node answered: no node code). */
function isLocalSizeRefusal(error: ServiceError): boolean {
  return firstValue(error.metadata, ErrorMetadataKey.errorCode) === undefined && /^Attempted to send message with a size larger than/.test(error.details);
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
