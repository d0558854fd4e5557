export { ConfigError, NODE_DEFAULTS, localMembers, parseDialAddresses, parseMembers, type MemberConfig, type NodeConfig } from './config.js';
export { startNode } from './node.js';
export { NODE_V8_FLAGS } from './v8-flags.js';
