export { LogClient, LOG_CLIENT_DEFAULTS } from './log-client.js';
export type { AppendResult, BrokerStatus, FollowerStatus, LogClientOptions, LogRecord, NodeStatus, ReadResult } from './log-client.js';
export {
  ClientClosedError,
  ClientErrorCode,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  QuorumlogClientError,
  ResourceExhaustedError,
  UnavailableError,
} from './errors.js';
export { AppendBatcher, APPEND_BATCHER_DEFAULTS } from './append-batcher.js';
export type { AppendBatcherOptions } from './append-batcher.js';
