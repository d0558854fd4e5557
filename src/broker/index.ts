export { BrokerState, BROKER_DEFAULTS, type ApplyResult, type BrokerStateOptions, type TopicDescription } from './broker-state.js';
export { messagesHeld } from './messages-held.js';
export { CommandKind, decodeAppliedCommand, decodeCommand, DELIVER_AT_HEADER, deliverAtHeaderOf, encodeCommand, EndSource, messageBytes, type AclAdd, type AclRemove, type AppliedCommand, type BrokerCommand, type CommandEnvelope, type EndTransaction, type HalfMessage, type Header, type MessageRecord, type OffsetRange, type ProduceSummary, type ResetGroup, type ResetTarget } from './commands.js';
export { BrokerError, BrokerSnapshotError, MalformedCommandError, type BrokerRefusalCode } from './errors.js';
export type { MessageLocation } from './topic-log.js';
export { topicNameProblem } from './topic-name.js';
export { DeadLetterHeader, deadLetterTopicOf, GROUP_DEFAULTS, groupNameProblem, type DeadLetterCandidate, type GroupDescription, type GroupSettings, type GroupStart, type LeaseDelivery, type ConsumerGroup } from './consumer-groups.js';
export type { GroupResult } from './group-table.js';
export {
  AuditHeader,
  halfProblem,
  TRANSACTION_DEFAULTS,
  TransactionState,
  type DecisionSource,
  type TransactionApplyResult,
  type TransactionView,
} from './transactions.js';
export { BROKER_SNAPSHOT_FORMAT, BrokerSnapshotEncoder, decodeBrokerSnapshot, encodeBrokerSnapshot } from './broker-snapshot.js';
export { SNAPSHOT_STEP_ITEMS } from './snapshot-steps.js';
export {
  ACL_LIMITS,
  ACL_OPERATIONS,
  AclOperation,
  aclPatternMatches,
  AclResourceKind,
  aclRuleProblem,
  AclTable,
  ANY_PRINCIPAL,
  canonicalOperations,
  describeAclRule,
  type AclAccess,
  type AclResource,
  type AclRule,
} from './acl.js';
