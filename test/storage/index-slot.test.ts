import { crc32 } from 'node:zlib';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { decodeSlot, encodeSlotFields, INDEX_SLOT_BYTES, type IndexSlot, slotCrc } from '../../storage/index-slot.js';

function encodeSlot(out: Uint8Array, at: number, slot: IndexSlot): void {
  encodeSlotFields(new DataView(out.buffer, out.byteOffset, out.byteLength), out, at, slot.offset, slot.recordBytes, slot.index, slot.term);
}

const slotArb = fc.record({
  offset: fc.integer({ min: 0, max: 2 ** 40 }),
  recordBytes: fc.integer({ min: 32, max: 2 ** 31 }),
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

describe('index slots', () => {
  it('round-trips, and a slot for another index reads as stale', () => {
    fc.assert(
      fc.property(slotArb, (slot) => {
        const buf = new Uint8Array(INDEX_SLOT_BYTES);
        encodeSlot(buf, 0, slot);
        expect(decodeSlot(buf, 0, slot.index)).toEqual(slot);
        expect(decodeSlot(buf, 0, slot.index + 1)).toBeNull();
      }),
    );
  });

  it('detects every flipped bit and a short read', () => {
    fc.assert(
      fc.property(slotArb, (slot) => {
        const buf = new Uint8Array(INDEX_SLOT_BYTES);
        encodeSlot(buf, 0, slot);
        for (let bit = 0; bit < INDEX_SLOT_BYTES * 8; bit++) {
          const damaged = buf.slice();
          damaged[bit >> 3] = (damaged[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          expect(decodeSlot(damaged, 0, slot.index)).toBeNull();
        }
        expect(decodeSlot(buf.subarray(0, INDEX_SLOT_BYTES - 1), 0, slot.index)).toBeNull();
      }),
      { numRuns: 20 },
    );
  });

  it('checksums a slot exactly as zlib does, so index files written before stay valid', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: INDEX_SLOT_BYTES + 8, maxLength: INDEX_SLOT_BYTES + 8 }), fc.nat({ max: 8 }), (bytes, at) => {
        const zlib = crc32(bytes.subarray(at, at + 12), crc32(bytes.subarray(at + 16, at + INDEX_SLOT_BYTES)));
        expect(slotCrc(bytes, at)).toBe(zlib);
      }),
    );
  });
});
