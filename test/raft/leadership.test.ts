import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../raft/index.js';
import { NodeCluster } from '../sim/node-cluster.js';
import { campaignOnceUp, running, startTransfer } from '../sim/scripted-cluster.js';

/** Leadership transfer and the preferred leader, on production nodes (test/sim/node-cluster.ts). */

const transferring = /leadership is being transferred/;

describe('leadership transfer', () => {
  it('a lagging target catches up, then campaigns and wins; no acknowledged write is lost', async () => {
    const cluster = new NodeCluster({ seed: 21, size: 3 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const old = cluster.leader() as NodeId;
    const oldTerm = cluster.status(old).term;
    const target = cluster.ids.find((id) => id !== old) as NodeId;
    // Make the target lag: a slow disk while a burst of appends lands. It must still catch
    // up within one election timeout (100 ms), after which a transfer is abandoned.
    await cluster.runFor(100);
    cluster.setFsyncMs(target, 30, 50);
    for (let i = 0; i < 30; i++) cluster.append(old);
    await cluster.runFor(5);
    const lastIndex = cluster.status(old).lastIndex;
    expect(cluster.status(old).progress?.get(target)?.match).toBeLessThan(lastIndex);
    cluster.setFsyncMs(target, 1, 6);

    expect(startTransfer(cluster, old, target)).toEqual({ accepted: true });
    // While the transfer runs the old leader takes no new appends.
    await expect(running(cluster, old).service.append([Buffer.from('during')], { timeoutMs: 1_000 })).rejects.toThrow(transferring);
    expect(await cluster.runUntil(() => cluster.leader() === target, 1_000)).toBe(true);
    expect(cluster.status(target).term).toBeGreaterThan(oldTerm);
    expect(cluster.status(target).lastIndex).toBeGreaterThanOrEqual(lastIndex);
    await cluster.checkRecovery(2_000, 3_000);
    expect(cluster.appends.filter((a) => a.state === 'acked').length).toBeGreaterThanOrEqual(30);
  });

  it('a transfer to an unreachable target is abandoned after an election timeout and appends resume', async () => {
    const cluster = new NodeCluster({ seed: 24, size: 3 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const target = cluster.ids.find((id) => id !== leader) as NodeId;
    cluster.network.partition([[target], cluster.ids.filter((id) => id !== target)]);
    for (let i = 0; i < 5; i++) cluster.append(leader);
    expect(startTransfer(cluster, leader, target)).toEqual({ accepted: true });
    await expect(running(cluster, leader).service.append([Buffer.from('during')], { timeoutMs: 1_000 })).rejects.toThrow(transferring);
    await cluster.runFor(250);
    expect(cluster.leader()).toBe(leader);
    const after = cluster.append(leader);
    expect(await cluster.runUntil(() => after?.state === 'acked', 1_000)).toBe(true);
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('refuses transfers it cannot do', async () => {
    const cluster = new NodeCluster({ seed: 22, size: 3 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    expect(running(cluster, leader).raft.transferLeadership(leader)).toEqual({ accepted: false, reason: 'isSelf' });
    expect(running(cluster, leader).raft.transferLeadership('n9' as NodeId)).toEqual({ accepted: false, reason: 'unknownNode' });
    expect(running(cluster, follower).raft.transferLeadership(leader)).toEqual({ accepted: false, reason: 'notLeader' });
  });
});

describe('preferred leader', () => {
  it('leadership moves to the preferred node once it is caught up, and comes back after it restarts', async () => {
    const preferred = 'n3' as NodeId;
    const cluster = new NodeCluster({ seed: 23, size: 5, tuning: { preferredLeader: preferred } });
    await campaignOnceUp(cluster, 'n1' as NodeId);
    expect(await cluster.runUntil(() => cluster.leader() === ('n1' as NodeId), 1_000)).toBe(true);
    for (let i = 0; i < 10; i++) cluster.append();
    expect(await cluster.runUntil(() => cluster.leader() === preferred, 1_000)).toBe(true);
    await cluster.runFor(1_000);
    expect(cluster.leader()).toBe(preferred);

    cluster.crash(preferred);
    expect(await cluster.runUntil(() => cluster.leader() !== null && cluster.leader() !== preferred, 2_000)).toBe(true);
    for (let i = 0; i < 10; i++) cluster.append();
    await cluster.runFor(200);
    cluster.restart(preferred);
    expect(await cluster.runUntil(() => cluster.leader() === preferred, 2_000)).toBe(true);
    await cluster.checkRecovery(2_000, 3_000);
  });
});
