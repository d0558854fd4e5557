import { Metadata, status, type Client, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { NodeId } from '../../raft/index.js';
import type { PeerLinkStats } from './peer-transport.js';
import { Backoff } from './backoff.js';
import { BATCH_MESSAGE_OVERHEAD_BYTES, type PeerCodec, type StreamSummary } from './peer-codec.js';
import { DuplicateNodeIdError } from './errors.js';
import { PEER_STREAM_PATH, PeerMetadataKey, PeerRefusal } from './peer-service.js';
import { heldBackNote, LogEvent, RepeatGate, type Log } from '../log/index.js';

/**
 * idle: built, not dialled yet (only before the constructor returns).
 * connecting: a stream is open and we wait for the peer's response headers (it accepted us);
 *   messages queue (bounded) meanwhile.
 * connected: the stream is accepted; the queue drains into it, pausing while it is full.
 * backoff: the last stream failed; waiting to dial again. Messages are dropped, not queued:
 *   by the time we reconnect Raft will have sent newer ones.
 * closed: final.
 */
export type PeerLinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface PeerLinkOptions {
  readonly self: NodeId;
  readonly peer: NodeId;
  readonly address: string;
  readonly clusterId: string;
  /** A gRPC client dedicated to this peer (its own channel), owned and closed by the link. */
  readonly client: Client;
  readonly codec: PeerCodec;
  readonly messageBytesMax: number;
  readonly queueBytesMax: number;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  /** How long a dial may wait for the peer to accept before it counts as failed. */
  readonly connectTimeoutMs: number;
  readonly log: Log;
  /** Our data directory's incarnation and this process's boot id, sent with every stream. */
  readonly incarnation: string;
  readonly boot: string;
  /** Where this node listens for peers, sent with every call (PeerMetadataKey.peerAddress); absent: not sent. */
  readonly advertisedAddress?: string;
  /**
   * Called once when the peer has refused us as a duplicate of a live process of our id
   * for duplicateFatalAfterMs without a break (see PeerListener).
   */
  readonly onDuplicateNodeId: (error: DuplicateNodeIdError) => void;
  readonly duplicateFatalAfterMs: number;
  /**
   * A connected link with nothing to send for this long writes a batch of no messages, so
   * the peer hears every live process often enough to tell it from a newcomer of its id.
   */
  readonly presenceIntervalMs: number;
}

/** A cause that repeats (a refusal at every redial) is logged at most this often per link. */
const REPEAT_LOG_INTERVAL_MS = 60_000;

/**
 * One direction of one node pair: a bounded byte queue drained by one long-lived
 * client-streaming call, redialled with back-off when it fails. Never blocks its caller.
 */
export class PeerLink {
  readonly #options: PeerLinkOptions;
  readonly #backoff: Backoff;
  readonly #envelope: Uint8Array;
  /** Largest single encoded message that fits a batch on its own. */
  readonly #messageBytesMax: number;
  #state: PeerLinkState = 'idle';
  #call: ClientWritableStream<Buffer> | null = null;
  #waitingForDrain = false;
  #timer: NodeJS.Timeout | null = null;
  /** FIFO of encoded messages; `#head` is the next to send (no shift() per message). */
  #queue: Uint8Array[] = [];
  #head = 0;
  #queuedBytes = 0;
  #sentMessages = 0;
  #droppedMessages = 0;
  #reconnects = 0;
  #dialled = false;
  /** When the peer first refused us as a duplicate of our id, in the current run of refusals. */
  #duplicateSinceMs: number | null = null;
  /** Runs while connected: writes an empty batch when nothing else was written for an interval. */
  #presenceTimer: NodeJS.Timeout | null = null;
  /** Refusals since the link last connected: each cause logged once a minute (a refused dial repeats with every redial). */
  readonly #refusals = new RepeatGate({ intervalMs: REPEAT_LOG_INTERVAL_MS, keysMax: 16, nowMs: Date.now });
  /** Losses of a connected stream: each cause logged once a minute (a peer that accepts and then ends every stream would repeat it). */
  readonly #losses = new RepeatGate({ intervalMs: REPEAT_LOG_INTERVAL_MS, keysMax: 16, nowMs: Date.now });
  /** The last loss was held back: so is the connect that follows it. */
  #lossHeldBack = false;
  #wroteSincePresenceTick = false;

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.reconnect);
    this.#envelope = options.codec.encodeEnvelope({ clusterId: options.clusterId, from: options.self, to: options.peer });
    this.#messageBytesMax = options.messageBytesMax - this.#envelope.length - BATCH_MESSAGE_OVERHEAD_BYTES;
    this.#becomeConnecting('idle');
  }

  get state(): PeerLinkState {
    return this.#state;
  }

  stats(): PeerLinkStats {
    return {
      connected: this.#state === 'connected',
      sentMessages: this.#sentMessages,
      droppedMessages: this.#droppedMessages,
      queuedBytes: this.#queuedBytes,
      reconnects: this.#reconnects,
    };
  }

  /** Queues one encoded message, or drops and counts it. Call flush() after a run of enqueues. */
  enqueue(message: Uint8Array): void {
    const accepting = this.#state === 'connected' || this.#state === 'connecting';
    if (!accepting || message.length > this.#messageBytesMax || this.#queuedBytes + message.length > this.#options.queueBytesMax) {
      this.#droppedMessages++;
      return;
    }
    this.#queue.push(message);
    this.#queuedBytes += message.length;
  }

  /** Writes what is queued, as few batches as fit, until the stream pushes back. */
  flush(): void {
    const call = this.#call;
    if (this.#state !== 'connected' || call === null) return;
    while (!this.#waitingForDrain && this.#head < this.#queue.length) {
      const batch = this.#takeBatch();
      this.#sentMessages += batch.length;
      this.#wroteSincePresenceTick = true;
      if (!call.write(this.#options.codec.encodeBatch(this.#envelope, batch))) {
        this.#waitingForDrain = true;
        call.once('drain', () => {
          if (this.#call !== call) return;
          this.#waitingForDrain = false;
          this.flush();
        });
      }
    }
  }

  close(): void {
    const call = this.#call;
    this.#becomeClosed();
    call?.end();
    this.#options.client.close();
  }

  #takeBatch(): Uint8Array[] {
    const budget = this.#options.messageBytesMax - this.#envelope.length;
    const batch: Uint8Array[] = [];
    let bytes = 0;
    while (this.#head < this.#queue.length) {
      const message = this.#queue[this.#head];
      if (message === undefined) break;
      const framed = message.length + BATCH_MESSAGE_OVERHEAD_BYTES;
      if (batch.length > 0 && bytes + framed > budget) break;
      batch.push(message);
      bytes += framed;
      this.#queuedBytes -= message.length;
      this.#head++;
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  #becomeConnecting(from: 'idle' | 'backoff'): void {
    if (this.#state !== from) throw new Error(`peer link ${this.#options.peer}: connecting from ${this.#state}, expected ${from}`);
    this.#state = 'connecting';
    if (this.#dialled) this.#reconnects++;
    this.#dialled = true;
    const metadata = new Metadata();
    metadata.set(PeerMetadataKey.clusterId, this.#options.clusterId);
    metadata.set(PeerMetadataKey.from, this.#options.self);
    metadata.set(PeerMetadataKey.to, this.#options.peer);
    metadata.set(PeerMetadataKey.incarnation, this.#options.incarnation);
    metadata.set(PeerMetadataKey.boot, this.#options.boot);
    if (this.#options.advertisedAddress !== undefined) metadata.set(PeerMetadataKey.peerAddress, this.#options.advertisedAddress);
    const call = this.#options.client.makeClientStreamRequest<Buffer, StreamSummary>(
      PEER_STREAM_PATH,
      (batch: Buffer) => batch,
      (bytes: Buffer) => this.#options.codec.decodeSummary(bytes),
      metadata,
      {},
      (error: ServiceError | null) => this.#onCallEnded(call, error),
    );
    this.#call = call;
    call.on('metadata', () => {
      if (this.#call === call && this.#state === 'connecting') this.#becomeConnected('connecting');
    });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#call === call && this.#state === 'connecting') call.cancel();
    }, this.#options.connectTimeoutMs);
    this.#timer.unref();
  }

  #becomeConnected(from: 'connecting'): void {
    if (this.#state !== from) throw new Error(`peer link ${this.#options.peer}: connected from ${this.#state}, expected ${from}`);
    this.#clearTimer();
    this.#state = 'connected';
    this.#duplicateSinceMs = null;
    this.#backoff.reset();
    this.#startPresence();
    const refusedHeldBack = this.#refusals.forgetAll();
    if (!this.#lossHeldBack) {
      const note = refusedHeldBack > 0 ? ` (after ${refusedHeldBack} refused dial${refusedHeldBack === 1 ? '' : 's'} not logged)` : '';
      this.#options.log.info(`peer ${this.#options.peer} at ${this.#options.address}: connected${note}`, { event: LogEvent.peerConnected, peer: this.#options.peer });
    }
    this.flush();
  }

  #onCallEnded(call: ClientWritableStream<Buffer>, error: ServiceError | null): void {
    if (this.#call !== call || this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected';
    const reason = error === null ? 'stream ended by the peer' : error.details || error.message;
    // Log the loss of a working link and refusals, each cause at most once a minute; failed dials stay quiet.
    if (wasConnected) {
      const heldBack = this.#losses.pass(reason);
      this.#lossHeldBack = heldBack === null;
      if (heldBack !== null) this.#options.log.warn(`peer ${this.#options.peer} at ${this.#options.address}: lost (${reason})${heldBackNote(heldBack)}`, { event: LogEvent.peerLost, peer: this.#options.peer });
    } else if (error?.code === status.FAILED_PRECONDITION) {
      const heldBack = this.#refusals.pass(reason);
      if (heldBack !== null) this.#options.log.warn(`peer ${this.#options.peer} at ${this.#options.address}: refused (${reason})${heldBackNote(heldBack)}`, { event: LogEvent.peerRefused, peer: this.#options.peer });
    }
    this.#becomeBackoff(wasConnected ? 'connected' : 'connecting');
    if (error !== null) this.#noteRefusal(error, reason);
  }

  /**
   * A refusal as a duplicate of our id: a legitimate replacement of a dead process is refused
   * only until the old one's last words age out at the peer, so refusals that go on longer
   * mean another live process is this node, and this one must stop.
   */
  #noteRefusal(error: ServiceError, reason: string): void {
    const duplicate = error.code === status.FAILED_PRECONDITION && error.metadata?.get(PeerMetadataKey.refusal)[0] === PeerRefusal.duplicateNodeId;
    if (!duplicate) {
      this.#duplicateSinceMs = null;
      return;
    }
    const now = Date.now();
    this.#duplicateSinceMs ??= now;
    if (now - this.#duplicateSinceMs < this.#options.duplicateFatalAfterMs) return;
    this.#duplicateSinceMs = null;
    this.#options.onDuplicateNodeId(new DuplicateNodeIdError(this.#options.self, reason));
  }

  #becomeBackoff(from: 'connecting' | 'connected'): void {
    if (this.#state !== from) throw new Error(`peer link ${this.#options.peer}: backoff from ${this.#state}, expected ${from}`);
    this.#clearTimer();
    this.#state = 'backoff';
    this.#call = null;
    this.#waitingForDrain = false;
    this.#dropQueue();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#becomeConnecting('backoff');
    }, this.#backoff.nextDelayMs());
    this.#timer.unref();
  }

  #becomeClosed(): void {
    this.#clearTimer();
    this.#state = 'closed';
    this.#call = null;
    this.#dropQueue();
  }

  #dropQueue(): void {
    this.#droppedMessages += this.#queue.length - this.#head;
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#presenceTimer !== null) clearInterval(this.#presenceTimer);
    this.#presenceTimer = null;
  }

  #startPresence(): void {
    this.#wroteSincePresenceTick = false;
    this.#presenceTimer = setInterval(() => {
      const call = this.#call;
      if (this.#state !== 'connected' || call === null) return;
      if (!this.#wroteSincePresenceTick && !this.#waitingForDrain && this.#head === this.#queue.length) {
        call.write(this.#options.codec.encodeBatch(this.#envelope, []));
      }
      this.#wroteSincePresenceTick = false;
    }, this.#options.presenceIntervalMs);
    this.#presenceTimer.unref();
  }
}
