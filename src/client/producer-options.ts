import type { ClientAuth, ClientTlsOptions } from '../transport/index.js';
import type { ProduceResult } from './log-client.js';

export type Acks = 'all' | 'leader' | 'none';

/** What a test may do to a produce attempt; never set in production. */
export interface ProducerTestHooks {
  /**
   * Called with each successful answer; returning true drops it, as if the connection broke
   * after the broker wrote the batch: the batch is then retried like any unknown outcome.
   */
  readonly dropAnswer?: (attempt: { readonly topic: string; readonly firstSequence: number; readonly attempt: number; readonly result: ProduceResult }) => boolean;
}

export interface ProducerOptions {
  /** Client addresses (host:port) of some or all nodes. */
  readonly brokers: readonly string[];
  /**
   * TLS to the brokers: `ca` (PEM) is the only authority trusted (the broker's certificate
   * must name the host dialled); `cert` and `key`, when given, are presented as this
   * client's certificate. Default: plaintext.
   */
  readonly tls?: ClientTlsOptions;
  /**
   * A user and password (the node's users file), sent with every call. Only with `tls`: a
   * password is never sent over plaintext (the constructor throws InvalidArgumentError).
   * A client certificate in `tls` authenticates without one.
   */
  readonly auth?: ClientAuth;
  /** Producer id and per-topic sequence numbers, so a retry never duplicates. Default true with acks 'all', false otherwise (and refused with them). */
  readonly idempotence?: boolean;
  /**
   * When send() resolves. 'all' (default): once a majority holds the batch durably and the
   * leader applied it, with its offset. 'leader': once the leader's own log holds it
   * durably, before replication, with the log index only (offsets are assigned at commit);
   * lost if that leader fails before a majority has it. 'none': as soon as the request is
   * sent; failures are only counted and logged. See docs/producer.md.
   */
  readonly acks?: Acks;
  /**
   * How long a batch waits for more messages before it is sent (Kafka's linger.ms). Default
   * 5, applied only while the topic has batches queued or in flight: a batch to an idle topic
   * goes at the end of the current turn. Set explicitly, every new batch waits for it.
   */
  readonly lingerMs?: number;
  /** Bytes of messages per batch, at most (one larger message goes alone). Default 256 KiB (Kafka's batch.size). */
  readonly batchBytesMax?: number;
  /** Messages per batch, at most. Default 4096. */
  readonly batchMessagesMax?: number;
  /** Produce requests in flight per topic. Default 5, which is also the most idempotence allows. */
  readonly inFlightPerTopicMax?: number;
  /** Give up on a message this long after send() (DeliveryTimeoutError). Default: never. */
  readonly deliveryTimeoutMs?: number;
  /** Back-off between retries of a batch: doubles up to maxMs, with jitter. Default 50 ms .. 2 s. */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Budget of one produce attempt (redirects included). Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Messages sent but not yet answered beyond which send() is refused (ResourceExhaustedError). Default 100,000. */
  readonly bufferedMessagesMax?: number;
  /**
   * A local directory where messages not acknowledged within spool.afterMs of send() are
   * written (fsynced) before send() resolves with status 'spooled'; they are resent in the
   * background, in order, with their (producer id, sequence), and leave the spool once
   * acknowledged. A producer opened on the same directory later resends what is left.
   * Needs idempotence. Default: no spool.
   */
  readonly spool?: SpoolOptions;
  /** Where the producer reports what a caller cannot see in a promise (spooled batches resent under a new id, dropped). Default: standard error. */
  readonly log?: (line: string) => void;
  readonly testHooks?: ProducerTestHooks;
}

export interface SpoolOptions {
  readonly dir: string;
  /** A message not acknowledged this long after send() goes to the spool. */
  readonly afterMs: number;
  /** The spool file's size limit; when full, send() fails with SpoolFullError. Default 64 MiB. */
  readonly bytesMax?: number;
}

/** How send() resolved: acknowledged by the cluster at `offset`, or durably spooled to be resent in the background. */
export type SendResult =
  | { readonly status: 'acknowledged'; readonly offset: number }
  /**
   * Committed exactly once, like 'acknowledged', but its offset is unknown: the answer to the
   * attempt that wrote it was lost, and by the retry the broker no longer remembered the
   * batch (it keeps the last 5 per producer and topic), while a later batch of the same
   * producer id on the topic had been acknowledged, which the broker accepts only after
   * every earlier sequence. Fetch the topic to find the message if its offset matters.
   */
  | { readonly status: 'committedOffsetUnknown'; readonly offset: null }
  | { readonly status: 'spooled'; readonly offset: null; readonly spoolId: number }
  /** acks 'leader': durable in the leader's log at this index; not yet committed, so no offset. */
  | { readonly status: 'leaderDurable'; readonly offset: null; readonly logIndex: number }
  /** acks 'none': the request was sent; nothing is known of its fate. */
  | { readonly status: 'sent'; readonly offset: null }
  /** A delayed message (deliverAtMs): committed like an acknowledged one; it gets its offset when it falls due. */
  | { readonly status: 'scheduled'; readonly offset: null; readonly deliverAtMs: number };

export const PRODUCER_DEFAULTS = {
  lingerMs: 5,
  batchBytesMax: 256 * 1024,
  batchMessagesMax: 4096,
  inFlightPerTopicMax: 5,
  retryBackoff: { initialMs: 50, maxMs: 2_000 },
  requestTimeoutMs: 10_000,
  bufferedMessagesMax: 100_000,
  /** How long close() waits for unanswered messages before it fails them. */
  closeTimeoutMs: 30_000,
  /** The broker remembers this many batches per producer and topic; more in flight could not be deduplicated. */
  idempotentInFlightMax: 5,
} as const;

/** A message as send() takes it; strings are UTF-8 encoded. */
export interface ProducerMessage {
  readonly payload: Uint8Array | string;
  readonly key?: Uint8Array | string;
  readonly headers?: readonly { readonly name: string; readonly value: Uint8Array | string }[];
  /** Default: Date.now() at send(). */
  readonly timestampMs?: number;
  /**
   * Delayed delivery: the message stays invisible to fetches and consumers until this time
   * (ms since 1970, by the leader's clock), then gets its offset. It travels in a batch of
   * messages with the same time (header quorumlog-deliver-at-ms).
   */
  readonly deliverAtMs?: number;
}

