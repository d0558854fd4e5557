export { ConfigError, NODE_DEFAULTS, localMembers, parseDialAddresses, parseMembers, type MemberConfig, type NodeConfig } from './config.js';
export { startNode, type NodeObservation, type RunningNode } from './node.js';
export type { NodeInspection } from './node-inspection.js';
export { NO_PROBE, type NodeProbe, type ProbedCall } from './node-probe.js';
export { NODE_V8_FLAGS } from './v8-flags.js';
