import { ErrorCode } from '../../errors/index.js';
import type { NodeId } from '../../raft/index.js';

/**
 * Failures a client of a node may branch on, defined in the wire layer that carries them
 * (src/node raises them, the client library reads their codes). Each carries one of the
 * product's error codes (errors/); the transport maps codes to gRPC statuses in one table
 * (src/transport/grpc-status.ts) and sends the code beside the status.
 */
export abstract class NodeError extends Error {
  abstract readonly code: ErrorCode;
}

/** This node cannot take writes; `leader` is who can, when known. */
export class NotLeaderError extends NodeError {
  override readonly name = 'NotLeaderError';
  readonly code = ErrorCode.notLeader;
  constructor(
    readonly leader: { readonly id: NodeId; readonly clientAddress: string } | null,
    options?: ErrorOptions,
  ) {
    super(leader === null ? 'no leader is known right now; retry shortly' : `not the leader; the leader is ${leader.id} at ${leader.clientAddress}`, options);
  }
}

export class InvalidArgumentError extends NodeError {
  override readonly name = 'InvalidArgumentError';
  readonly code = ErrorCode.invalidArgument;
}

export class NotFoundError extends NodeError {
  override readonly name = 'NotFoundError';
  readonly code = ErrorCode.notFound;
}

/** An offset below what retention keeps: the reader should go on from `earliestOffset`. */
export class OutOfRangeError extends NodeError {
  override readonly name = 'OutOfRangeError';
  readonly code = ErrorCode.outOfRange;

  constructor(
    message: string,
    readonly earliestOffset: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A bounded queue is full; the caller should back off and retry. */
export class ResourceExhaustedError extends NodeError {
  override readonly name = 'ResourceExhaustedError';
  readonly code = ErrorCode.resourceExhausted;
}

/** Waited too long for a commit. The write may still commit: its outcome is unknown. */
export class DeadlineExceededError extends NodeError {
  override readonly name = 'DeadlineExceededError';
  readonly code = ErrorCode.deadlineExceeded;
}

/** The node is shutting down, or lost leadership while a write waited: retry elsewhere. */
export class UnavailableError extends NodeError {
  override readonly name = 'UnavailableError';
  readonly code = ErrorCode.unavailable;
}

/** Storage failed underneath the node; it stops serving writes. */
export class InternalError extends NodeError {
  override readonly name = 'InternalError';
  readonly code = ErrorCode.internal;
}

/** The codes the broker's state machine refuses a command with that have no class of their own here. */
export type BrokerRefusalCode =
  | typeof ErrorCode.alreadyExists
  | typeof ErrorCode.unknownProducer
  | typeof ErrorCode.outOfOrderSequence
  | typeof ErrorCode.duplicateTooOld
  | typeof ErrorCode.transactionDecided
  | typeof ErrorCode.failedPrecondition;

/** The broker's state machine refused a command for a reason a producer branches on. */
export class BrokerRefusedError extends NodeError {
  override readonly name = 'BrokerRefusedError';
  constructor(
    readonly code: BrokerRefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class UnimplementedError extends NodeError {
  override readonly name = 'UnimplementedError';
  readonly code = ErrorCode.unimplemented;
}

/** The client proved who it is, but no ACL rule lets it do this; the message names the user, the operation and the resource. */
export class PermissionDeniedError extends NodeError {
  override readonly name = 'PermissionDeniedError';
  readonly code = ErrorCode.permissionDenied;
}

/** The client did not prove who it is; the message names the user, if one was given, and never a password. */
export class UnauthenticatedError extends NodeError {
  override readonly name = 'UnauthenticatedError';
  readonly code = ErrorCode.unauthenticated;
}

/**
 * A membership change the leader refused (raft's ConfChangeRefusal names why: not caught up,
 * would lose quorum without --force, already a member...). The message says why and what to do.
 */
export class MembershipRefusedError extends NodeError {
  override readonly name = 'MembershipRefusedError';
  readonly code = ErrorCode.failedPrecondition;
  constructor(
    readonly reason: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
