import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { ClientCodec, typeCodec, type AppendRequestMessage, type AppendStreamRequestMessage, type ProduceStreamRequestMessage } from '../../src/transport/index.js';
import { parseSchema, readSchema, schemaType } from '../../src/transport/protobuf-runtime.js';

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
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), added: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
    );
    fc.assert(
      fc.property(request, fc.array(edit, { minLength: 1, maxLength: 3 }), (value, edits) => {
        let data = Buffer.from(schema.encode(value as unknown as protobuf.Message).finish());
        for (const e of edits) {
          const at = data.length === 0 ? 0 : e.at % (data.length + 1);
          if (e.kind === 'set' && at < data.length) data[at] = e.byte;
          else if (e.kind === 'cut') data = data.subarray(0, at);
          else if (e.kind === 'insert') data = Buffer.concat([data.subarray(0, at), e.added, data.subarray(at)]);
        }
        expect(outcome(codec.produceStreamRequest.deserialize, data)).toEqual(outcome(reference.deserialize, data));
      }),
      { numRuns: 2000 },
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
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), added: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  );

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
          let data = Buffer.from(schema.encode(value as protobuf.Message).finish());
          for (const e of edits) {
            const at = data.length === 0 ? 0 : e.at % (data.length + 1);
            if (e.kind === 'set' && at < data.length) data[at] = e.byte;
            else if (e.kind === 'cut') data = data.subarray(0, at);
            else if (e.kind === 'insert') data = Buffer.concat([data.subarray(0, at), e.added, data.subarray(at)]);
          }
          expect(outcome(c.ours, data)).toEqual(outcome(reference.deserialize, data));
        }),
        { numRuns: 1000 },
      );
    });
  }
});

