import { randomUUID } from 'node:crypto';

import { Client, credentials, Server, ServerCredentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { InstallSnapshot, Message, NodeId } from '../../raft/index.js';
import { SnapshotShipmentError } from './errors.js';
import { IncarnationCheckCodec, type IncarnationCheck, type IncarnationCheckAnswer } from './incarnation-check.js';
import { askIncarnation } from './incarnation-call.js';
import { bindServer, shutdownServer } from './grpc-server.js';
import { PeerCodec } from './peer-codec.js';
import { PeerLink } from './peer-link.js';
import { PeerListener } from './peer-listener.js';
import { peerServiceDefinition } from './peer-service.js';
import type { PeerLinkStats, PeerTransport, PeerTransportOptions } from './peer-transport.js';
import { SnapshotCodec } from './snapshot-codec.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { SnapshotSender } from './snapshot-sender.js';
import type { SnapshotSource } from './snapshot-shipping.js';
import { peerChannelCredentials, peerServerCredentials } from './tls-credentials.js';
import { heldBackNote, LogEvent, RepeatGate, SILENT_LOG, type Log } from '../log/index.js';

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
  /** A CheckIncarnation call unanswered this long fails (the node asks again later). */
  incarnationCheckDeadlineMs: 2_000,
} as const;

/** Outgoing snapshot transfers (PeerTransportOptions.snapshotTransfer). */
export const SNAPSHOT_TRANSFER_DEFAULTS = {
  /** Far below any messageBytesMax a node runs with; a read of this size is quick. */
  chunkBytes: 256 * 1024,
  /** Bounds the memory one transfer holds in flight; the receiver acknowledges every half window. */
  windowBytes: 8 * 1024 * 1024,
  attemptsMax: 5,
  retry: { initialMs: 100, maxMs: 2_000 },
  /** Generous: the last wait covers the receiver verifying and publishing the whole file. */
  progressTimeoutMs: 30_000,
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
  const transfer = { ...SNAPSHOT_TRANSFER_DEFAULTS, ...options.snapshotTransfer };
  const chunkBytes = Math.min(transfer.chunkBytes, options.messageBytesMax);
  if (!(Number.isSafeInteger(chunkBytes) && chunkBytes >= 1 && transfer.windowBytes >= 2 * chunkBytes)) {
    throw new RangeError(`snapshotTransfer.windowBytes (${transfer.windowBytes}) must hold two chunks of ${chunkBytes} bytes`);
  }
  const log = options.log ?? SILENT_LOG;
  const codec = new PeerCodec();
  const snapshotCodec = new SnapshotCodec(codec);
  // The listener accepts the peers setPeers() names now: it reads this map, which setPeers keeps.
  const peers = new Map<NodeId, string>();
  const listener = new PeerListener({
    self: options.self,
    clusterId: options.clusterId,
    peers,
    onMessage: options.onMessage,
    log,
    ...(options.recordedIncarnation === undefined ? {} : { recordedIncarnation: options.recordedIncarnation }),
    ...(options.onPeerIncarnation === undefined ? {} : { onClaim: options.onPeerIncarnation }),
    ...(options.admitsStranger === undefined ? {} : { admitsStranger: options.admitsStranger }),
    ...(options.onIncarnationCheck === undefined ? {} : { onIncarnationCheck: options.onIncarnationCheck }),
    requireMemberCertificate: options.tls !== undefined,
  });
  const snapshotReceiver = new SnapshotReceiver({ self: options.self, snapshots: options.snapshots ?? null, listener, log });
  const server = new Server({
    'grpc.max_receive_message_length': options.messageBytesMax + RECEIVE_SLACK_BYTES,
    // The listener holds a peer id for the process whose stream is open (PeerListener): a
    // sender whose host vanished must not hold it for grpc-js's default two hours.
    'grpc.keepalive_time_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': PEER_TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
  });
  const incarnationCodec = new IncarnationCheckCodec();
  server.addService(peerServiceDefinition(codec, snapshotCodec, incarnationCodec), {
    stream: listener.handle,
    installSnapshot: snapshotReceiver.handle,
    checkIncarnation: listener.handleIncarnationCheck,
  });
  await bindServer(server, options.listenAddress, options.tls === undefined ? ServerCredentials.createInsecure() : peerServerCredentials(options.tls));

  const refusedCertificates = new RepeatGate({ intervalMs: 60_000, keysMax: 64, nowMs: Date.now });
  const channelCredentials = (peer: NodeId, address: string): ChannelCredentials => {
    if (options.tls === undefined) return credentials.createInsecure();
    return peerChannelCredentials(options.tls, {
      peer,
      onRefused: (reason) => {
        const heldBack = refusedCertificates.pass(`${peer} ${reason}`);
        if (heldBack !== null) log.warn(`peer ${peer} at ${address}: refused its TLS certificate: ${reason}${heldBackNote(heldBack)}`, { event: LogEvent.peerRefused, peer });
      },
    });
  };
  const reconnect = options.reconnect ?? PEER_TRANSPORT_DEFAULTS.reconnect;
  const boot = randomUUID();
  let duplicateReported = false;
  const advertised = options.advertisedAddress === undefined ? {} : { advertisedAddress: options.advertisedAddress };
  const connect = (peer: NodeId, address: string): PeerConnection => {
    // The Raft stream's channel also carries the rare unary calls (CheckIncarnation); the link closes it.
    const client = new Client(address, channelCredentials(peer, address), peerChannelOptions(options.messageBytesMax, reconnect));
    return {
      address,
      ask: (check) => askIncarnation({ client, codec: incarnationCodec }, check, PEER_TRANSPORT_DEFAULTS.incarnationCheckDeadlineMs),
      link: new PeerLink({
        self: options.self,
        peer,
        address,
        clusterId: options.clusterId,
        client,
        codec,
        messageBytesMax: options.messageBytesMax,
        queueBytesMax: options.queueBytesMax ?? PEER_TRANSPORT_DEFAULTS.queueBytesMax,
        reconnect,
        connectTimeoutMs: Math.max(PEER_TRANSPORT_DEFAULTS.connectTimeoutMs, reconnect.maxMs),
        log,
        incarnation: options.incarnation ?? '',
        boot,
        ...advertised,
        onDuplicateNodeId: (error) => {
          if (duplicateReported) return;
          duplicateReported = true;
          options.onDuplicateNodeId?.(error);
        },
        duplicateFatalAfterMs: PEER_TRANSPORT_DEFAULTS.duplicateFatalAfterMs,
        presenceIntervalMs: PEER_TRANSPORT_DEFAULTS.presenceIntervalMs,
      }),
      snapshots: new SnapshotSender({
        self: options.self,
        peer,
        clusterId: options.clusterId,
        incarnation: options.incarnation ?? '',
        boot,
        ...advertised,
        // Its own channel (the link's is for Raft traffic): megabytes in flight on one HTTP/2
        // connection would queue heartbeats behind them. A channel dials on its first call.
        client: new Client(address, channelCredentials(peer, address), peerChannelOptions(options.messageBytesMax, reconnect)),
        codec: snapshotCodec,
        chunkBytes,
        windowBytes: transfer.windowBytes,
        attemptsMax: transfer.attemptsMax,
        retry: transfer.retry,
        progressTimeoutMs: transfer.progressTimeoutMs,
        log,
      }),
    };
  };
  const transport = new GrpcPeerTransport({ self: options.self, clusterId: options.clusterId, incarnation: options.incarnation ?? '', server, listener, snapshotReceiver, connect, peers, codec, log });
  transport.setPeers(options.peers);
  return transport;

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

/** One peer's outgoing side: its Raft stream and its snapshot sender (each owns its channel, closed with it). */
interface PeerConnection {
  readonly address: string;
  /** Asks the peer a CheckIncarnation question on the link's channel. */
  readonly ask: (check: IncarnationCheck) => Promise<IncarnationCheckAnswer>;
  readonly link: PeerLink;
  readonly snapshots: SnapshotSender;
}

interface GrpcPeerTransportParts {
  readonly self: NodeId;
  readonly clusterId: string;
  /** Our data directory's incarnation, asked about by checkIncarnation. */
  readonly incarnation: string;
  readonly server: Server;
  readonly listener: PeerListener;
  readonly snapshotReceiver: SnapshotReceiver;
  /** Dials a peer (its channels connect on first use). */
  readonly connect: (peer: NodeId, address: string) => PeerConnection;
  /** The peers the listener accepts streams from: kept equal to setPeers()'s. */
  readonly peers: Map<NodeId, string>;
  readonly codec: PeerCodec;
  readonly log: Log;
}

class GrpcPeerTransport implements PeerTransport {
  #state: TransportState = 'open';
  #closed: Promise<void> | null = null;
  readonly server: Server;
  readonly listener: PeerListener;
  readonly snapshotReceiver: SnapshotReceiver;
  readonly #self: NodeId;
  readonly #clusterId: string;
  readonly #incarnation: string;
  readonly #connect: (peer: NodeId, address: string) => PeerConnection;
  readonly #peers: Map<NodeId, string>;
  readonly #connections = new Map<NodeId, PeerConnection>();
  readonly codec: PeerCodec;
  readonly log: Log;
  /** A message for a node that is not a peer: one line per target a minute (Raft resends). */
  readonly #dropped = new RepeatGate({ intervalMs: 60_000, keysMax: 64, nowMs: Date.now });

  constructor(parts: GrpcPeerTransportParts) {
    this.server = parts.server;
    this.listener = parts.listener;
    this.snapshotReceiver = parts.snapshotReceiver;
    this.#self = parts.self;
    this.#clusterId = parts.clusterId;
    this.#incarnation = parts.incarnation;
    this.#connect = parts.connect;
    this.#peers = parts.peers;
    this.codec = parts.codec;
    this.log = parts.log;
  }

  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.#state !== 'open') return;
    for (const [peer, connection] of [...this.#connections]) {
      if (peers.get(peer) === connection.address) continue;
      connection.link.close();
      connection.snapshots.close();
      this.#connections.delete(peer);
      this.#peers.delete(peer);
      if (!peers.has(peer)) this.listener.forget(peer);
      if (!peers.has(peer)) this.log.info(`peer ${peer} at ${connection.address} is no longer a member: its link is closed`, { event: LogEvent.peerRemoved, peer });
    }
    for (const [peer, address] of peers) {
      if (peer === this.#self || this.#connections.has(peer)) continue;
      this.#connections.set(peer, this.#connect(peer, address));
      this.#peers.set(peer, address);
    }
  }

  peers(): ReadonlyMap<NodeId, string> {
    return new Map(this.#peers);
  }

  checkIncarnation(peer: NodeId): Promise<IncarnationCheckAnswer> {
    const connection = this.#connections.get(peer);
    if (connection === undefined || this.#state !== 'open') {
      return Promise.reject(new Error(this.#state === 'open' ? `${peer} is not a peer of ${this.#self}` : 'the peer transport is closed'));
    }
    return connection.ask({ clusterId: this.#clusterId, from: this.#self, to: peer, incarnation: this.#incarnation });
  }


  sendSnapshot(message: InstallSnapshot, source: SnapshotSource): Promise<void> {
    const sender = this.#connections.get(message.to)?.snapshots;
    if (sender === undefined || this.#state !== 'open') {
      source.close();
      const why = sender === undefined ? `${message.to} is not a peer of ${message.from}` : 'the peer transport is closed';
      return Promise.reject(new SnapshotShipmentError(message.to, sender === undefined ? 'refused' : 'closed', 0, why));
    }
    return sender.send(message, source);
  }

  send(messages: readonly Message[]): void {
    if (this.#state !== 'open') return;
    // Encode each message once, in order, into its peer's queue; then flush each touched
    // peer once, so the messages of one call go out in as few batches as fit.
    let touched: PeerLink | Set<PeerLink> | null = null;
    for (const message of messages) {
      const link = this.#connections.get(message.to)?.link;
      if (link === undefined) {
        const heldBack = this.#dropped.pass(message.to);
        if (heldBack !== null) this.log.warn(`dropped a ${message.type} for ${message.to}, which is not a peer of ${message.from}${heldBackNote(heldBack)}`, { event: LogEvent.messageDropped, to: message.to });
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
    return new Map([...this.#connections].map(([peer, { link }]) => [peer, link.stats()]));
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    for (const { link, snapshots } of this.#connections.values()) {
      link.close();
      snapshots.close();
    }
    this.listener.close();
    this.snapshotReceiver.close();
    await shutdownServer(this.server, PEER_TRANSPORT_DEFAULTS.shutdownGraceMs);
  }
}
