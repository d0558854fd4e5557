import { status, type ServiceError } from '@grpc/grpc-js';
import type { InstallSnapshot, NodeId } from '../../raft/index.js';
import { Backoff } from './backoff.js';
import { SnapshotShipmentError, type SnapshotShipmentFailure } from './errors.js';
import type { SnapshotSource } from './snapshot-shipping.js';
import { SourceFailure, uploadSnapshot, type SnapshotUploadOptions } from './snapshot-upload.js';
import { LogEvent, type Log } from '../log/index.js';

export interface SnapshotSenderOptions extends SnapshotUploadOptions {
  readonly peer: NodeId;
  // SnapshotUploadOptions.client: a channel for this peer's snapshots alone, closed by close().
  /** Calls one transfer may make before it gives up (the first included). */
  readonly attemptsMax: number;
  /** Delays between attempts. */
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly log: Log;
}

/** gRPC statuses that say the peer will not take a snapshot from us: retrying soon will not help. */
const REFUSALS: ReadonlySet<number> = new Set([status.FAILED_PRECONDITION, status.UNIMPLEMENTED]);

/**
 * Ships snapshots to one peer, one transfer at a time, each on its own InstallSnapshot call
 * and retried from where the peer's copy ends.
 *
 * A sendSnapshot for the snapshot being sent (same index and term, same leader term) joins
 * it: it gets the same promise, and its own source is closed at once (unless it is the very
 * source in use). Any other snapshot replaces the one being sent: the core only ever sends
 * its newest, so the older transfer is cancelled (its promise rejects `superseded`) and the
 * new one starts once the old call is gone. Replacing costs little: the receiver keeps its
 * partial copies and each call resumes where the copy of its snapshot ends.
 */
export class SnapshotSender {
  readonly #options: SnapshotSenderOptions;
  #current: OutgoingSnapshot | null = null;
  #closed = false;

  constructor(options: SnapshotSenderOptions) {
    if (!(options.chunkBytes >= 1 && options.windowBytes >= 2 * options.chunkBytes)) {
      throw new RangeError(`snapshot window ${options.windowBytes} must hold at least two chunks of ${options.chunkBytes} bytes`);
    }
    if (!(Number.isSafeInteger(options.attemptsMax) && options.attemptsMax >= 1)) throw new RangeError(`attemptsMax must be a positive integer (got ${options.attemptsMax})`);
    this.#options = options;
  }

  send(message: InstallSnapshot, source: SnapshotSource): Promise<void> {
    if (message.to !== this.#options.peer || message.from !== this.#options.self) {
      throw new Error(`SnapshotSender ${this.#options.self} -> ${this.#options.peer} given a snapshot ${message.from} -> ${message.to}`);
    }
    if (this.#closed) {
      source.close();
      return Promise.reject(new SnapshotShipmentError(message.to, 'closed', 0, 'the peer transport is closed'));
    }
    const current = this.#current;
    const key = transferKey(message);
    if (current !== null && current.key === key) {
      if (current.source !== source) source.close();
      return current.promise;
    }
    current?.abort('superseded', `replaced by snapshot ${message.snapshot.index} (term ${message.snapshot.term}) of leader term ${message.term}`);
    const outgoing = new OutgoingSnapshot(this.#options, key, message, source, current?.settled ?? Promise.resolve());
    this.#current = outgoing;
    void outgoing.settled.then(() => {
      if (this.#current === outgoing) this.#current = null;
    });
    return outgoing.promise;
  }

  /** Cancels the transfer in progress (it rejects `closed`) and closes the client; later sends reject at once. */
  close(): void {
    this.#closed = true;
    this.#current?.abort('closed', 'the peer transport closed');
    this.#options.client.close();
  }
}

/** What makes two sendSnapshot calls the same transfer. */
function transferKey(message: InstallSnapshot): string {
  return `${message.snapshot.index}/${message.snapshot.term}@${message.term}`;
}

/** One sendSnapshot: its attempts, until one succeeds, the peer refuses, they run out, or it is aborted. */
class OutgoingSnapshot {
  readonly promise: Promise<void>;
  /** Resolves (never rejects) once the transfer ended and its source is closed. */
  readonly settled: Promise<void>;
  readonly #controller = new AbortController();
  #abortedAs: { readonly failure: SnapshotShipmentFailure; readonly detail: string } | null = null;

  constructor(
    readonly options: SnapshotSenderOptions,
    readonly key: string,
    readonly message: InstallSnapshot,
    readonly source: SnapshotSource,
    previous: Promise<void>,
  ) {
    this.promise = this.#run(previous);
    this.settled = this.promise.then(
      () => {},
      () => {},
    );
  }

  abort(failure: 'superseded' | 'closed', detail: string): void {
    if (this.#abortedAs !== null) return;
    this.#abortedAs = { failure, detail };
    this.#controller.abort(new Error(detail));
  }

  async #run(previous: Promise<void>): Promise<void> {
    const { peer, log } = this.options;
    const backoff = new Backoff(this.options.retry);
    const what = `snapshot ${this.message.snapshot.index} (term ${this.message.snapshot.term}, ${this.source.totalBytes} bytes) to ${peer}`;
    let attempts = 0;
    try {
      await previous;
      // Bounded by attemptsMax.
      for (;;) {
        this.#throwIfAborted(attempts);
        attempts++;
        try {
          const { resumedAtBytes } = await uploadSnapshot(this.options, this.message, this.source, this.#controller.signal);
          log.info(`sent ${what}${resumedAtBytes > 0 ? `, resumed at ${resumedAtBytes}` : ''} in ${attempts} attempt${attempts === 1 ? '' : 's'}`, {
            event: LogEvent.snapshotSent,
            index: this.message.snapshot.index,
            to: peer,
            bytes: this.source.totalBytes,
            attempts,
          });
          return;
        } catch (error) {
          this.#throwIfAborted(attempts, error);
          const failure = this.#classify(error, attempts);
          if (failure !== null) throw failure;
          // Bounded by attemptsMax; the shipment's final failure is the node's warning.
          log.debug(`${what}: attempt ${attempts} failed (${describe(error)}); retrying`);
          await this.#delay(backoff.nextDelayMs());
        }
      }
    } finally {
      this.source.close();
    }
  }

  /** The error to give up with, or null to try again. */
  #classify(error: unknown, attempts: number): SnapshotShipmentError | null {
    const peer = this.options.peer;
    const cause = { cause: error };
    if (isServiceError(error) && REFUSALS.has(error.code)) return new SnapshotShipmentError(peer, 'refused', attempts, describe(error), cause);
    if (error instanceof SourceFailure) return new SnapshotShipmentError(peer, 'failed', attempts, error.message, cause);
    if (attempts >= this.options.attemptsMax) return new SnapshotShipmentError(peer, 'failed', attempts, describe(error), cause);
    return null;
  }

  #throwIfAborted(attempts: number, cause?: unknown): void {
    const aborted = this.#abortedAs;
    if (aborted !== null) throw new SnapshotShipmentError(this.options.peer, aborted.failure, attempts, aborted.detail, cause === undefined ? undefined : { cause });
  }

  /** Waits `delayMs`, or less if the transfer is aborted meanwhile. */
  #delay(delayMs: number): Promise<void> {
    const signal = this.#controller.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, delayMs);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number' && 'details' in error;
}

function describe(error: unknown): string {
  if (isServiceError(error)) return `${status[error.code] ?? error.code}: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}
