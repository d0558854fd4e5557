import { Metadata, status, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import type { Message, NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import type { DecodedPeerBatch, StreamSummary } from './peer-codec.js';
import { PeerMetadataKey } from './peer-service.js';

export interface PeerListenerOptions {
  readonly self: NodeId;
  readonly clusterId: string;
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly onMessage: (message: Message) => void;
  readonly log: (line: string) => void;
}

/** A batch as the listener gets it: decoded, or the reason it did not decode (peer-service.ts). */
type PeerStreamCall = ServerReadableStream<DecodedPeerBatch | MalformedMessageError, StreamSummary>;

interface OpenStream {
  readonly call: PeerStreamCall;
  readonly finish: sendUnaryData<StreamSummary>;
}

/**
 * The receiving half: accepts one stream per known peer of our cluster and hands every
 * message to onMessage in arrival order. A newer stream from the same peer replaces the
 * older one (the peer redialled; the old one is half-dead), so one peer's messages never
 * arrive interleaved from two streams.
 */
export class PeerListener {
  readonly #options: PeerListenerOptions;
  readonly #open = new Map<NodeId, OpenStream>();
  #closing = false;

  constructor(options: PeerListenerOptions) {
    this.#options = options;
  }

  /** The gRPC handler for Peer/Stream. */
  readonly handle = (call: PeerStreamCall, finish: sendUnaryData<StreamSummary>): void => {
    const refusal = this.#closing ? 'the node is shutting down' : this.#checkStream(call.metadata);
    if (refusal !== null) {
      finish({ code: this.#closing ? status.UNAVAILABLE : status.FAILED_PRECONDITION, details: refusal });
      if (!this.#closing) this.#options.log(`refused a peer stream from ${call.getPeer()}: ${refusal}`);
      return;
    }
    const from = firstValue(call.metadata, PeerMetadataKey.from) as NodeId;
    this.#open.get(from)?.finish({ code: status.ABORTED, details: 'replaced by a newer stream from the same peer' });
    const stream: OpenStream = { call, finish };
    this.#open.set(from, stream);
    call.sendMetadata(new Metadata());
    let received = 0;
    let ended = false;
    const end = (result: Parameters<sendUnaryData<StreamSummary>>[0], summary?: StreamSummary): void => {
      if (ended) return;
      ended = true;
      if (this.#open.get(from) === stream) this.#open.delete(from);
      finish(result, summary);
    };
    call.on('data', (batch: DecodedPeerBatch | MalformedMessageError) => {
      if (ended) return;
      if (batch instanceof MalformedMessageError) {
        this.#options.log(`ended the peer stream from ${from}: ${batch.message}`);
        end({ code: status.INVALID_ARGUMENT, details: batch.message });
        return;
      }
      const mismatch = this.#checkBatch(batch, from);
      if (mismatch !== null) {
        end({ code: status.FAILED_PRECONDITION, details: mismatch });
        return;
      }
      received += batch.messages.length;
      for (const message of batch.messages) this.#options.onMessage(message);
    });
    call.on('end', () => end(null, { receivedMessages: received }));
    call.on('error', () => end({ code: status.CANCELLED, details: 'stream failed' }));
    call.on('cancelled', () => end({ code: status.CANCELLED, details: 'cancelled by the peer' }));
  };

  /** Refuses new streams and ends the open ones with UNAVAILABLE, so peers redial later. */
  close(): void {
    this.#closing = true;
    for (const { finish } of this.#open.values()) finish({ code: status.UNAVAILABLE, details: 'the node is shutting down' });
    this.#open.clear();
  }

  #checkStream(metadata: Metadata): string | null {
    const clusterId = firstValue(metadata, PeerMetadataKey.clusterId);
    const from = firstValue(metadata, PeerMetadataKey.from);
    const to = firstValue(metadata, PeerMetadataKey.to);
    if (clusterId !== this.#options.clusterId) return `cluster "${clusterId ?? ''}" is not this node's cluster "${this.#options.clusterId}"`;
    if (from === undefined || !this.#options.peers.has(from as NodeId)) return `node "${from ?? ''}" is not a member of this cluster`;
    if (to !== this.#options.self) return `this is node ${this.#options.self}, not "${to ?? ''}": check the peer addresses`;
    return null;
  }

  #checkBatch(batch: DecodedPeerBatch, from: NodeId): string | null {
    if (batch.clusterId !== this.#options.clusterId) return `batch for cluster "${batch.clusterId}" on a stream of cluster "${this.#options.clusterId}"`;
    if (batch.from !== from) return `batch from "${batch.from}" on the stream of ${from}`;
    if (batch.to !== this.#options.self) return `batch for "${batch.to}" received by ${this.#options.self}`;
    return null;
  }
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
