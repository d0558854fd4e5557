import fc from 'fast-check';

/** One change to an encoded message: a byte overwritten, the bytes cut from a point on, or bytes inserted. */
export type ByteEdit = { readonly kind: 'set'; readonly at: number; readonly byte: number } | { readonly kind: 'cut'; readonly at: number } | { readonly kind: 'insert'; readonly at: number; readonly added: Uint8Array };

/**
 * A ByteEdit at any position (taken modulo the length when applied). `favoured` bytes are
 * written by a set more often than chance would: tags of the wire types in play, varint
 * continuation bytes.
 */
export function byteEdit(favoured: readonly number[] = []): fc.Arbitrary<ByteEdit> {
  const byte = favoured.length === 0 ? fc.nat({ max: 255 }) : fc.oneof(fc.nat({ max: 255 }), fc.constantFrom(...favoured));
  return fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), added: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  );
}

/** `data` with `edits` applied in order; `data` itself is changed by a set. */
export function applyByteEdits(data: Buffer, edits: readonly ByteEdit[]): Buffer {
  for (const e of edits) {
    const at = data.length === 0 ? 0 : e.at % (data.length + 1);
    if (e.kind === 'set') {
      if (at < data.length) data[at] = e.byte;
    } else if (e.kind === 'cut') data = data.subarray(0, at);
    else data = Buffer.concat([data.subarray(0, at), e.added, data.subarray(at)]);
  }
  return data;
}
