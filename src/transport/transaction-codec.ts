import type { ServiceDefinition } from '@grpc/grpc-js';

import { methodDefinition, typeCodec, type BrokerMessage } from './client-codec.js';
import type { TransactionInfoView } from './transaction-service.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';

/** client.proto's transaction messages as plain data (uint64 as numbers, enums as numbers). */
export interface SendHalfRequestMessage {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessage[];
  readonly checkDelayMs: number;
  readonly checkIntervalMs: number;
  readonly checkMax: number;
}
export interface SendHalfResponseMessage {
  readonly duplicate: boolean;
  readonly state: string;
  readonly logIndex: number;
}
/** client.proto's TransactionOutcome. */
export const TransactionOutcomeCode = { unspecified: 0, commit: 1, rollback: 2 } as const;
/** client.proto's TransactionSource. */
export const TransactionSourceCode = { producer: 0, checkBack: 1, admin: 2 } as const;
export interface EndTransactionRequestMessage {
  readonly txId: string;
  readonly outcome: number;
  readonly source: number;
}
export interface EndTransactionResponseMessage {
  readonly state: string;
  readonly topic: string;
  readonly firstOffset: number;
  readonly count: number;
  readonly duplicate: boolean;
}
/** On the wire as the service shows it. */
export type TransactionInfoMessage = TransactionInfoView;
export interface ListTransactionsResponseMessage {
  readonly transactions: readonly TransactionInfoMessage[];
  readonly nowMs: number;
}
export interface TransactionChecksRequestMessage {
  readonly producerGroup: string;
}
export interface TransactionCheckMessage {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessage[];
  readonly checkCount: number;
  readonly preparedAtMs: number;
}

/** gRPC paths of the transaction methods (same service as ClientMethodPath). */
export const TransactionMethodPath = {
  sendHalf: '/quorumlog.client.Client/SendHalf',
  endTransaction: '/quorumlog.client.Client/EndTransaction',
  listTransactions: '/quorumlog.client.Client/ListTransactions',
  transactionChecks: '/quorumlog.client.Client/TransactionChecks',
} as const;

interface Codec<T> {
  readonly serialize: (value: T) => Buffer;
  readonly deserialize: (bytes: Buffer) => T;
}

/** Serializers for the transaction messages of client.proto. Build one and share it. */
export class TransactionCodec {
  readonly sendHalfRequest: Codec<SendHalfRequestMessage>;
  readonly sendHalfResponse: Codec<SendHalfResponseMessage>;
  readonly endTransactionRequest: Codec<EndTransactionRequestMessage>;
  readonly endTransactionResponse: Codec<EndTransactionResponseMessage>;
  readonly listTransactionsRequest: Codec<Record<string, never>>;
  readonly listTransactionsResponse: Codec<ListTransactionsResponseMessage>;
  readonly transactionChecksRequest: Codec<TransactionChecksRequestMessage>;
  readonly transactionCheck: Codec<TransactionCheckMessage>;

  constructor() {
    const root = parseSchema(readSchema('client.proto'));
    const codec = <T>(name: string): Codec<T> => typeCodec<T>(schemaType(root, `quorumlog.client.${name}`));
    this.sendHalfRequest = codec('SendHalfRequest');
    this.sendHalfResponse = codec('SendHalfResponse');
    this.endTransactionRequest = codec('EndTransactionRequest');
    this.endTransactionResponse = codec('EndTransactionResponse');
    this.listTransactionsRequest = codec('ListTransactionsRequest');
    this.listTransactionsResponse = codec('ListTransactionsResponse');
    this.transactionChecksRequest = codec('TransactionChecksRequest');
    this.transactionCheck = codec('TransactionCheck');
  }

  /** The transaction methods' part of the Client service definition (merged with ClientCodec's). */
  serviceDefinition(): ServiceDefinition<Record<keyof typeof TransactionMethodPath, unknown>> {
    const method = methodDefinition;
    return {
      sendHalf: method(TransactionMethodPath.sendHalf, this.sendHalfRequest, this.sendHalfResponse),
      endTransaction: method(TransactionMethodPath.endTransaction, this.endTransactionRequest, this.endTransactionResponse),
      listTransactions: method(TransactionMethodPath.listTransactions, this.listTransactionsRequest, this.listTransactionsResponse),
      transactionChecks: method(TransactionMethodPath.transactionChecks, this.transactionChecksRequest, this.transactionCheck, { responseStream: true }),
    };
  }
}
