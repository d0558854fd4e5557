import { randomUUID } from 'node:crypto';

import { ClientClosedError, InvalidArgumentError } from './errors.js';
import type { BrokerMessage } from './log-client.js';
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

export const TRANSACTION_PRODUCER_DEFAULTS = { requestTimeoutMs: 30_000, checksInFlightMax: 16 } as const;

/** How sendInTransaction ended. */
export interface TransactionResult {
  readonly txId: string;
  /** 'unknown': the listener did not decide; the broker's check-back will ask. */
  readonly outcome: 'committed' | 'rolledBack' | 'unknown';
  /** Committed: the first message's offset; the others follow it. Otherwise null. */
  readonly firstOffset: number | null;
  readonly count: number;
}

type ProducerState = 'open' | 'closed';

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
  #state: ProducerState = 'open';
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
   */
  async sendInTransaction(topic: string, messages: ProducerMessage | readonly ProducerMessage[]): Promise<TransactionResult> {
    if (this.#state !== 'open') throw new ClientClosedError('the transaction producer is closed');
    const list = (Array.isArray(messages) ? messages : [messages]) as readonly ProducerMessage[];
    if (list.length === 0) throw new InvalidArgumentError('a transaction needs at least one message');
    const delayed = list.findIndex((m) => m.deliverAtMs !== undefined);
    if (delayed >= 0) throw new InvalidArgumentError(`message ${delayed} sets deliverAtMs: a transaction's messages become visible when it commits and cannot be delayed`);
    const txId = randomUUID();
    const records = list.map(toRecord);
    await this.#client.sendHalf({ txId, producerGroup: this.#group, topic, messages: records, ...this.#schedule });
    const view: TransactionMessage = { txId, producerGroup: this.#group, topic, messages: records };
    let outcome: TransactionOutcome;
    try {
      outcome = await this.#listener.executeLocal(view);
    } catch (error) {
      this.#log(`transaction ${txId}: executeLocal threw (${String(error)}); left to the check-back`);
      outcome = TransactionOutcome.unknown;
    }
    if (outcome !== TransactionOutcome.commit && outcome !== TransactionOutcome.rollback) return { txId, outcome: 'unknown', firstOffset: null, count: records.length };
    return result(txId, await this.#client.endTransaction(txId, outcome, 'producer'));
  }

  /** Stops answering check-backs (another producer of the group will be asked) and closes the connections. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#stop.abort();
    await this.#checksDone;
    this.#client.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
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
        void this.#answer(check).finally(() => this.#checksInFlight--);
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

function result(txId: string, end: EndResult): TransactionResult {
  return { txId, outcome: end.state, firstOffset: end.state === 'committed' ? end.firstOffset : null, count: end.count };
}

