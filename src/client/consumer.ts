import { randomUUID } from 'node:crypto';
import { GroupMethodPath, type ConsumeResponseMessage, type DeliveryMessage } from '../transport/index.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import { GroupCalls, settingsMessage, startMessage, type AckOutcome, type GroupSettings, type GroupStart } from './groups.js';
import { LogClient, type BrokerMessage, type LogClientOptions } from './log-client.js';

export const CONSUMER_DEFAULTS = {
  prefetch: 64,
  concurrency: 1,
  maxBytes: 1024 * 1024,
} as const;

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
  readonly maxBytes?: number;
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
  /** Finishes the message. 'alreadyAcked' if another delivery of it was acked first. */
  ack(): Promise<AckOutcome>;
  /** Gives up on it: redelivered after the retry level's delay (or `delayMs`), or dead-lettered after the last retry. */
  nack(reason: string, options?: { readonly delayMs?: number }): Promise<void>;
  /** Moves the ack deadline to now + ms. */
  extend(ms: number): Promise<void>;
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
  /** Handlers running under run(); close() waits for them. */
  readonly #running = new Set<Promise<void>>();
  readonly #acks: AckQueue;

  constructor(options: ConsumerOptions) {
    const prefetch = options.prefetch ?? CONSUMER_DEFAULTS.prefetch;
    if (!(Number.isSafeInteger(prefetch) && prefetch >= 1 && prefetch <= 10_000)) throw new InvalidArgumentError(`prefetch must be 1..10000, not ${prefetch}`);
    this.#options = options;
    this.consumerId = options.consumerId ?? `consumer-${randomUUID()}`;
    this.#client = new LogClient(options);
    this.#calls = new GroupCalls(this.#client);
    this.#acks = new AckQueue(this.#calls, options.group);
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumedMessage> {
    return { next: async () => {
      const m = await this.#next();
      return m === null ? { done: true, value: undefined } : { done: false, value: m };
    } };
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
   * redelivered at once.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return;
    this.#state = 'closing';
    this.#wake();
    await Promise.allSettled([...this.#running]);
    await this.#acks.drain();
    this.#stop.abort();
    await this.#stream?.catch(() => undefined);
    this.#client.close();
    this.#state = 'closed';
  }

  async #next(): Promise<ConsumedMessage | null> {
    if (this.#state === 'idle') this.#start();
    // Bounded: each turn either returns or waits for the stream to deliver or end.
    for (;;) {
      if (this.#state !== 'consuming') return null;
      const m = this.#buffer.shift();
      if (m !== undefined) {
        // Auto-ack acks what it hands out, before the application has processed it (Kafka's
        // auto-commit of polled records): the loss it exists to show. Acking on arrival
        // instead would also let the broker send past the prefetch limit without bound.
        if (this.#options.autoAck === true) void m.ack().catch(() => undefined);
        return m;
      }
      if (this.#streamError !== null) throw this.#streamError;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
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
      maxBytes: o.maxBytes ?? CONSUMER_DEFAULTS.maxBytes,
    };
    const c = this.#client.codec.groups;
    const method = { path: GroupMethodPath.consume, serialize: c.consumeRequest.serialize, deserialize: c.consumeResponse.deserialize };
    this.#stream = (async () => {
      try {
        for await (const response of this.#client.leaderStream<typeof request, ConsumeResponseMessage>('consume', method, request, this.#stop.signal)) {
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
    return new Delivered(d, this.#options, this.#acks, this.#calls);
  }
}

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
  #finished = false;
  readonly #group: string;
  readonly #acks: AckQueue;
  readonly #calls: GroupCalls;

  constructor(d: DeliveryMessage, options: ConsumerOptions, acks: AckQueue, calls: GroupCalls) {
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
    this.#group = options.group;
    this.#acks = acks;
    this.#calls = calls;
  }

  async ack(): Promise<AckOutcome> {
    this.#once('ack');
    return this.#acks.add(this.offset);
  }

  async nack(reason: string, options: { readonly delayMs?: number } = {}): Promise<void> {
    this.#once('nack');
    await this.#calls.nack(this.#group, this.offset, this.delivery, reason, options.delayMs);
  }

  async extend(ms: number): Promise<void> {
    await this.#calls.extend(this.#group, this.offset, this.delivery, ms);
  }

  #once(what: string): void {
    if (this.#finished) throw new InvalidArgumentError(`${what}: message ${this.id} was already acked or nacked by this consumer`);
    this.#finished = true;
  }
}

/**
 * Acks waiting to be sent: one request in flight at a time, and everything acked meanwhile
 * goes in the next one (the consumer's own group commit).
 */
class AckQueue {
  #pending: { offset: number; resolve: (o: AckOutcome) => void; reject: (e: unknown) => void }[] = [];
  #inFlight: Promise<void> | null = null;

  constructor(private readonly calls: GroupCalls, private readonly group: string) {}

  add(offset: number): Promise<AckOutcome> {
    const done = new Promise<AckOutcome>((resolve, reject) => this.#pending.push({ offset, resolve, reject }));
    this.#pump();
    return done;
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
      .ack(this.group, batch.map((a) => a.offset))
      .then(
        (outcomes) => batch.forEach((a, k) => a.resolve(outcomes[k] ?? 'notDelivered')),
        (error: unknown) => batch.forEach((a) => a.reject(error)),
      )
      .finally(() => {
        this.#inFlight = null;
        this.#pump();
      });
  }
}
