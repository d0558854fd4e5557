import { describe, expect, it } from 'vitest';
import type { Index, NodeId } from '../../raft/index.js';
import { DirectNode, msg, ofType } from '../sim/direct-node.js';
import { runFigure8 } from '../sim/figure-8.js';
import { entryAt, hardState, logOfTerms } from '../sim/log-builder.js';
import type { MemoryLog } from '../sim/memory-log.js';
import { NodeCluster } from '../sim/node-cluster.js';
import { campaignOnceUp } from '../sim/scripted-cluster.js';

/**
 * The situations the Raft paper draws, scripted: exact messages to one core (DirectNode), or
 * a fixed schedule on a cluster of production nodes (NodeCluster).
 */
const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => `n${i + 1}` as NodeId);
const [n1, n2, n3] = ids(3) as [NodeId, NodeId, NodeId];
const voters3 = ids(3);

function termsOf(log: MemoryLog): number[] {
  return log.all().map((e) => e.term);
}

/** The terms of a production node's whole log. */
function nodeTerms(cluster: NodeCluster, id: NodeId): number[] {
  return cluster.logEntries(id).map((e) => e.term);
}

describe('figure 7: followers with missing, extra and conflicting suffixes converge', () => {
  it('every follower ends with the leader log, the leader keeps all of its own', async () => {
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6], // missing one
      b: [1, 1, 1, 4], // missing many
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // one extra, uncommitted
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // extra entries of a later term
      e: [1, 1, 1, 4, 4, 4, 4], // conflicting suffix
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // long conflicting suffix of two terms
    };
    const rows = [leaderTerms, ...Object.values(followers)];
    const nodes = ids(rows.length);
    const disks = new Map(nodes.map((id, k) => [id, { log: logOfTerms(rows[k] ?? []), hardState: hardState(7, null, 3) }]));
    const cluster = new NodeCluster({ seed: 7, size: rows.length, initialDisks: disks });
    await campaignOnceUp(cluster, n1);
    expect(await cluster.runUntil(() => cluster.leader() === n1, 1_000)).toBe(true);
    expect(cluster.status(n1).term).toBe(8);
    cluster.append();
    await cluster.checkRecovery(2_000, 3_000);
    const leaderLog = nodeTerms(cluster, n1);
    expect(leaderLog.slice(0, leaderTerms.length)).toEqual(leaderTerms);
    for (const id of nodes) expect(nodeTerms(cluster, id)).toEqual(leaderLog);
  });
});

describe('figure 8: an old-term entry commits only through an entry of the current term', () => {
  it('the term-4 leader does not commit (2, t2) held by a majority, and n5 may then overwrite it', async () => {
    const { commitBeforeCrash, cluster } = await runFigure8();
    expect(commitBeforeCrash).toBe(1);
    // n5 won term 5 and its (2, t3) is what every node holds now.
    for (const id of cluster.ids) expect(cluster.log(id)?.term(2 as Index)).toBe(3);
  });

  it('once the no-op of term 4 reaches a majority, index 2 commits together with it', async () => {
    const { commitBeforeCrash, cluster } = await runFigure8({ letNoopThrough: true });
    expect(commitBeforeCrash).toBe(3);
    for (const id of cluster.ids) expect(cluster.log(id)?.term(2 as Index)).toBe(2);
  });
});

describe('stale and reordered appends', () => {
  it("a deposed leader's late append changes nothing and tells it the newer term", () => {
    const follower = new DirectNode(n1, { voters: voters3, log: logOfTerms([1, 1, 3, 3]), hardState: hardState(3, n3, 2) });
    const out = follower.step(msg.append(n2, n1, 2, 2, 1, [entryAt(3, 2)], 3));
    expect(termsOf(follower.log)).toEqual([1, 1, 3, 3]);
    expect(follower.core.status()).toMatchObject({ term: 3, commit: 2 });
    const [resp] = ofType(out, 'appendResp');
    expect(resp).toMatchObject({ to: n2, term: 3, success: false });
  });

  it('an older append delivered after a newer one truncates nothing', () => {
    const follower = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(2, n2, 1) });
    follower.step(msg.append(n2, n1, 2, 1, 1, [entryAt(2, 2), entryAt(3, 2), entryAt(4, 2)], 1));
    expect(termsOf(follower.log)).toEqual([1, 2, 2, 2]);
    const out = follower.step(msg.append(n2, n1, 2, 1, 1, [entryAt(2, 2)], 1));
    expect(termsOf(follower.log)).toEqual([1, 2, 2, 2]);
    expect(follower.core.status().lastIndex).toBe(4);
    const [resp] = ofType(out, 'appendResp');
    expect(resp?.success).toBe(true);
    expect(resp?.index).toBeLessThanOrEqual(4);
  });
});

describe('acknowledgements wait for durability (the ordering lives in the Ready type)', () => {
  it("a follower's append acknowledgement is a persisted message, sent only after its entries are durable", () => {
    const follower = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(2, n2, 1) });
    follower.core.step(msg.append(n2, n1, 2, 1, 1, [entryAt(2, 2)], 1));
    const ready = follower.core.ready();
    expect(ready.entries.map((e) => e.index)).toEqual([2]);
    expect(ofType(ready.messages, 'appendResp')).toEqual([]);
    expect(ofType(ready.persistedMessages, 'appendResp')[0]).toMatchObject({ success: true, index: 2 });
  });

  it('an acknowledgement queued for a leader deposed before ready() is not sent (FINDINGS O2)', () => {
    const voters5 = ids(5);
    const follower = new DirectNode(n1, { voters: voters5, log: logOfTerms([1]), hardState: hardState(2, n2, 1) });
    follower.core.step(msg.append(n2, n1, 2, 1, 1, [entryAt(2, 2)], 1));
    follower.core.step(msg.append(n3, n1, 3, 1, 1, [entryAt(2, 3)], 1));
    const ready = follower.core.ready();
    expect(ready.entries.map((e) => [e.index, e.term])).toEqual([[2, 3]]);
    const acks = ofType([...ready.messages, ...ready.persistedMessages], 'appendResp').filter((m) => m.success);
    expect(acks.map((m) => [m.to, m.term, m.index])).toEqual([[n3, 3, 2]]);
  });

  it("a leader counts its own entry only at advance(), once its write is durable", () => {
    const leader = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(1, null, 1) });
    leader.core.campaign();
    leader.drain();
    leader.step(msg.voteResp(n2, n1, 2, true, 'preVoteResp'));
    leader.step(msg.voteResp(n2, n1, 2, true));
    leader.step(msg.appendResp(n2, n1, 2, 2));
    expect(leader.core.status().commit).toBe(2);
    const proposed = leader.core.propose(Buffer.from('x'));
    expect(proposed).toMatchObject({ accepted: true, index: 3 });
    const ready = leader.core.ready(); // the entry is handed out but not yet durable
    leader.core.step(msg.appendResp(n2, n1, 2, 3)); // n2 holds it: 2 of 3 only once our own write counts
    expect(leader.core.status().commit).toBe(2);
    leader.log.append(ready.entries);
    leader.core.advance(ready);
    expect(leader.core.status().commit).toBe(3);
  });
});

describe('bounded proposals', () => {
  it('a leader that cannot commit refuses proposals beyond uncommittedEntriesMax', () => {
    const leader = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(1, null, 1), tuning: { uncommittedEntriesMax: 5 } });
    leader.core.campaign();
    leader.drain();
    leader.step(msg.voteResp(n2, n1, 2, true, 'preVoteResp'));
    leader.step(msg.voteResp(n2, n1, 2, true));
    const results = Array.from({ length: 6 }, () => leader.core.propose(Buffer.from('y')));
    expect(results.filter((r) => r.accepted)).toHaveLength(4); // the no-op is uncommitted too
    expect(results.at(-1)).toMatchObject({ accepted: false, reason: 'tooManyUncommitted' });
  });
});

describe('votes survive a crash', () => {
  it('a vote is only sent after it is persisted', () => {
    const voter = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(1) });
    voter.core.step(msg.vote(n2, n1, 2, 1, 1));
    const ready = voter.core.ready();
    expect(ready.hardState).toMatchObject({ term: 2, vote: n2 });
    expect(ofType(ready.messages, 'voteResp')).toHaveLength(0);
    expect(ofType(ready.persistedMessages, 'voteResp')[0]).toMatchObject({ granted: true, to: n2 });
  });

  it('a node that voted, crashed and restarted refuses a second candidate in the same term', () => {
    const voter = new DirectNode(n1, { voters: voters3, log: logOfTerms([1]), hardState: hardState(1) });
    expect(ofType(voter.step(msg.vote(n2, n1, 2, 1, 1)), 'voteResp')[0]?.granted).toBe(true);
    voter.restart();
    expect(ofType(voter.step(msg.vote(n3, n1, 2, 5, 1)), 'voteResp')[0]?.granted).toBe(false);
    // The same candidate asking again (a retry) gets the same answer.
    expect(ofType(voter.step(msg.vote(n2, n1, 2, 1, 1)), 'voteResp')[0]?.granted).toBe(true);
  });
});

describe('pre-vote and check-quorum', () => {
  async function isolateFollower(preVote: boolean): Promise<{ leaderBefore: NodeId; termBefore: number; leaderAfter: NodeId | null; termAfter: number; isolatedTerm: number }> {
    const cluster = new NodeCluster({ seed: 11, size: 3, tuning: { preVote } });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    await cluster.runFor(200);
    const leaderBefore = cluster.leader() as NodeId;
    const termBefore = cluster.status(leaderBefore).term;
    const isolated = cluster.ids.find((id) => id !== leaderBefore) as NodeId;
    cluster.network.partition([[isolated], cluster.ids.filter((id) => id !== isolated)]);
    await cluster.runFor(3_000); // 300 ticks: many election timeouts for the isolated node
    const isolatedTerm = cluster.status(isolated).term;
    cluster.network.heal();
    await cluster.runFor(1_000);
    const leaderAfter = cluster.leader();
    return { leaderBefore, termBefore, leaderAfter, termAfter: leaderAfter === null ? -1 : cluster.status(leaderAfter).term, isolatedTerm };
  }

  it('with pre-vote, a partitioned node rejoining does not raise its term or depose the leader', async () => {
    const run = await isolateFollower(true);
    expect(run.isolatedTerm).toBe(run.termBefore);
    expect(run.leaderAfter).toBe(run.leaderBefore);
    expect(run.termAfter).toBe(run.termBefore);
  });

  it('without pre-vote the same partition inflates the term (what pre-vote prevents)', async () => {
    const run = await isolateFollower(false);
    expect(run.isolatedTerm).toBeGreaterThan(run.termBefore + 5);
    expect(run.termAfter).toBeGreaterThan(run.termBefore);
  });

  it('a leader cut off from its majority steps down within two election timeouts (check-quorum)', async () => {
    const cluster = new NodeCluster({ seed: 12, size: 5 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 1_000)).toBe(true);
    const old = cluster.leader() as NodeId;
    const oldTerm = cluster.status(old).term;
    cluster.network.partition([[old, cluster.ids.find((id) => id !== old) as NodeId], cluster.ids.filter((id) => id !== old).slice(1)]);
    // electionTicks 10 at 10 ms a tick: a check every 100 ms, so at most ~200 ms.
    expect(await cluster.runUntil(() => cluster.status(old).role !== 'leader', 250)).toBe(true);
    expect(await cluster.runUntil(() => cluster.leader() !== null && cluster.leader() !== old, 2_000)).toBe(true);
    expect(cluster.status(cluster.leader() as NodeId).term).toBeGreaterThan(oldTerm);
    await cluster.checkRecovery(2_000, 3_000);
  });
});

describe('read index', () => {
  it('a new leader refuses a read index until it has committed in its own term', () => {
    const leader = new DirectNode(n1, { voters: voters3, log: logOfTerms([1, 1]), hardState: hardState(1, null, 2) });
    leader.core.campaign();
    const preVotes = ofType(leader.drain(), 'preVote');
    expect(preVotes).toHaveLength(2);
    const votes = ofType(leader.step(msg.voteResp(n2, n1, 2, true, 'preVoteResp')), 'vote');
    expect(votes).toHaveLength(2);
    leader.step(msg.voteResp(n2, n1, 2, true));
    expect(leader.core.status()).toMatchObject({ role: 'leader', term: 2, commit: 2, lastIndex: 3 });
    expect(leader.core.readIndex('early')).toEqual({ accepted: false, reason: 'noCommitInTerm' });
    leader.step(msg.appendResp(n2, n1, 2, 3));
    expect(leader.core.status().commit).toBe(3);
    expect(leader.core.readIndex('r1')).toEqual({ accepted: true });
    const heartbeats = ofType(leader.drain(), 'heartbeat');
    expect(heartbeats.map((h) => h.context)).toEqual(['r1', 'r1']);
    expect(leader.readStates).toHaveLength(0);
    leader.step(msg.heartbeatResp(n3, n1, 2, 'r1'));
    expect(leader.readStates).toEqual([{ index: 3, context: 'r1' }]);
  });

  it('a read index is confirmed only after a heartbeat quorum answers with its context', () => {
    const voters5 = ids(5);
    const [, , , n4, n5] = voters5 as [NodeId, NodeId, NodeId, NodeId, NodeId];
    const leader = new DirectNode(n1, { voters: voters5, log: logOfTerms([1]), hardState: hardState(1, null, 1) });
    leader.core.campaign();
    leader.drain();
    leader.step(msg.voteResp(n2, n1, 2, true, 'preVoteResp'), msg.voteResp(n3, n1, 2, true, 'preVoteResp'));
    leader.step(msg.voteResp(n2, n1, 2, true), msg.voteResp(n3, n1, 2, true));
    leader.step(msg.appendResp(n2, n1, 2, 2), msg.appendResp(n3, n1, 2, 2));
    expect(leader.core.status()).toMatchObject({ role: 'leader', commit: 2 });
    expect(leader.core.readIndex('r')).toEqual({ accepted: true });
    expect(ofType(leader.drain(), 'heartbeat').map((h) => h.context)).toEqual(['r', 'r', 'r', 'r']);
    // Three of five make a quorum: the leader and two followers. One follower, even twice,
    // an answer to another read, or one from an older term confirms nothing.
    leader.step(msg.heartbeatResp(n2, n1, 2, 'r'));
    leader.step(msg.heartbeatResp(n2, n1, 2, 'r'));
    leader.step(msg.heartbeatResp(n4, n1, 2, 'other'));
    leader.step(msg.heartbeatResp(n5, n1, 1, 'r'));
    expect(leader.readStates).toEqual([]);
    leader.step(msg.heartbeatResp(n3, n1, 2, 'r'));
    expect(leader.readStates).toEqual([{ index: 2, context: 'r' }]);
  });
});
