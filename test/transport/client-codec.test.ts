import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { ClientCodec, typeCodec, type AppendRequestMessage, type AppendStreamRequestMessage, type ProduceStreamRequestMessage, type ProduceStreamResponseMessage } from '../../src/transport/index.js';
import { parseSchema, readSchema, schemaType } from '../../src/transport/protobuf-runtime.js';
import { applyByteEdits, byteEdit } from './byte-edits.js';

const empty = new Uint8Array(0);

describe('client codec', () => {
  it('decodes empty bytes fields as empty Uint8Arrays, at the top level and nested', () => {
    const codec = new ClientCodec();
    const fetched = codec.fetchResponse.deserialize(
      codec.fetchResponse.serialize({ messages: [{ offset: 1, key: empty, headers: [{ name: 'h', value: empty }], payload: empty, timestampMs: 1 }], nextOffset: 2, endOffset: 2 }),
    );
    const m = fetched.messages[0];
    for (const bytes of [m?.key, m?.payload, m?.headers[0]?.value]) {
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(bytes?.length).toBe(0);
    }
    const consumed = codec.groups.consumeResponse.deserialize(
      codec.groups.consumeResponse.serialize({ deliveries: [{ offset: 1, delivery: 1, deadlineMs: 1, message: { key: empty, headers: [], payload: empty, timestampMs: 1 } }] }),
    );
    const nested = consumed.deliveries[0]?.message;
    expect(nested?.key).toBeInstanceOf(Uint8Array);
    expect(nested?.payload).toBeInstanceOf(Uint8Array);
    // Usable where bytes are expected (the CLI's --json path decodes keys as text).
    expect(new TextDecoder().decode(nested?.key)).toBe('');
  });
  it('takes packed and unpacked repeated scalars and nested messages; refuses a nested field of the wrong wire type', () => {
    const codec = new ClientCodec();
    const request = { group: 'g', topic: 't', ifAbsent: true, settings: { ackDeadlineMs: 5, retryDelaysMs: [100, 2 ** 40], retriesMaxSet: true, retriesMax: 3 } };
    const packed = codec.groups.createGroupRequest.serialize(request);
    expect(codec.groups.createGroupRequest.deserialize(packed).settings?.retryDelaysMs).toEqual([100, 2 ** 40]);
    // settings (field 4) holding retry_delays_ms (field 2) unpacked: two varint fields.
    const unpacked = Buffer.from([0x22, 0x04, 0x10, 0x01, 0x10, 0x02]);
    expect(codec.groups.createGroupRequest.deserialize(unpacked).settings?.retryDelaysMs).toEqual([1, 2]);
    // ... and as a fixed32, which neither form allows.
    expect(() => codec.groups.createGroupRequest.deserialize(Buffer.from([0x22, 0x05, 0x15, 1, 2, 3, 4]))).toThrow(/retryDelaysMs \(field 2\) of GroupSettings .*wire type 5/);
  });
});

describe('the hand-framed produce stream request', () => {
  const schema = schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ProduceStreamRequest');
  const codec = new ClientCodec();
  const plain = (bytes: Uint8Array): unknown => schema.toObject(codec.produceStreamRequest.deserialize(Buffer.from(bytes)) as unknown as protobuf.Message, { longs: Number, defaults: true, arrays: true });
  const bytesOf = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
  const text = fc.string({ maxLength: 12, unit: 'binary' });
  const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
  const message = fc.record({ key: bytesOf, headers: fc.array(fc.record({ name: text, value: bytesOf }), { maxLength: 3 }), payload: bytesOf, timestampMs: number });
  const produce = fc.record({ topic: text, producerId: number, firstSequence: number, messages: fc.array(message, { maxLength: 6 }), acks: fc.constantFrom(0, 1, 2) });
  const request = fc.record({ id: number, produce: fc.option(produce), timeoutMs: fc.nat({ max: 2 ** 32 - 1 }) });

  it('decodes with protobufjs to what protobufjs itself encodes for the same request', () => {
    fc.assert(
      fc.property(request, (value) => {
        const ours = codec.produceStreamRequest.serialize(value);
        const theirs = schema.encode(value as unknown as protobuf.Message).finish();
        expect(plain(ours)).toEqual(plain(theirs));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the hand-read produce stream request', () => {
  const schema = schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ProduceStreamRequest');
  const reference = typeCodec<ProduceStreamRequestMessage>(schema);
  const codec = new ClientCodec();
  const bytesOf = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
  const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
  const message = fc.record({ key: bytesOf, headers: fc.array(fc.record({ name: fc.string({ maxLength: 6, unit: 'binary' }), value: bytesOf }), { maxLength: 2 }), payload: bytesOf, timestampMs: number });
  const produce = fc.record({ topic: fc.string({ maxLength: 8 }), producerId: number, firstSequence: number, messages: fc.array(message, { maxLength: 3 }), acks: fc.integer({ min: -3, max: 3 }) });
  const request = fc.record({ id: number, produce: fc.option(produce), timeoutMs: fc.nat({ max: 2 ** 32 - 1 }) });
  const bytes = (data: Uint8Array | undefined): number[] => [...(data ?? [])];
  const plain = (m: ProduceStreamRequestMessage): unknown => ({
    id: m.id,
    timeoutMs: m.timeoutMs,
    produce:
      m.produce === null || m.produce === undefined
        ? null
        : {
            topic: m.produce.topic,
            producerId: m.produce.producerId,
            firstSequence: m.produce.firstSequence,
            acks: m.produce.acks,
            messages: m.produce.messages.map((x) => ({ key: bytes(x.key), headers: x.headers.map((h) => ({ name: h.name, value: bytes(h.value) })), payload: bytes(x.payload), timestampMs: x.timestampMs })),
          },
  });
  /** What a decoder makes of the bytes: the request as plain data, or "refused". */
  const outcome = (decode: (b: Buffer) => ProduceStreamRequestMessage, data: Buffer): unknown => {
    try {
      return plain(decode(data));
    } catch {
      return 'refused';
    }
  };

  it('reads what protobufjs encodes as protobufjs reads it', () => {
    fc.assert(
      fc.property(request, (value) => {
        const data = Buffer.from(schema.encode(value as unknown as protobuf.Message).finish());
        expect(plain(codec.produceStreamRequest.deserialize(data))).toEqual(plain(reference.deserialize(data)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what protobufjs refuses and reads the rest alike: cut, changed and added bytes, unknown fields, wrong wire types', () => {
    const edit = byteEdit();
    fc.assert(
      fc.property(request, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
        const data = applyByteEdits(Buffer.from(schema.encode(value as unknown as protobuf.Message).finish()), edits);
        expect(outcome(codec.produceStreamRequest.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads two requests sent as one as protobufjs does: the body that comes twice merged, not replaced', () => {
    fc.assert(
      fc.property(request, request, (first, second) => {
        const data = Buffer.concat([schema.encode(first as unknown as protobuf.Message).finish(), schema.encode(second as unknown as protobuf.Message).finish()]);
        expect(outcome(codec.produceStreamRequest.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the hand-read append requests', () => {
  const root = parseSchema(readSchema('client.proto'));
  const codec = new ClientCodec();
  const bytesOf = fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
  const append = fc.record({ records: fc.array(bytesOf, { maxLength: 4 }), acks: fc.integer({ min: -3, max: 3 }) });
  const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
  const streamRequest = fc.record({ id: number, append: fc.option(append), timeoutMs: fc.nat({ max: 2 ** 32 - 1 }) });
  const bytes = (data: Uint8Array): number[] => [...data];
  const plainAppend = (m: AppendRequestMessage | null | undefined): unknown => (m === null || m === undefined ? null : { records: m.records.map(bytes), acks: m.acks ?? 0 });
  const cases = [
    { name: 'AppendRequest', values: append as fc.Arbitrary<object>, ours: codec.appendRequest.deserialize as (b: Buffer) => unknown, plain: (m: unknown) => plainAppend(m as AppendRequestMessage) },
    {
      name: 'AppendStreamRequest',
      values: streamRequest as fc.Arbitrary<object>,
      ours: codec.appendStreamRequest.deserialize as (b: Buffer) => unknown,
      plain: (m: unknown) => {
        const r = m as AppendStreamRequestMessage;
        return { id: r.id, timeoutMs: r.timeoutMs, append: plainAppend(r.append) };
      },
    },
  ];
  const edit = byteEdit();

  for (const c of cases) {
    const schema = schemaType(root, `quorumlog.client.${c.name}`);
    const reference = typeCodec<unknown>(schema);
    const outcome = (decode: (b: Buffer) => unknown, data: Buffer): unknown => {
      try {
        return c.plain(decode(data));
      } catch {
        return 'refused';
      }
    };

    it(`${c.name}: reads what protobufjs encodes as protobufjs reads it`, () => {
      fc.assert(
        fc.property(c.values, (value) => {
          const data = Buffer.from(schema.encode(value as protobuf.Message).finish());
          expect(c.plain(c.ours(data))).toEqual(c.plain(reference.deserialize(data)));
        }),
        { numRuns: 300 },
      );
    });

    it(`${c.name}: refuses what protobufjs refuses and reads the rest alike: cut, changed and added bytes`, () => {
      fc.assert(
        fc.property(c.values, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
          const data = applyByteEdits(Buffer.from(schema.encode(value as protobuf.Message).finish()), edits);
          expect(outcome(c.ours, data)).toEqual(outcome(reference.deserialize, data));
        }),
        { numRuns: 1000 },
      );
    });

    it(`${c.name}: reads two messages sent as one as protobufjs does: the body that comes twice merged, not replaced`, () => {
      fc.assert(
        fc.property(c.values, c.values, (first, second) => {
          const data = Buffer.concat([schema.encode(first as protobuf.Message).finish(), schema.encode(second as protobuf.Message).finish()]);
          expect(outcome(c.ours, data)).toEqual(outcome(reference.deserialize, data));
        }),
        { numRuns: 300 },
      );
    });
  }
});


describe('the hand-read produce stream response', () => {
  const schema = schemaType(parseSchema(readSchema('client.proto')), 'quorumlog.client.ProduceStreamResponse');
  const reference = typeCodec<ProduceStreamResponseMessage>(schema);
  const codec = new ClientCodec();
  const number = fc.oneof(fc.constant(0), fc.nat(), fc.maxSafeNat());
  const text = fc.string({ maxLength: 8, unit: 'binary' });
  const ok = fc.record({ firstOffset: number, count: fc.nat({ max: 2 ** 32 - 1 }), duplicate: fc.boolean(), logIndex: number, deliverAtMs: number });
  const error = fc.record({ code: fc.nat({ max: 2 ** 32 - 1 }), details: text, errorCode: text, leaderId: text, leaderAddress: text });
  const response = fc.record({ id: number, ok: fc.option(ok), error: fc.option(error) });
  // Tags of every wire type for the fields in play, and varint continuation bytes.
  const edit = byteEdit([0x08, 0x09, 0x0a, 0x0d, 0x10, 0x12, 0x18, 0x1a, 0x1d, 0x20, 0x28, 0x80, 0xff]);
  const plain = (m: ProduceStreamResponseMessage): unknown => ({
    id: m.id,
    ok: m.ok === null || m.ok === undefined ? null : { firstOffset: m.ok.firstOffset, count: m.ok.count, duplicate: m.ok.duplicate, logIndex: m.ok.logIndex, deliverAtMs: m.ok.deliverAtMs },
    error: m.error === null || m.error === undefined ? null : { code: m.error.code, details: m.error.details, errorCode: m.error.errorCode, leaderId: m.error.leaderId, leaderAddress: m.error.leaderAddress },
  });
  const outcome = (decode: (b: Buffer) => ProduceStreamResponseMessage, data: Buffer): unknown => {
    try {
      return plain(decode(data));
    } catch {
      return 'refused';
    }
  };

  it('reads what protobufjs reads, refuses what it refuses: cut, changed and added bytes, unknown fields, wrong wire types', () => {
    fc.assert(
      fc.property(response, fc.array(edit, { maxLength: 3 }), (value, edits) => {
        const data = applyByteEdits(Buffer.from(schema.encode(value as unknown as protobuf.Message).finish()), edits);
        expect(outcome(codec.produceStreamResponse.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 3000 },
    );
  });

  it('merges an ok or an error that comes twice, as protobufjs 8 does (a singular message field read again is merged, not replaced)', () => {
    const cases = {
      // ok { firstOffset: 5 }, ok { count: 3 }
      'ok twice': [0x12, 0x02, 0x08, 0x05, 0x12, 0x02, 0x10, 0x03],
      // ok { firstOffset: 5, duplicate: true }, ok { firstOffset: 6 }
      'a scalar of ok twice': [0x12, 0x04, 0x08, 0x05, 0x18, 0x01, 0x12, 0x02, 0x08, 0x06],
      // error { code: 14, details: "a" }, error { leaderId: "b" }
      'error twice': [0x1a, 0x05, 0x08, 0x0e, 0x12, 0x01, 0x61, 0x1a, 0x03, 0x22, 0x01, 0x62],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const data = Buffer.from(bytes);
      expect([name, outcome(codec.produceStreamResponse.deserialize, data)]).toEqual([name, outcome(reference.deserialize, data)]);
    }
    expect(codec.produceStreamResponse.deserialize(Buffer.from(cases['ok twice'])).ok).toMatchObject({ firstOffset: 5, count: 3 });
  });

  it('reads what the node writes as the node wrote it', () => {
    fc.assert(
      fc.property(response, (value) => {
        expect(plain(codec.produceStreamResponse.deserialize(codec.produceStreamResponse.serialize(value)))).toEqual(plain(value));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a known field of the wrong wire type at each level, and reads wide varints as protobufjs does (a bool true for any bit set)', () => {
    const cases = {
      'id as bytes': [0x0a, 0x00],
      'ok as a varint': [0x10, 0x01],
      'error as a varint': [0x18, 0x01],
      'firstOffset as fixed64': [0x12, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8],
      'count as bytes': [0x12, 0x02, 0x12, 0x00],
      'duplicate as fixed32': [0x12, 0x05, 0x1d, 1, 2, 3, 4],
      'deliverAtMs as bytes': [0x12, 0x02, 0x2a, 0x00],
      'code as bytes': [0x1a, 0x02, 0x0a, 0x00],
      'leader id as a varint': [0x1a, 0x02, 0x20, 0x01],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      expect([name, outcome(reference.deserialize, Buffer.from(bytes))]).toEqual([name, 'refused']);
      expect([name, outcome(codec.produceStreamResponse.deserialize, Buffer.from(bytes))]).toEqual([name, 'refused']);
    }
    // ok { duplicate: 2^32 (low 32 bits 0), count: 2^32 + 5 }
    const wide = Buffer.from([0x12, 0x0c, 0x18, 0x80, 0x80, 0x80, 0x80, 0x10, 0x10, 0x85, 0x80, 0x80, 0x80, 0x10]);
    expect(plain(codec.produceStreamResponse.deserialize(wide))).toEqual(plain(reference.deserialize(wide)));
    expect(codec.produceStreamResponse.deserialize(wide).ok).toMatchObject({ duplicate: true, count: 5 });
    // ok { duplicate: a ten-byte varint whose only set bit is past the 64th }
    const past64 = Buffer.from([0x12, 0x0b, 0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
    expect(plain(codec.produceStreamResponse.deserialize(past64))).toEqual(plain(reference.deserialize(past64)));
    // ... and one of eleven bytes, which neither reads.
    const eleven = Buffer.from([0x12, 0x0c, 0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(outcome(codec.produceStreamResponse.deserialize, eleven)).toEqual(outcome(reference.deserialize, eleven));
    expect(outcome(codec.produceStreamResponse.deserialize, eleven)).toBe('refused');
  });
});
