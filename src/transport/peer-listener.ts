import type { PeerCertificate } from 'node:tls';

import { Metadata, status, type sendUnaryData, type ServerReadableStream, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Message, NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import type { DecodedPeerBatch, StreamSummary } from './peer-codec.js';
import { PeerMetadataKey, PeerRefusal } from './peer-service.js';
import { memberIncarnationRefusal } from './member-incarnation.js';
import type { IncarnationCheck, IncarnationCheckAnswer } from './incarnation-check.js';
import { memberMismatch } from './tls-credentials.js';
import { heldBackNote, LogEvent, RepeatGate, type Log } from '../log/index.js';

export interface PeerListenerOptions {
  readonly self: NodeId;
  readonly clusterId: string;
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly onMessage: (message: Message) => void;
  readonly log: Log;
  /**
   * A claimant of a peer id is live while its stream is open and for this long after it
   * ends: another process claiming the same id with another data directory is refused
   * meanwhile.
   */
  readonly claimantLiveMs?: number;
  /**
   * Mutual TLS is on: a call is served only if the certificate its sender presented (signed
   * by the cluster CA: the handshake checked that) names the member id the call claims.
   */
  readonly requireMemberCertificate?: boolean;
  /** The clock for claimant liveness and log rate limits (injected for tests). */
  readonly nowMs?: () => number;
  /**
   * The data directory incarnation recorded for a member ('' or undefined: none recorded).
   * A stream or snapshot call speaking for a member from another incarnation is refused: it
   * is a wiped or replaced disk restarted under the member's id, which must not vote or take
   * entries it never acknowledged under that id (docs/membership.md).
   */
  readonly recordedIncarnation?: (peer: NodeId) => string | undefined;
  /** Told each accepted stream's sender and incarnation, once the stream is taken. */
  readonly onClaim?: (peer: NodeId, incarnation: string) => void;
  /**
   * Whether to serve a sender that `peers` does not name, given where it says it listens
   * (null: it did not say). Absent: never. A node whose log lacks the entry that added a
   * member must still take that member's appends when it leads (docs/membership.md).
   */
  readonly admitsStranger?: (peer: NodeId, peerAddress: string | null) => boolean;
  /**
   * Judges a CheckIncarnation call from `peer` (the node's data directory records): the
   * answer, or null when this node's configuration does not name `peer`. Absent: such calls
   * are refused UNIMPLEMENTED.
   */
  readonly onIncarnationCheck?: (peer: NodeId, incarnation: string) => IncarnationCheckAnswer | null;
}

/** Who a peer call says it comes from and is for (undefined: it did not say). */
export interface PeerAddressing {
  readonly clusterId: string | undefined;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** A call's addressing with where its sender says it listens (a stream's or snapshot call's metadata). */
interface CallAddressing extends PeerAddressing {
  readonly peerAddress: string | undefined;
}

/** A process heard speaking for a peer id: its data directory, its start, and when it last sent. */
interface Claimant {
  readonly incarnation: string;
  readonly boot: string;
  readonly address: string;
  lastHeardMs: number;
}

/**
 * How long a claimant whose stream has ended stays live: long enough for a live process to
 * redial. While its stream is open a claimant is live however quiet it is (a follower sends
 * nothing to another follower while a third node leads).
 */
const CLAIMANT_LIVE_MS = 5_000;
/** Refusals of one duplicate claimant are logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Any other refusal (a peer of another cluster, a misaddressed or malformed stream) repeats at every redial: logged at most this often per cause. */
const REPEAT_LOG_INTERVAL_MS = 60_000;

/** A batch as the listener gets it: decoded, or the reason it did not decode (peer-service.ts). */
type PeerStreamCall = ServerReadableStream<DecodedPeerBatch | MalformedMessageError, StreamSummary>;

interface OpenStream {
  readonly call: PeerStreamCall;
  readonly finish: sendUnaryData<StreamSummary>;
  /** The process this stream speaks for. */
  readonly claimant: Claimant;
  /** Ends the stream with `result`; nothing it sends afterwards is delivered. */
  readonly end: (result: Parameters<sendUnaryData<StreamSummary>>[0]) => void;
}

/**
 * The receiving half: accepts one stream per known peer of our cluster and hands every
 * message to onMessage in arrival order. A newer stream from the same peer replaces the
 * older one (the peer redialled; the old one is half-dead), so one peer's messages never
 * arrive interleaved from two streams.
 *
 * Two live processes claiming one peer id (a copied command line on another host) would
 * take the stream from each other in turn. So the listener remembers the process it heard
 * for each id (data directory incarnation and process boot id): a stream from another
 * process of the same data directory is a restart and replaces it; one from another data
 * directory, while the known claimant's stream is open or ended within claimantLiveMs, is refused
 * with FAILED_PRECONDITION and a `duplicate-node-id` refusal in its trailers, which tells
 * the newcomer to stop. The refusal is logged here, at most every 10 s per id.
 */
export class PeerListener {
  readonly #options: PeerListenerOptions;
  readonly #open = new Map<NodeId, OpenStream>();
  readonly #claimants = new Map<NodeId, Claimant>();
  /** Duplicate-id refusals, per claimed id. */
  readonly #duplicates: RepeatGate;
  /** Other refusals and malformed streams, per cause. */
  readonly #refusals: RepeatGate;
  /** Refusals of a member's other data directory, per member (logged here, not with the other refusals). */
  readonly #incarnations: RepeatGate;
  #closing = false;

  constructor(options: PeerListenerOptions) {
    this.#options = options;
    this.#duplicates = new RepeatGate({ intervalMs: REFUSAL_LOG_INTERVAL_MS, keysMax: 64, nowMs: () => this.#now() });
    this.#refusals = new RepeatGate({ intervalMs: REPEAT_LOG_INTERVAL_MS, keysMax: 64, nowMs: () => this.#now() });
    this.#incarnations = new RepeatGate({ intervalMs: REPEAT_LOG_INTERVAL_MS, keysMax: 64, nowMs: () => this.#now() });
  }

  /** The gRPC handler for Peer/Stream. */
  readonly handle = (call: PeerStreamCall, finish: sendUnaryData<StreamSummary>): void => {
    const refusal = this.#closing ? 'the node is shutting down' : (this.#checkStream(call.metadata) ?? this.#certificateRefusal(call));
    if (refusal !== null) {
      finish({ code: this.#closing ? status.UNAVAILABLE : status.FAILED_PRECONDITION, details: refusal });
      const heldBack = this.#closing ? null : this.#refusals.pass(refusal);
      if (heldBack !== null) this.#options.log.warn(`refused a peer stream from ${call.getPeer()}: ${refusal}${heldBackNote(heldBack)}`, { event: LogEvent.peerStreamRefused });
      return;
    }
    const from = firstValue(call.metadata, PeerMetadataKey.from) as NodeId;
    const claimant = this.#claim(from, call, finish);
    if (claimant === null) return;
    this.#open.get(from)?.finish({ code: status.ABORTED, details: 'replaced by a newer stream from the same peer' });
    const stream: OpenStream = { call, finish, claimant, end: (result) => end(result) };
    this.#open.set(from, stream);
    call.sendMetadata(new Metadata());
    let received = 0;
    let ended = false;
    const end = (result: Parameters<sendUnaryData<StreamSummary>>[0], summary?: StreamSummary): void => {
      if (ended) return;
      ended = true;
      // It was live until now: a quiet claimant gets its full claimantLiveMs to redial.
      claimant.lastHeardMs = this.#now();
      if (this.#open.get(from) === stream) this.#open.delete(from);
      finish(result, summary);
    };
    call.on('data', (batch: DecodedPeerBatch | MalformedMessageError) => {
      if (ended) return;
      if (batch instanceof MalformedMessageError) {
        const heldBack = this.#refusals.pass(`${from} ${batch.message}`);
        if (heldBack !== null) this.#options.log.warn(`ended the peer stream from ${from}: ${batch.message}${heldBackNote(heldBack)}`, { event: LogEvent.peerStreamRefused, peer: from });
        end({ code: status.INVALID_ARGUMENT, details: batch.message });
        return;
      }
      const mismatch = this.#checkBatch(batch, from);
      if (mismatch !== null) {
        end({ code: status.FAILED_PRECONDITION, details: mismatch });
        return;
      }
      received += batch.messages.length;
      claimant.lastHeardMs = this.#now();
      for (const message of batch.messages) this.#options.onMessage(message);
    });
    call.on('end', () => end(null, { receivedMessages: received }));
    call.on('error', () => end({ code: status.CANCELLED, details: 'stream failed' }));
    call.on('cancelled', () => end({ code: status.CANCELLED, details: 'cancelled by the peer' }));
  };

  /**
   * The gRPC handler for Peer/CheckIncarnation: the addressing and certificate checks of a
   * stream, then the node's judgement (onIncarnationCheck). Claims nothing: a wiped disk's
   * question is answered, not refused, so that it learns it must stop.
   */
  readonly handleIncarnationCheck = (call: ServerUnaryCall<IncarnationCheck | MalformedMessageError, IncarnationCheckAnswer>, answer: sendUnaryData<IncarnationCheckAnswer>): void => {
    const check = call.request;
    if (check instanceof MalformedMessageError) {
      answer({ code: status.INVALID_ARGUMENT, details: check.message });
      return;
    }
    const judge = this.#options.onIncarnationCheck;
    if (judge === undefined) {
      answer({ code: status.UNIMPLEMENTED, details: `node ${this.#options.self} does not answer incarnation checks` });
      return;
    }
    if (this.#closing) {
      answer({ code: status.UNAVAILABLE, details: 'the node is shutting down' });
      return;
    }
    const refusal =
      // Not served as a stranger: a question changes nothing here, so its caller is not dialled back.
      this.#addressRefusal({ clusterId: check.clusterId, from: check.from, to: check.to, peerAddress: undefined }) ??
      this.#certificateRefusal(call, check.from);
    const verdict = refusal === null ? judge(check.from, check.incarnation) : null;
    if (verdict === null) {
      answer({ code: status.FAILED_PRECONDITION, details: refusal ?? `node "${check.from}" is not a member of node ${this.#options.self}'s configuration` });
      return;
    }
    answer(null, verdict);
  };

  /**
   * `peer` is no longer a member (the caller dropped it from the peers map): its open stream
   * is ended with FAILED_PRECONDITION saying so, and its redials are refused the same way.
   */
  forget(peer: NodeId): void {
    this.#open.get(peer)?.end({ code: status.FAILED_PRECONDITION, details: `node "${peer}" is not a member of this cluster` });
  }

  /** Refuses new streams and ends the open ones with UNAVAILABLE, so peers redial later. */
  close(): void {
    this.#closing = true;
    for (const { finish } of this.#open.values()) finish({ code: status.UNAVAILABLE, details: 'the node is shutting down' });
    this.#open.clear();
  }

  /**
   * The claimant this stream speaks for, recorded as the one for `from`; or null when the
   * stream was refused because another live process with another data directory holds the id.
   */
  #claim(from: NodeId, call: PeerStreamCall, finish: sendUnaryData<StreamSummary>): Claimant | null {
    const incarnation = firstValue(call.metadata, PeerMetadataKey.incarnation) ?? '';
    const boot = firstValue(call.metadata, PeerMetadataKey.boot) ?? '';
    const now = this.#now();
    const refusal = this.#duplicateRefusal(from, incarnation, boot, call.getPeer());
    if (refusal !== null) {
      const trailers = new Metadata();
      trailers.set(PeerMetadataKey.refusal, PeerRefusal.duplicateNodeId);
      finish({ code: status.FAILED_PRECONDITION, details: refusal, metadata: trailers });
      const heldBack = this.#duplicates.pass(from);
      if (heldBack !== null) this.#options.log.warn(`refused a peer stream: ${refusal}${heldBackNote(heldBack)}`, { event: LogEvent.peerStreamRefused, peer: from });
      return null;
    }
    // Not a second live process of the id (that one is told to stop, above): a member's other
    // data directory, a wiped disk, is refused without taking the id's place.
    const wiped = this.#incarnationRefusal(call.metadata, call.getPeer());
    if (wiped !== null) {
      finish({ code: status.FAILED_PRECONDITION, details: wiped });
      return null;
    }
    const claimant: Claimant = { incarnation, boot, address: call.getPeer(), lastHeardMs: now };
    this.#claimants.set(from, claimant);
    this.#options.onClaim?.(from, incarnation);
    return claimant;
  }

  /**
   * Why another kind of peer call (InstallSnapshot) is not to be served: the same checks as
   * a stream's (cluster, known sender, addressed to us, and no other live
   * process with another data directory speaking for the sender), without claiming the id.
   * Null: serve it.
   */
  refusalOf(addressing: PeerAddressing, metadata: Metadata, peerAddress: string, call?: CertifiedCall): string | null {
    const refusal = this.#addressRefusal({ ...addressing, peerAddress: firstValue(metadata, PeerMetadataKey.peerAddress) }) ?? (call === undefined ? null : this.#certificateRefusal(call, addressing.from));
    if (refusal !== null) return refusal;
    const incarnation = firstValue(metadata, PeerMetadataKey.incarnation) ?? '';
    const boot = firstValue(metadata, PeerMetadataKey.boot) ?? '';
    return this.#duplicateRefusal(addressing.from as NodeId, incarnation, boot, peerAddress) ?? this.#incarnationRefusal(metadata, peerAddress);
  }

  /** Why the process (incarnation, boot) may not speak for `from` now, or null if it may. */
  #duplicateRefusal(from: NodeId, incarnation: string, boot: string, peerAddress: string): string | null {
    const known = this.#claimants.get(from);
    const sameProcessOrDirectory = known === undefined || known.boot === boot || known.incarnation === incarnation;
    const knownLive = known !== undefined && (this.#open.get(from)?.claimant === known || this.#now() - known.lastHeardMs < (this.#options.claimantLiveMs ?? CLAIMANT_LIVE_MS));
    if (sameProcessOrDirectory || !knownLive) return null;
    return (
      `node id ${from} is already in use by a live process at ${known.address} (data directory incarnation ${known.incarnation}); ` +
      `refused the one at ${peerAddress} (incarnation ${incarnation || 'unknown'}): two processes claim one node id`
    );
  }

  /**
   * Why a caller claiming a member id is not the data directory recorded for it, or null. The
   * refusal says what to do; it is logged here once a minute per member.
   */
  #incarnationRefusal(metadata: Metadata, peerAddress: string): string | null {
    const from = firstValue(metadata, PeerMetadataKey.from);
    if (from === undefined) return null;
    const recorded = this.#options.recordedIncarnation?.(from as NodeId) ?? '';
    const incarnation = firstValue(metadata, PeerMetadataKey.incarnation) ?? '';
    const refusal = memberIncarnationRefusal({ from, recorded, incarnation, peerAddress });
    if (refusal === null) return null;
    const heldBack = this.#incarnations.pass(from);
    if (heldBack !== null) this.#options.log.warn(`refused ${from}: ${refusal}${heldBackNote(heldBack)}`, { event: LogEvent.memberIncarnationRefused, peer: from });
    return refusal;
  }

  #now(): number {
    return (this.#options.nowMs ?? Date.now)();
  }

  /**
   * Why the call's TLS certificate does not speak for the member it claims to be (`from`,
   * by default its stream metadata's), or null when it does or mutual TLS is off. The
   * refusal names the claimed id, the id(s) the certificate names and the caller's address.
   */
  #certificateRefusal(call: CertifiedCall, from: string | undefined = firstValue(call.metadata, PeerMetadataKey.from)): string | null {
    if (this.#options.requireMemberCertificate !== true) return null;
    const certificate: Pick<PeerCertificate, 'subjectaltname'> | undefined = call.getAuthContext().sslPeerCertificate;
    const claimed = from ?? '';
    if (certificate === undefined) return `the caller at ${call.getPeer()} claiming member ${claimed} presented no TLS certificate`;
    const mismatch = memberMismatch(certificate, claimed);
    return mismatch === null ? null : `the caller at ${call.getPeer()} claims to be member ${claimed}, but ${mismatch}`;
  }

  #checkStream(metadata: Metadata): string | null {
    return this.#addressRefusal({
      clusterId: firstValue(metadata, PeerMetadataKey.clusterId),
      from: firstValue(metadata, PeerMetadataKey.from),
      to: firstValue(metadata, PeerMetadataKey.to),
      peerAddress: firstValue(metadata, PeerMetadataKey.peerAddress),
    });
  }

  /** Without `peerAddress`, a sender the peers do not name is refused (admitsStranger serves only a caller it can dial back). */
  #addressRefusal({ clusterId, from, to, peerAddress }: CallAddressing): string | null {
    if (clusterId !== this.#options.clusterId) return `cluster "${clusterId ?? ''}" is not this node's cluster "${this.#options.clusterId}"`;
    if (from === undefined) return 'node "" is not a member of this cluster';
    if (to !== this.#options.self) return `this is node ${this.#options.self}, not "${to ?? ''}": check the peer addresses`;
    const member = this.#options.peers.has(from as NodeId) || (this.#options.admitsStranger?.(from as NodeId, peerAddress ?? null) ?? false);
    if (!member) return `node "${from}" is not a member of this cluster`;
    return null;
  }

  #checkBatch(batch: DecodedPeerBatch, from: NodeId): string | null {
    if (batch.clusterId !== this.#options.clusterId) return `batch for cluster "${batch.clusterId}" on a stream of cluster "${this.#options.clusterId}"`;
    if (batch.from !== from) return `batch from "${batch.from}" on the stream of ${from}`;
    if (batch.to !== this.#options.self) return `batch for "${batch.to}" received by ${this.#options.self}`;
    return null;
  }
}

/** What the certificate check reads of a call. */
export interface CertifiedCall {
  readonly metadata: Metadata;
  getPeer(): string;
  getAuthContext(): { readonly sslPeerCertificate?: Pick<PeerCertificate, 'subjectaltname'> };
}

function firstValue(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
