/**
 * The package's entry point, `import { Producer, ... } from 'quorumlog'`: the client library
 * as an application uses it. It names the public surface on purpose rather than passing on
 * all of src/client/index.ts, which also serves the CLI and the benchmarks (the spool, the
 * raw group and transaction calls, the producer's test hooks); what is not listed here is
 * not part of the package's API.
 */
export { Admin, AppendBatcher, Consumer, LogClient, Producer, TransactionProducer } from './client/index.js';
export {
  APPEND_BATCHER_DEFAULTS,
  CONSUMER_DEFAULTS,
  LOG_CLIENT_DEFAULTS,
  PRODUCER_DEFAULTS,
  TRANSACTION_PRODUCER_DEFAULTS,
  TransactionOutcome,
} from './client/index.js';
export {
  AbortedError,
  AlreadyExistsError,
  ClientClosedError,
  DeliveryTimeoutError,
  DuplicateTooOldError,
  ErrorCode,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  OutOfOrderSequenceError,
  ProducerIdChangedError,
  QuorumlogClientError,
  ResourceExhaustedError,
  SpoolError,
  SpoolFullError,
  TransactionDecidedError,
  UnavailableError,
  UnknownProducerError,
} from './client/index.js';
export type {
  Acks,
  AckOutcome,
  AppendAcks,
  AppendBatcherOptions,
  AppendResult,
  BrokerMessage,
  BrokerStatus,
  CallOptions,
  ConsumedMessage,
  ConsumerErrorContext,
  ConsumerOptions,
  FetchResult,
  FollowerStatus,
  GroupInfo,
  GroupSettings,
  GroupStart,
  KeepaliveOptions,
  LogClientOptions,
  LogRecord,
  NodeStatus,
  ProduceBatch,
  ProducerMessage,
  ProducerOptions,
  ProduceResult,
  ReadResult,
  SendResult,
  SpoolOptions,
  TopicInfo,
  TransactionCheckRequest,
  TransactionListener,
  TransactionMessage,
  TransactionProducerOptions,
  TransactionResult,
} from './client/index.js';
