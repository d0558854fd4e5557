export { ErrorCode } from '../../errors/index.js';
export { LogClient, LOG_CLIENT_DEFAULTS } from './log-client.js';
export type {
  AppendResult,
  BrokerMessage,
  BrokerStatus,
  CallOptions,
  FetchResult,
  FollowerStatus,
  KeepaliveOptions,
  LogClientOptions,
  LogRecord,
  NodeStatus,
  ProduceBatch,
  ProduceResult,
  ReadResult,
  TopicInfo,
} from './log-client.js';
export {
  AbortedError,
  AlreadyExistsError,
  DeliveryTimeoutError,
  DuplicateTooOldError,
  FailedPreconditionError,
  OutOfOrderSequenceError,
  ProducerIdChangedError,
  UnknownProducerError,
  ClientClosedError,
  DataLossError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  OutOfRangeError,
  QuorumlogClientError,
  ResourceExhaustedError,
  UnavailableError,
  PermissionDeniedError,
  UnauthenticatedError,
  SpoolError,
  SpoolFullError,
  TransactionDecidedError,
} from './errors.js';
export { Spool, SPOOL_DEFAULTS } from './spool.js';
export type { SpoolRecord } from './spool.js';
export { AppendBatcher, APPEND_BATCHER_DEFAULTS } from './append-batcher.js';
export type { AppendBatcherOptions } from './append-batcher.js';
export type { AppendAcks } from '../transport/index.js';
export type { ClientAuth, ClientTlsOptions } from '../transport/index.js';
export { Producer } from './producer.js';
export { PRODUCER_DEFAULTS } from './producer-options.js';
export type { Acks, ProducerMessage, ProducerOptions, ProducerTestHooks, SendResult, SpoolOptions } from './producer-options.js';
export { Admin } from './admin.js';
export type { AclOperation, AclRule } from './acls.js';
export { Consumer, CONSUMER_DEFAULTS } from './consumer.js';
export type { ConsumedMessage, ConsumerErrorContext, ConsumerOptions } from './consumer.js';
export { GroupCalls } from './groups.js';
export type { AckOutcome, GroupInfo, GroupResetResult, GroupResetTarget, GroupSettings, GroupStart } from './groups.js';
export { TransactionClient } from './transaction-client.js';
export type { EndResult, HalfRequest, HalfResult, TransactionCheck, TransactionInfo } from './transaction-client.js';
export { TransactionOutcome, TransactionProducer, TRANSACTION_PRODUCER_DEFAULTS } from './transaction-producer.js';
export type { TransactionCheckRequest, TransactionListener, TransactionMessage, TransactionProducerOptions, TransactionResult } from './transaction-producer.js';
export { MemberCalls } from './members.js';
export type { MemberAddresses, PromoteOptions } from './members.js';
export type { MemberChangeInput, MemberInfo, MembersView } from '../transport/index.js';
