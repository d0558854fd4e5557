import type { ServiceDefinition } from '@grpc/grpc-js';
import { MalformedMessageError } from './errors.js';
import type { DecodedPeerBatch, PeerCodec, StreamSummary } from './peer-codec.js';

/** gRPC path of peer.proto's only method. */
export const PEER_STREAM_PATH = '/quorumlog.peer.Peer/Stream';

/** Call metadata the sender opens a stream with; checked before the stream is accepted. */
export const PeerMetadataKey = {
  clusterId: 'quorumlog-cluster-id',
  from: 'quorumlog-from',
  to: 'quorumlog-to',
  /** The sender's data directory (made once, when the directory was first used). */
  incarnation: 'quorumlog-incarnation',
  /** The sender's process (made at each start): tells a redial from another process. */
  boot: 'quorumlog-boot',
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
 * The hand-made service definition (no proto-loader). The sender writes batches it has
 * already encoded (Buffers); the receiver decodes them here into Raft messages.
 */
export function peerServiceDefinition(codec: PeerCodec): ServiceDefinition<{ stream: unknown }> {
  return {
    stream: {
      path: PEER_STREAM_PATH,
      requestStream: true,
      responseStream: false,
      requestSerialize: (batch: Buffer): Buffer => batch,
      // A throw here would end the stream with a bare INTERNAL; the listener answers
      // INVALID_ARGUMENT with the reason instead.
      requestDeserialize: (bytes: Buffer): DecodedPeerBatch | MalformedMessageError => {
        try {
          return codec.decodeBatch(bytes);
        } catch (error) {
          if (error instanceof MalformedMessageError) return error;
          throw error;
        }
      },
      responseSerialize: (summary: StreamSummary): Buffer => codec.encodeSummary(summary),
      responseDeserialize: (bytes: Buffer): StreamSummary => codec.decodeSummary(bytes),
    },
  };
}
