import {
  TransactionCodec,
  TransactionMethodPath,
  TransactionOutcomeCode,
  TransactionSourceCode,
  type BrokerMessageView,
  type TransactionCheckMessage,
  type TransactionInfoView,
} from '../transport/index.js';
import { InvalidArgumentError } from './errors.js';
import { LogClient, type CallOptions, type LogClientOptions } from './log-client.js';

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

/** An undecided transaction, as the answering node has applied it. */
export type TransactionInfo = TransactionInfoView;

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

  constructor(options: LogClientOptions) {
    this.#client = new LogClient(options);
  }

  async sendHalf(request: HalfRequest, options: CallOptions = {}): Promise<HalfResult> {
    const message = { ...request, checkDelayMs: request.checkDelayMs ?? 0, checkIntervalMs: request.checkIntervalMs ?? 0, checkMax: request.checkMax ?? 0 };
    const { serialize } = this.#codec.sendHalfRequest;
    const { deserialize } = this.#codec.sendHalfResponse;
    const response = await this.#client.unaryCall({ operation: 'sendHalf', delivery: 'idempotent', path: TransactionMethodPath.sendHalf, serialize, deserialize }, message, options);
    return { duplicate: response.duplicate, state: response.state as HalfResult['state'], logIndex: response.logIndex };
  }

  async endTransaction(txId: string, outcome: 'commit' | 'rollback', source: EndSourceName = 'producer', options: CallOptions = {}): Promise<EndResult> {
    const request = { txId, outcome: TransactionOutcomeCode[outcome], source: TransactionSourceCode[source] };
    const { serialize } = this.#codec.endTransactionRequest;
    const { deserialize } = this.#codec.endTransactionResponse;
    const response = await this.#client.unaryCall({ operation: outcome, delivery: 'idempotent', path: TransactionMethodPath.endTransaction, serialize, deserialize }, request, options);
    return { state: response.state as EndResult['state'], topic: response.topic, firstOffset: response.firstOffset, count: response.count, duplicate: response.duplicate };
  }

  /** Undecided transactions as the answering node has applied them, with that node's clock. */
  async listTransactions(options: CallOptions = {}): Promise<{ readonly transactions: readonly TransactionInfo[]; readonly nowMs: number }> {
    const { serialize } = this.#codec.listTransactionsRequest;
    const { deserialize } = this.#codec.listTransactionsResponse;
    const response = await this.#client.unaryCall({ operation: 'listTransactions', delivery: 'idempotent', path: TransactionMethodPath.listTransactions, serialize, deserialize }, {}, options);
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
    const method = { path: TransactionMethodPath.transactionChecks, serialize: this.#codec.transactionChecksRequest.serialize, deserialize: this.#codec.transactionCheck.deserialize };
    yield* this.#client.leaderStream<{ producerGroup: string }, TransactionCheckMessage>('transactionChecks', method, { producerGroup }, signal, { giveUpAfterMs: null });
  }

  /** Closes the connections; calls still waiting fail with ClientClosedError. */
  close(): Promise<void> {
    return this.#client.close();
  }
}
