export { RaftNode } from './raft-node.js';
export type {
  ConfChange,
  ConfChangeOptions,
  ConfChangeResult,
  FollowerStatus,
  ProposeBatchResult,
  ProposeResult,
  RaftOptions,
  ReadIndexResult,
  Status,
  TransferResult,
} from './raft-api.js';
export { ConfChangeRefusal } from './raft-api.js';
export { NO_CONFIGURATION, configurationContext, configurationOfSnapshot, decodeConfiguration, encodeConfiguration, isMember, isVoter, sameConfiguration } from './membership.js';
export { ReplicationState } from './progress.js';
export { RaftInvariantError } from './assert.js';
export * from './types.js';
