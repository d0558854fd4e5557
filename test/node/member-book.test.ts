import { describe, expect, it } from 'vitest';

import { configurationContext, decodeConfiguration, encodeConfiguration, EntryKind, index, nodeId, type Entry, type Index, type SnapshotMeta } from '../../raft/index.js';
import { encodeBrokerSnapshot, BrokerState } from '../../src/broker/index.js';
import { decodeMemberContext, encodeMemberContext, MemberBook, MemberRecordError, type MemberRecord } from '../../src/node/member-book.js';
import { brokerEntryPayload, NodeStateMachine } from '../../src/node/state-machine.js';

const record = (id: string, port: number, incarnation = `inc-${id}`): MemberRecord => ({
  id: nodeId(id),
  peerAddress: `127.0.0.1:${port}`,
  clientAddress: `127.0.0.1:${port + 100}`,
  incarnation,
});

function configEntry(at: number, voters: string[], learners: string[], added?: MemberRecord): Entry {
  const config = { voters: voters.map(nodeId), learners: learners.map(nodeId) };
  return { index: index(at), term: 1 as Entry['term'], kind: EntryKind.config, payload: encodeConfiguration(config, added === undefined ? undefined : encodeMemberContext(added)) };
}

const meta = (at: number): SnapshotMeta => ({ index: at as Index, term: 1 as SnapshotMeta['term'], voters: [nodeId('n1')] });

describe('the member book and config entry contexts', () => {
  it('a config entry carries an opaque context the core hands back unchanged, and its configuration still decodes', () => {
    for (const bytes of [new Uint8Array(0), Uint8Array.from([0]), Uint8Array.from([255, 254, 1]), new TextEncoder().encode('{"a":"é"}'), Uint8Array.from({ length: 257 }, (_, k) => k % 256)]) {
      const payload = encodeConfiguration({ voters: [nodeId('n1')], learners: [nodeId('n2')] }, bytes);
      expect([...(configurationContext(payload) ?? [-1])]).toEqual([...bytes]);
      expect(decodeConfiguration(payload)).toEqual({ voters: ['n1'], learners: ['n2'] });
    }
    expect(configurationContext(encodeConfiguration({ voters: [nodeId('n1')], learners: [] }))).toBeNull();
  });

  it('a member context round-trips; anything else is a MemberRecordError', () => {
    expect(decodeMemberContext(encodeMemberContext(record('n4', 7604)))).toEqual(record('n4', 7604));
    expect(() => decodeMemberContext(new TextEncoder().encode('not json'))).toThrow(MemberRecordError);
    expect(() => decodeMemberContext(new TextEncoder().encode('{"version":1,"id":"n4"}'))).toThrow(MemberRecordError);
    expect(() => decodeMemberContext(new TextEncoder().encode('{"version":2,"id":"n4","peerAddress":"a:1","clientAddress":"a:2","incarnation":""}'))).toThrow(MemberRecordError);
  });

  it('a member record may carry its HTTP address; one without it (an older node\'s) still decodes', () => {
    const withHttp: MemberRecord = { ...record('n4', 7604), httpAddress: '127.0.0.1:7704' };
    expect(decodeMemberContext(encodeMemberContext(withHttp))).toEqual(withHttp);
    expect(decodeMemberContext(new TextEncoder().encode('{"version":1,"id":"n4","peerAddress":"a:1","clientAddress":"a:2","incarnation":""}'))).toEqual({ id: 'n4', peerAddress: 'a:1', clientAddress: 'a:2', incarnation: '' });
    expect(() => decodeMemberContext(new TextEncoder().encode('{"version":1,"id":"n4","peerAddress":"a:1","clientAddress":"a:2","incarnation":"","httpAddress":7}'))).toThrow(MemberRecordError);
    const book = new MemberBook();
    book.set(record('n4', 7604));
    const version = book.version;
    book.set(withHttp);
    expect(book.version, 'a new HTTP address is a change').toBeGreaterThan(version);
    expect(MemberBook.decode(book.encode()).get(nodeId('n4'))).toEqual(withHttp);
  });

  it('a book encodes and decodes whole; set counts changes, retain drops the members a configuration no longer names', () => {
    const book = new MemberBook();
    book.set(record('n1', 7601));
    book.set(record('n2', 7602));
    const version = book.version;
    book.set(record('n2', 7602));
    expect(book.version, 'the same record again is no change').toBe(version);
    book.retain(new Set([nodeId('n2')]));
    expect(book.all().map((r) => r.id)).toEqual(['n2']);
    expect(book.version).toBeGreaterThan(version);
    expect(MemberBook.decode(book.encode()).all()).toEqual([record('n2', 7602)]);
    expect(() => MemberBook.decode(new TextEncoder().encode('[]'))).toThrow(MemberRecordError);
  });
});

describe('the node state machine: membership', () => {
  it('applying config entries records the added member and forgets the removed one; the book survives a snapshot', () => {
    const sm = new NodeStateMachine();
    sm.apply(configEntry(1, ['n1', 'n2', 'n3'], ['n4'], record('n4', 7604)));
    expect(sm.members.get(nodeId('n4'))).toEqual(record('n4', 7604));
    sm.apply(brokerEntryOf(2));
    sm.apply(configEntry(3, ['n1', 'n2', 'n4'], []));
    expect(sm.members.all().map((r) => r.id)).toEqual(['n4']);

    const restored = new NodeStateMachine();
    restored.restoreSnapshot(sm.encodeSnapshot(), meta(3));
    expect(restored.members.all()).toEqual([record('n4', 7604)]);
    expect(restored.broker.topics().map((t) => t.name)).toEqual(['t']);
    // The sliced form (what a node writes) is the prefix, then the broker's slices.
    const sliced = new NodeStateMachine();
    sliced.restoreSnapshot(Buffer.concat([sm.snapshotPrefix(), sm.snapshotEncoder().encode(() => false)]), meta(3));
    expect(sliced.members.all()).toEqual([record('n4', 7604)]);
  });

  it('a snapshot payload written before member sections (the broker alone) restores with an empty book', () => {
    const state = new BrokerState();
    state.apply(1, 1000, { kind: 'createTopic', name: 'old', messageBytesMax: 10 });
    const sm = new NodeStateMachine();
    sm.apply(configEntry(1, ['n1'], ['n2'], record('n2', 7602)));
    sm.restoreSnapshot(encodeBrokerSnapshot(state), meta(1));
    expect(sm.members.all()).toEqual([]);
    expect(sm.broker.topics().map((t) => t.name)).toEqual(['old']);
  });

  it('a config entry whose context does not decode still changes the book the same way on every replica', () => {
    const replicas = [new NodeStateMachine(), new NodeStateMachine()];
    for (const sm of replicas) {
      sm.apply(configEntry(1, ['n1'], ['n2'], record('n2', 7602)));
      const payload = encodeConfiguration({ voters: [nodeId('n1')], learners: [nodeId('n2'), nodeId('n3')] }, new TextEncoder().encode('garbage'));
      expect(sm.apply({ index: index(2), term: 1 as Entry['term'], kind: EntryKind.config, payload })).toBeNull();
    }
    expect(replicas[0]?.members.all()).toEqual([record('n2', 7602)]);
    expect(replicas[1]?.members.all()).toEqual(replicas[0]?.members.all());
  });
});

function brokerEntryOf(at: number): Entry {
  return { index: index(at), term: 1 as Entry['term'], kind: EntryKind.normal, payload: brokerEntryPayload({ leaderTimeMs: 1000, command: { kind: 'createTopic', name: 't', messageBytesMax: 100 } }) };
}
