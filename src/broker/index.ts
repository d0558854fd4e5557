export { BrokerState, BROKER_DEFAULTS, type ApplyResult, type BrokerStateOptions, type TopicDescription } from './broker-state.js';
export { CommandKind, decodeCommand, encodeCommand, EndSource, messagesHeld, type BrokerCommand, type CommandEnvelope, type EndTransaction, type HalfMessage, type Header, type MessageRecord } from './commands.js';
export { BrokerError, BrokerErrorCode, MalformedCommandError } from './errors.js';
export type { MessageLocation } from './topic-log.js';
export { topicNameProblem } from './topic-name.js';
export {
  AuditHeader,
  halfProblem,
  TRANSACTION_DEFAULTS,
  TransactionState,
  type DecisionSource,
  type TransactionApplyResult,
  type TransactionView,
} from './transactions.js';
