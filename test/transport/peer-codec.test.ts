import * as fs from 'node:fs';

import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { EntryKind, index, nodeId, term, type Message } from '../../raft/index.js';
import { MalformedMessageError, PeerCodec } from '../../src/transport/index.js';
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

  it('reads fields in any order, skips unknown ones and keeps the last of a repeated scalar, as protobufjs does', () => {
    // protobufjs decodes the same bytes and encodes them again in its canonical form (fields
    // in order, unknown ones dropped, one value per scalar): both must decode alike.
    const peerBatch = protobuf.parse(fs.readFileSync(new URL('../../src/transport/peer.proto', import.meta.url), 'utf8')).root.lookupType('quorumlog.peer.PeerBatch');
    const outcome = (bytes: Uint8Array): unknown => {
      try {
        const batch = codec.decodeBatch(bytes);
        return { ...batch, messages: batch.messages.map(normalized) };
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    fc.assert(
      fc.property(anyBatchFields, (fields) => {
        const bytes = encodeFields(fields);
        const canonical = peerBatch.encode(peerBatch.decode(bytes)).finish();
        expect(outcome(bytes)).toEqual(outcome(canonical));
      }),
      { numRuns: 300 },
    );
  });

  it('reads a bool as protobufjs does: true when any bit of its varint is set, past the low 32 too', () => {
    const peerBatch = protobuf.parse(fs.readFileSync(new URL('../../src/transport/peer.proto', import.meta.url), 'utf8')).root.lookupType('quorumlog.peer.PeerBatch');
    // A vote response (type 4, term 1) whose granted (field 6) is the varint 2^32: its low 32 bits are all zero.
    const vote = Buffer.from([0x08, 0x04, 0x10, 0x01, 0x30, 0x80, 0x80, 0x80, 0x80, 0x10]);
    const bytes = Buffer.concat([envelope, Buffer.from([0x22, vote.length]), vote]);
    const theirs = peerBatch.toObject(peerBatch.decode(bytes)) as { messages: { granted?: boolean }[] };
    expect(theirs.messages[0]?.granted).toBe(true);
    const ours = codec.decodeBatch(bytes).messages[0] as { readonly type: string; readonly granted?: boolean };
    expect(ours.type).toBe('voteResp');
    expect(ours.granted).toBe(true);
  });

  it('refuses damaged batches with MalformedMessageError and nothing else', () => {
    const batch = fc.array(anyMessage, { minLength: 1, maxLength: 4 }).map((messages) => codec.encodeBatch(envelope, messages.map((m) => codec.encodeMessage(m))));
    fc.assert(
      fc.property(batch, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (bytes, flips, cut) => {
        const damaged = Buffer.from(bytes);
        for (const [at, value] of flips) damaged[at % damaged.length] = value;
        for (const candidate of [damaged, damaged.subarray(0, cut % damaged.length)]) {
          try {
            codec.decodeBatch(candidate);
          } catch (error) {
            expect(error).toBeInstanceOf(MalformedMessageError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a nested message whose last field runs into what follows it', () => {
    // RaftMessage of 2 bytes {type: 5} followed by a field of the batch: the message's length
    // says 2, but its varint type field claims a third byte (0x85 continues).
    expect(() => codec.decodeBatch(Buffer.concat([envelope, Buffer.from([0x22, 0x02, 0x08, 0x85, 0x01])]))).toThrow(/does not decode: the message ends inside a value/);
  });
});

/** A protobuf field as the test writes it: number, wire type and value. */
interface WireField {
  readonly field: number;
  readonly wireType: 0 | 1 | 2 | 5;
  readonly value: number | Uint8Array;
}

function writeVarint(out: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** The fields in the given order, exactly as listed (no reordering, no dropping). */
function encodeFields(fields: readonly WireField[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    writeVarint(out, f.field * 8 + f.wireType);
    if (f.wireType === 0) writeVarint(out, f.value as number);
    else if (f.wireType === 1 || f.wireType === 5) for (let k = 0; k < (f.wireType === 1 ? 8 : 4); k++) out.push(k);
    else {
      const bytes = f.value as Uint8Array;
      writeVarint(out, bytes.length);
      out.push(...bytes);
    }
  }
  return Uint8Array.from(out);
}

const varintField = (field: number, value: fc.Arbitrary<number>): fc.Arbitrary<WireField> => value.map((v) => ({ field, wireType: 0 as const, value: v }));
const bytesField = (field: number, value: fc.Arbitrary<Uint8Array>): fc.Arbitrary<WireField> => value.map((v) => ({ field, wireType: 2 as const, value: v }));
const textField = (field: number, value: fc.Arbitrary<string>): fc.Arbitrary<WireField> => bytesField(field, value.map((t) => new TextEncoder().encode(t)));
const anyNumber = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const aMemberId = fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5');
/** A field no schema of ours has, of any wire type protobuf skips. */
const unknownField = fc.oneof(
  varintField(40, anyNumber),
  fc.constant<WireField>({ field: 41, wireType: 1, value: 0 }),
  fc.constant<WireField>({ field: 42, wireType: 5, value: 0 }),
  bytesField(43, fc.uint8Array({ maxLength: 8 })),
);
const entryFields = fc.array(
  fc.oneof(varintField(1, anyNumber), varintField(2, anyNumber), varintField(3, fc.constantFrom(EntryKind.normal, EntryKind.noop, EntryKind.config)), bytesField(4, fc.uint8Array({ maxLength: 16 })), unknownField),
  { maxLength: 6 },
);
const messageFields = fc
  .tuple(
    varintField(1, fc.integer({ min: 1, max: 10 })),
    fc.array(
      fc.oneof(
        varintField(1, fc.integer({ min: 1, max: 10 })),
        ...[2, 3, 4, 7, 8, 10, 12, 13, 14, 16, 17].map((n) => varintField(n, anyNumber)),
        ...[5, 6, 11].map((n) => varintField(n, fc.constantFrom(0, 1))),
        entryFields.map((fields): WireField => ({ field: 9, wireType: 2, value: encodeFields(fields) })),
        textField(15, fc.string({ maxLength: 8 })),
        textField(18, aMemberId),
        textField(19, aMemberId),
        unknownField,
      ),
      { maxLength: 12 },
    ),
  )
  .map(([type, rest]) => [type, ...rest]);
/** A batch's fields in any order: addresses (some repeated), messages, unknown fields. */
const anyBatchFields = fc
  .array(
    fc.oneof(
      textField(1, fc.constantFrom('c1', 'c2')),
      textField(2, aMemberId),
      textField(3, aMemberId),
      messageFields.map((fields): WireField => ({ field: 4, wireType: 2, value: encodeFields(fields) })),
      unknownField,
    ),
    { maxLength: 8 },
  );

