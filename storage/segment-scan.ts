import { assert } from './assert.js';
import type { RecordFault } from './errors.js';
import type { FileHandle, FileSystem } from './file-system.js';
import { decodeRecord, RECORD_HEADER_BYTES, RECORD_MAGIC } from './record-codec.js';

/** How much of a segment a scan holds in memory at once (plus one record if larger). */
const SCAN_CHUNK_BYTES = 1 << 20;

/** Growable offsets and terms of a segment's entries, slot k for entry firstIndex + k. */
export class MemoryIndex {
  offsets: Float64Array = new Float64Array(256);
  terms: Float64Array = new Float64Array(256);
  count = 0;

  push(offset: number, term: number): void {
    if (this.count === this.offsets.length) {
      this.offsets = grow(this.offsets);
      this.terms = grow(this.terms);
    }
    this.offsets[this.count] = offset;
    this.terms[this.count] = term;
    this.count++;
  }

  truncate(count: number): void {
    this.count = Math.min(this.count, count);
  }

  /** The byte offset of record `k` (0-based in the segment), which must be one of the first `count`. */
  offsetAt(k: number): number {
    const offset = this.offsets[k];
    assert(offset !== undefined && k < this.count, () => `offset of record ${k}, past the ${this.count} indexed`);
    return offset;
  }

  /** The term of record `k`, which must be one of the first `count`. */
  termAt(k: number): number {
    const term = this.terms[k];
    assert(term !== undefined && k < this.count, () => `term of record ${k}, past the ${this.count} indexed`);
    return term;
  }
}

function grow(array: Float64Array): Float64Array {
  const grown = new Float64Array(array.length * 2);
  grown.set(array);
  return grown;
}

export interface ScanFault {
  readonly byteOffset: number;
  readonly expectedIndex: number;
  readonly fault: RecordFault;
}

export interface ScanResult {
  readonly index: MemoryIndex;
  /** End of the last good record: where a torn tail would be cut. */
  readonly validBytes: number;
  readonly lastTerm: number;
  /** The first record that failed, or null if the segment is good to its end. */
  readonly fault: ScanFault | null;
}

/** Positional reads of one file through a window, so a scan does one read per chunk. */
class ChunkReader {
  private buf = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly handle: FileHandle,
    readonly sizeBytes: number,
  ) {}

  /** A view holding the file from `offset` on, covering at least `bytes` where the file has them. */
  view(offset: number, bytes: number): { buf: Uint8Array; at: number } {
    const want = Math.min(bytes, this.sizeBytes - offset);
    if (offset < this.start || offset + want > this.start + this.buf.length) {
      const length = Math.min(this.sizeBytes - offset, Math.max(SCAN_CHUNK_BYTES, bytes));
      const buf = new Uint8Array(length);
      this.buf = buf.subarray(0, this.fs.readAt(this.handle, buf, offset));
      this.start = offset;
    }
    return { buf: this.buf, at: offset - this.start };
  }
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC);

function hasMagic(buf: Uint8Array, at: number): boolean {
  return buf.length - at >= 4 && new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, true) === RECORD_MAGIC;
}

/** The payload length a header claims, or 0 if there is no plausible header at `at`. */
function claimedPayloadBytes(buf: Uint8Array, at: number, payloadBytesMax: number): number {
  if (buf.length - at < RECORD_HEADER_BYTES) return 0;
  const view = new DataView(buf.buffer, buf.byteOffset + at, RECORD_HEADER_BYTES);
  if (view.getUint32(0, true) !== RECORD_MAGIC) return 0;
  return Math.min(view.getUint32(8, true), payloadBytesMax);
}

/**
 * Verifies the records of a segment from its start: each must pass its checksum, carry the
 * next index and a term no lower than the one before. Stops at the first that does not.
 */
export function scanSegment(options: {
  readonly fs: FileSystem;
  readonly handle: FileHandle;
  readonly firstIndex: number;
  readonly prevTerm: number;
  readonly payloadBytesMax: number;
}): ScanResult {
  const { fs, handle, firstIndex, payloadBytesMax } = options;
  const reader = new ChunkReader(fs, handle, fs.size(handle));
  const index = new MemoryIndex();
  let offset = 0;
  let lastTerm = options.prevTerm;
  let fault: ScanFault | null = null;
  // Bounded: every pass consumes at least one record header of the file.
  while (offset < reader.sizeBytes) {
    const expectedIndex = firstIndex + index.count;
    const head = reader.view(offset, RECORD_HEADER_BYTES);
    const claimed = claimedPayloadBytes(head.buf, head.at, payloadBytesMax);
    const { buf, at } = reader.view(offset, RECORD_HEADER_BYTES + claimed);
    const decoded = decodeRecord(buf, at, payloadBytesMax);
    if (!decoded.ok) {
      fault = { byteOffset: offset, expectedIndex, fault: decoded.fault };
      break;
    }
    if (decoded.entry.index !== expectedIndex || decoded.entry.term < lastTerm) {
      const what = decoded.entry.index !== expectedIndex ? 'wrong-index' : 'wrong-term-order';
      fault = { byteOffset: offset, expectedIndex, fault: what };
      break;
    }
    index.push(offset, decoded.entry.term);
    lastTerm = decoded.entry.term;
    offset += decoded.bytes;
  }
  return { index, validBytes: offset, lastTerm, fault };
}

/**
 * The end of the last non-zero byte at or after `fromOffset`, or `fromOffset` when only
 * zeros follow it. Zeros at a segment's end are space written ahead (preallocation), not
 * data: recovery treats a zero-only tail as a clean end and does not count it as cut.
 */
export function nonZeroEnd(fs: FileSystem, handle: FileHandle, fromOffset: number): number {
  const sizeBytes = fs.size(handle);
  const chunk = new Uint8Array(Math.min(SCAN_CHUNK_BYTES, Math.max(0, sizeBytes - fromOffset)));
  // Backwards from the end, one chunk per pass: bounded by the file size.
  for (let end = sizeBytes; end > fromOffset; ) {
    const start = Math.max(fromOffset, end - chunk.length);
    const got = fs.readAt(handle, chunk.subarray(0, end - start), start);
    for (let k = got - 1; k >= 0; k--) if (chunk[k] !== 0) return start + k + 1;
    end = start;
  }
  return fromOffset;
}

/**
 * Whether any valid record starts after `fromOffset`: tells a torn tail (nothing good
 * follows the bad record) from damage in the middle (good records follow).
 */
export function validRecordAfter(options: {
  readonly fs: FileSystem;
  readonly handle: FileHandle;
  readonly fromOffset: number;
  readonly payloadBytesMax: number;
}): boolean {
  const { fs, handle, payloadBytesMax } = options;
  const reader = new ChunkReader(fs, handle, fs.size(handle));
  // Bounded by the file size: each pass moves past one candidate position.
  for (let offset = options.fromOffset + 1; offset + RECORD_HEADER_BYTES <= reader.sizeBytes; offset++) {
    const head = reader.view(offset, RECORD_HEADER_BYTES);
    if (!hasMagic(head.buf, head.at)) {
      // Jump to the next magic in the window instead of testing every byte.
      const window = Buffer.from(head.buf.buffer, head.buf.byteOffset, head.buf.byteLength);
      const next = window.indexOf(MAGIC_BYTES, head.at + 1);
      offset = next < 0 ? offset + Math.max(0, window.length - head.at - 4) : offset + (next - head.at) - 1;
      continue;
    }
    const claimed = claimedPayloadBytes(head.buf, head.at, payloadBytesMax);
    const { buf, at } = reader.view(offset, RECORD_HEADER_BYTES + claimed);
    if (decodeRecord(buf, at, payloadBytesMax).ok) return true;
  }
  return false;
}
