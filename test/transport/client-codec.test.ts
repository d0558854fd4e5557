import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

import { ClientCodec } from '../../src/transport/index.js';
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
