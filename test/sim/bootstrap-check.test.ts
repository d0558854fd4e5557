import { describe, expect, it } from 'vitest';

import type { NodeId } from '../../raft/index.js';
import { NodeCluster } from './node-cluster.js';

/**
 * The bootstrap check on production nodes (src/node/bootstrap-check.ts): a node that
 * bootstraps on a new data directory votes and campaigns only once every other member it
 * bootstraps with has confirmed that it knows no other data directory under the node's id.
 * Here the run starts from a new cluster (bootstrapCheck 'every-disk').
 */
describe('the bootstrap check of a new cluster', () => {
  it('a new cluster elects no one until its last member has started and answered, then forms', async () => {
    const cluster = new NodeCluster({ seed: 5, size: 3, bootstrapCheck: 'every-disk' });
    const late = cluster.ids[2] as NodeId;
    // The third member's process dies before it answered anyone: it has not started yet, as far as the others can tell.
    cluster.crash(late, { tear: false });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 3_000)).toBe(false);
    for (const id of cluster.ids.filter((id) => id !== late)) expect(cluster.status(id).votingHeld).toBe(true);
    cluster.restart(late);
    expect(await cluster.runUntil(() => cluster.leader() !== null, 3_000)).toBe(true);
    expect(await cluster.runUntil(() => cluster.ids.every((id) => cluster.raft(id)?.status().votingHeld === false), 1_000)).toBe(true);
    await cluster.checkRecovery(2_000, 3_000);
  }, 30_000);

  it('a member that crashes before all answered checks again at its next start; one that passed is not held again', async () => {
    const cluster = new NodeCluster({ seed: 6, size: 3, bootstrapCheck: 'every-disk' });
    const [first, second, third] = cluster.ids as [NodeId, NodeId, NodeId];
    cluster.network.partition([[first], [second, third]]);
    await cluster.runFor(500);
    // Cut off, the first cannot hear from anyone: its check stays pending across a crash.
    expect(cluster.status(first).votingHeld).toBe(true);
    cluster.crash(first, { tear: false });
    cluster.restart(first);
    expect(await cluster.runUntil(() => cluster.raft(first) !== null, 1_000)).toBe(true);
    expect(cluster.status(first).votingHeld).toBe(true);
    cluster.network.heal();
    expect(await cluster.runUntil(() => cluster.leader() !== null && cluster.ids.every((id) => cluster.raft(id)?.status().votingHeld === false), 3_000)).toBe(true);
    // Passed: a restart holds no one again.
    for (const id of [first, second, third]) {
      cluster.crash(id, { tear: false });
      cluster.restart(id);
    }
    expect(await cluster.runUntil(() => cluster.ids.every((id) => cluster.raft(id) !== null), 1_000)).toBe(true);
    for (const id of cluster.ids) expect(cluster.status(id).votingHeld).toBe(false);
    await cluster.checkRecovery(2_000, 3_000);
  }, 30_000);
});
