import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../raft/index.js';
import { Cluster } from '../sim/cluster.js';
import { realCore } from '../sim/cores.js';

describe('leadership transfer', () => {
  it('a lagging target catches up, then campaigns and wins; no acknowledged write is lost', () => {
    const cluster = new Cluster({ seed: 21, size: 3, factory: realCore });
    expect(cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const old = cluster.leader() as NodeId;
    const oldTerm = cluster.host(old).status().term;
    const target = cluster.ids.find((id) => id !== old) as NodeId;
    // Make the target lag: a slow disk while a burst of proposals lands. It must still catch
    // up within one election timeout (100 ms), after which a transfer is abandoned.
    cluster.runFor(100);
    cluster.setFsyncMs(target, 30, 50);
    for (let i = 0; i < 30; i++) cluster.propose(old);
    cluster.runFor(5);
    const progress = cluster.host(old).status().progress;
    const lastIndex = cluster.host(old).status().lastIndex;
    expect(progress?.get(target)?.match).toBeLessThan(lastIndex);
    cluster.setFsyncMs(target, 1, 6);

    expect(cluster.host(old).core?.transferLeadership(target)).toEqual({ accepted: true });
    // While the transfer runs the old leader takes no new proposals.
    expect(cluster.host(old).core?.propose(new Uint8Array([1]))).toMatchObject({ accepted: false, reason: 'transferring' });
    expect(cluster.runUntil(() => cluster.leader() === target, 1_000)).toBe(true);
    expect(cluster.host(target).status().term).toBeGreaterThan(oldTerm);
    expect(cluster.host(target).status().lastIndex).toBeGreaterThanOrEqual(lastIndex);
    cluster.checkRecovery(2_000, 3_000);
    expect(cluster.proposals.filter((p) => p.state === 'acked').length).toBeGreaterThanOrEqual(30);
  });

  it('a transfer to an unreachable target is abandoned after an election timeout and proposals resume', () => {
    const cluster = new Cluster({ seed: 24, size: 3, factory: realCore });
    expect(cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const target = cluster.ids.find((id) => id !== leader) as NodeId;
    cluster.network.partition([[target], cluster.ids.filter((id) => id !== target)]);
    for (let i = 0; i < 5; i++) cluster.propose(leader);
    expect(cluster.host(leader).core?.transferLeadership(target)).toEqual({ accepted: true });
    expect(cluster.host(leader).core?.propose(new Uint8Array([1]))).toMatchObject({ accepted: false, reason: 'transferring' });
    cluster.runFor(250);
    expect(cluster.leader()).toBe(leader);
    expect(cluster.host(leader).core?.propose(new Uint8Array([2]))).toMatchObject({ accepted: true });
    cluster.checkRecovery(2_000, 3_000);
  });

  it('refuses transfers it cannot do', () => {
    const cluster = new Cluster({ seed: 22, size: 3, factory: realCore });
    expect(cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    expect(cluster.host(leader).core?.transferLeadership(leader)).toEqual({ accepted: false, reason: 'isSelf' });
    expect(cluster.host(leader).core?.transferLeadership('n9' as NodeId)).toEqual({ accepted: false, reason: 'unknownNode' });
    expect(cluster.host(follower).core?.transferLeadership(leader)).toEqual({ accepted: false, reason: 'notLeader' });
  });
});

describe('preferred leader', () => {
  it('leadership moves to the preferred node once it is caught up, and comes back after it restarts', () => {
    const preferred = 'n3' as NodeId;
    const cluster = new Cluster({ seed: 23, size: 5, factory: realCore, tuning: { preferredLeader: preferred } });
    cluster.at(1, 'n1 campaigns', () => cluster.host('n1' as NodeId).core?.campaign());
    expect(cluster.runUntil(() => cluster.leader() === ('n1' as NodeId), 1_000)).toBe(true);
    for (let i = 0; i < 10; i++) cluster.propose();
    expect(cluster.runUntil(() => cluster.leader() === preferred, 1_000)).toBe(true);
    cluster.runFor(1_000);
    expect(cluster.leader()).toBe(preferred);

    cluster.crash(preferred);
    expect(cluster.runUntil(() => cluster.leader() !== null && cluster.leader() !== preferred, 2_000)).toBe(true);
    for (let i = 0; i < 10; i++) cluster.propose();
    cluster.runFor(200);
    cluster.restart(preferred);
    expect(cluster.runUntil(() => cluster.leader() === preferred, 2_000)).toBe(true);
    cluster.checkRecovery(2_000, 3_000);
  });
});
