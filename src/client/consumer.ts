import { randomUUID } from 'node:crypto';
import { GroupMethodPath, type ConsumeResponseMessage, type DeliveryMessage } from '../transport/index.js';
import { untilAborted } from './abortable.js';
import { AbortedError, ClientClosedError, InvalidArgumentError } from './errors.js';
import { GroupCalls, settingsMessage, startMessage, type AckOutcome, type GroupSettings, type GroupStart } from './groups.js';
import { LogClient, type BrokerMessage, type CallOptions, type LogClientOptions } from './log-client.js';

export const CONSUMER_DEFAULTS = {
  prefetch: 64,
  concurrency: 1,
  bytesMax: 1024 * 1024,
  /**
   * How long close() gives the broker to take back what the consumer holds before it just
   * drops the stream (at most what is left of close()'s own deadline).
   */
  leaveTimeoutMs: 5_000,
  /** How long close() waits for handlers in progress and their acks. */
  closeTimeoutMs: 30_000,
} as const;

/** Which call of a message failed, for ConsumerOptions.onError. */
export interface ConsumerErrorContext {
  readonly operation: 'ack' | 'nack';
  /** The message's id (`topic/offset`). */
  readonly id: string;
}

export interface ConsumerOptions extends LogClientOptions {
  readonly group: string;
  readonly topic: string;
  /** Where the group starts if it does not exist yet (default earliest). */
  readonly from?: GroupStart;
  /** Settings for the group if it does not exist yet. */
  readonly groupSettings?: GroupSettings;
  /** Unacked messages this consumer may hold at once (RabbitMQ's QoS prefetch), 1..10000. */
  readonly prefetch?: number;
  /**
   * Ack each message as it is handed out, before it is processed: the auto-commit of the
   * systems that lose messages when a consumer crashes mid-work. Off by default; here only to show
   * that loss.
   */
  readonly autoAck?: boolean;
  /** Stable across reconnects; default a random id. */
  readonly consumerId?: string;
  readonly bytesMax?: number;
  /**
   * Where a failed ack() or nack() is reported (the leader unreachable for the client's
   * whole timeout, the consumer closed), whether or not the caller awaits the promise: the
   * promises these calls return are safe to leave unawaited (`void m.ack()`), and never
   * become an unhandled rejection. The message is then redelivered (at its deadline, or at
   * once when the consumer leaves). Default: one line on standard error.
   */
  readonly onError?: (error: Error, context: ConsumerErrorContext) => void;
  /**
   * The consumer's stream is reopened (on any broker, with retryBackoff between attempts)
   * whenever it breaks: without limit by default, as the Producer retries a send (bounded
   * there by deliveryTimeoutMs). With this set, the iteration ends with UnavailableError once
   * no broker has served the stream for this long.
   */
  readonly giveUpAfterMs?: number;
}

/** A delivered message. Delivery is at least once: deduplicate by `id` (the topic offset). */
export interface ConsumedMessage extends BrokerMessage {
  /** Stable over redeliveries: `${topic}/${offset}`. */
  readonly id: string;
  readonly topic: string;
  readonly offset: number;
  /** 1 for the first delivery. */
  readonly delivery: number;
  /** Redelivered if not acked by then (the leader's clock). */
  readonly deadlineMs: number;
  /**
   * Finishes the message. 'alreadyAcked' if another delivery of it was acked first. Safe to
   * leave unawaited: a failure also goes to the consumer's onError. A second ack() of the
   * same message returns the first one's outcome; an ack() after nack() is refused.
   * `signal` ends the wait with AbortedError (not sent to onError): an ack still waiting
   * behind another ack request is taken out (the message stays unacked; ack() or nack() it
   * again, or it is redelivered), one already sent may still be recorded.
   */
  ack(options?: CallOptions): Promise<AckOutcome>;
  /**
   * Gives up on it: redelivered after the retry level's delay (or `delayMs`), or
   * dead-lettered after the last retry. Safe to leave unawaited, like ack(); a second nack()
   * returns the first one's promise; a nack() after ack() is refused. `signal` ends the wait
   * with AbortedError (not sent to onError), after which ack() or nack() may be called again.
   */
  nack(reason: string, options?: { readonly delayMs?: number } & CallOptions): Promise<void>;
  /** Moves the ack deadline to now + ms. `signal` ends the wait with AbortedError. */
  extend(ms: number, options?: CallOptions): Promise<void>;
}

type ConsumerState = 'idle' | 'consuming' | 'closing' | 'closed';

/**
 * A member of a consumer group: `for await (const m of consumer)` or `consumer.run(handler)`.
 * Nothing is acked unless the code says so (or autoAck is set), so a consumer that crashes
 * mid-work loses nothing: its messages are redelivered when its connection drops (or at
 * their deadline). Acks are batched: those made while one ack request is in flight go
 * together in the next.
 */
export class Consumer implements AsyncIterable<ConsumedMessage> {
  readonly consumerId: string;
  readonly #options: ConsumerOptions;
  readonly #client: LogClient;
  readonly #calls: GroupCalls;
  readonly #stop = new AbortController();
  readonly #buffer: ConsumedMessage[] = [];
  /** Workers waiting for a message (run() has up to `concurrency`). */
  #waiters: (() => void)[] = [];
  #streamError: unknown = null;
  #stream: Promise<void> | null = null;
  #state: ConsumerState = 'idle';
  /** The first close()'s work: a second close() waits for it. */
  #closed: Promise<void> | null = null;
  /** Handlers running under run(); close() waits for them. */
  readonly #running = new Set<Promise<void>>();
  readonly #acks: AckQueue;
  /**
   * Deliveries handed to the application and not yet acked or nacked, by offset: the ones
   * a clean leave counts as failed. Everything else this consumer holds it never handed out.
   */
  readonly #handedOut = new Map<number, number>();
  readonly #context: DeliveredContext;

  constructor(options: ConsumerOptions) {
    const prefetch = options.prefetch ?? CONSUMER_DEFAULTS.prefetch;
    if (!(Number.isSafeInteger(prefetch) && prefetch >= 1 && prefetch <= 10_000)) throw new InvalidArgumentError(`prefetch must be 1..10000, not ${prefetch}`);
    const giveUp = options.giveUpAfterMs;
    if (giveUp !== undefined && !(giveUp >= 0)) throw new InvalidArgumentError(`giveUpAfterMs must be >= 0, not ${giveUp}`);
    this.#options = options;
    this.consumerId = options.consumerId ?? `consumer-${randomUUID()}`;
    this.#client = new LogClient(options);
    this.#calls = new GroupCalls(this.#client);
    this.#acks = new AckQueue(this.#calls, options.group);
    const onError = options.onError ?? ((error, context) => process.stderr.write(`quorumlog consumer: ${context.operation} of ${context.id} failed: ${error.message}\n`));
    this.#context = {
      options,
      acks: this.#acks,
      calls: this.#calls,
      finished: (offset, delivery) => {
        if (this.#handedOut.get(offset) === delivery) this.#handedOut.delete(offset);
      },
      onError: (error, context) => {
        try {
          onError(error instanceof Error ? error : new Error(String(error)), context);
        } catch {
          // A throwing hook must not turn a handled failure into an unhandled one.
        }
      },
    };
  }

  /**
   * `for await (const m of consumer)`. Leaving the loop early (break, return, a throw)
   * closes the consumer: the messages it fetched ahead and never handed out go back to the
   * group at once without counting a delivery, prefetching stops and its connections close.
   */
  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage> {
    return {
      // A message already buffered is handed out without an async function and its awaits
      // (two a step before): a drain or a busy consumer finds one there almost every step.
      next: () => {
        const m = this.#state === 'consuming' ? this.#takeBuffered() : undefined;
        if (m !== undefined) return Promise.resolve({ done: false, value: m });
        return this.#next().then((waited) => (waited === null ? { done: true, value: undefined } : { done: false, value: waited }));
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * Runs `handler` on every message, up to `concurrency` at once, until close(): acks after
   * it resolves, nacks with the error's message if it throws.
   */
  async run(handler: (m: ConsumedMessage) => Promise<void>, options: { readonly concurrency?: number } = {}): Promise<void> {
    const concurrency = options.concurrency ?? CONSUMER_DEFAULTS.concurrency;
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= 1000)) throw new InvalidArgumentError(`concurrency must be 1..1000, not ${concurrency}`);
    const worker = async (): Promise<void> => {
      for (let m = await this.#next(); m !== null; m = await this.#next()) {
        const message = m;
        const work = handler(message).then(
          () => message.ack().then(() => undefined),
          (error: unknown) => message.nack(error instanceof Error ? error.message : String(error)),
        );
        this.#running.add(work);
        try {
          await work;
        } catch {
          // An ack or nack that failed (leader gone, consumer closing): the deadline redelivers it.
        } finally {
          this.#running.delete(work);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /**
   * Stops handing out messages, waits for handlers in progress (run()) and for the acks
   * they made, then leaves the group: what this consumer held and did not finish is
   * redelivered at once. Messages it fetched ahead and never handed out do not count as a
   * delivery (they cannot reach the dead-letter topic this way); messages the application
   * got and did not ack or nack count as a failed delivery, as at a missed deadline.
   * `timeoutMs` (default 30 s) bounds the whole close: handlers and acks get up to it, and
   * what is still pending then fails with ClientClosedError (an ack not made is
   * redelivered); the leave gets what is left of it (at most 5 s), and without it (no time
   * left, or no leader answering) the stream's end releases what the consumer held, each
   * counted as a delivery. A second close() waits for the first.
   */
  close(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? CONSUMER_DEFAULTS.closeTimeoutMs;
    if (!(timeoutMs >= 0)) return Promise.reject(new InvalidArgumentError(`close: timeoutMs must be >= 0, not ${timeoutMs}`));
    if (this.#closed === null) this.#closed = this.#close(timeoutMs);
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    const started = this.#state === 'consuming';
    this.#state = 'closing';
    this.#wake();
    let timer: NodeJS.Timeout | undefined;
    const settled = (async () => {
      await Promise.allSettled([...this.#running]);
      await this.#acks.drain();
      return true;
    })();
    const inTime = await Promise.race([settled, new Promise<boolean>((resolve) => (timer = timeoutMs === Infinity ? undefined : setTimeout(() => resolve(false), timeoutMs)))]).finally(() => clearTimeout(timer));
    const leaveMs = Math.min(CONSUMER_DEFAULTS.leaveTimeoutMs, deadlineMs - Date.now());
    if (started && inTime && leaveMs > 0) await this.#leave(leaveMs);
    this.#stop.abort();
    // The connections first: a stream still connecting to a broker that answers nothing
    // (stopped, paused) sees the abort only once its connect attempt ends, which closing ends now.
    await this.#client.close();
    await this.#stream?.catch(() => undefined);
    this.#state = 'closed';
  }

  /**
   * Tells the leader which deliveries the application saw, before the stream ends: the
   * others go back uncounted. Best effort within `timeoutMs` (leaveTimeoutMs, or what is
   * left of close()'s deadline): if it fails, the stream's end releases everything, counted
   * (the safe side: nothing is lost either way).
   */
  async #leave(timeoutMs: number): Promise<void> {
    const seen = [...this.#handedOut].map(([offset, delivery]) => ({ offset, delivery }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    const leave = this.#calls.leave(this.#options.group, this.consumerId, seen).then(
      () => undefined,
      () => undefined,
    );
    await Promise.race([leave, timeout]).finally(() => clearTimeout(timer));
  }

  async #next(): Promise<ConsumedMessage | null> {
    if (this.#state === 'idle') this.#start();
    // Bounded: each turn either returns or waits for the stream to deliver or end.
    for (;;) {
      if (this.#state !== 'consuming') return null;
      const m = this.#takeBuffered();
      if (m !== undefined) return m;
      if (this.#streamError !== null) throw this.#streamError;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Hands out the next buffered message, if any (the caller has checked the consumer is consuming). */
  #takeBuffered(): ConsumedMessage | undefined {
    const m = this.#buffer.shift();
    if (m === undefined) return undefined;
    // Auto-ack acks what it hands out, before the application has processed it (Kafka's
    // auto-commit of polled records): the loss it exists to show. Acking on arrival
    // instead would also let the broker send past the prefetch limit without bound.
    this.#handedOut.set(m.offset, m.delivery);
    if (this.#options.autoAck === true) void m.ack();
    return m;
  }

  #start(): void {
    this.#state = 'consuming';
    const o = this.#options;
    const request = {
      group: o.group,
      topic: o.topic,
      consumerId: this.consumerId,
      prefetch: o.prefetch ?? CONSUMER_DEFAULTS.prefetch,
      start: startMessage(o.from ?? 'earliest'),
      settings: settingsMessage(o.groupSettings ?? {}),
      bytesMax: o.bytesMax ?? CONSUMER_DEFAULTS.bytesMax,
    };
    const c = this.#client.codec.groups;
    const method = { path: GroupMethodPath.consume, serialize: c.consumeRequest.serialize, deserialize: c.consumeResponse.deserialize };
    this.#stream = (async () => {
      try {
        for await (const response of this.#client.leaderStream<typeof request, ConsumeResponseMessage>('consume', method, request, this.#stop.signal, { giveUpAfterMs: o.giveUpAfterMs ?? null })) {
          for (const d of response.deliveries) this.#buffer.push(this.#message(d));
          this.#wake();
        }
      } catch (error) {
        this.#streamError = error instanceof ClientClosedError && this.#stop.signal.aborted ? null : error;
        this.#wake();
      }
    })();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #message(d: DeliveryMessage): ConsumedMessage {
    return new Delivered(d, this.#context);
  }
}

/** What every message of a consumer shares. */
interface DeliveredContext {
  readonly options: ConsumerOptions;
  readonly acks: AckQueue;
  readonly calls: GroupCalls;
  /** The application acked or nacked this delivery. */
  readonly finished: (offset: number, delivery: number) => void;
  readonly onError: (error: unknown, context: ConsumerErrorContext) => void;
}

/** The same promise, marked handled: safe to leave unawaited, still rejecting for whoever awaits it. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** A message's first ack() or nack() and its promise. */
type Settled = { readonly operation: 'ack'; readonly done: Promise<AckOutcome> } | { readonly operation: 'nack'; readonly done: Promise<void> };

/** Shared by every message without headers; frozen, so no caller can change it for the others. */
const NO_HEADERS: BrokerMessage['headers'] = Object.freeze([]);

/**
 * A delivered message. A class rather than an object of closures: a drain hands out tens of
 * thousands a second, and each closure was one more allocation for the collector.
 */
class Delivered implements ConsumedMessage {
  readonly id: string;
  readonly topic: string;
  readonly offset: number;
  readonly delivery: number;
  readonly deadlineMs: number;
  readonly key: Uint8Array;
  readonly headers: BrokerMessage['headers'];
  readonly payload: Uint8Array;
  readonly timestampMs: number;
  /** The first ack() or nack() and its promise: a repeat of the same call returns it. */
  #settled: Settled | null = null;
  readonly #context: DeliveredContext;

  constructor(d: DeliveryMessage, context: DeliveredContext) {
    const options = context.options;
    const m = d.message;
    this.id = `${options.topic}/${d.offset}`;
    this.topic = options.topic;
    this.offset = d.offset;
    this.delivery = d.delivery;
    this.deadlineMs = d.deadlineMs;
    this.key = m.key;
    this.headers = m.headers.length === 0 ? NO_HEADERS : m.headers.map((h) => ({ name: h.name, value: h.value }));
    this.payload = m.payload;
    this.timestampMs = m.timestampMs;
    this.#context = context;
  }

  ack(options: CallOptions = {}): Promise<AckOutcome> {
    if (options.signal?.aborted === true) return handled(Promise.reject(new AbortedError(`ack of ${this.id}: aborted before it was sent`)));
    if (this.#settled === null) {
      const queued = new QueuedAck(this, this.#context);
      this.#settled = queued;
      this.#context.acks.add(queued);
      // Only the call that queued the ack may take it out again.
      return options.signal === undefined ? queued.done : handled(untilAborted(queued.done, options.signal, () => this.#ackAborted(queued)));
    }
    if (this.#settled.operation !== 'ack') return this.#refused('ack');
    return handled(untilAborted(this.#settled.done, options.signal, () => new AbortedError(`ack of ${this.id}: aborted while waiting for an earlier ack() of it, which goes on`)));
  }

  nack(reason: string, options: { readonly delayMs?: number } & CallOptions = {}): Promise<void> {
    if (this.#settled?.operation === 'nack') return this.#settled.done;
    if (this.#settled !== null) return this.#refused('nack');
    const done = (async () => {
      await this.#context.calls.nack(this.#context.options.group, this.offset, this.delivery, reason, options.delayMs, options);
      this.#context.finished(this.offset, this.delivery);
    })();
    const settled = { operation: 'nack' as const, done: this.#reported(done, 'nack') };
    this.#settled = settled;
    // An aborted nack leaves the message to the application again.
    done.catch((error: unknown) => {
      if (error instanceof AbortedError && this.#settled === settled) this.#settled = null;
    });
    return settled.done;
  }

  async extend(ms: number, options: CallOptions = {}): Promise<void> {
    await this.#context.calls.extend(this.#context.options.group, this.offset, this.delivery, ms, options);
  }

  /** An ack() aborted by its caller: taken out if it was not sent yet, so the message may be settled again. */
  #ackAborted(settled: QueuedAck): AbortedError {
    if (!this.#context.acks.withdraw(settled)) return new AbortedError(`ack of ${this.id}: aborted after it was sent; it may still be recorded (a repeat ack() returns its outcome)`);
    if (this.#settled === settled) this.#settled = null;
    return new AbortedError(`ack of ${this.id}: aborted, not sent; the message is not acked (ack() or nack() it again, or it is redelivered at its deadline)`);
  }

  #refused(operation: 'ack' | 'nack'): Promise<never> {
    const other = operation === 'ack' ? 'nacked' : 'acked';
    return this.#reported(Promise.reject(new InvalidArgumentError(`${operation}: message ${this.id} was already ${other} by this consumer`)), operation);
  }

  /**
   * The same promise, with its failure also sent to onError. The handler attached here
   * marks it handled, so a caller that does not await it gets no unhandled rejection; a
   * caller that does still sees the failure.
   */
  #reported<T>(done: Promise<T>, operation: 'ack' | 'nack'): Promise<T> {
    // An abort is the caller's own doing, told through the promise; not a failure to report.
    done.catch((error: unknown) => {
      if (!(error instanceof AbortedError)) this.#context.onError(error, { operation, id: this.id });
    });
    return done;
  }
}

function ignore(): void {}

/**
 * A message's first ack(): queued until it is sent, then settled with its outcome; `done` is
 * the promise ack() returns. One promise an ack, and no handler on it unless it fails: a
 * consumer acks every message, and each promise and reaction more (four promises before)
 * was work for every one of them.
 */
class QueuedAck {
  readonly operation = 'ack';
  readonly done: Promise<AckOutcome>;
  #resolve: (outcome: AckOutcome) => void = ignore;
  #reject: (error: unknown) => void = ignore;

  constructor(
    readonly message: Pick<ConsumedMessage, 'id' | 'offset' | 'delivery'>,
    private readonly context: DeliveredContext,
  ) {
    this.done = new Promise<AckOutcome>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The broker answered: the delivery is finished before anyone awaiting the ack hears of it. */
  settle(outcome: AckOutcome): void {
    this.context.finished(this.message.offset, this.message.delivery);
    this.#resolve(outcome);
  }

  /**
   * The ack failed, or was taken out (AbortedError). The promise is safe to leave unawaited
   * (marked handled before it rejects) and a failure also goes to onError, ahead of whoever
   * awaits the ack, as a handler attached when the ack was made would be; an abort is the
   * caller's own doing, told through the promise only.
   */
  fail(error: unknown): void {
    if (!(error instanceof AbortedError)) queueMicrotask(() => this.context.onError(error, { operation: 'ack', id: this.message.id }));
    this.done.catch(ignore);
    this.#reject(error);
  }
}

/**
 * Acks waiting to be sent: one request in flight at a time, and everything acked meanwhile
 * goes in the next one (the consumer's own group commit).
 */
class AckQueue {
  #pending: QueuedAck[] = [];
  #inFlight: Promise<void> | null = null;

  constructor(private readonly calls: GroupCalls, private readonly group: string) {}

  /** Queues an ack, settled when its request is answered. */
  add(entry: QueuedAck): void {
    this.#pending.push(entry);
    this.#pump();
  }

  /**
   * Takes a queued ack out again while it has not been sent (its promise then rejects with
   * AbortedError) and says whether it did.
   */
  withdraw(entry: QueuedAck): boolean {
    const k = this.#pending.indexOf(entry);
    if (k < 0) return false;
    this.#pending.splice(k, 1);
    entry.fail(new AbortedError(`ack of ${entry.message.id}: aborted, not sent`));
    return true;
  }

  /** Resolves once every ack added so far has been answered. */
  async drain(): Promise<void> {
    // Bounded: each turn sends what is pending; nothing new is added once the consumer closes.
    while (this.#inFlight !== null || this.#pending.length > 0) {
      this.#pump();
      await this.#inFlight;
    }
  }

  #pump(): void {
    if (this.#inFlight !== null || this.#pending.length === 0) return;
    const batch = this.#pending.splice(0, 10_000);
    this.#inFlight = this.calls
      .ack(this.group, batch.map((a) => a.message.offset))
      .then(
        (outcomes) => batch.forEach((a, k) => a.settle(outcomes[k] ?? 'notDelivered')),
        (error: unknown) => batch.forEach((a) => a.fail(error)),
      )
      .finally(() => {
        this.#inFlight = null;
        this.#pump();
      });
  }
}
