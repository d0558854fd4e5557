/**
 * One slot of a segment's index file: entry i of a segment starting at f is slot i - f,
 * at byte (i - f) * INDEX_SLOT_BYTES, so a lookup is one positional read and no scan.
 *
 *   0  offset       u64  where the record starts in the segment file
 *   8  recordBytes  u32  header + payload
 *  12  crc          u32  CRC32 of bytes 16..32 then 0..12 of the slot
 *  16  index        u64  the entry's index (a slot that names another index is stale)
 *  24  term         u64  the entry's term, so term(i) needs no read of the segment
 *
 * The index is a cache of the segment file: encoded slot by slot while a segment is active,
 * written when it is sealed (its sync not waited for), checked on use and rebuilt when it is
 * missing or wrong.
 */
export const INDEX_SLOT_BYTES = 32;
const U32 = 0x1_0000_0000;

export interface IndexSlot {
  readonly offset: number;
  readonly recordBytes: number;
  readonly index: number;
  readonly term: number;
}

/**
 * Writes one slot at `at` of `out`; `view` covers all of `out` (one view for a whole index,
 * not one per slot: a sealed segment's index holds tens of thousands).
 */
export function encodeSlotFields(view: DataView, out: Uint8Array, at: number, offset: number, recordBytes: number, index: number, term: number): void {
  view.setUint32(at, offset % U32, true);
  view.setUint32(at + 4, Math.floor(offset / U32), true);
  view.setUint32(at + 8, recordBytes, true);
  view.setUint32(at + 16, index % U32, true);
  view.setUint32(at + 20, Math.floor(index / U32), true);
  view.setUint32(at + 24, term % U32, true);
  view.setUint32(at + 28, Math.floor(term / U32), true);
  view.setUint32(at + 12, slotCrc(out, at), true);
}

/** The slot at `at`, or null if its CRC fails or it names another index than `expectedIndex`. */
export function decodeSlot(buf: Uint8Array, at: number, expectedIndex: number): IndexSlot | null {
  if (buf.length - at < INDEX_SLOT_BYTES) return null;
  const view = new DataView(buf.buffer, buf.byteOffset + at, INDEX_SLOT_BYTES);
  if (view.getUint32(12, true) !== slotCrc(buf, at)) return null;
  const index = view.getUint32(16, true) + view.getUint32(20, true) * U32;
  if (index !== expectedIndex) return null;
  return {
    offset: view.getUint32(0, true) + view.getUint32(4, true) * U32,
    recordBytes: view.getUint32(8, true),
    index,
    term: view.getUint32(24, true) + view.getUint32(28, true) * U32,
  };
}

/**
 * CRC-32 (zlib's) of bytes 16..32 then 0..12 of the slot at `at`. Computed here from a table:
 * for 28 bytes a call into zlib.crc32 costs more than the arithmetic (sealing a segment
 * encodes every slot of it at once). Equal to crc32(slot[0..12], crc32(slot[16..32])).
 */
export function slotCrc(buf: Uint8Array, at: number): number {
  return crcUpdate(crcUpdate(0, buf, at + 16, at + INDEX_SLOT_BYTES), buf, at, at + 12);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crcUpdate(crc: number, buf: Uint8Array, from: number, to: number): number {
  let c = ~crc;
  for (let i = from; i < to; i++) c = (CRC_TABLE[(c ^ (buf[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  return ~c >>> 0;
}
