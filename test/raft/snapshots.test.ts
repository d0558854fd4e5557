import { describe, expect, it } from 'vitest';
import type { Index, Message, NodeId } from '../../raft/index.js';
import { DirectNode, msg, ofType } from '../sim/direct-node.js';
import { entryAt, hardState, logOfTerms } from '../sim/log-builder.js';

/**
 * The core's side of snapshots (Raft §7): a leader sends its snapshot to a follower whose next
 * entry it compacted away, and a follower installs it, or only moves its commit index when
 * its log already holds the snapshot's point. Each case below is a way other Raft systems got
 * this wrong.
 */
const [n1, n2, n3, n4, n5] = ['n1', 'n2', 'n3', 'n4', 'n5'] as [NodeId, NodeId, NodeId, NodeId, NodeId];
const voters = [n1, n2, n3];

type Nodes = ReadonlyMap<NodeId, DirectNode>;

/** Delivers messages until none are left, except those `drop` refuses (bounded). */
function deliver(nodes: Nodes, messages: readonly Message[], drop: (m: Message) => boolean = () => false): void {
  const queue = [...messages];
  for (let delivered = 0; queue.length > 0; delivered++) {
    if (delivered > 20_000) throw new Error('messages without end');
    const m = queue.shift() as Message;
    const to = nodes.get(m.to);
    if (to !== undefined && !drop(m)) queue.push(...to.step(m));
  }
}

function tickAll(nodes: Nodes, times: number, drop?: (m: Message) => boolean): void {
  for (let i = 0; i < times; i++) for (const node of nodes.values()) deliver(nodes, node.tick(), drop);
}

function cluster(ids: readonly NodeId[]): Map<NodeId, DirectNode> {
  return new Map(ids.map((id, k) => [id, new DirectNode(id, { voters: ids, seed: k + 1 })]));
}

function leaderOf(nodes: Nodes): DirectNode {
  const leader = [...nodes.values()].find((node) => node.core.status().role === 'leader');
  if (leader === undefined) throw new Error('no leader');
  return leader;
}

/** Proposes `count` payloads on the leader and delivers everything that follows. */
function proposeAll(nodes: Nodes, count: number, drop?: (m: Message) => boolean): void {
  const leader = leaderOf(nodes);
  for (let i = 0; i < count; i++) expect(leader.core.propose(Buffer.from(`p${i}`))).toMatchObject({ accepted: true });
  deliver(nodes, leader.drain(), drop);
}

const only = (ids: readonly NodeId[]) => (m: Message) => !ids.includes(m.from) || !ids.includes(m.to);

describe('a leader sends its snapshot to a follower behind its compaction point', () => {
  it('the follower installs it, continues after it and converges; entries are not sent from below the point', () => {
    const nodes = cluster(voters);
    tickAll(nodes, 40);
    const leader = leaderOf(nodes);
    const behind = [...nodes.values()].find((n) => n !== leader) as DirectNode;
    const cutOff = (m: Message) => m.from === behind.id || m.to === behind.id;
    proposeAll(nodes, 30, cutOff);
    tickAll(nodes, 3, cutOff);
    const commit = leader.core.status().commit;
    expect(commit).toBeGreaterThan(30);
    leader.takeSnapshot(commit);
    const appliedBefore = behind.applied.map((e) => e.index);
    expect(leader.log.firstIndex()).toBe(commit + 1);

    const sent: Message[] = [];
    tickAll(nodes, 6, (m) => {
      sent.push(m);
      return false;
    });
    const snapshots = ofType(sent, 'snapshot');
    expect(snapshots.length).toBe(1);
    expect(snapshots[0]?.snapshot).toMatchObject({ index: commit, term: leader.core.status().term });
    expect(ofType(sent, 'append').filter((m) => m.to === behind.id && m.entries.some((e) => e.index <= commit))).toEqual([]);
    expect(behind.installed.map((s) => s.index)).toEqual([commit]);
    expect(behind.log.firstIndex()).toBe(commit + 1);
    expect(leader.core.status().progress?.get(behind.id)).toMatchObject({ state: 'replicate', match: leader.log.lastIndex() });

    proposeAll(nodes, 5);
    tickAll(nodes, 3);
    for (const node of nodes.values()) {
      expect(node.log.lastIndex()).toBe(leader.log.lastIndex());
      expect(node.core.status().commit).toBe(leader.log.lastIndex());
    }
    // The follower applied no entry the snapshot covers: it came in the snapshot's state.
    expect(behind.applied.map((e) => e.index).filter((i) => i <= commit)).toEqual(appliedBefore);
  });

  it('a majority of followers behind the compaction point all catch up (five nodes, two behind)', () => {
    const ids = [n1, n2, n3, n4, n5];
    const nodes = cluster(ids);
    tickAll(nodes, 40);
    const leader = leaderOf(nodes);
    const behind = ids.filter((id) => id !== leader.id).slice(0, 2);
    const cutOff = (m: Message) => behind.includes(m.from) || behind.includes(m.to);
    proposeAll(nodes, 20, cutOff);
    tickAll(nodes, 3, cutOff);
    const commit = leader.core.status().commit;
    leader.takeSnapshot(commit);
    tickAll(nodes, 8);
    for (const id of behind) expect(nodes.get(id)?.installed.map((s) => s.index)).toEqual([commit]);
    proposeAll(nodes, 3);
    tickAll(nodes, 3);
    for (const node of nodes.values()) {
      expect(node.log.lastIndex()).toBe(leader.log.lastIndex());
      expect(node.core.status().commit).toBe(leader.log.lastIndex());
      for (let i = commit + 1; i <= leader.log.lastIndex(); i++) expect(node.log.entry(i as Index)).toEqual(leader.log.entry(i as Index));
    }
  });

  it('a snapshot that never arrives is sent again: at once when the driver reports it failed, else after the stall bound', () => {
    const nodes = cluster(voters);
    tickAll(nodes, 40);
    const leader = leaderOf(nodes);
    const behind = [...nodes.values()].find((n) => n !== leader) as DirectNode;
    const cutOff = (m: Message) => m.from === behind.id || m.to === behind.id;
    proposeAll(nodes, 10, cutOff);
    tickAll(nodes, 3, cutOff);
    leader.takeSnapshot(leader.core.status().commit);

    let snapshotsSent = 0;
    const dropSnapshots = (m: Message) => {
      if (m.type !== 'snapshot') return false;
      snapshotsSent++;
      return true;
    };
    tickAll(nodes, 5, dropSnapshots);
    expect(snapshotsSent).toBe(1);
    expect(leader.core.status().progress?.get(behind.id)?.state).toBe('snapshot');
    leader.core.snapshotFailed(behind.id);
    tickAll(nodes, 2, dropSnapshots);
    expect(snapshotsSent).toBe(2);
    // Unreported: after 10 election timeouts (10 x 10 ticks by default) it goes again.
    tickAll(nodes, 90, dropSnapshots);
    expect(snapshotsSent).toBe(2);
    tickAll(nodes, 20, dropSnapshots);
    expect(snapshotsSent).toBe(3);
    tickAll(nodes, 120);
    expect(behind.installed.length).toBe(1);
    expect(behind.log.lastIndex()).toBe(leader.log.lastIndex());
  });
});

describe('a follower given a snapshot', () => {
  /** n2 following n1 in term 3, its log `terms`, committed through `commit`. */
  function follower(terms: readonly number[], commit: number): DirectNode {
    const node = new DirectNode(n2, { voters, log: logOfTerms(terms), hardState: hardState(3, n1, commit) });
    node.step(msg.append(n1, n2, 3, 0, 0, [], commit));
    return node;
  }

  const snapshotOf = (index: number, t: number): Message => ({
    type: 'snapshot',
    from: n1,
    to: n2,
    term: 3 as never,
    snapshot: { index: index as Index, term: t as never, voters },
  });

  it('that covers only a prefix of its log keeps the entries after it (Raft §7) and installs nothing', () => {
    const node = follower([1, 1, 2, 2, 2, 3, 3], 2);
    const out = node.step(snapshotOf(5, 2));
    expect(node.installed).toEqual([]);
    expect(node.terms()).toEqual([1, 1, 2, 2, 2, 3, 3]);
    expect(node.core.status()).toMatchObject({ commit: 5, lastIndex: 7 });
    expect(node.applied.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    expect(ofType(out, 'appendResp')).toMatchObject([{ success: true, index: 5 }]);
  });

  it('whose point it holds with another term discards its whole log and continues after the snapshot', () => {
    const node = follower([1, 1, 2, 2, 2, 2, 2], 2);
    const out = node.step(snapshotOf(5, 3));
    expect(node.installed.map((s) => [s.index, s.term])).toEqual([[5, 3]]);
    expect(node.log.firstIndex()).toBe(6);
    expect(node.log.lastIndex()).toBe(5);
    expect(node.core.status()).toMatchObject({ commit: 5, applied: 5, firstIndex: 6, lastIndex: 5, snapshotIndex: 5 });
    expect(node.applied.map((e) => e.index)).toEqual([1, 2]);
    expect(ofType(out, 'appendResp')).toMatchObject([{ success: true, index: 5 }]);
    // Replication goes on after it.
    node.step(msg.append(n1, n2, 3, 5, 3, [entryAt(6, 3)], 6));
    expect(node.applied.map((e) => e.index)).toEqual([1, 2, 6]);
  });

  it('that is stale (not beyond its commit index) changes nothing and answers with the commit index', () => {
    const node = follower([1, 1, 2, 2, 2], 4);
    const out = node.step(snapshotOf(3, 2));
    expect(node.installed).toEqual([]);
    expect(node.terms()).toEqual([1, 1, 2, 2, 2]);
    expect(ofType(out, 'appendResp')).toMatchObject([{ success: true, index: 4 }]);
  });

  it('counts as the repair a node that lost durable entries waits for', () => {
    const node = new DirectNode(n2, { voters, log: logOfTerms([1, 1]), hardState: hardState(3, n1, 2), votingBlockedBelow: 9 as Index });
    node.step(snapshotOf(10, 3));
    expect(node.core.status().votingBlocked).toBe(false);
  });

  it('restarts from the installed snapshot and its log after it', () => {
    const node = follower([1, 1, 2, 2, 2, 2, 2], 2);
    node.step(snapshotOf(5, 3));
    node.step(msg.append(n1, n2, 3, 5, 3, [entryAt(6, 3), entryAt(7, 3)], 6));
    node.restart();
    expect(node.core.status()).toMatchObject({ firstIndex: 6, lastIndex: 7, commit: 6, snapshotIndex: 5 });
  });
});

describe("a leader's memory of a follower", () => {
  it('does not outlive the follower losing its data: a wiped follower is probed again and sent the snapshot', () => {
    const nodes = cluster(voters);
    tickAll(nodes, 40);
    const leader = leaderOf(nodes);
    proposeAll(nodes, 20);
    tickAll(nodes, 3);
    const commit = leader.core.status().commit;
    leader.takeSnapshot(commit);
    const victim = [...nodes.values()].find((n) => n !== leader) as DirectNode;
    expect(leader.core.status().progress?.get(victim.id)?.match).toBe(commit);
    // The victim's disk is replaced by an empty one (it knows to wait for repair).
    const wiped = new DirectNode(victim.id, { voters, seed: 9, hardState: hardState(leader.core.status().term), votingBlockedBelow: commit });
    const healed = new Map([...nodes].map(([id, node]) => [id, id === victim.id ? wiped : node]));
    tickAll(healed, 6);
    expect(wiped.installed.map((s) => s.index)).toEqual([commit]);
    expect(wiped.core.status()).toMatchObject({ votingBlocked: false, lastIndex: leader.log.lastIndex() });
    expect(leader.core.status().progress?.get(victim.id)).toMatchObject({ state: 'replicate', match: leader.log.lastIndex() });
  });
});

describe('snapshotTaken', () => {
  it('refuses a snapshot beyond what was applied (a driver bug)', () => {
    const nodes = cluster(voters);
    tickAll(nodes, 40);
    const leader = leaderOf(nodes);
    const applied = leader.core.status().applied;
    expect(() => leader.core.snapshotTaken({ index: (applied + 5) as Index, term: leader.core.status().term, voters })).toThrow(/beyond applied/);
  });
});
