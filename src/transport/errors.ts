import { ErrorCode } from '../../errors/index.js';

/**
 * Failures of the transport itself (as opposed to the node errors it carries to clients,
 * which live in src/transport/node-errors.ts and are mapped by grpc-status.ts). Their codes
 * are the product's one set (errors/).
 */
export abstract class TransportError extends Error {
  abstract readonly code: ErrorCode;
}

export class ListenError extends TransportError {
  override readonly name = 'ListenError';
  readonly code = ErrorCode.listenFailed;
  constructor(
    readonly address: string,
    options?: ErrorOptions,
  ) {
    super(`cannot listen on ${address}${causeSuffix(options)}`, options);
  }
}

/**
 * TLS files that could not be read, or whose certificate, key and CA do not make a usable
 * secure context. The message names the file and the reason, never the file's content.
 */
export class TlsMaterialError extends TransportError {
  override readonly name = 'TlsMaterialError';
  readonly code = ErrorCode.tlsMaterial;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export class MalformedMessageError extends TransportError {
  override readonly name = 'MalformedMessageError';
  readonly code = ErrorCode.malformedMessage;
}

/**
 * Our peers have refused us for a while because another live process, with another data
 * directory, already speaks for our node id. This process must stop: it is the newcomer.
 */
export class DuplicateNodeIdError extends TransportError {
  override readonly name = 'DuplicateNodeIdError';
  readonly code = ErrorCode.duplicateNodeId;
  constructor(
    readonly nodeId: string,
    /** The refusing peer's words, naming the process it keeps. */
    readonly refusal: string,
    options?: ErrorOptions,
  ) {
    super(`another live process is node ${nodeId}; its peers refuse this one: ${refusal}`, options);
  }
}

/**
 * Why a snapshot did not reach a peer:
 * refused: the peer will not take it from us as things are (another cluster, not a member,
 *   no snapshot support, a duplicate of our id); retrying at once will not help.
 * failed: every attempt broke (peer down, the stream cut, a corrupted chunk, the peer's copy
 *   failed to write or verify).
 * superseded: a sendSnapshot of another snapshot (or another term) to the same peer replaced it.
 * closed: the transport closed during the transfer.
 */
export const SnapshotShipmentFailure = {
  refused: 'refused',
  failed: 'failed',
  superseded: 'superseded',
  closed: 'closed',
} as const;
export type SnapshotShipmentFailure = (typeof SnapshotShipmentFailure)[keyof typeof SnapshotShipmentFailure];

/**
 * A snapshot could not be delivered; the node tells its core, which sends it again later.
 * `cause` is the last attempt's gRPC error, when there was one.
 */
export class SnapshotShipmentError extends TransportError {
  override readonly name = 'SnapshotShipmentError';
  readonly code = ErrorCode.unavailable;
  constructor(
    readonly peer: string,
    readonly failure: SnapshotShipmentFailure,
    /** Calls made for this transfer (0 when it never started). */
    readonly attempts: number,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`snapshot to ${peer} ${failure === 'failed' ? `failed after ${attempts} attempt${attempts === 1 ? '' : 's'}` : failure}: ${detail}`, options);
  }
}

/**
 * grpc-js reports a failed bind as "No address added out of total 1 resolved errors:
 * [listen EADDRINUSE: ...]"; the system's error code says it in words a user acts on.
 */
function causeSuffix(options: ErrorOptions | undefined): string {
  const cause = options?.cause;
  if (!(cause instanceof Error)) return '';
  if (/EADDRINUSE/.test(cause.message)) return ': the address is already in use (another process listens on that port)';
  if (/EADDRNOTAVAIL/.test(cause.message)) return ': that address is not one of this machine\'s';
  if (/EACCES/.test(cause.message)) return ': permission denied (ports below 1024 need privileges)';
  return `: ${cause.message}`;
}
