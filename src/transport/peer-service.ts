import type { ServiceDefinition } from '@grpc/grpc-js';
import { MalformedMessageError } from './errors.js';
import type { DecodedPeerBatch, PeerCodec, StreamSummary } from './peer-codec.js';
import type { SnapshotCodec, SnapshotProgress, SnapshotUpload } from './snapshot-codec.js';
import type { IncarnationCheck, IncarnationCheckAnswer, IncarnationCheckCodec } from './incarnation-check.js';

/** gRPC paths of peer.proto's methods. */
export const PEER_STREAM_PATH = '/quorumlog.peer.Peer/Stream';
export const PEER_INSTALL_SNAPSHOT_PATH = '/quorumlog.peer.Peer/InstallSnapshot';
export const PEER_CHECK_INCARNATION_PATH = '/quorumlog.peer.Peer/CheckIncarnation';

/** Call metadata the sender opens a stream with; checked before the stream is accepted. */
export const PeerMetadataKey = {
  clusterId: 'quorumlog-cluster-id',
  from: 'quorumlog-from',
  to: 'quorumlog-to',
  /** The sender's data directory (made once, when the directory was first used). */
  incarnation: 'quorumlog-incarnation',
  /** The sender's process (made at each start): tells a redial from another process. */
  boot: 'quorumlog-boot',
  /**
   * Where the sender listens for peers: a receiver whose configuration does not name the
   * sender yet (it lacks the entry that added it) dials it there to answer.
   */
  peerAddress: 'quorumlog-peer-address',
  /** In the trailers of a refused stream: why, as a PeerRefusal, for the sender to act on. */
  refusal: 'quorumlog-refusal',
} as const;

/** Refusals a sender acts on (others it only logs and redials after). */
export const PeerRefusal = {
  /** Another live process, with another data directory, already speaks for the sender's id. */
  duplicateNodeId: 'duplicate-node-id',
} as const;
export type PeerRefusal = (typeof PeerRefusal)[keyof typeof PeerRefusal];


/**
 * The hand-made service definition (no proto-loader). The sender writes messages it has
 * already encoded (Buffers); the receiver decodes them here. A message that does not decode
 * reaches the handler as the MalformedMessageError saying why: a throw here would end the
 * call with a bare INTERNAL; the handlers answer INVALID_ARGUMENT with the reason instead.
 */
export function peerServiceDefinition(codec: PeerCodec, snapshotCodec: SnapshotCodec, incarnationCodec: IncarnationCheckCodec): ServiceDefinition<{ stream: unknown; installSnapshot: unknown; checkIncarnation: unknown }> {
  return {
    stream: {
      path: PEER_STREAM_PATH,
      requestStream: true,
      responseStream: false,
      requestSerialize: (batch: Buffer): Buffer => batch,
      requestDeserialize: (bytes: Buffer): DecodedPeerBatch | MalformedMessageError => malformedAsValue(() => codec.decodeBatch(bytes)),
      responseSerialize: (summary: StreamSummary): Buffer => codec.encodeSummary(summary),
      responseDeserialize: (bytes: Buffer): StreamSummary => codec.decodeSummary(bytes),
    },
    installSnapshot: {
      path: PEER_INSTALL_SNAPSHOT_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: (upload: Buffer): Buffer => upload,
      requestDeserialize: (bytes: Buffer): SnapshotUpload | MalformedMessageError => malformedAsValue(() => snapshotCodec.decodeUpload(bytes)),
      responseSerialize: (progress: SnapshotProgress): Buffer => snapshotCodec.encodeProgress(progress),
      responseDeserialize: (bytes: Buffer): SnapshotProgress => snapshotCodec.decodeProgress(bytes),
    },
    checkIncarnation: {
      path: PEER_CHECK_INCARNATION_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (check: IncarnationCheck): Buffer => incarnationCodec.encodeCheck(check),
      requestDeserialize: (bytes: Buffer): IncarnationCheck | MalformedMessageError => malformedAsValue(() => incarnationCodec.decodeCheck(bytes)),
      responseSerialize: (answer: IncarnationCheckAnswer): Buffer => incarnationCodec.encodeAnswer(answer),
      responseDeserialize: (bytes: Buffer): IncarnationCheckAnswer => incarnationCodec.decodeAnswer(bytes),
    },
  };
}

function malformedAsValue<T>(decode: () => T): T | MalformedMessageError {
  try {
    return decode();
  } catch (error) {
    if (error instanceof MalformedMessageError) return error;
    throw error;
  }
}
