import { Backoff } from '../transport/index.js';
import {
  ClientClosedError,
  DeliveryTimeoutError,
  InternalError,
  InvalidArgumentError,
  OutcomeUnknownError,
  OutOfOrderSequenceError,
  ProducerIdChangedError,
  ResourceExhaustedError,
  SpoolFullError,
  UnavailableError,
  UnknownProducerError,
  DuplicateTooOldError,
} from './errors.js';
import { LogClient, type BrokerMessage, type ProduceResult } from './log-client.js';
import { Spool } from './spool.js';
import { PRODUCER_DEFAULTS, type Acks, type ProducerMessage, type ProducerOptions, type ProducerTestHooks, type SendResult } from './producer-options.js';

interface Settle {
  readonly resolve: (value: SendResult) => void;
  readonly reject: (error: Error) => void;
}

type BatchState = 'waiting' | 'inFlight' | 'done';

interface Batch {
  readonly messages: BrokerMessage[];
  readonly settles: Settle[];
  bytes: number;
  readonly createdMs: number;
  state: BatchState;
  attempts: number;
  /** The producer id and first sequence it was sent with; sequence -1 until first sent. */
  producerId: number;
  firstSequence: number;
  /** Some attempt's outcome is unknown: it may have been written under its sequence. */
  uncertain: boolean;
  /** It was renumbered once after an out-of-order answer; a second one fails it. */
  renumbered: boolean;
  /**
   * Its spool record once spooled (its send()s resolved 'spooled'), else null. A split
   * batch's pieces share the record; it leaves the spool when the last piece is done.
   */
  spool: { readonly id: number; readonly whole: boolean; readonly shared: { remaining: number } } | null;
  /** Loaded from the spool of an earlier run with the identity recorded there, which it keeps until answered. */
  legacy: boolean;
}

/**
 * 'pipelining': up to inFlightPerTopicMax batches in flight, in sequence order.
 * 'recovering': after any failure, wait for everything in flight to be answered, then
 * resend the unanswered batches one at a time in order until none is left that was sent
 * before; the broker's sequence check keeps the order, this keeps the retries short.
 */
type TopicMode = 'pipelining' | 'recovering';

interface TopicState {
  readonly name: string;
  /** Not yet acknowledged or failed, in send order (= sequence order). */
  readonly queue: Batch[];
  inFlight: number;
  mode: TopicMode;
  /** The producer id this topic's sequence numbers belong to (0 before the first send). */
  producerId: number;
  nextSequence: number;
  /** The end of the highest acknowledged batch: where the broker's sequence stands when nothing later was written. */
  ackedEnd: number;
  readonly backoff: Backoff;
  retryTimer: NodeJS.Timeout | null;
  lingerTimer: NodeJS.Timeout | null;
}

type ProducerState = 'open' | 'closing' | 'closed';

/**
 * Sends messages to topics with Kafka's idempotent-producer guarantees: each acknowledged
 * message is written exactly once and, per topic, in send() order, across leader changes,
 * timeouts and lost connections, because every batch carries (producer id, sequence) and
 * the broker answers a retry of a batch it already wrote with the original offsets.
 * Failures that may heal are retried without limit (or until deliveryTimeoutMs).
 */
export class Producer {
  readonly #client: LogClient;
  readonly #idempotent: boolean;
  readonly #acks: Acks;
  readonly #lingerMs: number;
  readonly #batchBytesMax: number;
  readonly #batchMessagesMax: number;
  readonly #inFlightMax: number;
  readonly #deliveryTimeoutMs: number | undefined;
  readonly #retryBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly #bufferedMax: number;
  readonly #hooks: ProducerTestHooks;
  readonly #topics = new Map<string, TopicState>();
  #producerId = 0;
  #initializing: Promise<void> | null = null;
  #buffered = 0;
  #flushing = 0;
  readonly #idleWaiters: (() => void)[] = [];
  #state: ProducerState = 'open';
  readonly #stats = { batchesSent: 0, retries: 0, duplicateAnswers: 0, producerIdChanges: 0, unconfirmedFailedMessages: 0, spooledMessages: 0, spoolAckedMessages: 0, spoolDroppedMessages: 0, spoolResentUnderNewIdMessages: 0 };
  readonly #spool: Spool | null = null;
  readonly #spoolAfterMs: number = 0;
  #spoolTimer: NodeJS.Timeout | null = null;
  readonly #log: (line: string) => void;

  constructor(options: ProducerOptions) {
    const acks = options.acks ?? 'all';
    if (acks !== 'all' && acks !== 'leader' && acks !== 'none') throw new InvalidArgumentError(`acks must be 'all', 'leader' or 'none', not '${String(acks)}'`);
    if (acks !== 'all' && options.idempotence === true) {
      throw new InvalidArgumentError(`acks '${acks}' cannot be idempotent: the answer comes before the broker checks sequences, so a gap could not be reported; use acks 'all' or idempotence: false`);
    }
    this.#acks = acks;
    this.#idempotent = options.idempotence ?? acks === 'all';
    this.#lingerMs = options.lingerMs ?? PRODUCER_DEFAULTS.lingerMs;
    this.#batchBytesMax = options.batchBytesMax ?? PRODUCER_DEFAULTS.batchBytesMax;
    this.#batchMessagesMax = options.batchMessagesMax ?? PRODUCER_DEFAULTS.batchMessagesMax;
    this.#inFlightMax = options.inFlightPerTopicMax ?? PRODUCER_DEFAULTS.inFlightPerTopicMax;
    if (!(Number.isSafeInteger(this.#inFlightMax) && this.#inFlightMax >= 1)) throw new InvalidArgumentError('inFlightPerTopicMax must be 1 or more');
    if (this.#idempotent && this.#inFlightMax > PRODUCER_DEFAULTS.idempotentInFlightMax) {
      throw new InvalidArgumentError(`an idempotent producer keeps at most ${PRODUCER_DEFAULTS.idempotentInFlightMax} batches in flight per topic (the broker remembers that many)`);
    }
    if (!(this.#lingerMs >= 0 && this.#batchBytesMax >= 1 && this.#batchMessagesMax >= 1)) throw new InvalidArgumentError('lingerMs must be >= 0, batchBytesMax and batchMessagesMax >= 1');
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs;
    this.#retryBackoff = options.retryBackoff ?? PRODUCER_DEFAULTS.retryBackoff;
    this.#bufferedMax = options.bufferedMessagesMax ?? PRODUCER_DEFAULTS.bufferedMessagesMax;
    this.#hooks = options.testHooks ?? {};
    const requestTimeoutMs = Math.min(options.requestTimeoutMs ?? PRODUCER_DEFAULTS.requestTimeoutMs, options.deliveryTimeoutMs ?? Infinity);
    this.#log = options.log ?? ((line) => process.stderr.write(`quorumlog producer: ${line}\n`));
    if (options.spool !== undefined) {
      if (!this.#idempotent) throw new InvalidArgumentError('a spool needs idempotence: resending spooled batches after a restart would duplicate them otherwise');
      if (!(Number.isFinite(options.spool.afterMs) && options.spool.afterMs >= 0)) throw new InvalidArgumentError('spool.afterMs must be 0 or more');
      this.#spoolAfterMs = options.spool.afterMs;
      this.#spool = Spool.open({ dir: options.spool.dir, ...(options.spool.bytesMax === undefined ? {} : { bytesMax: options.spool.bytesMax }) });
      if (this.#spool.tornBytesCut > 0) this.#log(`spool ${options.spool.dir}: cut a torn tail of ${this.#spool.tornBytesCut} bytes (a write a crash interrupted; its send() had not resolved)`);
    }
    this.#client = new LogClient({ brokers: options.brokers, timeoutMs: requestTimeoutMs, retryBackoff: this.#retryBackoff });
    if (this.#spool !== null) {
      this.#loadSpool(this.#spool);
      this.#spoolTimer = setInterval(() => this.#spoolAged(), Math.max(5, Math.min(100, Math.floor(this.#spoolAfterMs / 4))));
      setImmediate(() => {
        for (const state of this.#topics.values()) this.#pump(state);
      });
    }
  }

  /** The producer id in use (0 before the first send, and always 0 without idempotence). */
  get producerId(): number {
    return this.#producerId;
  }

  /**
   * Counters since construction: batches first sent, resends, retries answered as
   * duplicates, new ids taken; messages spooled, spooled messages acknowledged, spooled
   * messages given up on (refused by the broker: logged), spooled messages resent under a
   * new producer id (dedupe across ids not guaranteed: logged); messages in the spool now.
   */
  stats(): {
    readonly batchesSent: number;
    readonly retries: number;
    readonly duplicateAnswers: number;
    readonly producerIdChanges: number;
    /** acks 'none': messages whose request failed after send() resolved. */
    readonly unconfirmedFailedMessages: number;
    readonly spooledMessages: number;
    readonly spoolAckedMessages: number;
    readonly spoolDroppedMessages: number;
    readonly spoolResentUnderNewIdMessages: number;
    readonly spoolPendingMessages: number;
  } {
    let pending = 0;
    for (const state of this.#topics.values()) for (const batch of state.queue) if (batch.spool !== null) pending += batch.messages.length;
    return { ...this.#stats, spoolPendingMessages: pending };
  }

  /**
   * Resolves once the message is acknowledged (committed) with its offset or, with a spool,
   * once it is durably spooled (status 'spooled', after spool.afterMs without an answer).
   */
  send(topic: string, message: ProducerMessage): Promise<SendResult> {
    if (this.#state !== 'open') return Promise.reject(new ClientClosedError('the producer is closed'));
    if (this.#buffered >= this.#bufferedMax) {
      return Promise.reject(new ResourceExhaustedError(`${this.#buffered} messages are waiting to be acknowledged; wait for some before sending more`));
    }
    if (this.#spool?.full() === true) {
      return Promise.reject(new SpoolFullError(`the spool holds ${this.#spool.sizeBytes} bytes, its limit is ${this.#spool.bytesMax}: the cluster has not taken the spooled messages yet; this one was not sent`));
    }
    let record: BrokerMessage;
    try {
      record = toRecord(message);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const bytes = messageBytes(record);
    const state = this.#topic(topic);
    return new Promise((resolve, reject) => {
      let batch = state.queue.at(-1);
      if (batch === undefined || !this.#open(batch) || batch.bytes + bytes > this.#batchBytesMax || deliverAtOf(batch.messages[0]) !== deliverAtOf(record)) {
        batch = { messages: [], settles: [], bytes: 0, createdMs: Date.now(), state: 'waiting', attempts: 0, producerId: 0, firstSequence: -1, uncertain: false, renumbered: false, spool: null, legacy: false };
        state.queue.push(batch);
        state.lingerTimer ??= setTimeout(() => {
          state.lingerTimer = null;
          this.#pump(state);
        }, this.#lingerMs);
      }
      batch.messages.push(record);
      batch.settles.push({ resolve, reject });
      batch.bytes += bytes;
      this.#buffered++;
      if (!this.#open(batch) || batch.bytes >= this.#batchBytesMax) this.#pump(state);
    });
  }

  /** Sends what waits for its linger time now, and resolves once every message sent so far is answered (or spooled). */
  async flush(): Promise<void> {
    this.#flushing++;
    try {
      for (const state of this.#topics.values()) this.#pump(state);
      if (this.#buffered > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    } finally {
      this.#flushing--;
    }
  }

  /**
   * Flushes, then closes the connections. send() is refused from the start of close().
   * Spooled messages not yet acknowledged stay in the spool for the next producer on it.
   */
  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    await this.flush();
    this.#state = 'closed';
    for (const state of this.#topics.values()) {
      if (state.lingerTimer !== null) clearTimeout(state.lingerTimer);
      if (state.retryTimer !== null) clearTimeout(state.retryTimer);
    }
    if (this.#spoolTimer !== null) clearInterval(this.#spoolTimer);
    this.#spool?.close();
    this.#client.close();
  }

  /** Queues what an earlier run left in the spool, in order, ahead of anything new. */
  #loadSpool(spool: Spool): void {
    for (const record of spool.live()) {
      const state = this.#topic(record.topic);
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
  }

  /**
   * Writes every batch unanswered for spool.afterMs to the spool (one write, one fsync) and
   * resolves its send()s as 'spooled'. Per topic only a prefix of the queue is spooled (the
   * oldest batches), so what a restart resends from the spool is everything unacknowledged
   * up to some point. Aged batches that no longer fit fail with SpoolFullError.
   */
  #spoolAged(): void {
    const spool = this.#spool;
    if (spool === null || this.#state === 'closed') return;
    const now = Date.now();
    const aged: { state: TopicState; batch: Batch }[] = [];
    for (const state of this.#topics.values()) {
      for (const batch of state.queue) {
        if (batch.spool !== null) continue;
        if (now - batch.createdMs < this.#spoolAfterMs) break;
        aged.push({ state, batch });
      }
    }
    if (aged.length === 0) return;
    const records = spool.append(aged.map(({ state, batch }) => ({ topic: state.name, producerId: batch.firstSequence >= 0 ? batch.producerId : 0, firstSequence: batch.firstSequence, messages: batch.messages })));
    for (const [k, record] of records.entries()) {
      const { batch } = aged[k]!;
      batch.spool = { id: record.spoolId, whole: true, shared: { remaining: 1 } };
      for (const settle of batch.settles.splice(0)) settle.resolve({ status: 'spooled', offset: null, spoolId: record.spoolId });
      this.#stats.spooledMessages += batch.messages.length;
      this.#buffered -= batch.messages.length;
    }
    for (const { state, batch } of aged.slice(records.length)) {
      if (batch.state !== 'waiting') continue;
      const maybe = batch.uncertain ? '; an earlier attempt may have written it' : '';
      this.#finish(state, batch, new SpoolFullError(`topic ${state.name}: not acknowledged within ${this.#spoolAfterMs} ms and the spool is full (${spool.sizeBytes} of ${spool.bytesMax} bytes)${maybe}`));
    }
    if (this.#buffered === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** A piece of a spooled batch is done (acknowledged or given up on): the record leaves the spool after its last piece. */
  #spoolDone(batch: Batch): void {
    if (batch.spool === null) return;
    if (--batch.spool.shared.remaining === 0) this.#spool?.remove(batch.spool.id);
  }

  /**
   * A spooled batch is resent under the producer's current id from a fresh sequence,
   * because its old identity can no longer be deduplicated: said in the log and the stats.
   */
  #reidentify(state: TopicState, batch: Batch, why: string): void {
    const old = `${batch.producerId}/${batch.firstSequence}`;
    batch.legacy = false;
    batch.firstSequence = -1;
    batch.uncertain = false;
    this.#stats.spoolResentUnderNewIdMessages += batch.messages.length;
    this.#log(`topic ${state.name}: spooled batch ${batch.spool?.id} (${batch.messages.length} messages, was ${old}): ${why}; it is resent under a new producer id, and dedupe across ids is not guaranteed: if an earlier attempt wrote it, it will be there twice`);
  }

  #topic(name: string): TopicState {
    let state = this.#topics.get(name);
    if (state === undefined) {
      state = { name, queue: [], inFlight: 0, mode: 'pipelining', producerId: 0, nextSequence: 0, ackedEnd: 0, backoff: new Backoff(this.#retryBackoff), retryTimer: null, lingerTimer: null };
      this.#topics.set(name, state);
    }
    return state;
  }

  /** A batch that can still take messages: never sent, not spooled and not full. */
  #open(batch: Batch): boolean {
    return batch.spool === null && batch.attempts === 0 && batch.state === 'waiting' && batch.firstSequence < 0 && batch.messages.length < this.#batchMessagesMax;
  }

  /** A never-sent batch goes once it is full, its linger time is up, or a flush asks. */
  #ready(state: TopicState, batch: Batch): boolean {
    if (batch.attempts > 0 || batch !== state.queue.at(-1)) return true;
    return this.#flushing > 0 || this.#state !== 'open' || !this.#open(batch) || batch.bytes >= this.#batchBytesMax || Date.now() - batch.createdMs >= this.#lingerMs;
  }

  #pump(state: TopicState): void {
    if (this.#state === 'closed') return;
    if (this.#idempotent && this.#producerId === 0) {
      if (state.queue.length > 0) this.#initProducerId();
      return;
    }
    if (this.#idempotent && state.producerId !== this.#producerId && state.producerId !== 0) state.mode = 'recovering';
    if (state.mode === 'recovering') {
      if (state.inFlight > 0 || state.retryTimer !== null) return;
      if (state.producerId !== this.#producerId) this.#adoptNewId(state);
      const front = state.queue[0];
      if (front !== undefined && front.attempts > 0) {
        this.#sendBatch(state, front);
        return;
      }
      state.mode = 'pipelining';
      state.backoff.reset();
    }
    // Bounded by inFlightMax and the queue (a copy: a batch may finish while we go).
    for (const batch of [...state.queue]) {
      if (state.inFlight >= this.#inFlightMax) break;
      if (batch.state !== 'waiting') continue;
      if (!this.#ready(state, batch)) {
        // Its linger time is not up yet: come back then.
        state.lingerTimer ??= setTimeout(() => {
          state.lingerTimer = null;
          this.#pump(state);
        }, Math.max(0, batch.createdMs + this.#lingerMs - Date.now()));
        break;
      }
      this.#sendBatch(state, batch);
    }
  }

  #initProducerId(): void {
    this.#initializing ??= (async () => {
      const backoff = new Backoff(this.#retryBackoff);
      // Bounded by close(): retries until an id is granted or the producer is closed.
      while (this.#state !== 'closed') {
        try {
          this.#producerId = await this.#client.initProducer();
          return;
        } catch (error) {
          if (error instanceof ClientClosedError || !retriable(error)) {
            this.#failAll(error as Error);
            return;
          }
          this.#expireUnsent();
          await new Promise((resolve) => setTimeout(resolve, backoff.nextDelayMs()));
        }
      }
    })().finally(() => {
      this.#initializing = null;
      for (const s of this.#topics.values()) this.#pump(s);
    });
  }

  /**
   * The producer took a new id. Batches sent under the old one are resent under the new one
   * from sequence 0 when no earlier attempt may have written them; the others fail with
   * ProducerIdChangedError, because the broker cannot deduplicate across ids.
   */
  #adoptNewId(state: TopicState): void {
    for (const batch of [...state.queue]) {
      if (batch.firstSequence < 0 || batch.legacy) continue;
      if (batch.uncertain && batch.spool !== null) {
        this.#reidentify(state, batch, `the producer id expired while it was unanswered`);
      } else if (batch.uncertain) {
        this.#finish(state, batch, new ProducerIdChangedError(`topic ${state.name}: the producer id ${batch.producerId} expired while this batch was unanswered and an earlier attempt may have written it; it is not resent under the new id ${this.#producerId}, which could duplicate it`));
      } else {
        batch.firstSequence = -1;
      }
    }
    state.producerId = this.#producerId;
    state.nextSequence = 0;
    state.ackedEnd = 0;
  }

  #sendBatch(state: TopicState, batch: Batch): void {
    if (batch.spool === null && this.#deliveryTimeoutMs !== undefined && Date.now() - batch.createdMs > this.#deliveryTimeoutMs) {
      const maybe = batch.uncertain ? '; an earlier attempt may have written it' : '';
      this.#finish(state, batch, new DeliveryTimeoutError(`topic ${state.name}: not acknowledged within ${this.#deliveryTimeoutMs} ms${maybe}`));
      setImmediate(() => this.#pump(state));
      return;
    }
    if (batch.firstSequence < 0) {
      if (this.#idempotent) {
        state.producerId = this.#producerId;
        batch.producerId = this.#producerId;
        batch.firstSequence = state.nextSequence;
        state.nextSequence += batch.messages.length;
      } else {
        batch.firstSequence = 0;
      }
    }
    if (batch.spool?.whole === true && this.#spool !== null) {
      try {
        // Durable before the attempt: a restart must resend under the identity last used.
        this.#spool.setIdentity(batch.spool.id, batch.producerId, batch.firstSequence);
      } catch (error) {
        this.#log(`spool: could not record the new identity of spooled batch ${batch.spool.id}: ${String(error)}; a restart before it is acknowledged could duplicate it`);
      }
    }
    batch.state = 'inFlight';
    if (batch.attempts === 0) this.#stats.batchesSent++;
    else this.#stats.retries++;
    batch.attempts++;
    state.inFlight++;
    const attempt = batch.attempts;
    const answer = this.#client.produce({ topic: state.name, producerId: batch.producerId, firstSequence: batch.firstSequence, messages: batch.messages }, { acks: this.#acks });
    // acks 'none': fire and forget; the batch still holds its in-flight slot until answered.
    if (this.#acks === 'none') for (const settle of batch.settles.splice(0)) settle.resolve({ status: 'sent', offset: null });
    answer.then(
      (result) => {
        if (this.#hooks.dropAnswer?.({ topic: state.name, firstSequence: batch.firstSequence, attempt, result }) === true) {
          this.#onFailure(state, batch, new OutcomeUnknownError('produce: answer dropped by a test hook'));
        } else {
          this.#onSuccess(state, batch, result);
        }
      },
      (error: unknown) => this.#onFailure(state, batch, error),
    ).finally(() => {
      state.inFlight--;
      this.#pump(state);
    });
  }

  #onSuccess(state: TopicState, batch: Batch, result: ProduceResult): void {
    if (result.duplicate) this.#stats.duplicateAnswers++;
    if (this.#idempotent && batch.producerId === state.producerId) state.ackedEnd = Math.max(state.ackedEnd, batch.firstSequence + batch.messages.length);
    if (this.#acks === 'leader') for (const settle of batch.settles) settle.resolve({ status: 'leaderDurable', offset: null, logIndex: result.logIndex });
    else if (result.deliverAtMs > 0) for (const settle of batch.settles) settle.resolve({ status: 'scheduled', offset: null, deliverAtMs: result.deliverAtMs });
    else batch.settles.forEach((settle, k) => settle.resolve({ status: 'acknowledged', offset: result.firstOffset + k }));
    if (batch.spool !== null) {
      this.#stats.spoolAckedMessages += batch.messages.length;
      this.#spoolDone(batch);
    }
    this.#remove(state, batch);
    if (state.mode === 'pipelining') state.backoff.reset();
  }

  #onFailure(state: TopicState, batch: Batch, error: unknown): void {
    batch.state = 'waiting';
    if (this.#acks === 'none') {
      // Its send()s resolved when it left: nothing to retry into, only to count and say.
      this.#stats.unconfirmedFailedMessages += batch.messages.length;
      if (!(error instanceof ClientClosedError)) this.#log(`topic ${state.name}: a batch of ${batch.messages.length} messages sent with acks 'none' failed and is not retried: ${String(error)}`);
      this.#remove(state, batch);
      return;
    }
    if (this.#state === 'closed' || error instanceof ClientClosedError) {
      this.#finish(state, batch, error as Error);
      return;
    }
    const wasAlone = state.mode === 'recovering' && batch === state.queue[0];
    state.mode = 'recovering';
    if (batch.legacy && (error instanceof OutOfOrderSequenceError || error instanceof UnknownProducerError)) {
      this.#reidentify(state, batch, error instanceof UnknownProducerError ? 'its producer id expired or is unknown' : `the broker refused its sequence (${error.message})`);
      return;
    }
    if (error instanceof DuplicateTooOldError && batch.spool !== null) {
      // The broker has later sequences of this id: this batch was written, long ago.
      this.#stats.spoolAckedMessages += batch.messages.length;
      this.#spoolDone(batch);
      this.#remove(state, batch);
      return;
    }
    if (error instanceof OutOfOrderSequenceError && this.#idempotent) {
      // Sent alone after everything before it was answered: nothing between the acknowledged
      // batches and this one was written, so it and the batches after it move down.
      if (wasAlone && batch.producerId === state.producerId) {
        if (batch.renumbered) {
          this.#finish(state, batch, error);
          return;
        }
        this.#renumberFrom(state, batch);
      }
      return;
    }
    if (error instanceof UnknownProducerError && this.#idempotent) {
      if (batch.producerId === this.#producerId) {
        this.#producerId = 0;
        this.#stats.producerIdChanges++;
      }
      return;
    }
    if (retriable(error)) {
      if (error instanceof OutcomeUnknownError || error instanceof InternalError) batch.uncertain = true;
      state.retryTimer ??= setTimeout(() => {
        state.retryTimer = null;
        this.#pump(state);
      }, state.backoff.nextDelayMs());
      return;
    }
    if (error instanceof InvalidArgumentError && batch.messages.length > 1) {
      // One bad message (too large, say) refuses its whole batch, which was therefore not
      // written: split it, so the others go through and only the bad one fails.
      this.#split(state, batch);
      return;
    }
    this.#finish(state, batch, error as Error);
  }

  /** Replaces a refused batch by one batch per message, taking over its sequence numbers in order. */
  #split(state: TopicState, batch: Batch): void {
    const singles = batch.messages.map(
      (message, k): Batch => ({
        messages: [message],
        settles: batch.settles.slice(k, k + 1),
        bytes: 0,
        createdMs: batch.createdMs,
        state: 'waiting',
        attempts: batch.attempts,
        producerId: batch.producerId,
        firstSequence: batch.firstSequence < 0 || !this.#idempotent ? batch.firstSequence : batch.firstSequence + k,
        uncertain: false,
        renumbered: batch.renumbered,
        spool: batch.spool === null ? null : { id: batch.spool.id, whole: false, shared: batch.spool.shared },
        legacy: batch.legacy,
      }),
    );
    if (batch.spool !== null) batch.spool.shared.remaining += singles.length - 1;
    state.queue.splice(state.queue.indexOf(batch), 1, ...singles);
  }

  #renumberFrom(state: TopicState, first: Batch): void {
    let sequence = state.ackedEnd;
    for (const batch of state.queue.slice(state.queue.indexOf(first))) {
      if (batch.firstSequence < 0) break;
      batch.firstSequence = sequence;
      batch.uncertain = false;
      sequence += batch.messages.length;
    }
    first.renumbered = true;
    state.nextSequence = sequence;
  }

  #finish(state: TopicState, batch: Batch, error: Error): void {
    for (const settle of batch.settles) settle.reject(error);
    if (batch.spool !== null && this.#state !== 'closed' && !(error instanceof ClientClosedError)) {
      // Its send()s resolved 'spooled' long ago: the log is the only place to say it.
      this.#stats.spoolDroppedMessages += batch.messages.length;
      this.#log(`topic ${state.name}: spooled batch ${batch.spool.id} (${batch.messages.length} messages) was refused and leaves the spool undelivered: ${error.message}`);
      this.#spoolDone(batch);
    }
    this.#remove(state, batch);
  }

  #remove(state: TopicState, batch: Batch): void {
    batch.state = 'done';
    const at = state.queue.indexOf(batch);
    if (at >= 0) state.queue.splice(at, 1);
    if (batch.spool === null) this.#buffered -= batch.messages.length;
    if (this.#buffered === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Without a producer id nothing is sent, so deliveryTimeoutMs is enforced here too. */
  #expireUnsent(): void {
    if (this.#deliveryTimeoutMs === undefined) return;
    const now = Date.now();
    for (const state of this.#topics.values()) {
      for (const batch of [...state.queue]) {
        if (batch.state === 'waiting' && batch.spool === null && now - batch.createdMs > this.#deliveryTimeoutMs) {
          const maybe = batch.uncertain ? '; an earlier attempt may have written it' : '';
          this.#finish(state, batch, new DeliveryTimeoutError(`topic ${state.name}: not acknowledged within ${this.#deliveryTimeoutMs} ms (no producer id could be obtained: no leader answered)${maybe}`));
        }
      }
    }
  }

  #failAll(error: Error): void {
    for (const state of this.#topics.values()) for (const batch of [...state.queue]) if (batch.state === 'waiting') this.#finish(state, batch, error);
  }
}

/** Failures after which the same batch may succeed later. */
function retriable(error: unknown): boolean {
  if (error instanceof InternalError) return /RST_STREAM|Received RST/.test(error.message);
  return error instanceof OutcomeUnknownError || error instanceof UnavailableError || error instanceof ResourceExhaustedError;
}

const encoder = new TextEncoder();
const bytesOf = (value: Uint8Array | string): Uint8Array => (typeof value === 'string' ? encoder.encode(value) : value);

function messageBytes(m: BrokerMessage): number {
  return m.key.length + m.payload.length + m.headers.reduce((n, h) => n + h.name.length + h.value.length, 0);
}

const DELIVER_AT_HEADER = 'quorumlog-deliver-at-ms';

/** The delivery time a message asks for ('' for none): messages of one batch must agree. */
function deliverAtOf(message: BrokerMessage | undefined): string {
  const header = message?.headers.find((h) => h.name === DELIVER_AT_HEADER);
  return header === undefined ? '' : Buffer.from(header.value).toString('latin1');
}

function toRecord(message: ProducerMessage): BrokerMessage {
  const delay = message.deliverAtMs;
  if (delay !== undefined && !(Number.isSafeInteger(delay) && delay >= 0)) throw new InvalidArgumentError(`deliverAtMs must be a time in ms since 1970, not ${delay}`);
  const headers = (message.headers ?? []).filter((h) => delay === undefined || h.name !== DELIVER_AT_HEADER).map((h) => ({ name: h.name, value: bytesOf(h.value) }));
  if (delay !== undefined) headers.push({ name: DELIVER_AT_HEADER, value: bytesOf(String(delay)) });
  return {
    key: message.key === undefined ? new Uint8Array(0) : bytesOf(message.key),
    headers,
    payload: bytesOf(message.payload),
    timestampMs: message.timestampMs ?? Date.now(),
  };
}
