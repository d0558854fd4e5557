export { ConfigError, NODE_DEFAULTS, localMembers, parseDialAddresses, parseMembers, isLoopback, plaintextExposure, authWithoutTls, RetentionPolicy, type MemberConfig, type NodeConfig, type RetentionConfig } from './config.js';
export { startNode, type NodeObservation, type RunningNode } from './node.js';
export { DataDirWipedError } from './bootstrap-check.js';
export type { NodeInspection } from './node-inspection.js';
export type { StorageStatus } from './storage-status.js';
export type { DiskUsage, DiskUsageSource } from './disk-guard.js';
export { AUTH_REFUSAL_KINDS, NO_PROBE, type NodeProbe, type ProbedCall } from './node-probe.js';
export { NODE_V8_FLAGS } from './v8-flags.js';
export { encodeInSlices, SNAPSHOT_ENCODE_SLICE, type SnapshotEncodeSlice } from './snapshot-slices.js';
