import { describe, expect, it } from 'vitest';
import { ConfChangeRefusal, EntryKind, encodeConfiguration, type ConfChangeResult, type Index, type NodeId, type Term } from '../../raft/index.js';
import { CoreCluster } from '../sim/core-cluster.js';
import { DirectNode, msg, ofType } from '../sim/direct-node.js';
import { hardState } from '../sim/log-builder.js';
import { MemoryLog } from '../sim/memory-log.js';

/**
 * proposeConfChange, scripted: every refusal and its reason on one core driven by hand
 * (DirectNode), and the changes' effects on small clusters of bare cores (CoreCluster).
 */
const n = (id: string): NodeId => id as NodeId;
const [n1, n2, n3, n4] = [n('n1'), n('n2'), n('n3'), n('n4')];

const reason = (result: ConfChangeResult): string => (result.accepted ? 'accepted' : result.reason);

/** n1 leads n1..n3 in term 1 (no pre-vote); its no-op (index 1) is not acknowledged yet. */
function freshLeader(): DirectNode {
  const leader = new DirectNode(n1, { voters: [n1, n2, n3], tuning: { preVote: false, checkQuorum: false } });
  leader.core.campaign();
  leader.drain();
  leader.step(msg.voteResp('n2', 'n1', 1, true));
  expect(leader.core.status().role).toBe('leader');
  return leader;
}

describe('a leader refuses a change, with a reason', () => {
  it('until an entry of its term is committed, and while another change is uncommitted', () => {
    const leader = freshLeader();
    expect(reason(leader.core.proposeConfChange({ kind: 'addLearner', id: n4 }))).toBe(ConfChangeRefusal.noCommitInTerm);
    leader.step(msg.appendResp('n2', 'n1', 1, 1));
    const added = leader.core.proposeConfChange({ kind: 'addLearner', id: n4 });
    expect(added).toMatchObject({ accepted: true, index: 2, config: { voters: [n1, n2, n3], learners: [n4] } });
    // In force on the leader at once: n4 gets appends from now on.
    expect(leader.core.status().progress?.get(n4)).toMatchObject({ learner: true, match: 0 });
    expect(leader.drain().some((m) => m.to === n4 && m.type === 'append')).toBe(true);
    expect(reason(leader.core.proposeConfChange({ kind: 'remove', id: n3 }))).toBe(ConfChangeRefusal.changeInProgress);
  });

  it('for a member that is not one, is already one, or is not a learner; never the last voter', () => {
    const leader = freshLeader();
    leader.step(msg.appendResp('n2', 'n1', 1, 1));
    expect(reason(leader.core.proposeConfChange({ kind: 'addLearner', id: n2 }))).toBe(ConfChangeRefusal.alreadyMember);
    expect(reason(leader.core.proposeConfChange({ kind: 'remove', id: n4 }))).toBe(ConfChangeRefusal.notMember);
    expect(reason(leader.core.proposeConfChange({ kind: 'promote', id: n2 }))).toBe(ConfChangeRefusal.notLearner);
    const alone = new DirectNode(n1, { voters: [n1] });
    alone.core.campaign();
    alone.drain();
    expect(alone.core.status().role).toBe('leader');
    expect(reason(alone.core.proposeConfChange({ kind: 'remove', id: n1 }, { force: true }))).toBe(ConfChangeRefusal.lastVoter);
  });

  it('a promotion until the learner has answered and holds its configuration', () => {
    const leader = freshLeader();
    leader.step(msg.appendResp('n2', 'n1', 1, 1));
    leader.core.proposeConfChange({ kind: 'addLearner', id: n4 });
    leader.step(msg.appendResp('n2', 'n1', 1, 2));
    expect(leader.core.status().commit).toBe(2);
    const behind = leader.core.proposeConfChange({ kind: 'promote', id: n4 });
    expect(behind).toMatchObject({ accepted: false, reason: ConfChangeRefusal.learnerBehind });
    leader.step(msg.appendResp('n4', 'n1', 1, 2));
    expect(leader.core.proposeConfChange({ kind: 'promote', id: n4 })).toMatchObject({ accepted: true, config: { voters: [n1, n2, n3, n4], learners: [] } });
  });

  it('a removal that leaves too few live voters for a quorum, unless forced', () => {
    const leader = freshLeader();
    leader.step(msg.appendResp('n2', 'n1', 1, 1));
    // Nobody answers for an election timeout: only the leader counts as live.
    leader.tick(12);
    const refused = leader.core.proposeConfChange({ kind: 'remove', id: n2 });
    expect(refused).toMatchObject({ accepted: false, reason: ConfChangeRefusal.wouldLoseQuorum });
    expect(refused.accepted ? '' : refused.detail).toMatch(/1 of 2 voters/);
    leader.step(msg.appendResp('n3', 'n1', 1, 1));
    expect(leader.core.proposeConfChange({ kind: 'remove', id: n2 })).toMatchObject({ accepted: true, config: { voters: [n1, n3] } });
  });

  it('a removal is allowed with force, and then counts only the remaining voters', () => {
    const leader = freshLeader();
    leader.step(msg.appendResp('n2', 'n1', 1, 1));
    leader.tick(12);
    expect(leader.core.proposeConfChange({ kind: 'remove', id: n2 }, { force: true })).toMatchObject({ accepted: true, index: 2 });
    // n3 alone with n1 is a quorum of {n1, n3}.
    leader.step(msg.appendResp('n3', 'n1', 1, 2));
    expect(leader.core.status().commit).toBe(2);
  });
});

describe('a follower uses a configuration from the moment it holds the entry', () => {
  it('a learner gets the log but counts in no quorum and never campaigns', () => {
    const cluster = new CoreCluster({ seed: 3, size: 3 });
    expect(cluster.runUntilTrue(() => cluster.leader() !== null, 2_000)).toBe(true);
    cluster.runUntil(cluster.nowMs + 100);
    const leader = cluster.leader() as NodeId;
    cluster.start(n4);
    const added = cluster.act(leader, (core) => core.proposeConfChange({ kind: 'addLearner', id: n4 }));
    expect(added?.accepted).toBe(true);
    expect(cluster.runUntilTrue(() => cluster.core(n4)?.status().config.learners.includes(n4) === true, 1_000)).toBe(true);
    // Two voters down: the leader and the learner hold a new entry, which does not commit.
    const others = [n1, n2, n3].filter((id) => id !== leader);
    for (const id of others) cluster.crash(id);
    const proposed = cluster.act(leader, (core) => core.propose(new Uint8Array([1])));
    cluster.runUntil(cluster.nowMs + 500);
    expect(proposed?.accepted).toBe(true);
    expect(cluster.logOf(n4)?.entries.at(-1)?.index).toBe(proposed?.accepted === true ? proposed.index : -1);
    expect(cluster.core(leader)?.status().commit).toBeLessThan(proposed?.accepted === true ? proposed.index : 0);
    // With the leader gone too, the learner waits: it never campaigns.
    cluster.crash(leader);
    const termBefore = cluster.core(n4)?.status().term;
    cluster.runUntil(cluster.nowMs + 2_000);
    expect(cluster.core(n4)?.status()).toMatchObject({ role: 'follower', term: termBefore });
  });

  it('a new member catches up by snapshot, then entries, and is promoted', () => {
    const cluster = new CoreCluster({ seed: 4, size: 3, snapshotEvery: 5, keepEntries: 0 });
    expect(cluster.runUntilTrue(() => cluster.leader() !== null, 2_000)).toBe(true);
    for (let i = 0; i < 40; i++) {
      cluster.propose();
      cluster.runUntil(cluster.nowMs + 5);
    }
    const leader = cluster.leader() as NodeId;
    cluster.start(n4);
    expect(cluster.act(leader, (core) => core.proposeConfChange({ kind: 'addLearner', id: n4 }))?.accepted).toBe(true);
    const caughtUp = (): boolean => (cluster.core(n4)?.status().commit ?? 0) >= (cluster.core(leader)?.status().commit ?? 1);
    expect(cluster.runUntilTrue(caughtUp, 2_000)).toBe(true);
    expect(cluster.stats.snapshotsInstalled).toBeGreaterThanOrEqual(1);
    let promoted: ConfChangeResult | undefined;
    expect(cluster.runUntilTrue(() => (promoted = cluster.act(leader, (core) => core.proposeConfChange({ kind: 'promote', id: n4 })))?.accepted === true, 1_000)).toBe(true);
    expect(cluster.runUntilTrue(() => cluster.core(n4)?.status().config.voters.includes(n4) === true, 1_000)).toBe(true);
    expect(promoted).toMatchObject({ accepted: true });
  });
});

describe('removing the leader, and a removed member that comes back', () => {
  it('the leader leads until its removal commits, then steps down and hands over at once', () => {
    const cluster = new CoreCluster({ seed: 5, size: 3, tuning: { electionTicks: 30 } });
    expect(cluster.runUntilTrue(() => cluster.leader() !== null, 3_000)).toBe(true);
    cluster.runUntil(cluster.nowMs + 100);
    const old = cluster.leader() as NodeId;
    const removal = cluster.act(old, (core) => core.proposeConfChange({ kind: 'remove', id: old }));
    expect(removal?.accepted).toBe(true);
    const start = cluster.nowMs;
    expect(cluster.runUntilTrue(() => cluster.leader() !== null && cluster.leader() !== old, 3_000, 1)).toBe(true);
    // Handed over by TimeoutNow: well within one election timeout (30 ticks of 10 ms).
    expect(cluster.nowMs - start).toBeLessThan(150);
    expect(cluster.core(old)?.status()).toMatchObject({ role: 'follower' });
    expect(cluster.core(old)?.status().config.voters).not.toContain(old);
  });

  it('a removed member cut off before it learned of its removal campaigns in vain and changes no term', () => {
    // The worst case for disruption: no pre-vote, no leader lease.
    const cluster = new CoreCluster({ seed: 6, size: 3, tuning: { preVote: false, checkQuorum: false } });
    expect(cluster.runUntilTrue(() => cluster.leader() !== null, 2_000)).toBe(true);
    cluster.runUntil(cluster.nowMs + 100);
    const leader = cluster.leader() as NodeId;
    const removed = [n1, n2, n3].find((id) => id !== leader) as NodeId;
    const rest = [n1, n2, n3].filter((id) => id !== removed);
    cluster.network.partition([[removed], rest]);
    expect(cluster.act(leader, (core) => core.proposeConfChange({ kind: 'remove', id: removed }))?.accepted).toBe(true);
    cluster.runUntil(cluster.nowMs + 1_000);
    const termOfRemoved = cluster.core(removed)?.status().term ?? 0;
    const termOfCluster = cluster.core(leader)?.status().term ?? 0;
    expect(termOfRemoved).toBeGreaterThan(termOfCluster);
    cluster.network.heal();
    cluster.runUntil(cluster.nowMs + 3_000);
    expect(cluster.leader()).toBe(leader);
    expect(cluster.core(leader)?.status().term).toBe(termOfCluster);
    expect(cluster.core(removed)?.status().config.voters).toContain(removed);
  });

  it('a learner answers a voter of its configuration: it may have been promoted without knowing it', () => {
    const config = encodeConfiguration({ voters: [n1, n2, n3], learners: [n4] });
    const log = MemoryLog.of([{ index: 1 as Index, term: 1 as Term, kind: EntryKind.config, payload: config }]);
    const learner = new DirectNode(n4, { voters: [], log, hardState: hardState(1) });
    expect(ofType(learner.step(msg.vote('n1', 'n4', 2, 2, 1)), 'voteResp')).toMatchObject([{ granted: true, term: 2 }]);
    // A stranger to its configuration gets nothing, whatever its term.
    expect(learner.step(msg.vote('n9', 'n4', 9, 5, 5))).toEqual([]);
    expect(learner.core.status().term).toBe(2);
  });

  it('a voter answers a learner of its configuration that campaigns: promoted by an entry the voter lacks, it may need this vote (FINDINGS O6)', () => {
    // n1 missed the entry promoting n4 (and the one removing another voter after it): n4's
    // configuration is {n1,n3,n4}, n3 is gone, and only n1's vote can elect it.
    const config = encodeConfiguration({ voters: [n1, n2, n3], learners: [n4] });
    const log = MemoryLog.of([{ index: 1 as Index, term: 1 as Term, kind: EntryKind.config, payload: config }]);
    const voter = new DirectNode(n1, { voters: [], log, hardState: hardState(1), tuning: { preVote: true, checkQuorum: true } });
    expect(ofType(voter.step(msg.vote('n4', 'n1', 2, 5, 1, 'preVote')), 'preVoteResp')).toMatchObject([{ granted: true, term: 2 }]);
    expect(ofType(voter.step(msg.vote('n4', 'n1', 2, 5, 1)), 'voteResp')).toMatchObject([{ granted: true, term: 2 }]);
    expect(voter.core.status()).toMatchObject({ term: 2, vote: n4 });
    // The election restriction holds for it as for anyone: a shorter log gets no vote.
    expect(ofType(voter.step(msg.vote('n4', 'n1', 3, 0, 0)), 'voteResp')).toMatchObject([{ granted: false }]);
    // A stranger to its configuration still gets nothing, whatever its term.
    expect(voter.step(msg.vote('n9', 'n1', 9, 5, 5))).toEqual([]);
    expect(voter.core.status().term).toBe(3);
  });

  it('a learner that has not heard from its leader for an election timeout forgets it, so its lease ends', () => {
    const config = encodeConfiguration({ voters: [n1, n2, n3], learners: [n4] });
    const log = MemoryLog.of([{ index: 1 as Index, term: 1 as Term, kind: EntryKind.config, payload: config }]);
    const learner = new DirectNode(n4, { voters: [], log, hardState: hardState(1) });
    learner.step(msg.append('n1', 'n4', 1, 1, 1, [], 1));
    expect(learner.core.status().leader).toBe(n1);
    learner.tick(40);
    expect(learner.core.status()).toMatchObject({ role: 'follower', leader: null, term: 1 });
    expect(ofType(learner.step(msg.vote('n2', 'n4', 2, 1, 1, 'preVote')), 'preVoteResp')).toMatchObject([{ granted: true }]);
  });

  it('a new node that holds no configuration answers no campaign', () => {
    const node = new DirectNode(n4, { voters: [] });
    expect(node.step(msg.vote('n1', 'n4', 1, 0, 0))).toEqual([]);
    node.tick(100);
    expect(node.core.status()).toMatchObject({ role: 'follower', term: 0, config: { voters: [], learners: [] } });
    expect(ofType(node.tick(1), 'preVote')).toEqual([]);
  });
});
