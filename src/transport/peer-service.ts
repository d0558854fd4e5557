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
} as const;


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
