import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { ClientCodec, typeCodec, type ConsumeResponseMessage } from '../../src/transport/index.js';
import { parseSchema, readSchema, schemaType } from '../../src/transport/protobuf-runtime.js';
import { applyByteEdits, byteEdit } from './byte-edits.js';

describe('the hand-read consume response', () => {
  const schema = schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ConsumeResponse');
  const reference = typeCodec<ConsumeResponseMessage>(schema);
  const codec = new ClientCodec();
  const bytesOf = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
  const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
  const message = fc.record({ key: bytesOf, headers: fc.array(fc.record({ name: fc.string({ maxLength: 6, unit: 'binary' }), value: bytesOf }), { maxLength: 2 }), payload: bytesOf, timestampMs: number });
  const delivery = fc.record({ offset: number, delivery: fc.nat({ max: 2 ** 32 - 1 }), deadlineMs: number, message });
  const response = fc.record({ deliveries: fc.array(delivery, { maxLength: 4 }) });
  /** Bytes as their values and whether they are a Buffer: a consumer's application sees either. */
  const bytes = (data: Uint8Array): unknown => ({ buffer: Buffer.isBuffer(data), values: [...data] });
  /** protobufjs reads a Delivery without its message as null; ours refuses it (consume-codec.ts). */
  const plain = (m: ConsumeResponseMessage): unknown => {
    if (m.deliveries.some((d) => d.message === null || d.message === undefined)) return 'refused';
    return m.deliveries.map((d) => ({
      offset: d.offset,
      delivery: d.delivery,
      deadlineMs: d.deadlineMs,
      key: bytes(d.message.key),
      headers: d.message.headers.map((h) => ({ name: h.name, value: bytes(h.value) })),
      payload: bytes(d.message.payload),
      timestampMs: d.message.timestampMs,
    }));
  };
  /** What a decoder makes of the bytes: the response as plain data, or "refused". */
  const outcome = (decode: (b: Buffer) => ConsumeResponseMessage, data: Buffer): unknown => {
    try {
      return plain(decode(data));
    } catch {
      return 'refused';
    }
  };

  it('reads what protobufjs encodes, and what the leader encodes, as protobufjs reads it', () => {
    fc.assert(
      fc.property(response, (value) => {
        const theirs = Buffer.from(schema.encode(value as unknown as protobuf.Message).finish());
        expect(outcome(codec.groups.consumeResponse.deserialize, theirs)).toEqual(outcome(reference.deserialize, theirs));
        const ours = codec.groups.consumeResponse.serialize(value);
        expect(outcome(codec.groups.consumeResponse.deserialize, ours)).toEqual(outcome(reference.deserialize, ours));
        expect(outcome(codec.groups.consumeResponse.deserialize, ours)).not.toBe('refused');
      }),
      { numRuns: 300 },
    );
  });

  it('reads a present empty key as protobufjs does, as the absent default, after a key that was not empty', () => {
    // A delivery whose message has the key [0, 0] and then a second, empty key (field 1, length 0).
    const message = Buffer.from([0x0a, 0x02, 0x00, 0x00, 0x0a, 0x00, 0x1a, 0x01, 0x07]);
    const delivery = Buffer.concat([Buffer.from([0x08, 0x01, 0x22, message.length]), message]);
    const data = Buffer.concat([Buffer.from([0x0a, delivery.length]), delivery]);
    expect(outcome(codec.groups.consumeResponse.deserialize, data)).toEqual(outcome(reference.deserialize, data));
  });

  it('merges a Delivery\'s message that comes twice, as protobufjs does: its key and headers kept, its payload from the second', () => {
    const first = Buffer.from([0x0a, 0x01, 0x01, 0x12, 0x03, 0x0a, 0x01, 0x68]);
    const second = Buffer.from([0x1a, 0x01, 0x07]);
    const delivery = Buffer.concat([Buffer.from([0x08, 0x05, 0x22, first.length]), first, Buffer.from([0x22, second.length]), second]);
    const data = Buffer.concat([Buffer.from([0x0a, delivery.length]), delivery]);
    expect(outcome(codec.groups.consumeResponse.deserialize, data)).toEqual(outcome(reference.deserialize, data));
  });

  it('refuses what protobufjs refuses and reads the rest alike: cut, changed and added bytes, unknown fields, wrong wire types', () => {
    // Tags of every wire type for the fields in play, and varint continuation bytes.
    const edit = byteEdit([0x08, 0x09, 0x0a, 0x0d, 0x10, 0x12, 0x18, 0x1a, 0x20, 0x22, 0x80, 0xff]);
    fc.assert(
      fc.property(response, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
        const data = applyByteEdits(codec.groups.consumeResponse.serialize(value), edits);
        expect(outcome(codec.groups.consumeResponse.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a known field of the wrong wire type at each level, as protobufjs with its wire-type walk does', () => {
    const cases = {
      'deliveries as a varint': [0x08, 0x04, 0x22, 0x00, 0x08, 0x01],
      'offset as bytes': [0x0a, 0x03, 0x0a, 0x01, 0x00],
      'delivery as fixed32': [0x0a, 0x05, 0x15, 1, 2, 3, 4],
      'message as a varint': [0x0a, 0x02, 0x20, 0x01],
      'payload as a varint': [0x0a, 0x04, 0x22, 0x02, 0x18, 0x01],
      'header value as a varint': [0x0a, 0x06, 0x22, 0x04, 0x12, 0x02, 0x10, 0x01],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const data = Buffer.from(bytes);
      expect(outcome(reference.deserialize, data), name).toBe('refused');
      expect(outcome(codec.groups.consumeResponse.deserialize, data), name).toBe('refused');
    }
  });

  it('refuses a Delivery without its message, which protobufjs reads as null', () => {
    // ConsumeResponse { deliveries: [Delivery { offset: 5 }] }
    const data = Buffer.from([0x0a, 0x02, 0x08, 0x05]);
    expect(reference.deserialize(data).deliveries[0]?.message).toBeNull();
    expect(() => codec.groups.consumeResponse.deserialize(data)).toThrow(/has no message/);
  });
});
