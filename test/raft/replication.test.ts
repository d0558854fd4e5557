import { describe, expect, it } from 'vitest';
import type { Index, Message, NodeId } from '../../raft/index.js';
import { DirectNode, msg, ofType } from '../sim/direct-node.js';
import { hardState, logOfTerms } from '../sim/log-builder.js';
import { NodeCluster } from '../sim/node-cluster.js';
import { campaignOnceUp } from '../sim/scripted-cluster.js';

/** Replication on production nodes (NodeCluster), and the core's rules behind it (DirectNode). */
const [n1, n2, n3] = ['n1', 'n2', 'n3'] as [NodeId, NodeId, NodeId];

describe('fast conflict back-tracking', () => {
  it('costs one round trip per conflicting term, not one per entry', async () => {
    // n2 holds nine entries the leader does not: four of term 2 and five of term 3.
    const leaderTerms = [1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4, 4];
    const disks = new Map([
      [n1, { log: logOfTerms(leaderTerms), hardState: hardState(4, null, 3) }],
      [n2, { log: logOfTerms([1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3]), hardState: hardState(4, null, 3) }],
      [n3, { log: logOfTerms(leaderTerms), hardState: hardState(4, null, 3) }],
    ]);
    let rejections = 0;
    const cluster = new NodeCluster({
      seed: 31,
      size: 3,
      initialDisks: disks,
      intercept: (m) => {
        if (m.type === 'appendResp' && m.from === n2 && !m.success) rejections++;
        return 'pass';
      },
    });
    await campaignOnceUp(cluster, n1);
    expect(await cluster.runUntil(() => cluster.leader() === n1, 1_000)).toBe(true);
    expect(await cluster.runUntil(() => cluster.log(n2)?.term(12 as Index) === 4, 1_000)).toBe(true);
    console.log(`[backtrack] ${rejections} rejection(s) to skip 9 conflicting entries of 2 terms`);
    expect(rejections).toBeGreaterThanOrEqual(1);
    expect(rejections).toBeLessThanOrEqual(2);
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('a follower hints the last index of a term not above the rejected one', () => {
    const follower = new DirectNode(n2, { voters: [n1, n2, n3], log: logOfTerms([1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3]), hardState: hardState(4, n1, 3) });
    const [resp] = ofType(follower.step(msg.append(n1, n2, 5, 12, 4, [], 3)), 'appendResp');
    expect(resp).toMatchObject({ success: false, index: 12, hintIndex: 12, hintTerm: 3 });
    const [resp2] = ofType(follower.step(msg.append(n1, n2, 5, 9, 1, [], 3)), 'appendResp');
    expect(resp2).toMatchObject({ success: false, index: 9, hintIndex: 3, hintTerm: 1 });
  });
});

describe('pipelining', () => {
  it('keeps several appends in flight to a follower over a slow network, never more than inflightAppendsMax', async () => {
    const inflightMax = 4;
    const sentLast = new Map<NodeId, Index[]>(); // last index of each entry-carrying append not yet acknowledged
    const acked = new Map<NodeId, number>();
    let maxOnWire = 0;
    // Counted only while the network is slow and FIFO: once it reorders again, a gap makes the
    // leader fall back to probing and resend, and superseded appends still on the wire are
    // not in any window.
    let measuring = false;
    let maxReported = 0;
    const cluster = new NodeCluster({
      seed: 41,
      size: 3,
      tuning: { inflightAppendsMax: inflightMax, batchBytesMax: 16 },
      intercept: (m: Message, c) => {
        if (measuring && m.type === 'append' && m.entries.length > 0 && c.raft(m.from)?.status().role === 'leader') {
          const last = m.entries[m.entries.length - 1]?.index as Index;
          const open = (sentLast.get(m.to) ?? []).filter((i) => i > (acked.get(m.to) ?? 0));
          open.push(last);
          sentLast.set(m.to, open);
          maxOnWire = Math.max(maxOnWire, open.length);
        }
        return 'pass';
      },
      onDeliver: (m, c) => {
        if (m.type === 'appendResp' && m.success) acked.set(m.from, Math.max(acked.get(m.from) ?? 0, m.index));
        const leader = c.leader();
        const progress = leader === null ? null : c.status(leader).progress;
        for (const p of progress?.values() ?? []) maxReported = Math.max(maxReported, p.inflight);
      },
    });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    // Idle for longer than an election timeout first: nothing new to acknowledge (FINDINGS F3).
    await cluster.runFor(300);
    cluster.network.conditions = { delayMinMs: 40, delayMaxMs: 40, dropRate: 0, duplicateRate: 0 };
    measuring = true;
    // 15-byte records make 16-byte entries (a tag byte): one entry per append.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 3; i++) cluster.append(undefined, 15);
      await cluster.runFor(5);
    }
    await cluster.runFor(200);
    measuring = false;
    cluster.network.conditions = { delayMinMs: 1, delayMaxMs: 8, dropRate: 0, duplicateRate: 0 };
    await cluster.checkRecovery(2_000, 3_000);
    console.log(`[pipeline] at most ${maxOnWire} unacknowledged appends on the wire to one follower (core reports ${maxReported}); window ${inflightMax}`);
    expect(maxReported).toBeGreaterThanOrEqual(2);
    expect(maxReported).toBeLessThanOrEqual(inflightMax);
    expect(maxOnWire).toBeGreaterThanOrEqual(2);
    expect(maxOnWire).toBeLessThanOrEqual(inflightMax);
  });
});

describe('catching up a lagging follower', () => {
  it('uses the whole in-flight window, not one append per heartbeat (FINDINGS F4)', async () => {
    const inflightMax = 8;
    let maxReported = 0;
    const cluster = new NodeCluster({
      seed: 45,
      size: 3,
      tuning: { inflightAppendsMax: inflightMax, batchBytesMax: 1, heartbeatTicks: 5 },
      onDeliver: (_m, c) => {
        const leader = c.leader();
        const view = leader === null ? undefined : c.status(leader).progress?.get(n3);
        if (view !== undefined) maxReported = Math.max(maxReported, view.inflight);
      },
    });
    await campaignOnceUp(cluster, n1);
    expect(await cluster.runUntil(() => cluster.leader() === n1, 1_000)).toBe(true);
    cluster.crash(n3, { tear: false });
    for (let i = 0; i < 100; i++) cluster.append(n1);
    expect(await cluster.runUntil(() => cluster.status(n1).commit >= 101, 2_000)).toBe(true);
    maxReported = 0;
    cluster.restart(n3);
    const started = cluster.nowMs;
    // 100 one-entry appends, 8 in flight, round trips of a few ms: well under a second. One
    // append per heartbeat (50 ms) would take five.
    const caughtUp = await cluster.runUntil(() => cluster.appliedIndex(n3) >= 101, 5_000);
    const tookMs = cluster.nowMs - started;
    console.log(`[catch-up] 100 entries in ${tookMs} ms of virtual time (restart included); at most ${maxReported} appends in flight`);
    expect(caughtUp).toBe(true);
    expect(maxReported).toBeGreaterThan(1);
    expect(tookMs).toBeLessThan(1_000);
  });
});

describe('byte-capped batches', () => {
  it('no append carries more than batchBytesMax of payload, except a single larger entry alone', async () => {
    const cap = 100;
    let appends = 0;
    let multiEntry = 0;
    const oversized: string[] = [];
    const cluster = new NodeCluster({
      seed: 51,
      size: 3,
      tuning: { batchBytesMax: cap },
      intercept: (m) => {
        if (m.type === 'append' && m.entries.length > 0) {
          appends++;
          const bytes = m.entries.reduce((sum, e) => sum + e.payload.length, 0);
          if (m.entries.length > 1) multiEntry++;
          if (bytes > cap && m.entries.length > 1) oversized.push(`${m.entries.length} entries, ${bytes} bytes`);
        }
        return 'pass';
      },
    });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    for (let i = 0; i < 40; i++) cluster.append(undefined, 30);
    for (let i = 0; i < 5; i++) cluster.append(undefined, 250);
    await cluster.checkRecovery(2_000, 3_000);
    expect(oversized).toEqual([]);
    expect(multiEntry).toBeGreaterThan(0);
    expect(appends).toBeGreaterThan(2 * Math.ceil((40 * 30) / cap) - 1);
  });
});

describe('votingBlockedBelow: a node that lost durable entries', () => {
  /**
   * A follower whose disk loses the tail of its log, durable and acknowledged (damage beyond
   * power loss), restarts: recovery finds entries below its durable mark gone, and the node
   * comes up blocked from voting until a leader has repaired it.
   */
  async function damagedFollower(seed: number): Promise<{ cluster: NodeCluster; leader: NodeId; damaged: NodeId; grantedWhileBlocked: string[] }> {
    const grantedWhileBlocked: string[] = [];
    const cluster = new NodeCluster({
      seed,
      size: 3,
      intercept: (m, c) => {
        const blocked = c.raft(m.from)?.status().votingBlocked === true;
        if ((m.type === 'voteResp' || m.type === 'preVoteResp') && m.granted && blocked) grantedWhileBlocked.push(`${m.type} ${m.from}->${m.to} t${m.term}`);
        if ((m.type === 'vote' || m.type === 'preVote') && blocked) grantedWhileBlocked.push(`campaign ${m.type} from ${m.from}`);
        return 'pass';
      },
    });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    for (let i = 0; i < 20; i++) cluster.append();
    await cluster.runFor(300);
    expect(cluster.appends.every((a) => a.state === 'acked')).toBe(true);
    const leader = cluster.leader() as NodeId;
    const damaged = cluster.ids.find((id) => id !== leader) as NodeId;
    // An even `lose` cuts the last 10 x 16 bytes: several whole entries.
    expect(cluster.damage(damaged, 10)).toBe(true);
    expect(await cluster.runUntil(() => cluster.raft(damaged) !== null, 1_000)).toBe(true);
    expect(cluster.status(damaged).votingBlocked).toBe(true);
    return { cluster, leader, damaged, grantedWhileBlocked };
  }

  it('neither votes nor campaigns until a leader has repaired it, so no leader without the old one', async () => {
    const { cluster, leader, damaged, grantedWhileBlocked } = await damagedFollower(61);
    // The leader dies before repairing it: the two survivors cannot form a majority, since the damaged node may not vote.
    cluster.crash(leader, { tear: false });
    await cluster.runFor(2_000);
    expect(cluster.leader()).toBeNull();
    expect(cluster.status(damaged).votingBlocked).toBe(true);
    expect(grantedWhileBlocked).toEqual([]);
    cluster.restart(leader);
    expect(await cluster.runUntil(() => cluster.raft(damaged)?.status().votingBlocked === false, 2_000)).toBe(true);
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('is repaired by the leader that was leading when it lost its entries', async () => {
    const { cluster, leader, damaged, grantedWhileBlocked } = await damagedFollower(62);
    const repaired = await cluster.runUntil(() => !cluster.status(damaged).votingBlocked, 2_000);
    const view = cluster.status(leader).progress?.get(damaged);
    console.log(`[votingBlocked] repaired=${repaired}; leader still ${cluster.leader()}; leader's view of ${damaged}: match ${view?.match} next ${view?.next} ${view?.state}; ${damaged} lastIndex ${cluster.status(damaged).lastIndex}`);
    expect(repaired).toBe(true);
    expect(cluster.leader()).toBe(leader);
    expect(grantedWhileBlocked).toEqual([]);
    await cluster.checkRecovery(2_000, 3_000);
  });

  it('a blocked core refuses votes and does not campaign', () => {
    const node = new DirectNode(n1, { voters: [n1, n2, n3], log: logOfTerms([1, 1]), hardState: hardState(1, null, 2), votingBlockedBelow: 5 as Index });
    expect(node.core.status().votingBlocked).toBe(true);
    expect(ofType(node.step(msg.vote(n2, n1, 2, 9, 1)), 'voteResp')[0]?.granted).toBe(false);
    expect(ofType(node.step(msg.vote(n3, n1, 3, 9, 1, 'preVote')), 'preVoteResp')[0]?.granted ?? false).toBe(false);
    node.core.campaign();
    expect(ofType(node.drain(), 'preVote')).toEqual([]);
    expect(node.tick(50).filter((m) => m.type === 'preVote' || m.type === 'vote')).toEqual([]);
  });
});

describe('votingHeld: a node its driver keeps out of elections', () => {
  it('refuses votes and pre-votes and does not campaign until the hold is released, while it still follows a leader', () => {
    const node = new DirectNode(n1, { voters: [n1, n2, n3], votingHeld: true });
    expect(node.core.status().votingHeld).toBe(true);
    expect(ofType(node.step(msg.vote(n2, n1, 2, 0, 0)), 'voteResp')[0]?.granted).toBe(false);
    expect(ofType(node.step(msg.vote(n3, n1, 3, 0, 0, 'preVote')), 'preVoteResp')[0]?.granted ?? false).toBe(false);
    node.core.campaign();
    expect(ofType(node.drain(), 'preVote')).toEqual([]);
    expect(node.tick(50).filter((m) => m.type === 'preVote' || m.type === 'vote')).toEqual([]);
    node.core.releaseVotingHold();
    expect(node.core.status().votingHeld).toBe(false);
    expect(ofType(node.step(msg.vote(n2, n1, 4, 0, 0, 'preVote')), 'preVoteResp')[0]?.granted).toBe(true);
    expect(node.tick(50).filter((m) => m.type === 'preVote').length).toBeGreaterThan(0);
  });
});

describe('a compacted log (firstIndex > 1)', () => {
  /**
   * The node cannot start from a compacted log yet (it rebuilds the broker by replaying the
   * log from index 1, and there are no snapshots), so this drives three cores directly:
   * every message is delivered at once, in order, until none is left.
   */
  function deliver(nodes: ReadonlyMap<NodeId, DirectNode>, messages: readonly Message[]): void {
    const queue = [...messages];
    for (let delivered = 0; queue.length > 0; delivered++) {
      if (delivered > 10_000) throw new Error('messages without end');
      const m = queue.shift() as Message;
      const to = nodes.get(m.to);
      if (to !== undefined) queue.push(...to.step(m));
    }
  }

  /** Ticks every node in `nodes` `times` times, delivering what each tick sends. */
  function tickAll(nodes: ReadonlyMap<NodeId, DirectNode>, times: number): void {
    for (let i = 0; i < times; i++) for (const node of nodes.values()) deliver(nodes, node.tick());
  }

  const leaderOf = (nodes: ReadonlyMap<NodeId, DirectNode>): NodeId | null =>
    [...nodes.values()].find((node) => node.core.status().role === 'leader')?.id ?? null;

  it('elects, replicates and converges when every log starts at index 11', () => {
    const voters = [n1, n2, n3];
    const nodes = new Map([
      [n1, new DirectNode(n1, { voters, seed: 1, log: logOfTerms([2, 2, 3], { firstIndex: 11, compactedTerm: 2 }), hardState: hardState(3, null, 12) })],
      [n2, new DirectNode(n2, { voters, seed: 2, log: logOfTerms([2, 2], { firstIndex: 11, compactedTerm: 2 }), hardState: hardState(3, null, 12) })],
      [n3, new DirectNode(n3, { voters, seed: 3, log: logOfTerms([2], { firstIndex: 11, compactedTerm: 2 }), hardState: hardState(3, null, 11) })],
    ]);
    tickAll(nodes, 40);
    const first = leaderOf(nodes);
    expect(first).not.toBeNull();
    for (let i = 0; i < 10; i++) expect(nodes.get(first as NodeId)?.core.propose(Buffer.from(`p${i}`))).toMatchObject({ accepted: true });
    deliver(nodes, (nodes.get(first as NodeId) as DirectNode).drain());
    // The first leader stops (its disk stays); the other two elect one of them and go on.
    const survivors = new Map([...nodes].filter(([id]) => id !== first));
    tickAll(survivors, 40);
    const second = leaderOf(survivors);
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    (nodes.get(first as NodeId) as DirectNode).restart();
    expect(nodes.get(second as NodeId)?.core.propose(Buffer.from('after'))).toMatchObject({ accepted: true });
    deliver(nodes, (nodes.get(second as NodeId) as DirectNode).drain());
    tickAll(nodes, 4);
    const lastIndex = nodes.get(second as NodeId)?.log.lastIndex() ?? 0;
    // At least 2 of the old entries, a no-op, 10 proposals, another no-op and one more proposal.
    expect(lastIndex).toBeGreaterThanOrEqual(10 + 2 + 1 + 10 + 1 + 1);
    for (const node of nodes.values()) {
      expect(node.log.firstIndex()).toBe(11);
      expect(node.terms()).toEqual(nodes.get(second as NodeId)?.terms());
      expect(node.core.status().commit).toBe(lastIndex);
    }
  });
});

describe('commit notices', () => {
  /** n1 leading term 2 of three, with its no-op (index 2) committed through n2's ack. */
  function leaderWithCommittedNoop(): DirectNode {
    const leader = new DirectNode(n1, { voters: [n1, n2, n3], log: logOfTerms([1]), hardState: hardState(1, null, 1) });
    leader.core.campaign();
    leader.drain();
    leader.step(msg.voteResp(n2, n1, 2, true, 'preVoteResp'));
    leader.step(msg.voteResp(n2, n1, 2, true));
    leader.step(msg.appendResp(n2, n1, 2, 2));
    leader.step(msg.appendResp(n3, n1, 2, 2));
    expect(leader.core.status().commit).toBe(2);
    leader.tick(); // tells both followers; a clean slate for each case below
    return leader;
  }
  const commitsSent = (messages: readonly Message[]): [NodeId, number, number][] =>
    ofType(messages, 'append').map((m) => [m.to, m.entries.length, m.commit]);

  it('a commit that moves without new entries is told to the followers at the next tick, not at once', () => {
    const leader = leaderWithCommittedNoop();
    leader.core.propose(Buffer.from('x'));
    expect(commitsSent(leader.drain())).toEqual([[n2, 1, 2], [n3, 1, 2]]);
    // Commit moves to 3 on n2's ack: no append round of its own for it...
    expect(commitsSent(leader.step(msg.appendResp(n2, n1, 2, 3)))).toEqual([]);
    expect(leader.core.status().commit).toBe(3);
    // ...the next tick carries it to each follower (the heartbeat, every second tick, only
    // tells a follower what it holds).
    expect(commitsSent(leader.tick())).toEqual([[n2, 0, 3], [n3, 0, 3]]);
    expect(commitsSent(leader.tick())).toEqual([]);
  });

  it('an append with new entries carries the new commit, and the tick then sends nothing more', () => {
    const leader = leaderWithCommittedNoop();
    leader.core.propose(Buffer.from('x'));
    leader.drain();
    leader.step(msg.appendResp(n2, n1, 2, 3));
    leader.core.propose(Buffer.from('y'));
    expect(commitsSent(leader.drain())).toEqual([[n2, 1, 3], [n3, 1, 3]]);
    expect(commitsSent(leader.tick())).toEqual([]);
  });
});

describe('a lost append is resent', () => {
  /**
   * Carries messages between the leader n1 and a real follower n2 until none are left; n3 is
   * silent. Appends to n2 that `lose` picks vanish. Returns the appends n2 received.
   */
  function exchange(leader: DirectNode, follower: DirectNode, sent: readonly Message[], lose: (m: Message) => boolean = () => false): Message[] {
    const received: Message[] = [];
    let queue = sent.filter((m) => m.to === n2);
    // Bounded: a test failure, not a hang, if the two never fall quiet.
    for (let round = 0; queue.length > 0; round++) {
      if (round > 100) throw new Error('exchange: no end');
      const next: Message[] = [];
      for (const m of queue) {
        if (m.to === n2) {
          if (lose(m)) continue;
          if (m.type === 'append') received.push(m);
          next.push(...follower.step(m));
        } else {
          next.push(...leader.step(m).filter((out) => out.to === n2));
        }
      }
      queue = next.filter((m) => m.to === n1 || m.to === n2);
    }
    return received;
  }

  /** n1 leads term 2 with n2 following (n3 is down); each holds the no-op at 2. */
  function leaderAndFollower(inflightAppendsMax: number): { leader: DirectNode; follower: DirectNode } {
    const tuning = { inflightAppendsMax, electionTicks: 10, heartbeatTicks: 2 };
    const leader = new DirectNode(n1, { voters: [n1, n2, n3], log: logOfTerms([1]), hardState: hardState(1, null, 1), tuning });
    const follower = new DirectNode(n2, { voters: [n1, n2, n3], log: logOfTerms([1]), hardState: hardState(1, null, 1), tuning, seed: 2 });
    leader.core.campaign();
    exchange(leader, follower, leader.drain());
    expect(leader.core.status()).toMatchObject({ role: 'leader', term: 2, commit: 2 });
    expect(follower.log.lastIndex()).toBe(2);
    return { leader, follower };
  }

  /** Ticks the leader, carrying messages, until n2 holds `index` or `ticksMax` pass; returns the ticks it took. */
  function ticksUntilHeld(leader: DirectNode, follower: DirectNode, index: number, ticksMax: number): number {
    for (let ticks = 1; ticks <= ticksMax; ticks++) {
      exchange(leader, follower, leader.tick());
      if (follower.log.lastIndex() >= index) return ticks;
    }
    return Infinity;
  }

  it('with room in the window: the next heartbeat answer reveals the gap and the entry goes again', () => {
    const { leader, follower } = leaderAndFollower(8);
    leader.core.propose(Buffer.from('x'));
    const received = exchange(leader, follower, leader.drain(), (m) => m.type === 'append' && m.entries.some((e) => e.index === 3));
    expect(received).toEqual([]);
    expect(leader.core.status().progress?.get(n2)).toMatchObject({ match: 2, next: 4, inflight: 1 });
    // One heartbeat interval: n2 answers, the leader's empty append at 3 is refused, it probes and resends 3.
    expect(ticksUntilHeld(leader, follower, 3, 2)).toBeLessThanOrEqual(2);
    expect(follower.log.term(3 as Index)).toBe(2);
    expect(leader.core.status().progress?.get(n2)).toMatchObject({ match: 3, inflight: 0 });
  });

  it('with the window full: after an election timeout without an answer the window restarts and the entries go again', () => {
    const { leader, follower } = leaderAndFollower(1);
    leader.core.propose(Buffer.from('x'));
    exchange(leader, follower, leader.drain(), (m) => m.type === 'append' && m.entries.length > 0);
    leader.core.propose(Buffer.from('y'));
    exchange(leader, follower, leader.drain());
    expect(leader.core.status().progress?.get(n2)).toMatchObject({ match: 2, inflight: 1 });
    const ticks = ticksUntilHeld(leader, follower, 4, 30);
    // The window waits one election timeout (10 ticks) for the lost append, then the next heartbeat answer restarts it.
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThanOrEqual(12);
    expect(follower.log.lastIndex()).toBe(4);
  });
});
