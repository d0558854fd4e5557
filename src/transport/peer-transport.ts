import type { InstallSnapshot, Message, NodeId } from '../../raft/index.js';
import type { DuplicateNodeIdError } from './errors.js';
import type { IncarnationCheckAnswer } from './incarnation-check.js';
import type { SnapshotReceiving, SnapshotShipping, SnapshotSource } from './snapshot-shipping.js';
import type { TlsCertificates } from './tls-certificates.js';
import type { Log } from '../log/index.js';

/**
 * Node-to-node Raft traffic. Implementations never block the caller and never let a slow
 * or dead peer hold up the others: each peer has its own bounded queue and connection.
 * Raft tolerates loss, so a message that cannot be delivered (peer down, queue full, too
 * large) is dropped and counted, never retried here.
 */
export interface PeerTransport extends SnapshotShipping {
  /** Queues each message for its `to` peer. Messages to one peer leave in the order given. */
  send(messages: readonly Message[]): void;
  /**
   * Streams one snapshot to `message.to` beside its InstallSnapshot message, on a connection
   * of its own (so bulk bytes never queue ahead of the peer's Raft traffic); resolves once the
   * peer has finished it. Retries a broken transfer (attempts bounded, with back-off), each
   * time from where the peer's partial copy ends; rejects with a SnapshotShipmentError when it
   * gives up, when the peer refuses, when another snapshot for that peer replaces this one, or
   * when the transport closes. One transfer per peer at a time: a call for the snapshot being
   * sent joins it (same promise); another snapshot replaces it (see SnapshotSender). Closes
   * `source` once the transfer ended, however it ended.
   */
  sendSnapshot(message: InstallSnapshot, source: SnapshotSource): Promise<void>;
  /**
   * Makes the peers exactly `peers` (id -> address to dial; our own id is skipped): a new id
   * gets a link, one gone has its link closed (messages queued for it are dropped) and its
   * streams to us refused from then on, one whose address changed is redialled there. Called
   * when the membership changes; the options' `peers` are the first set.
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void;
  /** The peers now (id -> address dialled). */
  peers(): ReadonlyMap<NodeId, string>;
  /**
   * Asks peer `peer` whether it knows another data directory under our id than ours (the
   * options' `incarnation`): its answer, or a rejection when it does not answer in time, is
   * not a peer, or refuses the question (see peer.proto CheckIncarnation).
   */
  checkIncarnation(peer: NodeId): Promise<IncarnationCheckAnswer>;
  stats(): ReadonlyMap<NodeId, PeerLinkStats>;
  /** Stops accepting, closes streams and the listener. */
  close(): Promise<void>;
}

export interface PeerLinkStats {
  readonly connected: boolean;
  readonly sentMessages: number;
  readonly droppedMessages: number;
  readonly queuedBytes: number;
  readonly reconnects: number;
}

export interface PeerTransportOptions {
  readonly self: NodeId;
  /** Sent with every stream; a peer of another cluster is refused (gRPC FAILED_PRECONDITION). */
  readonly clusterId: string;
  /** host:port to listen on for peers' streams. */
  readonly listenAddress: string;
  /** Every other member's peer address, to start with (setPeers changes them). */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Where peers reach this node, sent with every stream and snapshot call (a receiver that does not know us yet answers there). */
  readonly advertisedAddress?: string;
  /** See PeerListenerOptions.admitsStranger: whether to serve a sender the peers do not name. */
  readonly admitsStranger?: (peer: NodeId, peerAddress: string | null) => boolean;
  /** Called for each message received, in arrival order per peer. */
  readonly onMessage: (message: Message) => void;
  readonly messageBytesMax: number;
  /** Bytes queued for one peer beyond which further messages to it are dropped. */
  readonly queueBytesMax?: number;
  readonly reconnect?: { readonly initialMs: number; readonly maxMs: number };
  /** Connection events (connected, lost, refused: each repeated cause rate-limited), snapshot transfers; for the node's log. */
  readonly log?: Log;
  /**
   * This node's data directory incarnation: peers keep the stream of the process they know
   * for an id and refuse another live claimant of it whose incarnation differs.
   */
  readonly incarnation?: string;
  /**
   * The incarnation recorded for a member (the node's member book; '' or undefined: none):
   * a peer speaking for it from another data directory is refused, saying it must be replaced.
   */
  readonly recordedIncarnation?: (peer: NodeId) => string | undefined;
  /** Told the incarnation of each stream accepted from a peer (when the stream opens): what a node records on first contact. */
  readonly onPeerIncarnation?: (peer: NodeId, incarnation: string) => void;
  /** See PeerListenerOptions.onIncarnationCheck: how this node answers a peer's CheckIncarnation. */
  readonly onIncarnationCheck?: (peer: NodeId, incarnation: string) => IncarnationCheckAnswer | null;
  /**
   * Called once when peers have refused us as a second live process of our id for longer
   * than a legitimate replacement could be refused (the old process's last words age out);
   * the node must stop. Without it the refusals are only logged.
   */
  readonly onDuplicateNodeId?: (error: DuplicateNodeIdError) => void;
  /**
   * The node's snapshot files, for peers' InstallSnapshot calls. Without it those calls are
   * refused UNIMPLEMENTED (the node can still send snapshots).
   */
  readonly snapshots?: SnapshotReceiving;
  /**
   * Mutual TLS on the peer port: we listen and dial with these certificates (replaceable
   * while running), callers and servers must present one signed by the cluster CA that names
   * the member they are. Without it, the peer port is plaintext.
   */
  readonly tls?: TlsCertificates;
  /** Bounds of outgoing snapshot transfers; each unset one is SNAPSHOT_TRANSFER_DEFAULTS'. */
  readonly snapshotTransfer?: SnapshotTransferOptions;
}

export interface SnapshotTransferOptions {
  /** Largest chunk on the wire; also capped at messageBytesMax. */
  readonly chunkBytes?: number;
  /** Bytes sent and not yet acknowledged by the receiver, at most; at least two chunks. */
  readonly windowBytes?: number;
  /** Calls one transfer makes before it gives up (the first included). */
  readonly attemptsMax?: number;
  /** Back-off between attempts. */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
  /** A transfer that hears nothing from the receiver this long (an answer, an acknowledgement, a drained write) fails its attempt. */
  readonly progressTimeoutMs?: number;
}
