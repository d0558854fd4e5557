import { describe, expect, it } from 'vitest';
import type { Index, Message, NodeId, Term } from '../../raft/index.js';
import { Cluster } from '../sim/cluster.js';
import { realCore } from '../sim/cores.js';
import { EventQueue } from '../sim/event-queue.js';
import { FakeNode } from '../sim/fake-node.js';
import { SafetyChecker, SafetyViolation } from '../sim/invariants.js';
import { entryAt, hardState, logOfTerms } from '../sim/log-builder.js';
import { MemoryLog } from '../sim/memory-log.js';
import { Prng } from '../sim/prng.js';
import { SimDisk } from '../sim/sim-disk.js';
import { SimNetwork } from '../sim/sim-network.js';
import { runSchedule, type Schedule } from '../sim/schedule.js';

/** The simulator's own pieces, tested without (and with a trivial stand-in for) the core. */
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

describe('simulated disk', () => {
  const e = (i: number, t: number) => entryAt(i, t);

  it('makes writes durable only when their fsync completes', () => {
    const disk = new SimDisk();
    disk.write([e(1, 1), e(2, 1)], hardState(1, 'n1', 0));
    const token = disk.beginSync();
    disk.write([e(3, 1)], null);
    expect(disk.log.lastIndex()).toBe(3);
    expect(disk.durable.log.lastIndex()).toBe(0);
    disk.completeSync(token);
    expect(disk.durable.log.lastIndex()).toBe(2);
    expect(disk.durable.hardState.vote).toBe('n1');
    expect(disk.unsyncedOps).toBe(1);
  });

  it('a crash without tearing keeps exactly what was synced', () => {
    const disk = new SimDisk({ log: logOfTerms([1, 1]), hardState: hardState(1, 'n1', 2) });
    disk.write([e(3, 2)], hardState(2, 'n2', 2));
    disk.crash(new Prng(1), { tear: false });
    expect(disk.log.lastIndex()).toBe(2);
    expect(disk.hardState).toEqual(hardState(1, 'n1', 2));
  });

  it('a torn crash keeps a prefix of the unsynced writes; the hard state is old or new, never past its entries', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const disk = new SimDisk({ log: logOfTerms([1]), hardState: hardState(1, null, 1) });
      disk.write([e(2, 2), e(3, 2), e(4, 2)], hardState(2, 'n2', 3));
      const outcome = disk.crash(new Prng(seed), { tear: true });
      const last = disk.log.lastIndex();
      const hs = disk.hardState;
      seen.add(`${last}/${hs.term}`);
      expect(outcome.unsyncedOps).toBe(4);
      expect(disk.log.all().map((x) => x.index)).toEqual(Array.from({ length: last }, (_, k) => k + 1));
      if (hs.term === 2) expect(last).toBe(4); // the hard state was written after its entries
      else expect(hs).toEqual(hardState(1, null, 1));
    }
    expect(seen).toEqual(new Set(['1/1', '2/1', '3/1', '4/1', '4/2']));
  });

  it('truncates a conflicting suffix on append and can lose a durable tail', () => {
    const disk = new SimDisk({ log: logOfTerms([1, 1, 1, 1]) });
    disk.write([e(3, 2)], null);
    expect(disk.log.all().map((x) => x.term)).toEqual([1, 1, 2]);
    disk.completeSync(disk.beginSync());
    disk.loseDurableTail(2);
    expect(disk.log.lastIndex()).toBe(1);
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

describe('cluster', () => {
  it('drives a trivial stand-in core through the Ready contract', () => {
    const cluster = new Cluster({ seed: 5, size: 3, factory: (o) => new FakeNode(o) });
    for (let i = 0; i < 10; i++) cluster.propose();
    cluster.runFor(500);
    for (const id of cluster.ids) expect(cluster.host(id).appliedIndex).toBe(10);
    expect(cluster.proposals.every((p) => p.state === 'acked')).toBe(true);
  });

  it('replays a schedule exactly: same seed and schedule, same run', () => {
    const schedule: Schedule = {
      seed: 99,
      proposeEveryMs: 10,
      steps: [
        { waitMs: 150, action: { kind: 'network', dropRate: 0.2, duplicateRate: 0.3, delayMaxMs: 30 } },
        { waitMs: 100, action: { kind: 'crashLeader', tear: true, downMs: 200 } },
        { waitMs: 100, action: { kind: 'partition', groups: [0, 1, 1, 0, 1] } },
      ],
    };
    const a = runSchedule({ size: 5, factory: realCore }, schedule);
    const b = runSchedule({ size: 5, factory: realCore }, schedule);
    expect(a.failure).toBeNull();
    expect(b).toEqual(a);
    const c = runSchedule({ size: 5, factory: realCore }, { ...schedule, seed: 100 });
    expect(c.steps).not.toBe(a.steps);
  });
});
