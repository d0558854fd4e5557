import type { FileHandle, FileSystem } from './file-system.js';
import { encodeSlotFields, INDEX_SLOT_BYTES } from './index-slot.js';
import type { MemoryIndex } from './segment-scan.js';

/** The image's first allocation: 4,096 slots. */
const INITIAL_SLOT_BYTES = 4096 * INDEX_SLOT_BYTES;
/**
 * Encoded slots are written to the index file as a segment fills, so sealing a 64 MiB
 * segment of small records writes one run, not ~12 MiB at once on the append path
 * (measured: 25-40 ms with the event loop held, on every node at once). They go between
 * appends (Segment.stepBetweenAppends) once this many are waiting (128 KiB)...
 */
const INDEX_STEP_SLOTS = 4_096;
/** ...and in line with an append once this many are (1 MiB): appends that outrun the steps. */
const INDEX_RUN_SLOTS = 32_768;

/**
 * The index file of the active segment, written as the segment fills: slot by slot as
 * entries are appended, so that sealing does not encode hundreds of thousands of slots at
 * once on the append path. Slots [0, written) are in the index file already (written in
 * runs); the image holds slots [written, encoded) from its start. Truncation cuts both counts
 * (file slots past them are stale until overwritten or cut). The index is a cache of the
 * segment's data, checked against it when opened and on every read.
 */
export class IndexImage {
  private slots: Uint8Array = new Uint8Array(0);
  private slotsView = new DataView(this.slots.buffer);
  /** Slots encoded so far (entries firstIndex .. firstIndex + encoded - 1). */
  encoded = 0;
  private written = 0;
  /** The index file while runs are written to it. */
  private writer: FileHandle | null = null;

  constructor(
    private readonly fs: FileSystem,
    private readonly path: string,
    private readonly firstIndex: number,
  ) {}

  /** Whether a run of slots waits to be written between appends. */
  stepWanted(): boolean {
    return this.encoded - this.written >= INDEX_STEP_SLOTS;
  }

  /** Encodes slot k (entry firstIndex + k; k is `encoded`), writing a full run out. */
  encode(k: number, offset: number, recordBytes: number, term: number): void {
    const at = (k - this.written) * INDEX_SLOT_BYTES;
    if (at + INDEX_SLOT_BYTES > this.slots.length) {
      const grown = new Uint8Array(Math.max(this.slots.length * 2, INITIAL_SLOT_BYTES, at + INDEX_SLOT_BYTES));
      grown.set(this.slots.subarray(0, at));
      this.slots = grown;
      this.slotsView = new DataView(grown.buffer);
    }
    encodeSlotFields(this.slotsView, this.slots, at, offset, recordBytes, this.firstIndex + k, term);
    this.encoded = k + 1;
    if (this.encoded - this.written >= INDEX_RUN_SLOTS) this.writeRun();
  }

  /** Encodes the slots of `memory` from the first not yet encoded up to (not including) `until`; the last entry ends at `endBytes`. */
  encodeUntil(memory: MemoryIndex, until: number, endBytes: number): void {
    for (let k = this.encoded; k < until; k++) {
      const offset = memory.offsetAt(k);
      const end = k + 1 < memory.count ? memory.offsetAt(k + 1) : endBytes;
      this.encode(k, offset, end - offset, memory.termAt(k));
    }
  }

  /** Writes the encoded slots not yet in the file at their place; the image starts over. */
  writeRun(): void {
    const count = this.encoded - this.written;
    if (count === 0) return;
    this.fs.writeAt(this.openWriter(), this.slots.subarray(0, count * INDEX_SLOT_BYTES), this.written * INDEX_SLOT_BYTES);
    this.written = this.encoded;
  }

  /** Entries after the first `count` were removed. */
  truncate(count: number): void {
    this.encoded = Math.min(this.encoded, count);
    this.written = Math.min(this.written, count);
  }

  /**
   * Completes the index file for `memory` (all of it encoded anew when `fresh`: a rebuilt or
   * recovered index), cut to its exact size, and starts its fdatasync without waiting for it
   * (nor syncing its name): a crash before the sync completes costs one rebuild at the next
   * open, never an entry. Returns the file's handle, which the caller owns from then on;
   * this image is spent.
   */
  finish(memory: MemoryIndex, endBytes: number, fresh: boolean): FileHandle {
    if (fresh) this.truncate(0);
    this.encodeUntil(memory, memory.count, endBytes);
    this.writeRun();
    const handle = this.openWriter();
    this.fs.truncate(handle, memory.count * INDEX_SLOT_BYTES);
    // A failure here says nothing about the log's data (those syncs report their own).
    this.fs.fdatasync(handle).catch(() => undefined);
    this.slots = new Uint8Array(0);
    this.slotsView = new DataView(this.slots.buffer);
    this.truncate(0);
    this.writer = null;
    return handle;
  }

  /** Releases the index file if runs were written to it and it was not finished. */
  close(): void {
    if (this.writer !== null) this.fs.close(this.writer);
    this.writer = null;
  }

  /** The index file being written, created empty on first use (a stale one is replaced). */
  private openWriter(): FileHandle {
    if (this.writer === null) {
      this.writer = this.fs.open(this.path, 'create');
      this.fs.truncate(this.writer, 0);
    }
    return this.writer;
  }
}
