import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ClientCodec } from '../../src/transport/index.js';

/**
 * The hand-framed encoders added for speed (AppendRequest, AppendStreamRequest, ReadResponse, ConsumeResponse) must decode with
 * protobufjs to what was encoded, for any value the schema allows (indexes up to 2^53 - 1).
 */
describe('hand-framed client messages', () => {
  const codec = new ClientCodec();
  const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const bytes = fc.uint8Array({ maxLength: 300 });

  it('AppendRequest round-trips', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 20 }), (records) => {
        const decoded = codec.appendRequest.deserialize(codec.appendRequest.serialize({ records }));
        expect(decoded.records.map((r) => [...r])).toEqual(records.map((r) => [...r]));
      }),
      { numRuns: 200 },
    );
  });

  it('AppendStreamRequest round-trips, its AppendRequest framed in place', () => {
    const acks = fc.constantFrom(0, 1);
    const timeoutMs = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(safe, fc.array(bytes, { maxLength: 20 }), acks, timeoutMs, (id, records, ackCode, timeout) => {
        const decoded = codec.appendStreamRequest.deserialize(codec.appendStreamRequest.serialize({ id, append: { records, acks: ackCode }, timeoutMs: timeout }));
        expect({ id: decoded.id, timeoutMs: decoded.timeoutMs, acks: decoded.append?.acks ?? 0 }).toEqual({ id, timeoutMs: timeout, acks: ackCode });
        expect(decoded.append?.records.map((r) => [...r])).toEqual(records.map((r) => [...r]));
      }),
      { numRuns: 200 },
    );
  });

  it('ReadResponse round-trips', () => {
    const record = fc.record({ index: safe, term: safe, payload: bytes });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), safe, safe, safe, (records, nextIndex, appliedIndex, firstIndex) => {
        const decoded = codec.readResponse.deserialize(codec.readResponse.serialize({ records, nextIndex, appliedIndex, firstIndex }));
        expect({ nextIndex: decoded.nextIndex, appliedIndex: decoded.appliedIndex, firstIndex: decoded.firstIndex }).toEqual({ nextIndex, appliedIndex, firstIndex });
        expect(decoded.records.map((r) => ({ index: r.index, term: r.term, payload: [...r.payload] }))).toEqual(records.map((r) => ({ ...r, payload: [...r.payload] })));
      }),
      { numRuns: 200 },
    );
  });

  it('ConsumeResponse round-trips, headers with any text and empty fields included', () => {
    const header = fc.record({ name: fc.string({ maxLength: 40, unit: 'binary' }), value: bytes });
    const message = fc.record({ key: bytes, headers: fc.array(header, { maxLength: 4 }), payload: bytes, timestampMs: safe });
    const delivery = fc.record({ offset: safe, delivery: fc.integer({ min: 0, max: 2 ** 32 - 1 }), deadlineMs: safe, message });
    // Field by field: protobufjs keeps the defaults of absent fields on the prototype.
    const plain = (d: { offset: number; delivery: number; deadlineMs: number; message: { key: Uint8Array; headers: readonly { name: string; value: Uint8Array }[]; payload: Uint8Array; timestampMs: number } }) => ({
      offset: d.offset,
      delivery: d.delivery,
      deadlineMs: d.deadlineMs,
      message: { key: [...d.message.key], headers: d.message.headers.map((h) => ({ name: h.name, value: [...h.value] })), payload: [...d.message.payload], timestampMs: d.message.timestampMs },
    });
    fc.assert(
      fc.property(fc.array(delivery, { maxLength: 12 }), (deliveries) => {
        const decoded = codec.groups.consumeResponse.deserialize(codec.groups.consumeResponse.serialize({ deliveries }));
        expect(decoded.deliveries.map(plain)).toEqual(deliveries.map(plain));
      }),
      { numRuns: 300 },
    );
  });
});
