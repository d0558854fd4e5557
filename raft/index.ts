export { RaftNode } from './raft-node.js';
export type { FollowerStatus, ProposeBatchResult, ProposeResult, RaftOptions, ReadIndexResult, Status, TransferResult } from './raft-api.js';
export { ReplicationState } from './progress.js';
export { RaftInvariantError } from './assert.js';
export * from './types.js';
