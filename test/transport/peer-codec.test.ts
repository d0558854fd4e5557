import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryKind, index, nodeId, term, type Message } from '../../raft/index.js';
import { PeerCodec } from '../../src/transport/index.js';
import { anyMessage, normalized } from './message-arbitrary.js';

const codec = new PeerCodec();
const n1 = nodeId('n1');
const n2 = nodeId('n2');
const envelope = codec.encodeEnvelope({ clusterId: 'c1', from: n1, to: n2 });

describe('peer codec', () => {
  it('round-trips every message type, alone and in batches', () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 8 }), (messages) => {
        const batch = codec.encodeBatch(envelope, messages.map((m) => codec.encodeMessage(m)));
        const decoded = codec.decodeBatch(batch);
        expect(decoded.clusterId).toBe('c1');
        expect(decoded.from).toBe(n1);
        expect(decoded.to).toBe(n2);
        expect(decoded.messages.map(normalized)).toEqual(messages.map(normalized));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes 64-bit fields as plain numbers, exact up to 2^53 - 1', () => {
    const big = Number.MAX_SAFE_INTEGER;
    const message: Message = {
      type: 'append', from: n1, to: n2, term: term(big), prevIndex: index(big - 1), prevTerm: term(2 ** 32 + 1), commit: index(2 ** 40),
      entries: [{ index: index(big), term: term(big), kind: EntryKind.normal, payload: new Uint8Array([1, 2, 3]) }],
    };
    const [decoded] = codec.decodeBatch(codec.encodeBatch(envelope, [codec.encodeMessage(message)])).messages;
    expect(decoded?.type).toBe('append');
    if (decoded?.type !== 'append') return;
    expect(typeof decoded.term).toBe('number');
    expect(typeof decoded.entries[0]?.index).toBe('number');
    expect(normalized(decoded)).toEqual(normalized(message));
  });

  it('refuses bytes that are not a batch, unknown message types and unknown entry kinds', () => {
    expect(() => codec.decodeBatch(new Uint8Array([0x0a, 0xff]))).toThrow(/does not decode/);
    // RaftMessage{type: 42} inside a batch: field 4, length 2, then field 1 varint 42.
    expect(() => codec.decodeBatch(Buffer.concat([envelope, Buffer.from([0x22, 0x02, 0x08, 42])]))).toThrow(/unknown Raft message type 42/);
    // append with one Entry{kind: 7}: RaftMessage{type: 5, entries: [{kind: 7}]}.
    expect(() => codec.decodeBatch(Buffer.concat([envelope, Buffer.from([0x22, 0x06, 0x08, 5, 0x4a, 0x02, 0x18, 7])]))).toThrow(/unknown entry kind 7/);
  });

  it('refuses a field sent with the wrong wire type, naming it, instead of reading its default', () => {
    // An append whose entries (field 9) come as a varint: it used to decode as an append of no entries.
    expect(() => codec.decodeBatch(Buffer.concat([envelope, Buffer.from([0x22, 0x04, 0x08, 5, 0x48, 0x01])]))).toThrow(/entries \(field 9\) of RaftMessage .*wire type 0/);
    // A batch whose sender (field 2, a string) comes as a fixed64.
    expect(() => codec.decodeBatch(Buffer.from([0x11, 1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/from \(field 2\) of PeerBatch .*wire type 1/);
  });
});
