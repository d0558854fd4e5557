import type { NodeId } from '../../raft/index.js';

/**
 * Failures a client of a node may branch on, defined in the wire layer that carries them
 * (src/node raises them, the client library reads their codes). Each has a literal `code`; the transport maps
 * codes to gRPC statuses in one place (src/transport/grpc-status.ts), so nothing else needs
 * to know about gRPC.
 */
export const NodeErrorCode = {
  notLeader: 'notLeader',
  invalidArgument: 'invalidArgument',
  notFound: 'notFound',
  resourceExhausted: 'resourceExhausted',
  deadlineExceeded: 'deadlineExceeded',
  unavailable: 'unavailable',
  internal: 'internal',
  /** Broker: a topic of that name exists already. */
  alreadyExists: 'alreadyExists',
  /** Broker: the producer id was never granted, or expired; the producer must ask for a new one. */
  unknownProducer: 'unknownProducer',
  /** Broker: a batch's sequence is ahead of the producer's (an earlier batch is missing) or overlaps differently. */
  outOfOrderSequence: 'outOfOrderSequence',
  /** Broker: a retried batch is older than the remembered window; its offsets are lost. */
  duplicateTooOld: 'duplicateTooOld',
  /** Broker: the request is well formed but the state does not allow it (acking a message already acked). */
  failedPrecondition: 'failedPrecondition',
  /** Broker: the transaction was already decided the other way (commit after rollback, rollback after commit). */
  transactionDecided: 'transactionDecided',
  /** This node does not offer the method. */
  unimplemented: 'unimplemented',
} as const;
export type NodeErrorCode = (typeof NodeErrorCode)[keyof typeof NodeErrorCode];

export abstract class NodeError extends Error {
  abstract readonly code: NodeErrorCode;
}

/** This node cannot take writes; `leader` is who can, when known. */
export class NotLeaderError extends NodeError {
  override readonly name = 'NotLeaderError';
  readonly code = NodeErrorCode.notLeader;
  constructor(
    readonly leader: { readonly id: NodeId; readonly clientAddress: string } | null,
    options?: ErrorOptions,
  ) {
    super(leader === null ? 'no leader is known right now; retry shortly' : `not the leader; the leader is ${leader.id} at ${leader.clientAddress}`, options);
  }
}

export class InvalidArgumentError extends NodeError {
  override readonly name = 'InvalidArgumentError';
  readonly code = NodeErrorCode.invalidArgument;
}

export class NotFoundError extends NodeError {
  override readonly name = 'NotFoundError';
  readonly code = NodeErrorCode.notFound;
}

/** A bounded queue is full; the caller should back off and retry. */
export class ResourceExhaustedError extends NodeError {
  override readonly name = 'ResourceExhaustedError';
  readonly code = NodeErrorCode.resourceExhausted;
}

/** Waited too long for a commit. The write may still commit: its outcome is unknown. */
export class DeadlineExceededError extends NodeError {
  override readonly name = 'DeadlineExceededError';
  readonly code = NodeErrorCode.deadlineExceeded;
}

/** The node is shutting down, or lost leadership while a write waited: retry elsewhere. */
export class UnavailableError extends NodeError {
  override readonly name = 'UnavailableError';
  readonly code = NodeErrorCode.unavailable;
}

/** Storage failed underneath the node; it stops serving writes. */
export class InternalError extends NodeError {
  override readonly name = 'InternalError';
  readonly code = NodeErrorCode.internal;
}

/** The broker's state machine refused a command for a reason a producer branches on. */
export class BrokerRefusedError extends NodeError {
  override readonly name = 'BrokerRefusedError';
  constructor(
    readonly code:
      | typeof NodeErrorCode.alreadyExists
      | typeof NodeErrorCode.unknownProducer
      | typeof NodeErrorCode.outOfOrderSequence
      | typeof NodeErrorCode.duplicateTooOld
      | typeof NodeErrorCode.transactionDecided
      | typeof NodeErrorCode.failedPrecondition,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class UnimplementedError extends NodeError {
  override readonly name = 'UnimplementedError';
  readonly code = NodeErrorCode.unimplemented;
}
