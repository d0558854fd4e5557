/**
 * The one set of error codes of the whole product. Every typed error (storage, transport,
 * broker, node, client) carries one of these as `code`; src/transport/grpc-status.ts maps
 * each to a gRPC status in one table, and a node sends the code beside the status so the
 * client library picks its error class from the code, never from the message text.
 *
 * It lives in storage, the lowest layer that raises errors (storage may import nothing of
 * src/), and imports nothing itself; errors/ passes it on to the layers above, so the wire
 * and the client library name it without reaching into storage.
 */
export const ErrorCode = {
  // What a node answers a client with; each crosses the wire as its code and gRPC status.
  /** The request is malformed or out of range; retrying it will not help. */
  invalidArgument: 'invalidArgument',
  /** The topic, group, transaction or offset named does not exist. */
  notFound: 'notFound',
  /** A topic or group of that name exists already. */
  alreadyExists: 'alreadyExists',
  /** A bounded queue or table is full: back off and retry, or send less. */
  resourceExhausted: 'resourceExhausted',
  /** The request is well formed but the state does not allow it (acking a message already acked, a group on another topic). */
  failedPrecondition: 'failedPrecondition',
  /** This node cannot take writes; the status carries the leader when known. Nothing was proposed. */
  notLeader: 'notLeader',
  /** The node is shutting down, lost leadership while a write waited, or no node could serve the call. */
  unavailable: 'unavailable',
  /** The node waited too long for a commit: the write may still commit. */
  deadlineExceeded: 'deadlineExceeded',
  /** The node failed internally (storage underneath it failed), or answered something not understood. */
  internal: 'internal',
  /** The node does not offer the method. */
  unimplemented: 'unimplemented',
  /** The producer id was never granted, or expired; the producer must ask for a new one. */
  unknownProducer: 'unknownProducer',
  /** A batch's sequence is ahead of the producer's (an earlier batch is missing) or overlaps differently. */
  outOfOrderSequence: 'outOfOrderSequence',
  /** A retried batch is older than the remembered window; its offsets are no longer known. */
  duplicateTooOld: 'duplicateTooOld',
  /** The transaction was already decided the other way (commit after rollback, rollback after commit). */
  transactionDecided: 'transactionDecided',
  /** The offset was deleted by retention; the error carries the earliest offset still kept. */
  outOfRange: 'outOfRange',
  /** The client did not prove who it is (no credentials, a wrong password, password over plaintext); nothing was done. */
  unauthenticated: 'unauthenticated',
  /** The client is authenticated but no ACL rule lets it do this to this topic or group; nothing was done. */
  permissionDenied: 'permissionDenied',

  // Raised by the client library itself.
  /** The request reached a node but no answer came back: a write may or may not have committed. */
  outcomeUnknown: 'outcomeUnknown',
  /** The client, or the commit log, was closed before or during the call. */
  closed: 'closed',
  /** The caller's AbortSignal ended the call. */
  aborted: 'aborted',
  /** The producer took a new id while a batch was unanswered; the batch is not resent under it. */
  producerIdChanged: 'producerIdChanged',
  /** A message was not acknowledged within the producer's deliveryTimeoutMs. */
  deliveryTimeout: 'deliveryTimeout',
  /** The producer's spool is full: the message was neither delivered nor spooled. */
  spoolFull: 'spoolFull',
  /** The producer's spool file is damaged, closed, or held by another live process. */
  spool: 'spool',

  // Raised by storage to the node that owns it.
  /** A record that is not a torn tail failed verification. */
  corruptRecord: 'corruptRecord',
  /** The segments on disk do not form one contiguous run of indexes. */
  missingSegment: 'missingSegment',
  /** Neither slot of the hard-state file is valid. */
  corruptHardState: 'corruptHardState',
  /** An earlier write or fdatasync failed; the log refuses writes until reopened. */
  storageFailed: 'storageFailed',
  /** A file-system call failed (ENOSPC, EIO...). */
  ioFailed: 'ioFailed',
  /** An entry is over the log's record size limit. */
  recordTooLarge: 'recordTooLarge',
  /** Too much is written but not yet durable: wait for earlier appends. */
  appendBacklog: 'appendBacklog',
  /** A pending append was truncated before it became durable. */
  entriesTruncated: 'entriesTruncated',
  /** Another process holds the data directory's lock. */
  directoryLocked: 'directoryLocked',

  // Raised by the transport, the broker and the shared encoding inside a node.
  /** A listener could not bind its address. */
  listenFailed: 'listenFailed',
  /** Bytes from the wire that do not decode to a valid message. */
  malformedMessage: 'malformedMessage',
  /** Bytes from a log entry or a spool record that do not decode to what was written there. */
  malformedRecord: 'malformedRecord',
  /** Another live process speaks for this node id; its peers refuse this one. */
  duplicateNodeId: 'duplicateNodeId',
  /** TLS files that cannot be read or do not form a usable CA, certificate and key. */
  tlsMaterial: 'tlsMaterial',
  /** A member knows another data directory under this node's id: its disk was wiped or replaced, and it stops. */
  dataDirWiped: 'dataDirWiped',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Whether `value` (read from the wire, say) is one of the codes. */
export function isErrorCode(value: string): value is ErrorCode {
  return CODES.has(value);
}
