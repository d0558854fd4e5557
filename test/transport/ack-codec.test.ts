import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { ClientCodec, typeCodec, type AckStreamRequestMessage, type AckStreamResponseMessage, type Codec } from '../../src/transport/index.js';
import { parseSchema, readSchema, schemaType } from '../../src/transport/protobuf-runtime.js';
import { applyByteEdits, byteEdit } from './byte-edits.js';

const root = parseSchema(readSchema('client.proto'));
const codec = new ClientCodec();
const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
const text = fc.string({ maxLength: 8, unit: 'binary' });
// Tags of every wire type for the fields in play, and varint continuation bytes.
const edit = byteEdit([0x08, 0x09, 0x0a, 0x0d, 0x10, 0x12, 0x18, 0x1a, 0x1d, 0x20, 0x80, 0xff]);

/** Whether `decode` refuses the bytes for a packed value that runs past its run. */
function pastItsRun<T>(decode: (b: Buffer) => T, data: Buffer): boolean {
  try {
    decode(data);
    return false;
  } catch (error) {
    return error instanceof Error && /runs past the end of its packed run/.test(error.message);
  }
}

/**
 * The differential checks for one message type: what we write reads back through protobufjs
 * as what protobufjs writes; what we read from protobufjs's bytes, cut, changed and extended,
 * is what protobufjs (with its wire-type walk) reads, or refused where it refuses.
 */
function differential<T>(name: string, ours: Codec<T>, values: fc.Arbitrary<T>, plain: (m: T) => unknown): void {
  const schema = schemaType(root, `quorumlog.client.${name}`);
  const reference = typeCodec<T>(schema);
  const outcome = (decode: (b: Buffer) => T, data: Buffer): unknown => {
    try {
      return plain(decode(data));
    } catch {
      return 'refused';
    }
  };

  it(`${name}: what we write, protobufjs reads as what it writes itself`, () => {
    fc.assert(
      fc.property(values, (value) => {
        const theirs = Buffer.from(schema.encode(value as unknown as protobuf.Message).finish());
        expect(plain(reference.deserialize(ours.serialize(value)))).toEqual(plain(reference.deserialize(theirs)));
      }),
      { numRuns: 300 },
    );
  });

  it(`${name}: reads what protobufjs reads, refuses what it refuses: cut, changed and added bytes, unknown fields, wrong wire types`, () => {
    fc.assert(
      fc.property(values, fc.array(edit, { maxLength: 3 }), (value, edits) => {
        const data = applyByteEdits(Buffer.from(schema.encode(value as unknown as protobuf.Message).finish()), edits);
        // Our one refusal of our own (ack-codec.ts): protobufjs reads on, misaligned.
        if (pastItsRun(ours.deserialize, data)) return;
        expect(outcome(ours.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 3000 },
    );
  });

  it(`${name}: reads two messages sent as one as protobufjs does: a message field that comes twice merged, not replaced`, () => {
    fc.assert(
      fc.property(values, values, (first, second) => {
        const data = Buffer.concat([schema.encode(first as unknown as protobuf.Message).finish(), schema.encode(second as unknown as protobuf.Message).finish()]);
        expect(outcome(ours.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 300 },
    );
  });
}

describe('the hand-framed ack stream', () => {
  const ack = fc.record({ group: text, offsets: fc.array(number, { maxLength: 6 }) });
  const request = fc.record({ id: number, ack: fc.option(ack), timeoutMs: fc.nat({ max: 2 ** 32 - 1 }) });
  differential<AckStreamRequestMessage>('AckStreamRequest', { serialize: codec.ackStreamRequest.serialize, deserialize: codec.ackStreamRequest.deserialize }, request, (m) => ({
    id: m.id,
    timeoutMs: m.timeoutMs,
    ack: m.ack === null || m.ack === undefined ? null : { group: m.ack.group, offsets: [...m.ack.offsets] },
  }));

  const callError = fc.record({ code: fc.nat({ max: 2 ** 32 - 1 }), details: text, errorCode: text, leaderId: text, leaderAddress: text });
  const response = fc.record({ id: number, ok: fc.option(fc.record({ outcomes: fc.array(fc.constantFrom(0, 1, 2), { maxLength: 6 }) })), error: fc.option(callError) });
  differential<AckStreamResponseMessage>('AckStreamResponse', { serialize: codec.ackStreamResponse.serialize, deserialize: codec.ackStreamResponse.deserialize }, response, (m) => ({
    id: m.id,
    ok: m.ok === null || m.ok === undefined ? null : { outcomes: [...m.ok.outcomes] },
    error: m.error === null || m.error === undefined ? null : { code: m.error.code, details: m.error.details, errorCode: m.error.errorCode, leaderId: m.error.leaderId, leaderAddress: m.error.leaderAddress },
  }));

  it('takes offsets packed or one by one, as protobufjs does; refuses a packed value that runs past its run', () => {
    const reference = typeCodec<AckStreamRequestMessage>(schemaType(root, 'quorumlog.client.AckStreamRequest'));
    const cases = {
      // ack { offsets: 5 (unpacked), offsets: [1, 300] (packed) }
      'unpacked then packed': [0x12, 0x07, 0x10, 0x05, 0x12, 0x03, 0x01, 0xac, 0x02],
      'offsets as fixed32': [0x12, 0x05, 0x15, 1, 2, 3, 4],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const data = Buffer.from(bytes);
      const read = (decode: (b: Buffer) => AckStreamRequestMessage): unknown => {
        try {
          const m = decode(data);
          return { group: m.ack?.group, offsets: [...(m.ack?.offsets ?? [])], timeoutMs: m.timeoutMs };
        } catch {
          return 'refused';
        }
      };
      expect(read(codec.ackStreamRequest.deserialize), name).toEqual(read(reference.deserialize));
    }
    expect(codec.ackStreamRequest.deserialize(Buffer.from(cases['unpacked then packed'])).ack?.offsets).toEqual([5, 1, 300]);
    // ack { offsets: a run of 1 byte whose value takes 2, the second byte a valid tag after it (field 2, varint 5) }
    expect(() => codec.ackStreamRequest.deserialize(Buffer.from([0x12, 0x05, 0x12, 0x01, 0x80, 0x10, 0x05]))).toThrow(/runs past the end of its packed run/);
  });

  it('refuses a known field of the wrong wire type at each level, and reads outcomes as int32s, as protobufjs does', () => {
    const request = typeCodec<AckStreamRequestMessage>(schemaType(root, 'quorumlog.client.AckStreamRequest'));
    const response = typeCodec<AckStreamResponseMessage>(schemaType(root, 'quorumlog.client.AckStreamResponse'));
    const refused = (decode: (b: Buffer) => unknown, bytes: number[]): boolean => {
      try {
        decode(Buffer.from(bytes));
        return false;
      } catch {
        return true;
      }
    };
    const requestCases = { 'id as bytes': [0x0a, 0x00], 'ack as a varint': [0x10, 0x01], 'timeout as fixed32': [0x1d, 1, 2, 3, 4], 'group as a varint': [0x12, 0x02, 0x08, 0x01] };
    const responseCases = {
      'id as fixed64': [0x09, 1, 2, 3, 4, 5, 6, 7, 8],
      'ok as a varint': [0x10, 0x01],
      'error as a varint': [0x18, 0x01],
      'outcomes as fixed32': [0x12, 0x05, 0x0d, 1, 2, 3, 4],
      'code as bytes': [0x1a, 0x02, 0x0a, 0x00],
      'details as a varint': [0x1a, 0x02, 0x10, 0x01],
      'leader address as a varint': [0x1a, 0x02, 0x28, 0x01],
    };
    for (const [name, bytes] of Object.entries(requestCases)) {
      expect([name, refused(request.deserialize, bytes)]).toEqual([name, true]);
      expect([name, refused(codec.ackStreamRequest.deserialize, bytes)]).toEqual([name, true]);
    }
    for (const [name, bytes] of Object.entries(responseCases)) {
      expect([name, refused(response.deserialize, bytes)]).toEqual([name, true]);
      expect([name, refused(codec.ackStreamResponse.deserialize, bytes)]).toEqual([name, true]);
    }
    // ok { outcomes: [0] }, ok { outcomes: [1] }: a second ok is merged into the first, as protobufjs 8 does
    const twice = Buffer.from([0x12, 0x03, 0x0a, 0x01, 0x00, 0x12, 0x02, 0x08, 0x01]);
    expect(codec.ackStreamResponse.deserialize(twice).ok?.outcomes).toEqual([...(response.deserialize(twice).ok?.outcomes ?? [])]);
    expect(codec.ackStreamResponse.deserialize(twice).ok?.outcomes).toEqual([0, 1]);
    // ok { outcomes: [2^32 - 1 (five bytes), -1 (ten bytes)] }, packed
    const wide = Buffer.from([0x12, 0x11, 0x0a, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(codec.ackStreamResponse.deserialize(wide).ok?.outcomes).toEqual([...(response.deserialize(wide).ok?.outcomes ?? [])]);
    expect(codec.ackStreamResponse.deserialize(wide).ok?.outcomes).toEqual([-1, -1]);
  });
});
