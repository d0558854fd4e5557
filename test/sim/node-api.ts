import type { RaftOptions } from '../../raft/index.js';

/**
 * The core options a test may set for every node it runs (NodeCluster, DirectNode); the rest
 * (identity, members, log, hard state, random source, applied index, voting block) come
 * from the node's configuration and disk.
 */
export type NodeTuning = Omit<RaftOptions, 'id' | 'voters' | 'log' | 'hardState' | 'random' | 'applied' | 'votingBlockedBelow'>;
