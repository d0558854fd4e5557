import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Entry, Index, Term } from '../../raft/types.js';
import { decodeRecord, encodeRecords, RECORD_HEADER_BYTES, recordBytes } from '../../storage/record-codec.js';

const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((n) => n as Index),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((n) => n as Term),
  kind: fc.constantFrom(1 as const, 2 as const, 3 as const),
  payload: fc.uint8Array({ maxLength: 300 }),
});

function encode(entry: Entry): Uint8Array {
  const out = new Uint8Array(recordBytes(entry.payload.length));
  expect(encodeRecords([entry], 0, 1, out, 0)).toBe(out.length);
  return out;
}

describe('record framing', () => {
  it('decodes what it encodes, batches back to back', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 8 }), (batch) => {
        const total = batch.reduce((sum, e) => sum + recordBytes(e.payload.length), 0);
        const out = new Uint8Array(total);
        expect(encodeRecords(batch, 0, batch.length, out, 0)).toBe(total);
        let at = 0;
        for (const want of batch) {
          const got = decodeRecord(out, at, 1 << 20);
          expect(got.ok).toBe(true);
          if (!got.ok) return;
          expect(got.entry.index).toBe(want.index);
          expect(got.entry.term).toBe(want.term);
          expect(got.entry.kind).toBe(want.kind);
          expect(Buffer.from(got.entry.payload).equals(Buffer.from(want.payload))).toBe(true);
          at += got.bytes;
        }
        expect(at).toBe(total);
      }),
    );
  });

  it('detects every cut of a record (a torn write)', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const record = encode(entry);
        for (let cut = 0; cut < record.length; cut++) {
          const got = decodeRecord(record.subarray(0, cut), 0, 1 << 20);
          expect(got.ok).toBe(false);
          if (!got.ok) expect(got.fault).toBe(cut < RECORD_HEADER_BYTES ? 'short-header' : 'short-payload');
        }
      }),
      { numRuns: 30 },
    );
  });

  it('detects every single flipped bit, in header and payload', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const record = encode(entry);
        for (let bit = 0; bit < record.length * 8; bit++) {
          const damaged = record.slice();
          damaged[bit >> 3] = (damaged[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          // A flipped length may also read as "runs past the end": detected either way.
          expect(decodeRecord(damaged, 0, 1 << 20).ok).toBe(false);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('refuses a claimed length above the limit before hashing it', () => {
    const record = encode({ index: 1 as Index, term: 1 as Term, kind: 1, payload: new Uint8Array(100) });
    const got = decodeRecord(record, 0, 99);
    expect(got).toEqual({ ok: false, fault: 'too-large' });
  });
});
