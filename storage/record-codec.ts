import { crc32 } from 'node:zlib';

import type { Entry, EntryKind, Index, Term } from '../raft/index.js';
import type { RecordFault } from './errors.js';

/**
 * The framing of one log record in a segment file (little-endian):
 *
 *   0  magic        u32   RECORD_MAGIC, finds misaligned reads fast
 *   4  crc          u32   CRC32 of bytes 8..32 and the payload (so length, kind, index,
 *                         term and payload are all covered)
 *   8  payloadBytes u32
 *  12  kind         u8    EntryKind
 *  13  reserved     3 x u8, zero
 *  16  index        u64   (JS numbers, so below 2^53)
 *  24  term         u64
 *  32  payload
 *
 * A torn record (cut anywhere) fails either the length check (the file ends first) or the
 * CRC; a flipped bit anywhere fails the magic or the CRC.
 */
export const RECORD_MAGIC = 0x3147_4c51; // "QLG1" read as little-endian bytes
export const RECORD_HEADER_BYTES = 32;
const CRC_START = 8;
const U32 = 0x1_0000_0000;

/** normal, noop and config (raft/types.ts EntryKind; config entries carry membership changes). */
const KNOWN_KINDS: ReadonlySet<number> = new Set([1, 2, 3]);

/** Whether decoding accepts `kind`: an append must not write a record recovery would call damaged. */
export function isKnownKind(kind: number): boolean {
  return KNOWN_KINDS.has(kind);
}

export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}

function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % U32, true);
  view.setUint32(at + 4, Math.floor(value / U32), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * U32;
}

/**
 * Encodes entries[from, to) back to back into `out` starting at `at`; returns the end.
 * The caller sized `out` with recordBytes(); one buffer per batch so a batch is one write.
 */
export function encodeRecords(entries: readonly Entry[], from: number, to: number, out: Uint8Array, at: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let offset = at;
  for (let k = from; k < to; k++) {
    const entry = entries[k];
    if (entry === undefined) break;
    const length = entry.payload.length;
    view.setUint32(offset + 8, length, true);
    view.setUint32(offset + 12, entry.kind, true); // kind byte then three zero bytes
    writeU64(view, offset + 16, entry.index);
    writeU64(view, offset + 24, entry.term);
    out.set(entry.payload, offset + RECORD_HEADER_BYTES);
    const end = offset + RECORD_HEADER_BYTES + length;
    view.setUint32(offset, RECORD_MAGIC, true);
    view.setUint32(offset + 4, crc32(out.subarray(offset + CRC_START, end)), true);
    offset = end;
  }
  return offset;
}

export type DecodedRecord =
  | { readonly ok: true; readonly entry: Entry; readonly bytes: number }
  | { readonly ok: false; readonly fault: RecordFault };

/**
 * Verifies and decodes the record at `at` in `buf` (which holds the file from some
 * offset on, `buf.length` bytes of it). The payload is a view into `buf`, not a copy.
 */
export function decodeRecord(buf: Uint8Array, at: number, payloadBytesMax: number): DecodedRecord {
  if (buf.length - at < RECORD_HEADER_BYTES) return { ok: false, fault: 'short-header' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(at, true) !== RECORD_MAGIC) return { ok: false, fault: 'bad-magic' };
  const length = view.getUint32(at + 8, true);
  // Checked before the CRC so a flipped length cannot make us hash gigabytes.
  if (length > payloadBytesMax) return { ok: false, fault: 'too-large' };
  const end = at + RECORD_HEADER_BYTES + length;
  if (end > buf.length) return { ok: false, fault: 'short-payload' };
  if (crc32(buf.subarray(at + CRC_START, end)) !== view.getUint32(at + 4, true)) return { ok: false, fault: 'bad-crc' };
  const kind = view.getUint32(at + 12, true);
  if (!KNOWN_KINDS.has(kind)) return { ok: false, fault: 'bad-kind' };
  const entry: Entry = {
    index: readU64(view, at + 16) as Index,
    term: readU64(view, at + 24) as Term,
    kind: kind as EntryKind,
    payload: buf.subarray(at + RECORD_HEADER_BYTES, end),
  };
  return { ok: true, entry, bytes: end - at };
}
