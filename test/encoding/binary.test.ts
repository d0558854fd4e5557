import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter, MalformedBinaryError } from '../../src/encoding/index.js';

type Field =
  | { readonly kind: 'u8' | 'u32' | 'u53' | 'f64'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ kind: fc.constant('u8' as const), value: fc.integer({ min: 0, max: 0xff }) }),
  fc.record({ kind: fc.constant('u32' as const), value: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  fc.record({ kind: fc.constant('u53' as const), value: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ kind: fc.constant('f64' as const), value: fc.oneof(fc.double({ noNaN: true }), fc.constant(Infinity), fc.constant(-1)) }),
  // Any well-formed string, multi-byte and astral characters included: encoded in place.
  fc.record({ kind: fc.constant('string' as const), value: fc.string({ unit: 'grapheme', maxLength: 40 }) }),
  fc.record({ kind: fc.constant('bytes' as const), value: fc.uint8Array({ maxLength: 40 }) }),
);

function write(w: BinaryWriter, f: Field): void {
  if (f.kind === 'string') w.string(f.value);
  else if (f.kind === 'bytes') w.bytes(f.value);
  else w[f.kind](f.value);
}

function read(r: BinaryReader, f: Field): unknown {
  if (f.kind === 'bytes') return [...r.bytes()];
  return r[f.kind]();
}

describe('BinaryWriter and BinaryReader', () => {
  it('read back every field written, across the writer growing from 1 byte', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 60 }), (fields) => {
        const w = new BinaryWriter(1);
        for (const f of fields) write(w, f);
        const r = new BinaryReader(w.finish());
        for (const f of fields) expect(read(r, f)).toEqual(f.kind === 'bytes' ? [...f.value] : f.value);
        expect(r.done).toBe(true);
        expect(r.remaining).toBe(0);
      }),
      { seed: 20_261_206, numRuns: 300 },
    );
  });

  it('refuse a value outside its field with a RangeError instead of writing another', () => {
    const w = new BinaryWriter();
    expect(() => w.u8(256)).toThrow(RangeError);
    expect(() => w.u32(-1)).toThrow(RangeError);
    expect(() => w.u32(2 ** 32)).toThrow(RangeError);
    expect(() => w.u53(2 ** 53)).toThrow(RangeError);
    expect(() => w.u53(Number.NaN)).toThrow(RangeError);
    expect(w.finish().length).toBe(0);
  });

  it('a read past the end is a MalformedBinaryError', () => {
    const r = new BinaryReader(new BinaryWriter().u32(7).finish());
    expect(r.remaining).toBe(4);
    expect(() => r.f64()).toThrow(MalformedBinaryError);
  });
});
