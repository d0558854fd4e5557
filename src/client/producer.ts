import { Backoff } from '../transport/index.js';
import {
  AbortedError,
  ClientClosedError,
  DeliveryTimeoutError,
  InternalError,
  InvalidArgumentError,
  OutcomeUnknownError,
  OutOfOrderSequenceError,
  ProducerIdChangedError,
  ResourceExhaustedError,
  UnavailableError,
  UnknownProducerError,
  DuplicateTooOldError,
} from './errors.js';
import { sleepUnlessAborted } from './abortable.js';
import { checkBrokers } from './broker-address.js';
import { LOG_CLIENT_DEFAULTS, LogClient, type BrokerMessage, type CallOptions, type ProduceResult } from './log-client.js';
import { assignSequence, isOpen, laterSequenceAcknowledged, newBatch, newTopicState, removeBatch, renumberFrom, splitBatch, takeOversized, type Batch, type Settle, type TopicState } from './producer-batches.js';
import { deliverAtOf, messageBytes, REQUEST_ENVELOPE_BYTES, requestBytesOf, toRecord } from './producer-message.js';
import { PRODUCER_DEFAULTS, type Acks, type ProducerMessage, type ProducerOptions, type ProducerTestHooks, type SendResult } from './producer-options.js';
import { ProducerSpool, queueSpooled } from './producer-spool.js';

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
  /** lingerMs was left to its default: a batch to an idle topic does not wait for it (Batch.eager). */
  readonly #adaptiveLinger: boolean;
  readonly #batchBytesMax: number;
  readonly #batchMessagesMax: number;
  /** The largest produce request this client's gRPC channel sends. */
  readonly #requestBytesMax = LOG_CLIENT_DEFAULTS.messageBytesMax;
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
  /** The first close()'s work: a second close() waits for it. */
  #closed: Promise<void> | null = null;
  /** Ends the producer id loop's back-off sleep at close(). */
  readonly #closing = new AbortController();
  readonly #stats = { batchesSent: 0, retries: 0, duplicateAnswers: 0, producerIdChanges: 0, unconfirmedFailedMessages: 0, spooledMessages: 0, spoolAckedMessages: 0, spoolDroppedMessages: 0, spoolResentUnderNewIdMessages: 0 };
  /** Null without spool options, and then every batch's spool is null too. */
  readonly #spool: ProducerSpool | null = null;
  #spoolTimer: NodeJS.Timeout | null = null;
  readonly #log: (line: string) => void;

  constructor(options: ProducerOptions) {
    // Before the spool is opened: a bad address must not leave it locked.
    checkBrokers(options.brokers);
    const acks = options.acks ?? 'all';
    if (acks !== 'all' && acks !== 'leader' && acks !== 'none') throw new InvalidArgumentError(`acks must be 'all', 'leader' or 'none', not '${String(acks)}'`);
    if (acks !== 'all' && options.idempotence === true) {
      throw new InvalidArgumentError(`acks '${acks}' cannot be idempotent: the answer comes before the broker checks sequences, so a gap could not be reported; use acks 'all' or idempotence: false`);
    }
    this.#acks = acks;
    this.#idempotent = options.idempotence ?? acks === 'all';
    this.#lingerMs = options.lingerMs ?? PRODUCER_DEFAULTS.lingerMs;
    this.#adaptiveLinger = options.lingerMs === undefined;
    this.#batchBytesMax = options.batchBytesMax ?? PRODUCER_DEFAULTS.batchBytesMax;
    this.#batchMessagesMax = options.batchMessagesMax ?? PRODUCER_DEFAULTS.batchMessagesMax;
    this.#inFlightMax = options.inFlightPerTopicMax ?? PRODUCER_DEFAULTS.inFlightPerTopicMax;
    if (!(Number.isSafeInteger(this.#inFlightMax) && this.#inFlightMax >= 1)) throw new InvalidArgumentError('inFlightPerTopicMax must be 1 or more');
    if (this.#idempotent && this.#inFlightMax > PRODUCER_DEFAULTS.idempotentInFlightMax) {
      throw new InvalidArgumentError(`an idempotent producer keeps at most ${PRODUCER_DEFAULTS.idempotentInFlightMax} batches in flight per topic (the broker remembers that many)`);
    }
    if (!(this.#lingerMs >= 0 && this.#batchBytesMax >= 1 && this.#batchMessagesMax >= 1)) throw new InvalidArgumentError('lingerMs must be >= 0, batchBytesMax and batchMessagesMax >= 1');
    if (this.#batchBytesMax > this.#requestBytesMax / 2) {
      throw new InvalidArgumentError(`batchBytesMax must be at most ${Math.floor(this.#requestBytesMax / 2)} bytes (half the client's gRPC message limit), not ${this.#batchBytesMax}`);
    }
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs;
    this.#retryBackoff = options.retryBackoff ?? PRODUCER_DEFAULTS.retryBackoff;
    this.#bufferedMax = options.bufferedMessagesMax ?? PRODUCER_DEFAULTS.bufferedMessagesMax;
    this.#hooks = options.testHooks ?? {};
    const requestTimeoutMs = Math.min(options.requestTimeoutMs ?? PRODUCER_DEFAULTS.requestTimeoutMs, options.deliveryTimeoutMs ?? Infinity);
    this.#log = options.log ?? ((line) => process.stderr.write(`quorumlog producer: ${line}\n`));
    if (options.spool !== undefined) {
      if (!this.#idempotent) throw new InvalidArgumentError('a spool needs idempotence: resending spooled batches after a restart would duplicate them otherwise');
      this.#spool = ProducerSpool.open(options.spool, { log: this.#log, stats: this.#stats });
    }
    this.#client = new LogClient({
      brokers: options.brokers,
      timeoutMs: requestTimeoutMs,
      retryBackoff: this.#retryBackoff,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    });
    if (this.#spool !== null) {
      this.#loadSpool(this.#spool);
      this.#spoolTimer = setInterval(() => this.#spoolAged(), this.#spool.checkIntervalMs);
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
   * Resolves once the message is acknowledged (committed) with its offset (or, rarely,
   * 'committedOffsetUnknown': committed, its offset forgotten by the broker; see SendResult)
   * or, with a spool, once it is durably spooled (status 'spooled', after spool.afterMs
   * without an answer).
   * `signal` ends the wait with AbortedError: a message not yet sent is taken out (never
   * written); one already on its way is still retried by the producer and may be written.
   */
  send(topic: string, message: ProducerMessage, options: CallOptions = {}): Promise<SendResult> {
    if (this.#state !== 'open') return Promise.reject(new ClientClosedError('the producer is closed'));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError('send: aborted before the message was sent; it was not written'));
    if (this.#buffered >= this.#bufferedMax) {
      return Promise.reject(new ResourceExhaustedError(`${this.#buffered} messages are waiting to be acknowledged; wait for some before sending more`));
    }
    const spoolFull = this.#spool?.sendRefusal() ?? null;
    if (spoolFull !== null) return Promise.reject(spoolFull);
    if (typeof topic !== 'string' || topic === '') return Promise.reject(new InvalidArgumentError(`send: the topic must be a non-empty string, not ${JSON.stringify(topic)}`));
    let record: BrokerMessage;
    try {
      record = toRecord(message);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const state = this.#topic(topic);
    const bytes = messageBytes(record);
    const tooLarge = this.#sizeRefusal(state, record, bytes);
    if (tooLarge !== null) return Promise.reject(tooLarge);
    return new Promise((resolve, reject) => {
      let batch = state.queue.at(-1);
      if (batch === undefined || !isOpen(batch, this.#batchMessagesMax) || batch.bytes + bytes > this.#batchBytesMax || deliverAtOf(batch.messages[0]) !== deliverAtOf(record)) {
        const idle = state.queue.length === 0 && state.inFlight === 0;
        batch = newBatch(Date.now());
        state.queue.push(batch);
        if (idle && this.#adaptiveLinger) {
          // Nothing to batch with: go once this turn's sends have joined it.
          batch.eager = true;
          setImmediate(() => this.#pump(state));
        } else {
          state.lingerTimer ??= setTimeout(() => {
            state.lingerTimer = null;
            this.#pump(state);
          }, this.#lingerMs);
        }
      }
      batch.messages.push(record);
      batch.settles.push(signal === undefined ? { resolve, reject } : this.#abortable(state, batch, signal, { resolve, reject }));
      batch.bytes += bytes;
      this.#buffered++;
      if (!isOpen(batch, this.#batchMessagesMax) || batch.bytes >= this.#batchBytesMax) this.#pump(state);
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
   * Flushes for up to `timeoutMs` (default 30 s; Infinity waits for every answer), then
   * fails what is still unanswered with ClientClosedError and closes the connections, so a
   * producer that cannot reach its cluster (a wrong address, the cluster down) can always
   * be stopped. send() is refused from the start of close(); a second close() waits for the
   * first. Spooled messages not yet acknowledged stay in the spool for the next producer on it.
   */
  close(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? PRODUCER_DEFAULTS.closeTimeoutMs;
    if (!(timeoutMs >= 0)) return Promise.reject(new InvalidArgumentError(`close: timeoutMs must be >= 0, not ${timeoutMs}`));
    if (this.#state === 'open') {
      this.#state = 'closing';
      this.#closed = this.#close(timeoutMs);
    }
    return this.#closed ?? Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.flush().then(() => true),
      new Promise<boolean>((resolve) => (timer = timeoutMs === Infinity ? undefined : setTimeout(() => resolve(false), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    this.#state = 'closed';
    this.#closing.abort();
    for (const state of this.#topics.values()) {
      if (state.lingerTimer !== null) clearTimeout(state.lingerTimer);
      if (state.retryTimer !== null) clearTimeout(state.retryTimer);
      if (!flushed) for (const batch of [...state.queue]) this.#finish(state, batch, closedError(state, batch, timeoutMs));
    }
    if (this.#spoolTimer !== null) clearInterval(this.#spoolTimer);
    this.#spool?.close();
    await this.#client.close();
  }

  /**
   * The settle of a send() with a signal: on abort, a message whose batch was never sent
   * leaves it (never written); one already sent stays with its batch, whose retries go on.
   */
  #abortable(state: TopicState, batch: Batch, signal: AbortSignal, settle: Settle): Settle {
    const onAbort = (): void => {
      const k = batch.settles.indexOf(wrapped);
      if (k >= 0 && batch.state === 'waiting' && batch.attempts === 0 && batch.firstSequence < 0 && batch.spool === null) {
        batch.settles.splice(k, 1);
        const [message] = batch.messages.splice(k, 1);
        if (message !== undefined) batch.bytes -= messageBytes(message);
        this.#buffered--;
        if (batch.messages.length === 0) this.#remove(state, batch);
        else if (this.#buffered === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
        settle.reject(new AbortedError(`send: aborted before the message was sent to topic ${state.name}; it was not written`));
      } else {
        settle.reject(new AbortedError(`send: aborted while the message was on its way to topic ${state.name}; the producer keeps sending it, so it may still be written`));
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const wrapped: Settle = {
      resolve: (result) => {
        signal.removeEventListener('abort', onAbort);
        settle.resolve(result);
      },
      reject: (error) => {
        signal.removeEventListener('abort', onAbort);
        settle.reject(error);
      },
    };
    return wrapped;
  }

  /** Queues what an earlier run left in the spool, in order, ahead of anything new. */
  #loadSpool(spool: ProducerSpool): void {
    for (const record of spool.live()) queueSpooled(this.#topic(record.topic), record);
  }

  /** The spool timer's pass: spooled messages no longer count as buffered, aged batches that did not fit fail. */
  #spoolAged(): void {
    if (this.#spool === null || this.#state === 'closed') return;
    const aged = this.#spool.spoolAged(this.#topics.values());
    if (aged === null) return;
    this.#buffered -= aged.spooledMessages;
    for (const { state, batch, error } of aged.refused) this.#finish(state, batch, error);
    if (this.#buffered === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /**
   * Why `record` can never be sent to the topic, or null: over the client's gRPC message
   * limit (grpc-js would refuse the request locally, and a retry the same way), or over the
   * topic's own limit once the broker described it. Refused at send(), before it can hold
   * up the messages queued behind it.
   */
  #sizeRefusal(state: TopicState, record: BrokerMessage, bytes: number): InvalidArgumentError | null {
    const requestBytes = requestBytesOf(record, bytes);
    if (requestBytes > this.#requestBytesMax - REQUEST_ENVELOPE_BYTES) {
      return new InvalidArgumentError(`topic ${state.name}: the message is ${bytes} bytes, over the client's gRPC message limit (${this.#requestBytesMax} bytes a request); it was not sent`);
    }
    const topicMax = state.messageBytesMax;
    if (typeof topicMax === 'number' && bytes > topicMax) {
      return new InvalidArgumentError(`topic ${state.name}: the message is ${bytes} bytes; this topic takes at most ${topicMax}; it was not sent`);
    }
    return null;
  }

  /**
   * Whether the topic's message limit is settled (known, or known to be unknown); asks the
   * broker the first time. Nothing of the topic is sent before, so no message over the
   * limit reaches the wire.
   */
  #topicLimitSettled(state: TopicState): boolean {
    if (state.messageBytesMax === 'asking') return false;
    if (state.messageBytesMax !== 'unknown') return true;
    state.messageBytesMax = 'asking';
    this.#client.describeTopic(state.name).then(
      (topic) => {
        state.messageBytesMax = topic.messageBytesMax > 0 ? topic.messageBytesMax : null;
      },
      () => {
        // The broker refuses an oversized message itself (INVALID_ARGUMENT, final for it alone).
        state.messageBytesMax = null;
      },
    ).finally(() => this.#pump(state));
    return false;
  }

  /** Fails the messages of a never-sent batch that are over the topic's limit, alone; true if none is left to send. */
  #refuseOversized(state: TopicState, batch: Batch): boolean {
    const topicMax = state.messageBytesMax;
    if (typeof topicMax !== 'number' || batch.firstSequence >= 0 || batch.spool !== null || batch.legacy) return false;
    const refused = takeOversized(batch, topicMax, messageBytes);
    if (refused.length === 0) return false;
    this.#buffered -= refused.length;
    for (const { settle, bytes } of refused) settle.reject(new InvalidArgumentError(`topic ${state.name}: the message is ${bytes} bytes; this topic takes at most ${topicMax}; it was not sent`));
    if (batch.messages.length > 0) return false;
    this.#remove(state, batch);
    return true;
  }

  #topic(name: string): TopicState {
    let state = this.#topics.get(name);
    if (state === undefined) {
      state = newTopicState(name, this.#retryBackoff);
      this.#topics.set(name, state);
    }
    return state;
  }

  /** A never-sent batch goes once it is full, its linger time is up, or a flush asks. */
  #ready(state: TopicState, batch: Batch): boolean {
    if (batch.attempts > 0 || batch !== state.queue.at(-1) || batch.eager) return true;
    return this.#flushing > 0 || this.#state !== 'open' || !isOpen(batch, this.#batchMessagesMax) || batch.bytes >= this.#batchBytesMax || Date.now() - batch.createdMs >= this.#lingerMs;
  }

  #pump(state: TopicState): void {
    if (this.#state === 'closed') return;
    // Asked for at once, so the topic's limit and the producer id come in one round trip.
    const limitSettled = state.queue.length === 0 || this.#topicLimitSettled(state);
    if (this.#idempotent && this.#producerId === 0) {
      if (state.queue.length > 0) this.#initProducerId();
      return;
    }
    if (!limitSettled) return;
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
          await sleepUnlessAborted(backoff.nextDelayMs(), this.#closing.signal);
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
        this.#spool?.reidentify(state, batch, `the producer id expired while it was unanswered`);
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
    if (this.#refuseOversized(state, batch)) {
      setImmediate(() => this.#pump(state));
      return;
    }
    if (batch.firstSequence < 0) assignSequence(state, batch, { producerId: this.#producerId, idempotent: this.#idempotent });
    this.#spool?.recordIdentity(batch);
    batch.state = 'inFlight';
    if (batch.attempts === 0) this.#stats.batchesSent++;
    else this.#stats.retries++;
    batch.attempts++;
    state.inFlight++;
    const attempt = batch.attempts;
    const answer = this.#client.produce({ topic: state.name, producerId: batch.producerId, firstSequence: batch.firstSequence, messages: batch.messages }, { acks: this.#acks });
    // acks 'none': fire and forget; the batch still holds its in-flight slot until answered.
    if (this.#acks === 'none') for (const settle of batch.settles.splice(0)) settle.resolve({ status: 'sent', offset: null });
    // The slot is given back before any send() settles, so a caller sending again from its
    // await finds the topic idle (Batch.eager).
    answer.then(
      (result) => {
        state.inFlight--;
        if (this.#hooks.dropAnswer?.({ topic: state.name, firstSequence: batch.firstSequence, attempt, result }) === true) {
          this.#onFailure(state, batch, new OutcomeUnknownError('produce: answer dropped by a test hook'));
        } else {
          this.#onSuccess(state, batch, result);
        }
      },
      (error: unknown) => {
        state.inFlight--;
        this.#onFailure(state, batch, error);
      },
    ).finally(() => this.#pump(state));
  }

  #onSuccess(state: TopicState, batch: Batch, result: ProduceResult): void {
    if (result.duplicate) this.#stats.duplicateAnswers++;
    if (this.#idempotent && batch.producerId === state.producerId) state.ackedEnd = Math.max(state.ackedEnd, batch.firstSequence + batch.messages.length);
    if (this.#acks === 'leader') for (const settle of batch.settles) settle.resolve({ status: 'leaderDurable', offset: null, logIndex: result.logIndex });
    else if (result.deliverAtMs > 0) for (const settle of batch.settles) settle.resolve({ status: 'scheduled', offset: null, deliverAtMs: result.deliverAtMs });
    else batch.settles.forEach((settle, k) => settle.resolve({ status: 'acknowledged', offset: result.firstOffset + k }));
    if (batch.spool !== null) this.#spool?.acknowledged(batch);
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
      this.#spool?.reidentify(state, batch, error instanceof UnknownProducerError ? 'its producer id expired or is unknown' : `the broker refused its sequence (${error.message})`);
      return;
    }
    if (error instanceof DuplicateTooOldError && batch.spool !== null) {
      // The broker has later sequences of this id: this batch was written, long ago.
      this.#spool?.acknowledged(batch);
      this.#remove(state, batch);
      return;
    }
    if (error instanceof DuplicateTooOldError && laterSequenceAcknowledged(state, batch)) {
      // The broker refuses sequence gaps, so a later acknowledged sequence of this id means
      // this batch was committed before it; only its offsets are forgotten.
      for (const settle of batch.settles) settle.resolve({ status: 'committedOffsetUnknown', offset: null });
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
        renumberFrom(state, batch);
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
      splitBatch(state, batch, { idempotent: this.#idempotent });
      return;
    }
    this.#finish(state, batch, error as Error);
  }

  #finish(state: TopicState, batch: Batch, error: Error): void {
    // Finished already (close() failed it; its answer came later).
    if (batch.state === 'done') return;
    for (const settle of batch.settles) settle.reject(error);
    if (batch.spool !== null && this.#state !== 'closed' && !(error instanceof ClientClosedError)) this.#spool?.dropped(state, batch, error);
    this.#remove(state, batch);
  }

  #remove(state: TopicState, batch: Batch): void {
    if (batch.state === 'done') return;
    removeBatch(state, batch);
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

/**
 * Failures after which the same batch may succeed later. A stream reset under the call is
 * an UnavailableError or OutcomeUnknownError (call-errors.ts), not an InternalError.
 */
function retriable(error: unknown): boolean {
  return error instanceof OutcomeUnknownError || error instanceof UnavailableError || error instanceof ResourceExhaustedError;
}

/** Why close() failed a batch still unanswered at its deadline. */
function closedError(state: TopicState, batch: Batch, timeoutMs: number): ClientClosedError {
  const fate = batch.attempts === 0 ? 'it was never sent, so it was not written' : 'it was sent, so it may or may not have been written';
  return new ClientClosedError(`topic ${state.name}: the producer was closed before it was acknowledged (close() waited ${timeoutMs} ms); ${fate}`);
}
