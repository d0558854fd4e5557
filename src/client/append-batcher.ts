import { index, type Index } from '../../raft/index.js';
import { InvalidArgumentError, ResourceExhaustedError } from './errors.js';
import type { AppendAcks } from '../transport/index.js';
import type { LogClient } from './log-client.js';

export interface AppendBatcherOptions {
  /** Append requests in flight at once; records sent meanwhile wait for the next one. Default 4. */
  readonly requestsInFlightMax?: number;
  /** Records per Append request, at most. Default 4096. */
  readonly batchRecordsMax?: number;
  /** Payload bytes per Append request, at most (one larger record still goes alone). Default 1 MiB. */
  readonly batchBytesMax?: number;
  /** Records waiting to be sent beyond which send() rejects with ResourceExhaustedError. Default 100,000. */
  readonly waitingRecordsMax?: number;
  /** How long a record may wait for more to join its request when a request slot is free. Default 0: the same tick only. */
  readonly lingerMs?: number;
  /** When a record resolves: 'all' (default) once committed, 'leader' once durable in the leader's log. */
  readonly acks?: AppendAcks;
}

export const APPEND_BATCHER_DEFAULTS = {
  requestsInFlightMax: 4,
  batchRecordsMax: 4096,
  batchBytesMax: 1024 * 1024,
  waitingRecordsMax: 100_000,
  lingerMs: 0,
} as const;

type Settle = (error: unknown, index: Index) => void;

/**
 * Sends single records as few Append requests as it can, like a Kafka producer's batches:
 * records sent in the same tick, or while every request slot is busy, share one request,
 * which the node proposes as consecutive entries. Each record resolves with its own index
 * once its request is committed; a failed request fails each of its records with the
 * request's error (an OutcomeUnknownError stays one: the batch may or may not have
 * committed). Records are appended in the order sent while requestsInFlightMax is 1; with
 * more, requests may overtake each other.
 */
export class AppendBatcher {
  readonly #client: LogClient;
  readonly #requestsInFlightMax: number;
  readonly #batchRecordsMax: number;
  readonly #batchBytesMax: number;
  readonly #waitingRecordsMax: number;
  readonly #lingerMs: number;
  readonly #acks: AppendAcks;
  /** Waiting records and their settle callbacks, in send order; `#head` is the oldest. */
  #records: Uint8Array[] = [];
  #settles: Settle[] = [];
  #head = 0;
  #inFlight = 0;
  #scheduled = false;

  constructor(client: LogClient, options: AppendBatcherOptions = {}) {
    this.#client = client;
    this.#requestsInFlightMax = options.requestsInFlightMax ?? APPEND_BATCHER_DEFAULTS.requestsInFlightMax;
    this.#batchRecordsMax = options.batchRecordsMax ?? APPEND_BATCHER_DEFAULTS.batchRecordsMax;
    this.#batchBytesMax = options.batchBytesMax ?? APPEND_BATCHER_DEFAULTS.batchBytesMax;
    this.#waitingRecordsMax = options.waitingRecordsMax ?? APPEND_BATCHER_DEFAULTS.waitingRecordsMax;
    this.#lingerMs = options.lingerMs ?? APPEND_BATCHER_DEFAULTS.lingerMs;
    this.#acks = options.acks ?? 'all';
    if (!(this.#requestsInFlightMax >= 1 && this.#batchRecordsMax >= 1 && this.#batchBytesMax >= 1)) {
      throw new InvalidArgumentError('AppendBatcher limits must be at least 1');
    }
  }

  /** Records waiting to be sent (not yet in a request). */
  get waiting(): number {
    return this.#records.length - this.#head;
  }

  /** Appends one record; resolves with its index once acknowledged (see AppendBatcherOptions.acks). */
  send(record: Uint8Array): Promise<Index> {
    return new Promise((resolve, reject) => {
      this.sendWith(record, (error, at) => (error === null ? resolve(at) : reject(error)));
    });
  }

  /**
   * send() without a promise: `settle(null, index)` once acknowledged, or `settle(error, 0)`.
   * Called at most once, never synchronously.
   */
  sendWith(record: Uint8Array, settle: Settle): void {
    if (this.waiting >= this.#waitingRecordsMax) {
      const error = new ResourceExhaustedError(`${this.waiting} records are already waiting to be sent; retry later`);
      queueMicrotask(() => settle(error, index(0)));
      return;
    }
    this.#records.push(record);
    this.#settles.push(settle);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#requestsInFlightMax) return;
    this.#scheduled = true;
    const go = (): void => {
      this.#scheduled = false;
      this.#drain();
    };
    if (this.#lingerMs > 0) setTimeout(go, this.#lingerMs);
    else setImmediate(go);
  }

  /** Starts requests while slots are free and records wait. */
  #drain(): void {
    while (this.#inFlight < this.#requestsInFlightMax && this.waiting > 0) {
      const { records, settles } = this.#takeBatch();
      this.#inFlight++;
      this.#client.append(records, { acks: this.#acks }).then(
        (result) => {
          this.#inFlight--;
          for (let k = 0; k < settles.length; k++) settles[k]?.(null, index(result.firstIndex + k));
          this.#schedule();
        },
        (error: unknown) => {
          this.#inFlight--;
          for (const settle of settles) settle(error, index(0));
          this.#schedule();
        },
      );
    }
  }

  #takeBatch(): { records: Uint8Array[]; settles: Settle[] } {
    const start = this.#head;
    let end = start;
    let bytes = 0;
    const limit = Math.min(this.#records.length, start + this.#batchRecordsMax);
    while (end < limit) {
      const size = this.#records[end]?.length ?? 0;
      if (end > start && bytes + size > this.#batchBytesMax) break;
      bytes += size;
      end++;
    }
    const records = this.#records.slice(start, end);
    const settles = this.#settles.slice(start, end);
    this.#head = end;
    if (this.#head === this.#records.length) {
      this.#records = [];
      this.#settles = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#settles = this.#settles.slice(this.#head);
      this.#head = 0;
    }
    return { records, settles };
  }
}
