import type { NodeId } from '../../raft/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import type { NodeCluster } from './node-cluster.js';

/**
 * Small steps the scripted scenarios (test/raft) take on a NodeCluster: reach into one
 * running production node the way its RPC handlers do, and wait for nodes to finish
 * starting (recovery takes virtual time like any other work).
 */

/** The node's running assembly; asking for a node that is down is a bug in the test. */
export function running(cluster: NodeCluster, id: NodeId): AssembledNode {
  const node = cluster.node(id).node;
  if (node === null) throw new Error(`${id} is not running`);
  return node;
}

/** Starts a transfer on `from`'s core, as the transfer RPC does, and lets its replica act on it. */
export function startTransfer(cluster: NodeCluster, from: NodeId, to: NodeId): ReturnType<AssembledNode['raft']['transferLeadership']> {
  const node = running(cluster, from);
  const result = node.raft.transferLeadership(to);
  node.replica.wake();
  return result;
}

/** Runs until every node has started (at most `maxMs` of virtual time); throws if one has not. */
export async function untilAllUp(cluster: NodeCluster, maxMs = 1_000): Promise<void> {
  const up = await cluster.runUntil(() => cluster.ids.every((id) => cluster.raft(id) !== null), maxMs);
  if (!up) throw new Error(`not every node started within ${maxMs} ms`);
}

/** Once every node has started, `id` campaigns: scripted elections start from a cluster that is up. */
export async function campaignOnceUp(cluster: NodeCluster, id: NodeId): Promise<void> {
  await untilAllUp(cluster);
  cluster.campaign(id);
}
