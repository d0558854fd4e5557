import { status, type ServiceError } from '@grpc/grpc-js';

import {
  Backoff,
  ErrorMetadataKey,
  TransactionCodec,
  TransactionMethodPath,
  TransactionOutcomeCode,
  TransactionSourceCode,
  type BrokerMessageView,
  type TransactionCheckMessage,
} from '../transport/index.js';
import { awaitReady, BrokerChannels } from './broker-channels.js';
import { InvalidArgumentError } from './errors.js';
import { LOG_CLIENT_DEFAULTS, LogClient, toClientError, type LogClientOptions } from './log-client.js';

export interface HalfRequest {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessageView[];
  /** 0 or unset: the broker's defaults (60 s, 60 s, 15). */
  readonly checkDelayMs?: number;
  readonly checkIntervalMs?: number;
  readonly checkMax?: number;
}

export interface HalfResult {
  /** The half had been written before (this was a retry). */
  readonly duplicate: boolean;
  readonly state: 'prepared' | 'committed' | 'rolledBack';
  readonly logIndex: number;
}

export interface EndResult {
  readonly state: 'committed' | 'rolledBack';
  readonly topic: string;
  /** Committed: the first message's offset (the others follow it); 0 when rolled back. */
  readonly firstOffset: number;
  readonly count: number;
  /** It had been decided so before: nothing changed. */
  readonly duplicate: boolean;
}

export interface TransactionInfo {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messageCount: number;
  readonly preparedAtMs: number;
  readonly checkCount: number;
  readonly checkMax: number;
  readonly nextCheckMs: number;
  readonly logIndex: number;
}

export type TransactionCheck = TransactionCheckMessage;
export type EndSourceName = keyof typeof TransactionSourceCode;

/**
 * The transaction calls of a cluster (client.proto's SendHalf, EndTransaction,
 * ListTransactions, TransactionChecks). SendHalf and EndTransaction are safe to retry (the
 * transaction id makes them idempotent), so they are retried like reads, across redirects
 * and lost connections, within the client's timeoutMs.
 */
export class TransactionClient {
  readonly #client: LogClient;
  readonly #codec = new TransactionCodec();
  readonly #brokers: readonly string[];
  readonly #channels: BrokerChannels;
  readonly #connectTimeoutMs: number;
  readonly #retryBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly #closing = new AbortController();

  constructor(options: LogClientOptions) {
    this.#client = new LogClient(options);
    this.#brokers = [...options.brokers];
    this.#connectTimeoutMs = options.connectTimeoutMs ?? LOG_CLIENT_DEFAULTS.connectTimeoutMs;
    this.#retryBackoff = options.retryBackoff ?? LOG_CLIENT_DEFAULTS.retryBackoff;
    this.#channels = new BrokerChannels({ maxMessageBytes: options.maxMessageBytes ?? LOG_CLIENT_DEFAULTS.maxMessageBytes, addressesMax: this.#brokers.length + 16 });
  }

  async sendHalf(request: HalfRequest): Promise<HalfResult> {
    const message = { ...request, checkDelayMs: request.checkDelayMs ?? 0, checkIntervalMs: request.checkIntervalMs ?? 0, checkMax: request.checkMax ?? 0 };
    const { serialize } = this.#codec.sendHalfRequest;
    const { deserialize } = this.#codec.sendHalfResponse;
    const response = await this.#client.unaryCall({ operation: 'sendHalf', delivery: 'idempotent', path: TransactionMethodPath.sendHalf, serialize, deserialize }, message);
    return { duplicate: response.duplicate, state: response.state as HalfResult['state'], logIndex: response.logIndex };
  }

  async endTransaction(txId: string, outcome: 'commit' | 'rollback', source: EndSourceName = 'producer'): Promise<EndResult> {
    const request = { txId, outcome: TransactionOutcomeCode[outcome], source: TransactionSourceCode[source] };
    const { serialize } = this.#codec.endTransactionRequest;
    const { deserialize } = this.#codec.endTransactionResponse;
    const response = await this.#client.unaryCall({ operation: outcome, delivery: 'idempotent', path: TransactionMethodPath.endTransaction, serialize, deserialize }, request);
    return { state: response.state as EndResult['state'], topic: response.topic, firstOffset: response.firstOffset, count: response.count, duplicate: response.duplicate };
  }

  /** Undecided transactions as the answering node has applied them, with that node's clock. */
  async listTransactions(): Promise<{ readonly transactions: readonly TransactionInfo[]; readonly nowMs: number }> {
    const { serialize } = this.#codec.listTransactionsRequest;
    const { deserialize } = this.#codec.listTransactionsResponse;
    const response = await this.#client.unaryCall({ operation: 'listTransactions', delivery: 'idempotent', path: TransactionMethodPath.listTransactions, serialize, deserialize }, {});
    // Field by field: decoded messages keep proto3 defaults (zeros) on their prototype.
    const transactions = response.transactions.map((t) => ({
      txId: t.txId,
      producerGroup: t.producerGroup,
      topic: t.topic,
      messageCount: t.messageCount,
      preparedAtMs: t.preparedAtMs,
      checkCount: t.checkCount,
      checkMax: t.checkMax,
      nextCheckMs: t.nextCheckMs,
      logIndex: t.logIndex,
    }));
    return { transactions, nowMs: response.nowMs };
  }

  /**
   * The check-backs the leader sends to `producerGroup`, for as long as `signal` is not
   * aborted: the stream follows the leader (redirects, reconnects with back-off after a
   * failover or a lost connection) and never gives up on its own. Fails only for a refusal
   * no retry can mend (a bad group name).
   */
  async *checks(producerGroup: string, signal: AbortSignal): AsyncGenerator<TransactionCheck, void, undefined> {
    if (producerGroup === '') throw new InvalidArgumentError('check-backs need a producer group');
    const stop = AbortSignal.any([signal, this.#closing.signal]);
    const backoff = new Backoff(this.#retryBackoff);
    let address = this.#brokers[0] ?? '';
    let cursor = 0;
    let redirectedLast = false;
    // Bounded by `stop`: each round either streams or waits its back-off.
    while (!stop.aborted) {
      const client = this.#channels.get(address);
      let redirect: string | null = null;
      if (await awaitReady(client, Date.now() + this.#connectTimeoutMs)) {
        const call = client.makeServerStreamRequest(TransactionMethodPath.transactionChecks, this.#codec.transactionChecksRequest.serialize, this.#codec.transactionCheck.deserialize, { producerGroup });
        const cancel = (): void => call.cancel();
        stop.addEventListener('abort', cancel, { once: true });
        try {
          for await (const check of call as AsyncIterable<TransactionCheckMessage>) {
            backoff.reset();
            yield check;
          }
        } catch (error) {
          if (stop.aborted) break;
          redirect = this.#afterFailure(error as ServiceError);
        } finally {
          stop.removeEventListener('abort', cancel);
          call.cancel();
        }
      }
      // A first redirect goes at once; redirect after redirect (an election settling) waits.
      const wait = redirect === null || redirectedLast;
      redirectedLast = redirect !== null;
      address = redirect ?? this.#brokers[++cursor % this.#brokers.length] ?? address;
      if (wait) await sleep(backoff.nextDelayMs(), stop);
    }
  }

  close(): void {
    this.#closing.abort();
    this.#channels.close();
    this.#client.close();
  }

  /** The leader's address to go to at once, or null to try the next broker after a back-off; throws what no retry mends. */
  #afterFailure(error: ServiceError): string | null {
    const nodeCode = error.metadata?.get(ErrorMetadataKey.errorCode)[0];
    if (error.code === status.UNAVAILABLE && nodeCode === 'notLeader') {
      const leader = error.metadata?.get(ErrorMetadataKey.leaderAddress)[0];
      return typeof leader === 'string' && leader !== '' ? leader : null;
    }
    if (error.code === status.INVALID_ARGUMENT || error.code === status.UNIMPLEMENTED) throw toClientError(error, 'transactionChecks', 'idempotent');
    return null;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
