import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';

import { InvalidArgumentError, UnavailableError, UnimplementedError } from './node-errors.js';
import { MalformedRequest } from './client-codec.js';
import { answerUnary } from './grpc-server.js';
import { CLUSTER_ADMIN, topicAccess, type CallAccess } from './access-check.js';
import { toGrpcStatus } from './grpc-status.js';
import {
  TransactionOutcomeCode,
  TransactionSourceCode,
  type EndTransactionRequestMessage,
  type EndTransactionResponseMessage,
  type ListTransactionsResponseMessage,
  type SendHalfRequestMessage,
  type SendHalfResponseMessage,
  type TransactionCheckMessage,
  type TransactionChecksRequestMessage,
} from './transaction-codec.js';
import type { CheckSink, CheckView, TransactionService, TransactionSourceName } from './transaction-service.js';

type Incoming<T> = T | MalformedRequest;

/** Bytes a check stream may have queued unsent; beyond that checks are skipped (asked again next interval). */
const CHECK_STREAM_QUEUED_BYTES_MAX = 4 * 1024 * 1024;

/**
 * The transaction methods of the client server: a thin adapter over the node's
 * TransactionService, like ClientHandlers (client-server.ts) for the rest.
 */
export class TransactionHandlers {
  readonly #service: TransactionService | undefined;
  readonly #requestTimeoutMs: number;
  /** Ends each open check stream: close() ends them all. */
  readonly #streams = new Set<(error: Error) => void>();
  #closing = false;

  readonly #access: CallAccess;

  constructor(service: TransactionService | undefined, requestTimeoutMs: number, access: CallAccess) {
    this.#service = service;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#access = access;
  }

  /** Ends open check streams with UNAVAILABLE (the producers go to another node) and refuses new calls. */
  close(): void {
    this.#closing = true;
    for (const end of [...this.#streams]) end(new UnavailableError('the node is shutting down; ask another node for check-backs'));
  }

  readonly sendHalf = (call: ServerUnaryCall<Incoming<SendHalfRequestMessage>, SendHalfResponseMessage>, reply: sendUnaryData<SendHalfResponseMessage>): void => {
    answerUnary(reply, async () => {
      const r = decoded(call.request, 'SendHalf');
      this.#access.check(call.metadata, topicAccess('produce', r.topic));
      const input = { txId: r.txId, producerGroup: r.producerGroup, topic: r.topic, messages: r.messages, checkDelayMs: r.checkDelayMs, checkIntervalMs: r.checkIntervalMs, checkMax: r.checkMax };
      return this.#transactions().sendHalf(input, { timeoutMs: this.#timeoutMs(call.getDeadline()) });
    });
  };

  readonly endTransaction = (call: ServerUnaryCall<Incoming<EndTransactionRequestMessage>, EndTransactionResponseMessage>, reply: sendUnaryData<EndTransactionResponseMessage>): void => {
    answerUnary(reply, async () => {
      const r = decoded(call.request, 'EndTransaction');
      const outcome = r.outcome === TransactionOutcomeCode.commit ? 'commit' : r.outcome === TransactionOutcomeCode.rollback ? 'rollback' : null;
      if (outcome === null) throw new InvalidArgumentError(`outcome ${String(r.outcome)} is not commit (1) or rollback (2)`);
      const source = sourceName(r.source);
      if (source === null) throw new InvalidArgumentError(`source ${String(r.source)} is not producer (0), check-back (1) or admin (2)`);
      // A producer decides its own transactions (produce on the topic); an operator resolving
      // one by hand needs admin on it. One this node does not know goes on to the state
      // machine, which refuses an unknown transaction, but only once this node is known to
      // have applied everything committed: a new leader still catching up may not have
      // applied its half yet, and letting the decision through would skip the check.
      const { topic, current } = this.#transactions().transactionTopic(r.txId);
      if (topic !== null) this.#access.check(call.metadata, topicAccess(source === 'admin' ? 'admin' : 'produce', topic));
      else if (!current && !this.#access.allows(call.metadata, CLUSTER_ADMIN)) {
        throw new UnavailableError(`transaction ${r.txId} is not known here yet: this leader has not applied everything committed; retry`);
      }
      return this.#transactions().endTransaction({ txId: r.txId, outcome, source }, { timeoutMs: this.#timeoutMs(call.getDeadline()) });
    });
  };

  readonly listTransactions = (call: ServerUnaryCall<Incoming<Record<string, never>>, ListTransactionsResponseMessage>, reply: sendUnaryData<ListTransactionsResponseMessage>): void => {
    answerUnary(reply, () => {
      decoded(call.request, 'ListTransactions');
      return Promise.resolve({ transactions: this.#transactions().listTransactions(), nowMs: Date.now() });
    });
  };

  readonly transactionChecks = (call: ServerWritableStream<Incoming<TransactionChecksRequestMessage>, TransactionCheckMessage>): void => {
    let ended = false;
    let unsubscribe = (): void => {};
    const end = (error: Error): void => {
      if (ended) return;
      ended = true;
      this.#streams.delete(end);
      unsubscribe();
      call.emit('error', toGrpcStatus(error));
    };
    const sink: CheckSink = {
      push: (check) => {
        if (ended || call.writableLength > CHECK_STREAM_QUEUED_BYTES_MAX) return false;
        // A producer is asked only about transactions on topics it may produce to (the check carries their messages).
        if (!this.#access.allows(call.metadata, topicAccess('produce', check.topic))) return true;
        call.write(checkMessage(check));
        return true;
      },
      end,
    };
    call.on('cancelled', () => {
      ended = true;
      this.#streams.delete(end);
      unsubscribe();
    });
    try {
      const group = decoded(call.request, 'TransactionChecks').producerGroup;
      if (group === '') throw new InvalidArgumentError('check-backs need a producer group');
      this.#streams.add(end);
      unsubscribe = this.#transactions().subscribeChecks(group, sink);
    } catch (error) {
      end(error instanceof Error ? error : new Error(String(error)));
    }
  };

  #transactions(): TransactionService {
    if (this.#closing) throw new UnavailableError('the node is shutting down');
    if (this.#service === undefined) throw new UnimplementedError('this server has no transactions');
    return this.#service;
  }

  #timeoutMs(deadline: Date | number): number {
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    return Math.max(1, Math.min(this.#requestTimeoutMs, deadlineMs - Date.now()));
  }
}

function decoded<T>(request: Incoming<T>, method: string): T {
  if (request instanceof MalformedRequest) throw new InvalidArgumentError(`${method} request is not a valid protobuf message: ${request.reason}`);
  return request;
}

function sourceName(code: number): TransactionSourceName | null {
  const names = Object.keys(TransactionSourceCode) as TransactionSourceName[];
  return names.find((name) => TransactionSourceCode[name] === code) ?? null;
}

function checkMessage(check: CheckView): TransactionCheckMessage {
  return { txId: check.txId, producerGroup: check.producerGroup, topic: check.topic, messages: check.messages, checkCount: check.checkCount, preparedAtMs: check.preparedAtMs };
}
