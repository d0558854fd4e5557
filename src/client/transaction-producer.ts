import type { ClientAuth, ClientTlsOptions } from '../transport/index.js';
import { randomUUID } from 'node:crypto';

import { AbortedError, ClientClosedError, InvalidArgumentError } from './errors.js';
import type { BrokerMessage, CallOptions } from './log-client.js';
import { toRecord } from './producer-message.js';
import type { ProducerMessage } from './producer-options.js';
import { TransactionClient, type EndResult, type TransactionCheck } from './transaction-client.js';

/** What the listener says about a transaction's local work. */
export const TransactionOutcome = { commit: 'commit', rollback: 'rollback', unknown: 'unknown' } as const;
export type TransactionOutcome = (typeof TransactionOutcome)[keyof typeof TransactionOutcome];

/** A transaction as the listener sees it. */
export interface TransactionMessage {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessage[];
}

/** A check-back: the broker heard no decision in time and asks. */
export interface TransactionCheckRequest extends TransactionMessage {
  /** This is the checkCount-th check of the transaction (at most checkMax). */
  readonly checkCount: number;
  /** Leader time when the half message was written. */
  readonly preparedAtMs: number;
}

export interface TransactionListener {
  /**
   * Runs the local transaction. Called once the half message is committed to the log (so
   * it survives any crash from here on). A throw counts as 'unknown'.
   */
  executeLocal(message: TransactionMessage): TransactionOutcome | Promise<TransactionOutcome>;
  /**
   * Answers a check-back: what became of the local transaction? Possibly asked in a
   * process other than the one that sent it (any producer of the group), and possibly more
   * than once. 'unknown' (or a throw) leaves the broker to ask again, up to checkMax times.
   */
  check(message: TransactionCheckRequest): TransactionOutcome | Promise<TransactionOutcome>;
}

export interface TransactionProducerOptions {
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
  /** The producers the broker may ask about this one's transactions. 1-249 of [A-Za-z0-9._-]. */
  readonly producerGroup: string;
  readonly listener: TransactionListener;
  /** Leader time after the half before the first check-back. Default 60 s. */
  readonly checkDelayMs?: number;
  /** Between check-backs. Default 60 s. */
  readonly checkIntervalMs?: number;
  /** Check-backs before the broker rolls back (and records the messages in __tx_rollbacks). Default 15. */
  readonly checkMax?: number;
  /** Budget of one call (half, commit, rollback), retries and redirects included. Default 30 s. */
  readonly requestTimeoutMs?: number;
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Check-backs answered at once; more arriving meanwhile are skipped (the broker asks again). Default 16. */
  readonly checksInFlightMax?: number;
  /** Where failures nobody awaits (a check-back's answer) are reported. Default: standard error. */
  readonly log?: (line: string) => void;
}

export const TRANSACTION_PRODUCER_DEFAULTS = {
  requestTimeoutMs: 30_000,
  checksInFlightMax: 16,
  /** How long close() waits for transactions and check-back answers in progress. */
  closeTimeoutMs: 30_000,
} as const;

/** How sendInTransaction ended. */
export interface TransactionResult {
  readonly txId: string;
  /** 'unknown': the listener did not decide; the broker's check-back will ask. */
  readonly outcome: 'committed' | 'rolledBack' | 'unknown';
  /** Committed: the first message's offset; the others follow it. Otherwise null. */
  readonly firstOffset: number | null;
  readonly count: number;
}

type ProducerState = 'open' | 'closing' | 'closed';

/** Where a sendInTransaction() is: what a close or an abort at that point leaves behind. */
type TransactionPhase = 'half' | 'local' | 'decision';

/** A sendInTransaction() in progress, for close() to fail at its deadline. */
interface PendingTransaction {
  readonly txId: string;
  phase: TransactionPhase;
  readonly reject: (error: Error) => void;
}

/**
 * RocketMQ's transactional producer: a half message is written (durable, invisible), the
 * local transaction runs, then the messages are committed (made visible together, at
 * consecutive offsets) or rolled back. If the decision never arrives, the broker asks a
 * producer of the same group (listener.check) over a stream this producer holds open
 * from construction to close(). See docs/transactions.md.
 */
export class TransactionProducer {
  readonly #client: TransactionClient;
  readonly #group: string;
  readonly #listener: TransactionListener;
  readonly #schedule: { readonly checkDelayMs?: number; readonly checkIntervalMs?: number; readonly checkMax?: number };
  readonly #checksInFlightMax: number;
  readonly #log: (line: string) => void;
  readonly #stop = new AbortController();
  readonly #checksDone: Promise<void>;
  #checksInFlight = 0;
  /** Check-back answers under way; close() gives them its deadline. */
  readonly #answers = new Set<Promise<void>>();
  /** Transactions in progress and their work, which close() waits for. */
  readonly #pending = new Map<PendingTransaction, Promise<unknown>>();
  #state: ProducerState = 'open';
  /** The first close()'s work: a second close() waits for it. */
  #closed: Promise<void> | null = null;
  readonly #stats = { checksReceived: 0, checksAnswered: 0, checksUnknown: 0, checksSkipped: 0 };

  constructor(options: TransactionProducerOptions) {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(options.producerGroup)) throw new InvalidArgumentError(`producer group "${options.producerGroup}" must be 1-249 of letters, digits, '.', '_' and '-'`);
    this.#group = options.producerGroup;
    this.#listener = options.listener;
    this.#schedule = {
      ...(options.checkDelayMs === undefined ? {} : { checkDelayMs: options.checkDelayMs }),
      ...(options.checkIntervalMs === undefined ? {} : { checkIntervalMs: options.checkIntervalMs }),
      ...(options.checkMax === undefined ? {} : { checkMax: options.checkMax }),
    };
    this.#checksInFlightMax = options.checksInFlightMax ?? TRANSACTION_PRODUCER_DEFAULTS.checksInFlightMax;
    this.#log = options.log ?? ((line) => process.stderr.write(`quorumlog transaction producer: ${line}\n`));
    this.#client = new TransactionClient({
      brokers: options.brokers,
      timeoutMs: options.requestTimeoutMs ?? TRANSACTION_PRODUCER_DEFAULTS.requestTimeoutMs,
      ...(options.retryBackoff === undefined ? {} : { retryBackoff: options.retryBackoff }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    });
    this.#checksDone = this.#serveChecks();
  }

  /** Check-backs received, answered commit/rollback, answered unknown, skipped (too many at once). */
  stats(): { readonly checksReceived: number; readonly checksAnswered: number; readonly checksUnknown: number; readonly checksSkipped: number } {
    return { ...this.#stats };
  }

  /**
   * Writes `messages` (one or several, to one topic) as a half message, runs
   * listener.executeLocal, and commits or rolls back as it says. Rejects if the half could
   * not be written (then executeLocal did not run) or the decision could not be delivered
   * (then the transaction stays undecided and the broker's check-back will ask).
   * `signal` ends the waits on the broker with AbortedError: while the half is written
   * (executeLocal does not run; a half that reached the broker stays undecided until the
   * check-back), and while the decision is delivered (left to the check-back). executeLocal
   * itself is not interrupted.
   */
  async sendInTransaction(topic: string, messages: ProducerMessage | readonly ProducerMessage[], options: CallOptions = {}): Promise<TransactionResult> {
    if (this.#state !== 'open') throw new ClientClosedError('the transaction producer is closed');
    const list = (Array.isArray(messages) ? messages : [messages]) as readonly ProducerMessage[];
    if (list.length === 0) throw new InvalidArgumentError('a transaction needs at least one message');
    const delayed = list.findIndex((m) => m.deliverAtMs !== undefined);
    if (delayed >= 0) throw new InvalidArgumentError(`message ${delayed} sets deliverAtMs: a transaction's messages become visible when it commits and cannot be delayed`);
    const records = list.map(toRecord);
    if (options.signal?.aborted === true) throw new AbortedError('send in transaction: aborted before the half was sent; nothing was written');
    const txId = randomUUID();
    let reject: (error: Error) => void = () => undefined;
    const failed = new Promise<never>((_, r) => (reject = r));
    const pending: PendingTransaction = { txId, phase: 'half', reject };
    const work = this.#transact(pending, topic, records, options);
    this.#pending.set(pending, work);
    try {
      return await Promise.race([work, failed]);
    } finally {
      this.#pending.delete(pending);
      // Failed by close(): what the work does after is nobody's to hear.
      work.catch(() => undefined);
    }
  }

  /** sendInTransaction's steps, keeping `entry.phase` current. */
  async #transact(entry: PendingTransaction, topic: string, records: readonly BrokerMessage[], options: CallOptions): Promise<TransactionResult> {
    const txId = entry.txId;
    try {
      await this.#client.sendHalf({ txId, producerGroup: this.#group, topic, messages: records, ...this.#schedule }, options);
    } catch (error) {
      if (error instanceof AbortedError) throw new AbortedError(`transaction ${txId}: aborted while its half was written; executeLocal did not run, and a half that reached the broker stays undecided until the check-back asks the group`, { cause: error });
      throw error;
    }
    entry.phase = 'local';
    const view: TransactionMessage = { txId, producerGroup: this.#group, topic, messages: records };
    let outcome: TransactionOutcome;
    try {
      outcome = await this.#listener.executeLocal(view);
    } catch (error) {
      this.#log(`transaction ${txId}: executeLocal threw (${String(error)}); left to the check-back`);
      outcome = TransactionOutcome.unknown;
    }
    if (outcome !== TransactionOutcome.commit && outcome !== TransactionOutcome.rollback) return { txId, outcome: 'unknown', firstOffset: null, count: records.length };
    entry.phase = 'decision';
    try {
      return result(txId, await this.#client.endTransaction(txId, outcome, 'producer', options));
    } catch (error) {
      if (error instanceof AbortedError) throw new AbortedError(`transaction ${txId}: aborted while the decision ${outcome} was delivered; the broker's check-back will ask the group`, { cause: error });
      throw error;
    }
  }

  /**
   * Stops answering check-backs (another producer of the group will be asked), waits up to
   * `timeoutMs` (default 30 s; Infinity waits for all) for transactions and check-back
   * answers in progress, then fails what is still pending with ClientClosedError and closes
   * the connections. sendInTransaction() is refused from the start of close(); a second
   * close() waits for the first.
   */
  close(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? TRANSACTION_PRODUCER_DEFAULTS.closeTimeoutMs;
    if (!(timeoutMs >= 0)) return Promise.reject(new InvalidArgumentError(`close: timeoutMs must be >= 0, not ${timeoutMs}`));
    this.#closed ??= this.#close(timeoutMs);
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#state = 'closing';
    this.#stop.abort();
    const inTime = await settledWithin([...this.#pending.values(), ...this.#answers], timeoutMs);
    this.#state = 'closed';
    if (!inTime) for (const pending of this.#pending.keys()) pending.reject(closedError(pending, timeoutMs));
    await this.#client.close();
    await this.#checksDone;
  }

  async #serveChecks(): Promise<void> {
    try {
      for await (const check of this.#client.checks(this.#group, this.#stop.signal)) {
        this.#stats.checksReceived++;
        if (this.#checksInFlight >= this.#checksInFlightMax) {
          this.#stats.checksSkipped++;
          continue;
        }
        this.#checksInFlight++;
        const answer = this.#answer(check).finally(() => {
          this.#checksInFlight--;
          this.#answers.delete(answer);
        });
        this.#answers.add(answer);
      }
    } catch (error) {
      if (!this.#stop.signal.aborted) this.#log(`check-backs for group ${this.#group} stopped: ${String(error)}`);
    }
  }

  async #answer(check: TransactionCheck): Promise<void> {
    const request: TransactionCheckRequest = { txId: check.txId, producerGroup: check.producerGroup, topic: check.topic, messages: check.messages, checkCount: check.checkCount, preparedAtMs: check.preparedAtMs };
    let outcome: TransactionOutcome;
    try {
      outcome = await this.#listener.check(request);
    } catch (error) {
      this.#log(`transaction ${check.txId}: check threw (${String(error)}); the broker will ask again`);
      outcome = TransactionOutcome.unknown;
    }
    if (outcome !== TransactionOutcome.commit && outcome !== TransactionOutcome.rollback) {
      this.#stats.checksUnknown++;
      return;
    }
    try {
      await this.#client.endTransaction(check.txId, outcome, 'checkBack');
      this.#stats.checksAnswered++;
    } catch (error) {
      if (!this.#stop.signal.aborted) this.#log(`transaction ${check.txId}: the check-back answer ${outcome} was not taken: ${String(error)}`);
    }
  }
}

/** Why close() failed a transaction still in progress at its deadline, with what it leaves. */
function closedError(pending: PendingTransaction, timeoutMs: number): ClientClosedError {
  const fate = {
    half: 'before its half was written; a half that reached the broker stays undecided until the check-back asks the group',
    local: 'while executeLocal ran; its decision is left to the check-back',
    decision: 'before its decision was delivered; the broker\'s check-back will ask the group',
  }[pending.phase];
  return new ClientClosedError(`transaction ${pending.txId}: the transaction producer was closed ${fate} (close() waited ${timeoutMs} ms)`);
}

/** Whether every promise settled within `timeoutMs`. */
async function settledWithin(promises: readonly Promise<unknown>[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => (timer = timeoutMs === Infinity ? undefined : setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function result(txId: string, end: EndResult): TransactionResult {
  return { txId, outcome: end.state, firstOffset: end.state === 'committed' ? end.firstOffset : null, count: end.count };
}

