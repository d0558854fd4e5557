import { randomUUID } from 'node:crypto';

import { Client, credentials, Server, ServerCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { Message, NodeId } from '../../raft/index.js';
import { bindServer, shutdownServer } from './grpc-server.js';
import { PeerCodec } from './peer-codec.js';
import { PeerLink } from './peer-link.js';
import { PeerListener } from './peer-listener.js';
import { peerServiceDefinition } from './peer-service.js';
import type { PeerLinkStats, PeerTransport, PeerTransportOptions } from './peer-transport.js';

export const PEER_TRANSPORT_DEFAULTS = {
  /** Per peer. A leader's window of in-flight appends must fit, with room to spare. */
  queueBytesMax: 64 * 1024 * 1024,
  reconnect: { initialMs: 50, maxMs: 2000 },
  /** A dial that gets no answer (peer stopped, packets dropped) is abandoned after this. */
  connectTimeoutMs: 2000,
  /** Pings on an idle connection find a peer that vanished without closing its socket. */
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  /** close() waits this long for streams in progress before cutting them. */
  shutdownGraceMs: 500,
  /**
   * Refused as a duplicate of our id this long without a break, we stop: twice the time a
   * peer keeps a silent claimant's hold (PeerListener), so a restart with a new data
   * directory is never mistaken for a duplicate.
   */
  duplicateFatalAfterMs: 10_000,
  /** An idle link writes an empty batch this often: the peer's proof that we are alive. */
  presenceIntervalMs: 1_000,
} as const;

/** Room for gRPC framing on top of the largest batch we build. */
const RECEIVE_SLACK_BYTES = 64 * 1024;

/**
 * Listens for peers' streams on listenAddress and dials one long-lived stream to every
 * other member. Resolves once the listener is bound; dialling continues in the background.
 */
export async function startPeerTransport(options: PeerTransportOptions): Promise<PeerTransport> {
  if (!(Number.isSafeInteger(options.messageBytesMax) && options.messageBytesMax >= 1024)) {
    throw new RangeError(`messageBytesMax must be an integer of at least 1024 (got ${options.messageBytesMax})`);
  }
  const log = options.log ?? ((): void => {});
  const codec = new PeerCodec();
  const listener = new PeerListener({ self: options.self, clusterId: options.clusterId, peers: options.peers, onMessage: options.onMessage, log });
  const server = new Server({
    'grpc.max_receive_message_length': options.messageBytesMax + RECEIVE_SLACK_BYTES,
    // The listener holds a peer id for the process whose stream is open (PeerListener): a
    // sender whose host vanished must not hold it for grpc-js's default two hours.
    'grpc.keepalive_time_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
  });
  server.addService(peerServiceDefinition(codec), { stream: listener.handle });
  await bindServer(server, options.listenAddress, ServerCredentials.createInsecure());

  const reconnect = options.reconnect ?? PEER_TRANSPORT_DEFAULTS.reconnect;
  const links = new Map<NodeId, PeerLink>();
  const boot = randomUUID();
  let duplicateReported = false;
  for (const [peer, address] of options.peers) {
    if (peer === options.self) continue;
    links.set(
      peer,
      new PeerLink({
        self: options.self,
        peer,
        address,
        clusterId: options.clusterId,
        client: new Client(address, credentials.createInsecure(), peerChannelOptions(options.messageBytesMax, reconnect)),
        codec,
        messageBytesMax: options.messageBytesMax,
        queueBytesMax: options.queueBytesMax ?? PEER_TRANSPORT_DEFAULTS.queueBytesMax,
        reconnect,
        connectTimeoutMs: Math.max(PEER_TRANSPORT_DEFAULTS.connectTimeoutMs, reconnect.maxMs),
        log,
        incarnation: options.incarnation ?? '',
        boot,
        onDuplicateNodeId: (error) => {
          if (duplicateReported) return;
          duplicateReported = true;
          options.onDuplicateNodeId?.(error);
        },
        duplicateFatalAfterMs: PEER_TRANSPORT_DEFAULTS.duplicateFatalAfterMs,
        presenceIntervalMs: PEER_TRANSPORT_DEFAULTS.presenceIntervalMs,
      }),
    );
  }
  return new GrpcPeerTransport(server, listener, links, codec, log);
}

function peerChannelOptions(messageBytesMax: number, reconnect: { readonly initialMs: number; readonly maxMs: number }): ChannelOptions {
  return {
    'grpc.max_send_message_length': messageBytesMax + RECEIVE_SLACK_BYTES,
    'grpc.max_receive_message_length': 1024 * 1024,
    // The channel's own reconnect back-off (default up to 2 minutes) must not outlast ours.
    'grpc.initial_reconnect_backoff_ms': reconnect.initialMs,
    'grpc.max_reconnect_backoff_ms': reconnect.maxMs,
    'grpc.keepalive_time_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    // Each link its own connection, even when several transports live in one process (tests).
    'grpc.use_local_subchannel_pool': 1,
  };
}

type TransportState = 'open' | 'closing';

class GrpcPeerTransport implements PeerTransport {
  #state: TransportState = 'open';
  #closed: Promise<void> | null = null;

  constructor(
    readonly server: Server,
    readonly listener: PeerListener,
    readonly links: ReadonlyMap<NodeId, PeerLink>,
    readonly codec: PeerCodec,
    readonly log: (line: string) => void,
  ) {}

  send(messages: readonly Message[]): void {
    if (this.#state !== 'open') return;
    // Encode each message once, in order, into its peer's queue; then flush each touched
    // peer once, so the messages of one call go out in as few batches as fit.
    let touched: PeerLink | Set<PeerLink> | null = null;
    for (const message of messages) {
      const link = this.links.get(message.to);
      if (link === undefined) {
        this.log(`dropped a ${message.type} for ${message.to}, which is not a peer of ${message.from}`);
        continue;
      }
      link.enqueue(this.codec.encodeMessage(message));
      if (touched === null) touched = link;
      else if (touched !== link) touched = touched instanceof Set ? touched.add(link) : new Set([touched, link]);
    }
    if (touched instanceof Set) for (const link of touched) link.flush();
    else touched?.flush();
  }

  stats(): ReadonlyMap<NodeId, PeerLinkStats> {
    return new Map([...this.links].map(([peer, link]) => [peer, link.stats()]));
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    for (const link of this.links.values()) link.close();
    this.listener.close();
    await shutdownServer(this.server, PEER_TRANSPORT_DEFAULTS.shutdownGraceMs);
  }
}
