import { describe, expect, it } from 'vitest';
import type { Index, Message, NodeId, Term } from '../../raft/index.js';
import { EventQueue } from '../sim/event-queue.js';
import { SafetyChecker, SafetyViolation } from '../sim/invariants.js';
import { entryAt, hardState, logOfTerms } from '../sim/log-builder.js';
import { MemoryLog } from '../sim/memory-log.js';
import { NodeCluster } from '../sim/node-cluster.js';
import { runNodeSchedule } from '../sim/node-schedule.js';
import { Prng } from '../sim/prng.js';
import { SimProcess, SimScheduler, SimWorld } from '../sim/sim-scheduler.js';
import { SimNetwork } from '../sim/sim-network.js';
import type { Schedule } from '../sim/schedule.js';

/** The simulator's own pieces, and what its cluster of production nodes promises a test. */
describe('prng', () => {
  it('is a pure function of its seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const seqA = Array.from({ length: 20 }, () => a.nextUint32());
    expect(Array.from({ length: 20 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 20 }, () => c.nextUint32())).not.toEqual(seqA);
  });

  it('draws integers uniformly within bounds', () => {
    const prng = new Prng(7);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[prng.nextInt(5)]!++;
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    expect(() => prng.nextInt(0)).toThrow();
  });
});

describe('event queue', () => {
  it('orders by time, then by insertion, and advances the clock', () => {
    const q = new EventQueue<string>();
    q.push(5, 'c');
    q.push(1, 'a');
    q.push(5, 'd');
    q.push(1, 'b');
    expect([q.pop(), q.pop()]).toEqual(['a', 'b']);
    expect(q.now).toBe(1);
    q.push(0, 'now');
    expect([q.pop(), q.pop(), q.pop(), q.pop()]).toEqual(['now', 'c', 'd', undefined]);
    expect(q.now).toBe(5);
  });
});

describe('simulated clocks', () => {
  it("a node's clock is offset by its skew and runs at its own rate; its timers wait by it", async () => {
    const world = new SimWorld();
    const slow = new SimScheduler(world, new SimProcess('slow'), 1_000, 0.5);
    const fired: number[] = [];
    slow.after(100, () => fired.push(world.nowMs));
    slow.every(30, () => fired.push(-world.nowMs));
    for (let i = 0; i < 10 && fired.length < 4; i++) await world.step();
    // Half as fast: its 100 ms take 200 of the world's, its 30 ms ticks come every 60.
    expect(fired).toEqual([-60, -120, -180, 200]);
    expect(slow.nowMs()).toBe(1_000 + 100);
  });
});

describe('memory log', () => {
  it('appends over a conflicting suffix, and answers terms at and after a compaction point', () => {
    const log = logOfTerms([1, 1, 1, 1]);
    log.append([entryAt(3, 2)]);
    expect(log.all().map((x) => x.term)).toEqual([1, 1, 2]);
    expect(() => log.append([entryAt(5, 2)])).toThrow(/outside/);
    const compacted = logOfTerms([3, 4], { firstIndex: 11, compactedTerm: 2 });
    expect([compacted.firstIndex(), compacted.lastIndex()]).toEqual([11, 12]);
    expect([compacted.term(10 as Index), compacted.term(12 as Index), compacted.term(13 as Index)]).toEqual([2, 4, undefined]);
    expect(compacted.entries(11 as Index, 13 as Index, 1).map((x) => x.index)).toEqual([11]);
  });
});

describe('simulated network', () => {
  const m = (from: string, to: string): Message => ({ type: 'heartbeatResp', from: from as NodeId, to: to as NodeId, term: 1 as Term, context: '' });

  it('cuts links per direction, drops and duplicates at the configured rates', () => {
    const delivered: Message[] = [];
    const net = new SimNetwork(new Prng(3), (_delay, message) => delivered.push(message));
    net.partition([['a' as NodeId], ['b' as NodeId, 'c' as NodeId]]);
    net.send(m('a', 'b'));
    net.send(m('b', 'c'));
    expect(delivered).toHaveLength(1);
    net.heal();
    net.cutLink('a' as NodeId, 'b' as NodeId);
    net.send(m('b', 'a'));
    net.send(m('a', 'b'));
    expect(delivered).toHaveLength(2);
    net.heal();
    net.conditions = { delayMinMs: 1, delayMaxMs: 1, dropRate: 0.5, duplicateRate: 0.5 };
    for (let i = 0; i < 2_000; i++) net.send(m('a', 'c'));
    expect(net.dropped).toBeGreaterThan(900);
    expect(net.duplicated).toBeGreaterThan(400);
  });
});

describe('ordered links', () => {
  it('deliver each link in the order sent, despite random delays', () => {
    let now = 0;
    const delivered: { at: number; n: number }[] = [];
    const net = new SimNetwork(new Prng(4), (delayMs, message) => delivered.push({ at: now + delayMs, n: Number((message as { context: string }).context) }), () => now);
    net.conditions = { delayMinMs: 1, delayMaxMs: 50, dropRate: 0, duplicateRate: 0, ordered: true };
    for (let i = 0; i < 200; i++) {
      now = i;
      net.send({ type: 'heartbeatResp', from: 'a' as NodeId, to: 'b' as NodeId, term: 1 as Term, context: String(i) });
    }
    const byTime = [...delivered].sort((x, y) => x.at - y.at || x.n - y.n).map((d) => d.n);
    expect(byTime).toEqual(delivered.map((d) => d.n));
  });
});

describe('safety checker', () => {
  it('flags two leaders in one term, a changed vote, a rewritten committed entry and divergent applies', () => {
    const checker = new SafetyChecker();
    checker.leaderSeen('n1' as NodeId, 3 as Term);
    expect(() => checker.leaderSeen('n2' as NodeId, 3 as Term)).toThrow(SafetyViolation);
    expect(() => checker.hardStateWritten('n1' as NodeId, hardState(3, 'n1'), hardState(3, 'n2'))).toThrow(/singleVote/);
    expect(() => checker.hardStateWritten('n1' as NodeId, hardState(3, 'n1'), hardState(2, 'n1'))).toThrow(/termMonotonic/);
    const log = logOfTerms([1, 1]);
    checker.entriesWritten('n1' as NodeId, new MemoryLog(), log.all(), null);
    expect(() => checker.entriesWritten('n2' as NodeId, new MemoryLog(), [entryAt(1, 1, 'other')], null)).toThrow(/logMatching/);
    expect(() => checker.entriesWritten('n1' as NodeId, log, [entryAt(2, 3)], 3 as Term)).toThrow(/leaderAppendOnly/);
    checker.leaderCommitted('n1' as NodeId, 3 as Term, 2 as Index, log);
    expect(() => checker.leaderLogComplete('n3' as NodeId, 4 as Term, logOfTerms([1]))).toThrow(/leaderCompleteness/);
    checker.applied('n1' as NodeId, entryAt(1, 1));
    expect(() => checker.applied('n2' as NodeId, entryAt(1, 2))).toThrow(/stateMachineSafety/);
  });
});

describe('node cluster', () => {
  it('a crash keeps only what was synced: an entry written but not yet synced is gone after restart', async () => {
    const cluster = new NodeCluster({ seed: 5, size: 3 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    await cluster.runFor(100);
    const leader = cluster.leader() as NodeId;
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    const synced = cluster.log(follower)?.lastIndex() ?? 0;
    cluster.setFsyncMs(follower, 400, 400);
    cluster.append(leader);
    expect(await cluster.runUntil(() => (cluster.log(follower)?.lastIndex() ?? 0) > synced, 200)).toBe(true);
    cluster.crash(follower, { tear: false });
    cluster.setFsyncMs(follower, 1, 6);
    cluster.restart(follower);
    expect(await cluster.runUntil(() => cluster.log(follower) !== null, 1_000)).toBe(true);
    expect(cluster.log(follower)?.lastIndex()).toBe(synced);
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('an acknowledged append survives every node losing power at once', async () => {
    const cluster = new NodeCluster({ seed: 6, size: 3 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const append = cluster.append();
    expect(await cluster.runUntil(() => append?.state === 'acked', 1_000)).toBe(true);
    for (const id of cluster.ids) cluster.crash(id, { tear: true });
    for (const id of cluster.ids) cluster.restart(id);
    // Recovery checks that every acknowledged append is on every node, once, at its index.
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('replays a schedule exactly: same seed and schedule, same run', async () => {
    const schedule: Schedule = {
      seed: 99,
      proposeEveryMs: 10,
      steps: [
        { waitMs: 150, action: { kind: 'network', dropRate: 0.2, duplicateRate: 0.3, delayMaxMs: 30 } },
        { waitMs: 100, action: { kind: 'crashLeader', tear: true, downMs: 200 } },
        { waitMs: 100, action: { kind: 'partition', groups: [0, 1, 1, 0, 1] } },
      ],
    };
    const a = await runNodeSchedule({ size: 5 }, schedule);
    const b = await runNodeSchedule({ size: 5 }, schedule);
    expect(a.failure).toBeNull();
    expect(b).toEqual(a);
    const c = await runNodeSchedule({ size: 5 }, { ...schedule, seed: 100 });
    expect(c.digest).not.toBe(a.digest);
  });
});
