import { describe, expect, it } from 'vitest';

import { EntryKind, encodeConfiguration, nodeId, type Entry, type Index, type Term } from '../../raft/index.js';
import { SILENT_LOG } from '../../src/log/index.js';
import { NODE_DEFAULTS, type NodeConfig } from '../../src/node/config.js';
import { encodeMemberContext, MemberBook, type MemberRecord } from '../../src/node/member-book.js';
import { NodeMembership } from '../../src/node/node-membership.js';
import { DirectNode, msg } from '../sim/direct-node.js';
import { MemoryLog } from '../sim/memory-log.js';

const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map(nodeId) as [ReturnType<typeof nodeId>, ReturnType<typeof nodeId>, ReturnType<typeof nodeId>, ReturnType<typeof nodeId>];
const n4Record: MemberRecord = { id: n4, peerAddress: '127.0.0.1:7604', clientAddress: '127.0.0.1:7504', incarnation: 'inc-n4' };

const entry = (at: number, kind: EntryKind, payload: Uint8Array): Entry => ({ index: at as Index, term: 1 as Term, kind, payload });

/** n1's configuration, with --members n1..n3. */
function nodeConfig(): NodeConfig {
  return {
    ...NODE_DEFAULTS,
    id: n1,
    members: [n1, n2, n3].map((id, k) => ({ id, peerAddress: `127.0.0.1:${7601 + k}`, clientAddress: `127.0.0.1:${7501 + k}` })),
    clusterId: 'c',
    dataDir: '/d',
    dialAddresses: new Map(),
    preferredLeader: null,
    powerLoss: false,
  };
}

/** n1 of n1..n3 (from --members), whose log holds, appended but not applied, the entry that added n4 as a learner. */
function follower(): { membership: NodeMembership; book: MemberBook } {
  const added = encodeConfiguration({ voters: [n1, n2, n3], learners: [n4] }, encodeMemberContext(n4Record));
  const log = MemoryLog.of([entry(1, EntryKind.normal, new Uint8Array(0)), entry(2, EntryKind.config, added), entry(3, EntryKind.normal, new Uint8Array(1))]);
  const core = new DirectNode(n1, { voters: [n1, n2, n3], log }).core;
  const config = nodeConfig();
  const book = new MemberBook();
  return { membership: new NodeMembership({ config, raft: core, book: () => book, log: SILENT_LOG, logReader: log }), book };
}

describe('NodeMembership', () => {
  it("knows a member's addresses and incarnation from the config entry that added it, before that entry is applied (FINDINGS F7)", () => {
    const { membership } = follower();
    expect(membership.configuration().learners).toEqual([n4]);
    // The book (applied state) has no n4 yet: a node restarted with an older saved commit, or
    // one that lags, must still admit n4 and answer it, or it refuses the leader n4 may become.
    expect(membership.peerAddresses().get(n4)).toBe(n4Record.peerAddress);
    expect(membership.record(n4)).toEqual(n4Record);
    expect(membership.recordedIncarnation(n4, undefined)).toBe('inc-n4');
  });

  it('links to the leader its core follows even when its configuration does not name it (a learner that installed a snapshot older than the leader; FINDINGS F7)', () => {
    // The configuration here ({n1, n2}, say from an old snapshot) lacks n3, which leads now
    // (the joiner's --members named it): its messages must still be taken, and answered.
    const only = encodeConfiguration({ voters: [n1, n2], learners: [] });
    const log = MemoryLog.of([entry(1, EntryKind.config, only)]);
    const core = new DirectNode(n1, { voters: [n1, n2], log }).core;
    const config = nodeConfig();
    const book = new MemberBook();
    const membership = new NodeMembership({ config, raft: core, book: () => book, log: SILENT_LOG, logReader: log });
    const seen: ReadonlyMap<string, string>[] = [];
    membership.onPeers((peers) => seen.push(peers));
    expect([...(seen.at(-1)?.keys() ?? [])]).toEqual([n2]);
    membership.leaderIs(n3);
    expect([...(seen.at(-1)?.keys() ?? [])].sort()).toEqual([n2, n3]);
    expect(seen.at(-1)?.get(n3)).toBe('127.0.0.1:7603');
    membership.leaderIs(null);
    expect([...(seen.at(-1)?.keys() ?? [])]).toEqual([n2]);
  });

  it('a follower serves a caller its configuration does not name and dials it back; a leader does not; the caller goes once the book knows it (FINDINGS F7)', () => {
    const log = MemoryLog.of([entry(1, EntryKind.config, encodeConfiguration({ voters: [n1, n2, n3], learners: [] }))]);
    const node = new DirectNode(n1, { voters: [n1, n2, n3], log, tuning: { preVote: false, checkQuorum: false } });
    const book = new MemberBook();
    const membership = new NodeMembership({ config: nodeConfig(), raft: node.core, book: () => book, log: SILENT_LOG, logReader: log });
    const seen: ReadonlyMap<string, string>[] = [];
    membership.onPeers((peers) => seen.push(peers));
    expect(membership.admitsStranger(n4, null), 'a caller that does not say where it listens').toBe(false);
    expect(membership.admitsStranger(n4, 'not an address')).toBe(false);
    expect(membership.admitsStranger(n1, '127.0.0.1:7601'), 'its own id').toBe(false);
    expect(membership.admitsStranger(n4, '127.0.0.1:7604')).toBe(true);
    membership.sync();
    expect(seen.at(-1)?.get(n4), 'dialled back where it listens').toBe('127.0.0.1:7604');
    // The entry adding n4 is applied: the book knows it, and it is a member like any other.
    book.set(n4Record);
    membership.sync();
    expect(membership.admitsStranger(nodeId('n5'), '127.0.0.1:7605')).toBe(true);
    membership.sync();
    expect(seen.at(-1)?.get(nodeId('n5'))).toBe('127.0.0.1:7605');
    // Leading, its configuration is the newest: a node it does not name is no member.
    node.core.campaign();
    node.drain();
    node.step(msg.voteResp('n2', 'n1', node.core.status().term, true));
    expect(node.core.status().role).toBe('leader');
    // As node-assembly wires it: the replica's role listener tells the membership its leader.
    membership.leaderIs(node.core.status().leader);
    expect(seen.at(-1)?.has(nodeId('n5')), 'callers dropped on becoming leader').toBe(false);
    expect(membership.admitsStranger(nodeId('n5'), '127.0.0.1:7605')).toBe(false);
  });
});
