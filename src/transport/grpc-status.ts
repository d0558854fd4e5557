import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { NodeError, NodeErrorCode, NotLeaderError } from './node-errors.js';

/** Trailing metadata keys that travel with an error status. */
export const ErrorMetadataKey = {
  /** The node's error code (NodeErrorCode), so a client can tell "not the leader" from other UNAVAILABLEs. */
  errorCode: 'quorumlog-error',
  /** On notLeader, when a leader is known: its node id. */
  leaderId: 'leader-id',
  /** On notLeader, when a leader is known: its client address (host:port), where the client should go. */
  leaderAddress: 'leader-address',
} as const;

export type GrpcErrorStatus = Pick<StatusObject, 'code' | 'details' | 'metadata'>;

const DETAILS_MAX_CHARS = 500;

/**
 * The one place that maps a failure to a gRPC status. Node errors keep their message;
 * anything else is INTERNAL with its first line of message, never a stack.
 */
export function toGrpcStatus(error: unknown): GrpcErrorStatus {
  const metadata = new Metadata();
  if (!(error instanceof NodeError)) {
    metadata.set(ErrorMetadataKey.errorCode, NodeErrorCode.internal);
    return { code: status.INTERNAL, details: `internal error: ${readableMessage(error)}`, metadata };
  }
  metadata.set(ErrorMetadataKey.errorCode, error.code);
  const details = readableMessage(error);
  switch (error.code) {
    case NodeErrorCode.notLeader: {
      const leader = error instanceof NotLeaderError ? error.leader : null;
      if (leader !== null) {
        metadata.set(ErrorMetadataKey.leaderId, leader.id);
        metadata.set(ErrorMetadataKey.leaderAddress, leader.clientAddress);
      }
      return { code: status.UNAVAILABLE, details, metadata };
    }
    case NodeErrorCode.invalidArgument:
      return { code: status.INVALID_ARGUMENT, details, metadata };
    case NodeErrorCode.notFound:
      return { code: status.NOT_FOUND, details, metadata };
    case NodeErrorCode.resourceExhausted:
      return { code: status.RESOURCE_EXHAUSTED, details, metadata };
    case NodeErrorCode.deadlineExceeded:
      return { code: status.DEADLINE_EXCEEDED, details, metadata };
    case NodeErrorCode.unavailable:
      return { code: status.UNAVAILABLE, details, metadata };
    case NodeErrorCode.internal:
      return { code: status.INTERNAL, details: `internal error: ${details}`, metadata };
    case NodeErrorCode.alreadyExists:
      return { code: status.ALREADY_EXISTS, details, metadata };
    case NodeErrorCode.unknownProducer:
    case NodeErrorCode.outOfOrderSequence:
    case NodeErrorCode.duplicateTooOld:
    case NodeErrorCode.failedPrecondition:
    case NodeErrorCode.transactionDecided:
      return { code: status.FAILED_PRECONDITION, details, metadata };
    case NodeErrorCode.unimplemented:
      return { code: status.UNIMPLEMENTED, details, metadata };
  }
}

function readableMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const firstLine = raw.split('\n', 1)[0] ?? '';
  const trimmed = firstLine.length > DETAILS_MAX_CHARS ? `${firstLine.slice(0, DETAILS_MAX_CHARS)}...` : firstLine;
  return trimmed === '' ? 'no message' : trimmed;
}
