import { crc32 } from 'node:zlib';

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
 * The index is a cache of the segment file: written without its own sync while a segment
 * is active, synced when the segment is sealed, checked on use and rebuilt when it is
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

export function encodeSlot(out: Uint8Array, at: number, slot: IndexSlot): void {
  const view = new DataView(out.buffer, out.byteOffset + at, INDEX_SLOT_BYTES);
  view.setUint32(0, slot.offset % U32, true);
  view.setUint32(4, Math.floor(slot.offset / U32), true);
  view.setUint32(8, slot.recordBytes, true);
  view.setUint32(16, slot.index % U32, true);
  view.setUint32(20, Math.floor(slot.index / U32), true);
  view.setUint32(24, slot.term % U32, true);
  view.setUint32(28, Math.floor(slot.term / U32), true);
  view.setUint32(12, slotCrc(out, at), true);
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

function slotCrc(buf: Uint8Array, at: number): number {
  return crc32(buf.subarray(at, at + 12), crc32(buf.subarray(at + 16, at + INDEX_SLOT_BYTES)));
}
