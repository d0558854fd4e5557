import { InvalidArgumentError, SpoolFullError } from './errors.js';
import type { Batch, TopicState } from './producer-batches.js';
import { messageBytes } from './producer-message.js';
import type { SpoolOptions } from './producer-options.js';
import { Spool, type SpoolRecord } from './spool.js';

/** The Producer's counters (see Producer.stats()) that only spooled batches move. */
export interface SpoolCounters {
  spooledMessages: number;
  spoolAckedMessages: number;
  spoolDroppedMessages: number;
  spoolResentUnderNewIdMessages: number;
}

/** An aged batch, not in flight, that did not fit in the spool, with the error to fail it with. */
interface Refused {
  readonly state: TopicState;
  readonly batch: Batch;
  readonly error: SpoolFullError;
}

/** What one pass over the aged batches did: the caller stops counting the spooled messages as buffered and fails the refused batches. */
export interface AgedOutcome {
  /** Messages now in the spool, their send()s resolved 'spooled'. */
  readonly spooledMessages: number;
  readonly refused: readonly Refused[];
}

/**
 * The Producer's side of its spool (spool.ts holds the file): which batches go there and
 * when, the identity each is resent under, when a record leaves, and what is logged about
 * spooled batches, whose send()s resolved long ago. The Producer keeps its queues and
 * buffered count; what to fail or stop counting comes back to it as results.
 */
export class ProducerSpool {
  readonly #spool: Spool;
  readonly #afterMs: number;
  readonly #log: (line: string) => void;
  readonly #stats: SpoolCounters;

  private constructor(spool: Spool, afterMs: number, log: (line: string) => void, stats: SpoolCounters) {
    this.#spool = spool;
    this.#afterMs = afterMs;
    this.#log = log;
    this.#stats = stats;
  }

  static open(options: SpoolOptions, context: { readonly log: (line: string) => void; readonly stats: SpoolCounters }): ProducerSpool {
    if (!(Number.isFinite(options.afterMs) && options.afterMs >= 0)) throw new InvalidArgumentError('spool.afterMs must be 0 or more');
    const spool = Spool.open({ dir: options.dir, ...(options.bytesMax === undefined ? {} : { bytesMax: options.bytesMax }) });
    if (spool.tornBytesCut > 0) context.log(`spool ${options.dir}: cut a torn tail of ${spool.tornBytesCut} bytes (a write a crash interrupted; its send() had not resolved)`);
    return new ProducerSpool(spool, options.afterMs, context.log, context.stats);
  }

  get checkIntervalMs(): number {
    return Math.max(5, Math.min(100, Math.floor(this.#afterMs / 4)));
  }

  /** What an earlier run left, in the order it was spooled. */
  live(): SpoolRecord[] {
    return this.#spool.live();
  }

  /** The error send() is refused with while the spool is full, else null. */
  sendRefusal(): SpoolFullError | null {
    if (!this.#spool.full()) return null;
    return new SpoolFullError(`the spool holds ${this.#spool.sizeBytes} bytes, its limit is ${this.#spool.bytesMax}: the cluster has not taken the spooled messages yet; this one was not sent`);
  }

  /**
   * Writes every batch unanswered for spool.afterMs to the spool (one write, one fsync) and
   * resolves its send()s as 'spooled'. Per topic only a prefix of the queue is spooled (the
   * oldest batches), so what a restart resends from the spool is everything unacknowledged
   * up to some point. Aged batches that no longer fit fail with SpoolFullError (the caller
   * fails them). Null when no batch was due.
   */
  spoolAged(topics: Iterable<TopicState>): AgedOutcome | null {
    const now = Date.now();
    const aged: { state: TopicState; batch: Batch }[] = [];
    for (const state of topics) {
      for (const batch of state.queue) {
        if (batch.spool !== null) continue;
        if (now - batch.createdMs < this.#afterMs) break;
        aged.push({ state, batch });
      }
    }
    if (aged.length === 0) return null;
    const records = this.#spool.append(aged.map(({ state, batch }) => ({ topic: state.name, producerId: batch.firstSequence >= 0 ? batch.producerId : 0, firstSequence: batch.firstSequence, messages: batch.messages })));
    let spooledMessages = 0;
    for (const [k, record] of records.entries()) {
      const { batch } = aged[k]!;
      batch.spool = { id: record.spoolId, whole: true, shared: { remaining: 1 } };
      for (const settle of batch.settles.splice(0)) settle.resolve({ status: 'spooled', offset: null, spoolId: record.spoolId });
      this.#stats.spooledMessages += batch.messages.length;
      spooledMessages += batch.messages.length;
    }
    const refused: Refused[] = [];
    for (const { state, batch } of aged.slice(records.length)) {
      if (batch.state !== 'waiting') continue;
      const maybe = batch.uncertain ? '; an earlier attempt may have written it' : '';
      refused.push({ state, batch, error: new SpoolFullError(`topic ${state.name}: not acknowledged within ${this.#afterMs} ms and the spool is full (${this.#spool.sizeBytes} of ${this.#spool.bytesMax} bytes)${maybe}`) });
    }
    return { spooledMessages, refused };
  }

  /** A batch is about to be sent under its (possibly new) identity; only a whole spooled batch has a record to update. */
  recordIdentity(batch: Batch): void {
    if (batch.spool?.whole !== true) return;
    try {
      // Durable before the attempt: a restart must resend under the identity last used.
      this.#spool.setIdentity(batch.spool.id, batch.producerId, batch.firstSequence);
    } catch (error) {
      this.#log(`spool: could not record the new identity of spooled batch ${batch.spool.id}: ${String(error)}; a restart before it is acknowledged could duplicate it`);
    }
  }

  /** A spooled batch (or piece) was acknowledged, or the broker answered that it was written long ago. */
  acknowledged(batch: Batch): void {
    this.#stats.spoolAckedMessages += batch.messages.length;
    this.#done(batch);
  }

  /** A spooled batch (or piece) was refused for good while the producer is open. */
  dropped(state: TopicState, batch: Batch, error: Error): void {
    // Its send()s resolved 'spooled' long ago: the log is the only place to say it.
    this.#stats.spoolDroppedMessages += batch.messages.length;
    this.#log(`topic ${state.name}: spooled batch ${batch.spool?.id} (${batch.messages.length} messages) was refused and leaves the spool undelivered: ${error.message}`);
    this.#done(batch);
  }

  /**
   * A spooled batch is resent under the producer's current id from a fresh sequence,
   * because its old identity can no longer be deduplicated: said in the log and the stats.
   */
  reidentify(state: TopicState, batch: Batch, why: string): void {
    const old = `${batch.producerId}/${batch.firstSequence}`;
    batch.legacy = false;
    batch.firstSequence = -1;
    batch.uncertain = false;
    this.#stats.spoolResentUnderNewIdMessages += batch.messages.length;
    this.#log(`topic ${state.name}: spooled batch ${batch.spool?.id} (${batch.messages.length} messages, was ${old}): ${why}; it is resent under a new producer id, and dedupe across ids is not guaranteed: if an earlier attempt wrote it, it will be there twice`);
  }

  close(): void {
    this.#spool.close();
  }

  /** A piece of a spooled batch is done (acknowledged or given up on): the record leaves the spool after its last piece. */
  #done(batch: Batch): void {
    if (batch.spool === null) return;
    if (--batch.spool.shared.remaining === 0) this.#spool.remove(batch.spool.id);
  }
}

/**
 * Queues a batch an earlier run left in the spool behind those already queued for its topic.
 * One that was sent then (legacy) keeps its recorded identity, and its topic starts in
 * recovery from there; one never sent is numbered like a new batch.
 */
export function queueSpooled(state: TopicState, record: SpoolRecord): void {
  const legacy = record.firstSequence >= 0;
  state.queue.push({
    messages: [...record.messages],
    settles: [],
    bytes: record.messages.reduce((n, m) => n + messageBytes(m), 0),
    createdMs: Date.now(),
    state: 'waiting',
    attempts: legacy ? 1 : 0,
    producerId: legacy ? record.producerId : 0,
    firstSequence: record.firstSequence,
    uncertain: legacy,
    renumbered: false,
    spool: { id: record.spoolId, whole: true, shared: { remaining: 1 } },
    legacy,
    eager: false,
  });
  if (legacy) {
    if (state.producerId === 0) {
      state.producerId = record.producerId;
      state.ackedEnd = record.firstSequence;
    }
    state.nextSequence = Math.max(state.nextSequence, record.firstSequence + record.messages.length);
    state.mode = 'recovering';
  }
}
