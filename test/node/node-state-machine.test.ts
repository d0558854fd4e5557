import { describe, expect, it } from 'vitest';
import { EntryKind, encodeConfiguration, index, nodeId, type Entry } from '../../raft/index.js';
import { encodeCommand, type BrokerCommand } from '../../src/broker/index.js';
import { brokerEntryPayload, NodeStateMachine, PayloadTag, plainRecord, tagPayloads } from '../../src/node/state-machine.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

function entry(at: number, payload: Uint8Array, kind: EntryKind = EntryKind.normal): Entry {
  return { index: index(at), term: 1 as Entry['term'], kind, payload };
}

function brokerEntry(at: number, command: BrokerCommand, leaderTimeMs = 1000): Entry {
  return entry(at, brokerEntryPayload({ leaderTimeMs, command }));
}

describe('the node state machine: tagged entries', () => {
  it('tags a batch in one buffer and strips the tag without a copy', () => {
    const tagged = tagPayloads(PayloadTag.record, [bytes('ab'), bytes(''), bytes('c')]);
    expect(tagged.map((p) => [...p])).toEqual([[0, 97, 98], [0], [0, 99]]);
    expect(tagged[0]?.buffer).toBe(tagged[2]?.buffer);
    const record = plainRecord(entry(1, tagged[0] ?? new Uint8Array(0)));
    expect(text(record ?? new Uint8Array(0))).toBe('ab');
    expect(record?.buffer).toBe(tagged[0]?.buffer);
    expect(plainRecord(entry(2, new Uint8Array(0), EntryKind.noop))).toBeNull();
    expect(plainRecord(brokerEntry(3, { kind: 'initProducer', idleExpiryMs: 60_000 }))).toBeNull();
  });

  it('a broker entry payload is the tag then the encoded command', () => {
    const envelope = { leaderTimeMs: 1234, command: { kind: 'deleteTopic', name: 't' } } as const;
    expect([...brokerEntryPayload(envelope)]).toEqual([PayloadTag.broker, ...encodeCommand(envelope)]);
    const produce = { leaderTimeMs: 5, command: { kind: 'produce', topic: 't', producerId: 3, firstSequence: 7, messages: [{ key: bytes('k'), headers: [{ name: 'h', value: bytes('v') }], payload: bytes('m'), timestampMs: 9 }] } } as const;
    expect([...brokerEntryPayload(produce)]).toEqual([PayloadTag.broker, ...encodeCommand(produce)]);
  });

  it('a command other than produce that its decoder would refuse fails on the leader, before it is proposed', () => {
    const earliest = { kind: 'resetGroup', group: 'g', to: { kind: 'earliest' }, earliestOffset: 0, force: false } as unknown as BrokerCommand;
    expect(() => brokerEntryPayload({ leaderTimeMs: 1, command: earliest })).toThrow(/earliest/);
  });

  it('applies broker entries in log order, skips plain records, and answers with results', () => {
    const sm = new NodeStateMachine();
    expect(sm.apply(entry(1, new Uint8Array(0), EntryKind.noop))).toBeNull();
    expect(sm.apply(brokerEntry(2, { kind: 'createTopic', name: 't', messageBytesMax: 100 }))).toEqual({ kind: 'topicCreated', name: 't' });
    expect(sm.apply(entry(3, tagPayloads(PayloadTag.record, [bytes('plain')])[0] ?? new Uint8Array(0)))).toBeNull();
    expect(sm.apply(brokerEntry(4, { kind: 'initProducer', idleExpiryMs: 60_000 }))).toEqual({ kind: 'producerGranted', producerId: 4 });
    const produced = sm.apply(brokerEntry(5, { kind: 'produce', topic: 't', producerId: 4, firstSequence: 0, messages: [{ key: bytes('k'), headers: [], payload: bytes('m'), timestampMs: 1 }] }));
    expect(produced).toEqual({ kind: 'produced', topic: 't', firstOffset: 0, count: 1, duplicate: false, deliverAtMs: 0 });
    expect(sm.broker.locate('t', 0)).toEqual({ logIndex: 5, position: 0 });
  });

  it('a lease listener is given the messages of the produce entry that handed them out, as produced', () => {
    const sm = new NodeStateMachine();
    const told: { consumer: string; payloads: string[] }[] = [];
    sm.onLeaseDeliveries((deliveries, applied) => {
      for (const d of deliveries) told.push({ consumer: d.consumer, payloads: d.messages.map((m) => (m.logIndex === applied.logIndex ? text(applied.messages[m.position]?.payload ?? bytes('?')) : '(elsewhere)')) });
    });
    sm.apply(brokerEntry(1, { kind: 'createTopic', name: 't', messageBytesMax: 100 }));
    sm.apply(brokerEntry(2, { kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: { ackDeadlineMs: 30_000, retriesMax: 3, retryDelaysMs: [1000] }, ifAbsent: false }));
    sm.apply(brokerEntry(3, { kind: 'lease', group: 'g', consumer: 'c', max: 10 }));
    const message = (payload: string) => ({ key: bytes('k'), headers: [{ name: 'h', value: bytes('v') }], payload: bytes(payload), timestampMs: 1 });
    sm.apply(brokerEntry(4, { kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [message('a'), message('b')] }));
    expect(told).toEqual([{ consumer: 'c', payloads: ['a', 'b'] }]);
  });

  it('a malformed broker entry or an unknown tag is rejected the same way on every replica, and the next entry still applies', () => {
    const replicas = [new NodeStateMachine(), new NodeStateMachine()];
    for (const sm of replicas) {
      const garbage = sm.apply(entry(1, Uint8Array.from([PayloadTag.broker, 1, 99, 0])));
      expect(garbage?.kind).toBe('rejected');
      expect(garbage?.kind === 'rejected' ? garbage.error.code : null).toBe('invalidArgument');
      const unknownTag = sm.apply(entry(2, Uint8Array.from([7, 1, 2])));
      expect(unknownTag?.kind === 'rejected' ? unknownTag.error.message : null).toMatch(/unknown payload tag 7/);
      // A produce cut short inside its last message: read as a summary, refused as the full decoder refuses it.
      const produce = brokerEntryPayload({ leaderTimeMs: 1, command: { kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [{ key: bytes('k'), headers: [], payload: bytes('message'), timestampMs: 1 }] } });
      const cut = sm.apply(entry(3, produce.subarray(0, produce.length - 9)));
      expect(cut?.kind === 'rejected' ? cut.error.message : null).toBe('entry 3 is not a valid broker command: broker command: the record ends 1 bytes early');
      expect(sm.apply(brokerEntry(4, { kind: 'createTopic', name: 'after', messageBytesMax: 10 }))?.kind).toBe('topicCreated');
    }
    expect(replicas[0]?.broker.topics()).toEqual(replicas[1]?.broker.topics());
  });
});

describe('the node state machine: membership entries', () => {
  it('applies a config entry as nothing for the broker: no result, no record, the state unchanged', () => {
    const machine = new NodeStateMachine();
    machine.apply(brokerEntry(1, { kind: 'initProducer', idleExpiryMs: 60_000 }));
    const before = machine.encodeSnapshot();
    const config = entry(2, encodeConfiguration({ voters: [nodeId('n1'), nodeId('n2')], learners: [nodeId('n3')] }), EntryKind.config);
    expect(machine.apply(config)).toBeNull();
    expect(plainRecord(config)).toBeNull();
    expect(machine.encodeSnapshot()).toEqual(before);
  });
});
