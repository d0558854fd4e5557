import { crc32 } from 'node:zlib';

import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import type { InstallSnapshot, NodeId } from '../../raft/index.js';
import type { SnapshotCodec, SnapshotProgress } from './snapshot-codec.js';
import { PEER_INSTALL_SNAPSHOT_PATH, PeerMetadataKey } from './peer-service.js';
import type { SnapshotSource } from './snapshot-shipping.js';

/** What one upload needs: who we are, where it goes, and the flow-control bounds. */
export interface SnapshotUploadOptions {
  readonly self: NodeId;
  readonly clusterId: string;
  readonly incarnation: string;
  readonly boot: string;
  /** Where this node listens for peers, sent with every call (PeerMetadataKey.peerAddress); absent: not sent. */
  readonly advertisedAddress?: string;
  readonly client: Client;
  readonly codec: SnapshotCodec;
  /** Largest chunk written. */
  readonly chunkBytes: number;
  /** Most bytes written and not yet acknowledged by the receiver; at least twice chunkBytes. */
  readonly windowBytes: number;
  /** Waiting on the receiver (an answer, an acknowledgement, a drained write) longer than this fails the call. */
  readonly progressTimeoutMs: number;
}

/** The snapshot source failed: the transfer stops (not retried: the file is ours). */
export class SourceFailure extends Error {
  override readonly name = 'SourceFailure';
}

/** How an upload went, for the caller's bookkeeping and tests. */
export interface UploadOutcome {
  /** Where the receiver's copy ended when the call opened. */
  readonly resumedAtBytes: number;
}

/**
 * One InstallSnapshot call (peer.proto): the header, the receiver's resume point, the chunks
 * from there in order, then the half-close and the receiver's `done`. Resolves once the
 * receiver finished the snapshot and the call ended OK; rejects with the call's
 * ServiceError, a SourceFailure, or an Error saying how the receiver misbehaved. Reads the
 * source one chunk at a time, only when the window has room and the stream took the last write.
 */
export async function uploadSnapshot(options: SnapshotUploadOptions, message: InstallSnapshot, source: SnapshotSource, signal: AbortSignal): Promise<UploadOutcome> {
  const call = new UploadCall(options, message.to, source.totalBytes, signal);
  try {
    const windowBytes = options.windowBytes;
    const ackEveryBytes = Math.floor(windowBytes / 2);
    call.write(options.codec.encodeHeader({ clusterId: options.clusterId, from: options.self, to: message.to, message, totalBytes: source.totalBytes, ackEveryBytes }));
    await call.until(() => call.acknowledgedBytes >= 0, 'the receiver to answer the header');
    const resumedAtBytes = call.acknowledgedBytes;
    let offset = resumedAtBytes;
    // Bounded: each turn sends at least one byte (a short read is refused below).
    while (offset < source.totalBytes) {
      const length = Math.min(options.chunkBytes, source.totalBytes - offset);
      await call.until(() => offset + length - call.acknowledgedBytes <= windowBytes, 'an acknowledgement');
      const data = await readChunk(source, offset, length);
      if (!call.write(options.codec.encodeChunk(offset, data, crc32(data)))) await call.until(() => !call.waitingForDrain, 'the stream to drain');
      offset += length;
    }
    call.end();
    await call.until(() => call.finished, 'the receiver to finish the snapshot');
    return { resumedAtBytes };
  } finally {
    call.close();
  }
}

async function readChunk(source: SnapshotSource, offset: number, length: number): Promise<Uint8Array> {
  let data: Uint8Array;
  try {
    data = await source.read(offset, length);
  } catch (error) {
    throw new SourceFailure(`reading the snapshot at ${offset}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (data.length !== length) throw new SourceFailure(`the snapshot source gave ${data.length} bytes at ${offset}, not the ${length} asked for (the file is shorter than its totalBytes?)`);
  return data;
}

/**
 * The client side of one InstallSnapshot call, as conditions to wait for. Any failure (the
 * call's error status, a receiver that breaks the protocol, the caller's abort, a stall)
 * rejects every wait from then on.
 */
class UploadCall {
  readonly #call: ClientDuplexStream<Buffer, SnapshotProgress>;
  readonly #totalBytes: number;
  readonly #progressTimeoutMs: number;
  /** -1 until the receiver answered the header; then its copy's size as last reported. */
  acknowledgedBytes = -1;
  /** The receiver said done and the call ended OK. */
  finished = false;
  waitingForDrain = false;
  #done = false;
  #failure: Error | null = null;
  /** The one pending wait (uploadSnapshot waits for one thing at a time). */
  #wake: (() => void) | null = null;
  readonly #onAbort: () => void;
  readonly #signal: AbortSignal;

  constructor(options: SnapshotUploadOptions, to: NodeId, totalBytes: number, signal: AbortSignal) {
    this.#totalBytes = totalBytes;
    this.#progressTimeoutMs = options.progressTimeoutMs;
    this.#signal = signal;
    const metadata = new Metadata();
    metadata.set(PeerMetadataKey.clusterId, options.clusterId);
    metadata.set(PeerMetadataKey.from, options.self);
    metadata.set(PeerMetadataKey.to, to);
    metadata.set(PeerMetadataKey.incarnation, options.incarnation);
    metadata.set(PeerMetadataKey.boot, options.boot);
    if (options.advertisedAddress !== undefined) metadata.set(PeerMetadataKey.peerAddress, options.advertisedAddress);
    const call = options.client.makeBidiStreamRequest<Buffer, SnapshotProgress>(
      PEER_INSTALL_SNAPSHOT_PATH,
      (upload: Buffer) => upload,
      (bytes: Buffer) => options.codec.decodeProgress(bytes),
      metadata,
      {},
    );
    this.#call = call;
    call.on('data', (progress: SnapshotProgress) => this.#onProgress(progress));
    call.on('error', (error: ServiceError) => this.#fail(error));
    call.on('status', (end: StatusObject) => {
      if (end.code !== status.OK) return; // 'error' reports it
      if (this.#done) this.finished = true;
      else this.#fail(new Error('the receiver ended the call OK without finishing the snapshot'));
      this.#notify();
    });
    this.#onAbort = () => {
      this.#fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      call.cancel();
    };
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Writes one upload; false: wait until `waitingForDrain` is false before the next. */
  write(upload: Buffer): boolean {
    this.#throwIfFailed();
    if (this.#call.write(upload)) return true;
    this.waitingForDrain = true;
    this.#call.once('drain', () => {
      this.waitingForDrain = false;
      this.#notify();
    });
    return false;
  }

  end(): void {
    this.#throwIfFailed();
    this.#call.end();
  }

  /**
   * Resolves once `condition` holds; rejects once the call failed, or when the receiver has
   * shown no sign of life (an answer, a drained write) for progressTimeoutMs meanwhile.
   */
  async until(condition: () => boolean, what: string): Promise<void> {
    // Bounded: each turn waits for an event of the call, and a stall ends it.
    for (;;) {
      this.#throwIfFailed();
      if (condition()) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#fail(new Error(`waited ${this.#progressTimeoutMs} ms for ${what}`));
          this.#call.cancel();
          resolve();
        }, this.#progressTimeoutMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Ends the call if it is still open (a failed upload) and lets go of the caller's signal. */
  close(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (!this.finished) this.#call.cancel();
  }

  #onProgress(progress: SnapshotProgress): void {
    const received = progress.receivedBytes;
    if (received > this.#totalBytes || (this.acknowledgedBytes >= 0 && received < this.acknowledgedBytes) || (progress.done && received !== this.#totalBytes)) {
      this.#fail(new Error(`the receiver reported ${received} of ${this.#totalBytes} bytes${progress.done ? ' done' : ''} after ${this.acknowledgedBytes}`));
      this.#call.cancel();
    } else {
      this.acknowledgedBytes = received;
      if (progress.done) this.#done = true;
    }
    this.#notify();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#notify();
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
