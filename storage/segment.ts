import * as path from 'node:path';

import type { Entry } from '../raft/index.js';
import { assert } from './assert.js';
import { CorruptRecordError, MissingSegmentError } from './errors.js';
import { durableWriteEnd, type FileHandle, type FileSystem } from './file-system.js';
import { IndexImage } from './index-image.js';
import { decodeSlot, INDEX_SLOT_BYTES, type IndexSlot } from './index-slot.js';
import { decodeRecord, encodeRecords, RECORD_HEADER_BYTES, recordBytes } from './record-codec.js';
import { MemoryIndex, scanSegment, type ScanResult } from './segment-scan.js';

export const SEGMENT_SUFFIX = '.log';
export const INDEX_SUFFIX = '.idx';
const NAME_DIGITS = 20;
/** Slots fetched per read of a sealed segment's index file. */
const SLOT_READ_BATCH = 1024;
/** The deferred-write buffer starts this big and is kept (for the next group) up to the second size. */
const UNWRITTEN_INITIAL_BYTES = 64 * 1024;
const UNWRITTEN_KEEP_BYTES = 4 * 1024 * 1024;
/** A write zero-fills ahead only if zeros of preallocateBytes are at least this many times its size. */
const PREALLOCATE_WRITE_SHARE_MAX = 8;
/** Zeros refilled ahead between appends go in this many steps per run of preallocateBytes, one per turn. */
const FILL_AHEAD_STEPS = 4;
/**
 * Write-through: a group's write carries zeros once fewer than preallocateBytes / this many
 * remain ahead of its records, enough to leave half of preallocateBytes ahead. Every zero
 * byte then goes to the disk about 1.3 times (the last eighth is written again with the next
 * refill), in one write per three eighths of a run of records.
 */
const WRITE_THROUGH_REFILL_SHARE = 8;
/**
 * Slots a recovered (or unsealed) active segment encodes per append until its index image
 * has caught up with its entries: spread over the appends that follow a restart instead of
 * encoding and writing them all at its seal, which held the event loop tens of ms for a
 * full segment. About 0.1 ms of work per append.
 */
const INDEX_CATCH_UP_SLOTS = 4_096;

/** "00000000000000000001.log" for a segment whose first entry is index 1. */
export function segmentFileName(firstIndex: number): string {
  return `${String(firstIndex).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;
}

/** "00000000000000000001.idx": the index file of the segment whose first entry is index 1. */
export function indexFileName(firstIndex: number): string {
  return segmentFileName(firstIndex).slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
}

/** The first index a segment file name stands for, or null if it is not a segment name. */
export function parseSegmentFileName(name: string): number | null {
  const match = /^(\d{20})\.log$/.exec(name);
  return match?.[1] === undefined ? null : Number(match[1]);
}

export interface SegmentContext {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly payloadBytesMax: number;
  /**
   * Zeros written ahead of the active segment's end, this many bytes at a time (0: off), so
   * that a group's fdatasync overwrites allocated blocks instead of growing the file and
   * committing the file system's journal every time. Never beyond `segmentBytes`.
   */
  readonly preallocateBytes: number;
  readonly segmentBytes: number;
  /**
   * Sync flush: records reach the file only through syncRecords() and makeSealedDurable(),
   * each group as one FileSystem.writeDurably (written and made durable in one step, past the
   * page cache where the file system allows), zeros ahead included in that write. Async flush
   * (false) writes records into the page cache at append time and syncs them later.
   */
  readonly writeThrough: boolean;
}

/** Entries read so far by one entries() call, across segments. */
export interface ReadCursor {
  readonly out: Entry[];
  payloadBytesLeft: number;
  readonly entriesMax: number;
}

/**
 * One segment file: entries firstIndex..lastIndex, back to back. The active (last) segment
 * keeps its index in memory and is the only one appended to; a sealed segment is fully
 * durable (its data synced when sealed) and is read through its index file.
 */
export class Segment {
  /** Non-null exactly while active. */
  private memory: MemoryIndex | null;
  /** Non-null exactly while sealed. */
  private indexHandle: FileHandle | null = null;
  /**
   * Encoded records not yet handed to the file system (sync mode defers the write to the
   * group's fdatasync so a group costs one write, not one per append), back to back in
   * unwritten[0, unwrittenBytes): appends encode straight into it, so a group costs no
   * buffer per append and no concatenation. Reused after each write (writeAt keeps no
   * reference). Invariant: writtenBytes + inFlightBytes + unwrittenBytes === sizeBytes.
   */
  private unwritten: Uint8Array = new Uint8Array(0);
  private unwrittenBytes = 0;
  /**
   * Write-through: the records of the writeDurably in flight, inFlight[0, inFlightBytes),
   * which follow writtenBytes in the file. Until it resolves the file may not show them yet,
   * so reads take them from here. With none in flight (inFlightBytes 0) it is the spare
   * buffer that `unwritten` swaps with at the next write, so a group costs no allocation.
   */
  private inFlight: Uint8Array = new Uint8Array(0);
  private inFlightBytes = 0;
  private writtenBytes: number;
  /** The file's size: sizeBytes plus zeros written ahead (active segment only). */
  private allocatedBytes: number;
  /** The index file as the active segment fills (spent, all counts 0, once sealed). */
  private readonly index: IndexImage;
  /**
   * Zeros for writing ahead, allocated once per segment and only ever read (writeAt keeps
   * no reference): a fresh 1 MiB of zeros per MiB of records cost the leader about 1.7% of
   * its main thread at 1 KiB x 64 (allocation and page faults, in writeAtEnd's self time).
   */
  private zeros: Uint8Array = new Uint8Array(0);
  /** The size fillAheadStep() is filling toward; at or below allocatedBytes when no refill is under way. */
  private fillTarget = 0;
  /** Bytes of the last write at the end: a refill ahead runs only after small ones (as the in-line fill). */
  private lastWriteBytes = 0;

  private constructor(
    private readonly context: SegmentContext,
    readonly firstIndex: number,
    readonly data: FileHandle,
    /** Bytes of good records: the file's size once a torn tail is cut. */
    public sizeBytes: number,
    /** firstIndex - 1 when empty. */
    public lastIndex: number,
    memory: MemoryIndex | null,
  ) {
    this.memory = memory;
    this.writtenBytes = sizeBytes;
    this.allocatedBytes = sizeBytes;
    this.index = new IndexImage(context.fs, this.indexPath, firstIndex);
  }

  get dataPath(): string {
    return path.join(this.context.dir, segmentFileName(this.firstIndex));
  }

  get indexPath(): string {
    return this.dataPath.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
  }

  get active(): boolean {
    return this.memory !== null;
  }

  /** A new, empty active segment. Its name is durable only after syncDir (the caller's job). */
  static create(context: SegmentContext, firstIndex: number): Segment {
    const data = context.fs.open(path.join(context.dir, segmentFileName(firstIndex)), 'create');
    context.fs.truncate(data, 0);
    return new Segment(context, firstIndex, data, 0, firstIndex - 1, new MemoryIndex());
  }

  /** The last segment as recovery scanned it (its torn tail, if any, already cut). */
  static fromScan(context: SegmentContext, firstIndex: number, data: FileHandle, scan: ScanResult): Segment {
    return new Segment(context, firstIndex, data, scan.validBytes, firstIndex + scan.index.count - 1, scan.index);
  }

  /**
   * A segment that is not the last, so must hold exactly firstIndex..lastIndex. Uses its
   * index file if it checks out, else rebuilds it from the data; `rebuilt` says which.
   * With `verify`, every record is read and checked first (otherwise only the index's two
   * ends are, and damage between them is found when read). Damage throws
   * CorruptRecordError, or MissingSegmentError for data that ends early. `indexListed` says
   * whether the index file is in the directory, when the caller has listed it already (one
   * listing for all segments instead of one each).
   */
  static openSealed(
    context: SegmentContext,
    firstIndex: number,
    lastIndex: number,
    options: { readonly verify?: boolean; readonly indexListed?: boolean } = {},
  ): { segment: Segment; rebuilt: boolean } {
    const data = context.fs.open(path.join(context.dir, segmentFileName(firstIndex)), 'existing');
    try {
      const segment = new Segment(context, firstIndex, data, context.fs.size(data), lastIndex, null);
      const scan = options.verify === true ? segment.checkedScan() : null;
      const listed = options.indexListed ?? context.fs.list(context.dir).includes(path.basename(segment.indexPath));
      const rebuilt = !(listed && segment.openIndexIfValid());
      if (rebuilt) segment.rebuildIndex(scan ?? undefined);
      return { segment, rebuilt };
    } catch (error) {
      context.fs.close(data);
      throw error;
    }
  }

  /**
   * Encodes and appends entries[from, to), `bytes` long in all (the caller checked their
   * order and sized them with recordBytes()). With `deferWrite` the bytes stay in memory
   * until writePending() (reads still see them); otherwise they are written now, in one write.
   */
  append(entries: readonly Entry[], from: number, to: number, bytes: number, deferWrite: boolean): void {
    const memory = this.memory;
    assert(memory !== null, () => `append to sealed segment ${this.dataPath}`);
    let end: number;
    if (deferWrite) {
      const at = this.reserveUnwritten(bytes);
      end = encodeRecords(entries, from, to, this.unwritten, at) - at;
    } else {
      this.writePending();
      const encoded = Buffer.allocUnsafe(bytes);
      end = encodeRecords(entries, from, to, encoded, 0);
      this.writeAtEnd(encoded);
    }
    assert(end === bytes, 'encoded batch size mismatch');
    let offset = this.sizeBytes;
    for (let k = from; k < to; k++) {
      const entry = entries[k];
      assert(entry !== undefined && entry.index === this.lastIndex + 1, 'segment append out of order');
      memory.push(offset, entry.term);
      const size = recordBytes(entry.payload.length);
      if (this.index.encoded === memory.count - 1) this.index.encode(memory.count - 1, offset, size, entry.term);
      offset += size;
      this.lastIndex = entry.index;
    }
    assert(offset === this.sizeBytes + bytes, 'encoded batch size mismatch');
    this.sizeBytes = offset;
    // A recovered or unsealed segment's earlier slots, a bounded share per append.
    if (this.index.encoded < memory.count) this.index.encodeUntil(memory, Math.min(memory.count, this.index.encoded + INDEX_CATCH_UP_SLOTS), this.sizeBytes);
  }

  /**
   * Makes every record appended so far durable: write-through, as one writeDurably (see
   * writeThrough); otherwise writePending() and an fdatasync. Resolves once they are durable,
   * with everything written to this file before. One at a time (the flush loop's).
   */
  syncRecords(): Promise<void> {
    if (this.context.writeThrough && this.unwrittenBytes > 0) return this.writeThrough();
    this.writePending();
    return this.context.fs.fdatasync(this.data);
  }

  /**
   * Makes a sealed segment wholly durable and ending at its last record, before any byte of a
   * later segment is written (CommitLog's order): write-through, its deferred records go in
   * one writeDurably and the zeros ahead are cut after it (seal() could not: a group's write
   * may have been in flight); otherwise seal() did both and an fdatasync is all that is left.
   */
  async makeSealedDurable(): Promise<void> {
    assert(this.memory === null, () => `makeSealedDurable of active segment ${this.dataPath}`);
    if (!this.context.writeThrough) return this.context.fs.fdatasync(this.data);
    const wrote = this.unwrittenBytes > 0;
    if (wrote) await this.writeThrough();
    // The writeDurably made its records durable; a cut of the zeros after them needs its own sync.
    if (this.trimPreallocation() || !wrote) await this.context.fs.fdatasync(this.data);
  }

  /**
   * Write-through: hands the deferred records to FileSystem.writeDurably in one write, which
   * writes zeros ahead after them when they ran low (zerosWithRecords), keeping them in `inFlight`
   * for reads until it resolves; appends meanwhile go to the other buffer. A write that
   * fails leaves them in flight: the log has failed, and close() then keeps the file as is.
   */
  private async writeThrough(): Promise<void> {
    assert(this.inFlightBytes === 0, () => `two writes in flight to ${this.dataPath}`);
    const position = this.writtenBytes;
    const records = this.unwrittenBytes;
    const zeros = this.zerosWithRecords(records);
    const bytes = this.unwritten;
    this.unwritten = this.inFlight;
    this.unwrittenBytes = 0;
    this.inFlight = bytes;
    this.inFlightBytes = records;
    await this.context.fs.writeDurably(this.data, bytes.subarray(0, records), position, zeros);
    this.writtenBytes = position + records;
    this.allocatedBytes = Math.max(this.allocatedBytes, durableWriteEnd(position, records + zeros));
    this.inFlightBytes = 0;
    // A burst (up to pendingBytesMax) may have grown it: do not hold on to that much.
    if (bytes.length > UNWRITTEN_KEEP_BYTES) this.inFlight = new Uint8Array(0);
  }

  /**
   * Zeros for a write-through of `records` bytes to carry after them: once fewer than
   * preallocateBytes / WRITE_THROUGH_REFILL_SHARE remain ahead, enough to leave half of
   * preallocateBytes ahead (never past segmentBytes), so that the small groups that follow
   * overwrite allocated blocks instead of growing the file, each growth costing the file
   * system's journal a commit. Only after small writes, as writeAtEnd's fill.
   */
  private zerosWithRecords(records: number): number {
    const { preallocateBytes, segmentBytes } = this.context;
    const end = this.writtenBytes + records;
    if (this.memory === null || preallocateBytes === 0 || records * PREALLOCATE_WRITE_SHARE_MAX > preallocateBytes) return 0;
    if (this.allocatedBytes - end >= preallocateBytes / WRITE_THROUGH_REFILL_SHARE) return 0;
    return Math.max(0, Math.min(segmentBytes, end + preallocateBytes / 2) - end);
  }

  /** Hands every deferred record to the file system in one write. */
  writePending(): void {
    assert(this.inFlightBytes === 0, () => `a page-cache write beside a write in flight to ${this.dataPath}`);
    if (this.unwrittenBytes === 0) return;
    const bytes = this.unwritten.subarray(0, this.unwrittenBytes);
    this.unwrittenBytes = 0;
    this.writeAtEnd(bytes);
    // A burst (up to pendingBytesMax) may have grown it: do not hold on to that much.
    if (this.unwritten.length > UNWRITTEN_KEEP_BYTES) this.unwritten = new Uint8Array(0);
    assert(this.writtenBytes === this.sizeBytes, 'deferred writes lost track of the size');
  }

  /** Room for `bytes` more deferred bytes; returns where they go in `unwritten`. */
  private reserveUnwritten(bytes: number): number {
    const at = this.unwrittenBytes;
    const needed = at + bytes;
    if (needed > this.unwritten.length) {
      const grown = new Uint8Array(Math.max(needed, this.unwritten.length * 2, UNWRITTEN_INITIAL_BYTES));
      grown.set(this.unwritten.subarray(0, at));
      this.unwritten = grown;
    }
    this.unwrittenBytes = needed;
    return at;
  }

  /** Writes at the end of the written bytes, zero-filling ahead first when preallocating. */
  private writeAtEnd(bytes: Uint8Array): void {
    const { fs, preallocateBytes, segmentBytes } = this.context;
    const end = this.writtenBytes + bytes.length;
    // Small writes only (at most 1/8 of a run of zeros): the zeros reach the disk with the
    // next fdatasync, so each run costs its own size in extra writing, paid back only by the
    // many small groups that then overwrite it without a journal commit each. Measured: at
    // 256 appenders x 1 KiB (270 KiB groups) zero-filling lost (0.67-0.83x of off); with
    // the 1/8 limit that case grows the file as without preallocation.
    if (end > this.allocatedBytes && preallocateBytes > 0 && bytes.length * PREALLOCATE_WRITE_SHARE_MAX <= preallocateBytes) {
      this.writeZerosAhead(Math.max(end, Math.min(segmentBytes, this.allocatedBytes + preallocateBytes)) - this.allocatedBytes);
    }
    fs.writeAt(this.data, bytes, this.writtenBytes);
    this.writtenBytes = end;
    this.allocatedBytes = Math.max(this.allocatedBytes, end);
    this.lastWriteBytes = bytes.length;
  }

  /** Whether stepBetweenAppends() would write. */
  stepWanted(): boolean {
    return this.indexStepWanted() || this.fillAheadWanted();
  }

  /**
   * One step of the writing a filling segment does beside its records, between appends
   * rather than in line with one; returns whether more steps are wanted. The caller runs one
   * step per event-loop turn (CommitLog), so a group's write finds that work done instead of
   * doing it first, right before its fdatasync. A step is either
   * - the index slots encoded so far, once 4,096 of them wait (128 KiB; IndexImage); or
   * - zeros ahead of the records: once those have run below half of preallocateBytes (after
   *   a write small enough to zero-fill for), the next quarter of a new run of them. 1 MiB of
   *   zeros in line held the event loop 0.3-2 ms right before the group's fdatasync, where a
   *   quarter in a turn of its own overlaps the wait for another one.
   */
  stepBetweenAppends(): boolean {
    if (this.indexStepWanted()) this.index.writeRun();
    else if (this.fillAheadWanted()) this.fillAheadStep();
    return this.stepWanted();
  }

  private indexStepWanted(): boolean {
    return this.memory !== null && this.index.stepWanted();
  }

  /** Whether fillAheadStep() would write: a refill is under way, or the zeros ahead ran low after a small write. */
  private fillAheadWanted(): boolean {
    const { preallocateBytes, segmentBytes, writeThrough } = this.context;
    // Write-through groups carry their zeros ahead in their own write.
    if (this.memory === null || preallocateBytes === 0 || writeThrough) return false;
    if (this.fillTarget > this.allocatedBytes) return true;
    const small = this.lastWriteBytes * PREALLOCATE_WRITE_SHARE_MAX <= preallocateBytes;
    return small && this.allocatedBytes - this.writtenBytes < preallocateBytes / 2 && this.allocatedBytes < segmentBytes;
  }

  /** The next quarter of the run of zeros fillAheadWanted() asked for (the run starts when none is under way). */
  private fillAheadStep(): void {
    const { preallocateBytes, segmentBytes } = this.context;
    if (this.fillTarget <= this.allocatedBytes) this.fillTarget = Math.min(segmentBytes, this.allocatedBytes + preallocateBytes);
    this.writeZerosAhead(Math.min(Math.ceil(preallocateBytes / FILL_AHEAD_STEPS), this.fillTarget - this.allocatedBytes));
  }

  /** Writes `length` zeros after those already written ahead (from the one kept buffer of them). */
  private writeZerosAhead(length: number): void {
    if (this.zeros.length < length) this.zeros = new Uint8Array(Math.max(length, this.context.preallocateBytes));
    this.context.fs.writeAt(this.data, this.zeros.subarray(0, length), this.allocatedBytes);
    this.allocatedBytes += length;
  }

  /** Cuts zeros written ahead, so the file ends at its last record (durable after fdatasync); says whether it cut. */
  private trimPreallocation(): boolean {
    this.fillTarget = 0;
    if (this.allocatedBytes === this.writtenBytes) return false;
    this.context.fs.truncate(this.data, this.writtenBytes);
    this.allocatedBytes = this.writtenBytes;
    return true;
  }

  term(at: number): number {
    assert(at >= this.firstIndex && at <= this.lastIndex, () => `term(${at}) outside segment ${this.dataPath}`);
    if (this.memory !== null) return this.memory.termAt(at - this.firstIndex);
    const slot = this.readSlots(at, 1)[0];
    assert(slot !== undefined, () => `no index slot for ${at} in ${this.indexPath}`);
    return slot.term;
  }

  /**
   * Appends to `cursor.out` entries from `from` on (up to toExclusive, the segment's end and
   * the cursor's budgets), with one read of the segment file for the whole range.
   */
  read(from: number, toExclusive: number, cursor: ReadCursor): void {
    const last = Math.min(toExclusive - 1, this.lastIndex);
    if (from > last) return;
    const slots = this.plan(from, last, cursor);
    const first = slots[0];
    const final = slots.at(-1);
    if (first === undefined || final === undefined) return;
    const start = first.offset;
    const end = final.offset + final.recordBytes;
    const buf = new Uint8Array(end - start);
    // Records not yet handed to the file system, or in a write still in flight, are read from
    // memory: a read must not write them early (a sealed predecessor may still be waiting for
    // its fdatasync), and the file may not show a write in flight yet.
    const fromFile = Math.max(0, Math.min(end, this.writtenBytes) - start);
    let got = fromFile > 0 ? this.context.fs.readAt(this.data, buf.subarray(0, fromFile), start) : 0;
    if (got === fromFile && end > this.writtenBytes) {
      this.copyFromMemory(buf.subarray(got), Math.max(start, this.writtenBytes));
      got = buf.length;
    }
    for (const slot of slots) {
      const decoded = decodeRecord(buf.subarray(0, got), slot.offset - start, this.context.payloadBytesMax);
      if (!decoded.ok || decoded.entry.index !== slot.index || decoded.bytes !== slot.recordBytes) {
        throw new CorruptRecordError(this.dataPath, slot.offset, slot.index, decoded.ok ? 'wrong-index' : decoded.fault);
      }
      cursor.out.push(decoded.entry);
    }
  }

  /** Fills `into` with the bytes from `from` (at or past writtenBytes) on: those in flight first, then the deferred ones. */
  private copyFromMemory(into: Uint8Array, from: number): void {
    const inFlightFrom = Math.min(from - this.writtenBytes, this.inFlightBytes);
    const fromInFlight = Math.min(into.length, this.inFlightBytes - inFlightFrom);
    into.set(this.inFlight.subarray(inFlightFrom, inFlightFrom + fromInFlight));
    const unwrittenFrom = Math.max(0, from - this.writtenBytes - this.inFlightBytes);
    into.set(this.unwritten.subarray(unwrittenFrom, unwrittenFrom + into.length - fromInFlight), fromInFlight);
  }

  /**
   * A read found damage in this sealed segment: unlinks its index file (the open handle keeps
   * serving the good records), so that the next open has to rebuild the index, which reads
   * and checks every record and so finds the damage there. Not synced: if the removal is
   * lost to a crash, the next read of the damage drops the index again. No-op when active.
   */
  dropIndexFile(): void {
    if (this.memory !== null) return;
    const { fs, dir } = this.context;
    if (fs.list(dir).includes(path.basename(this.indexPath))) fs.remove(this.indexPath);
  }

  /** Removes entries after `at` (firstIndex - 1 <= at <= lastIndex); durable after fdatasync(data). */
  truncateAfter(at: number): void {
    assert(at >= this.firstIndex - 1 && at <= this.lastIndex, `truncateAfter(${at}) outside ${this.dataPath}`);
    if (this.memory === null) this.unseal();
    this.writePending();
    const memory = this.memory;
    assert(memory !== null, 'unseal left no memory index');
    const count = at - this.firstIndex + 1;
    const cut = count < memory.count ? memory.offsetAt(count) : this.sizeBytes;
    memory.truncate(count);
    this.index.truncate(count);
    this.context.fs.truncate(this.data, cut);
    this.sizeBytes = cut;
    this.writtenBytes = cut;
    this.allocatedBytes = cut;
    this.fillTarget = 0;
    this.lastIndex = at;
  }

  /**
   * Makes this segment read-only: writes its index file (whose sync is not waited for: the
   * index is a cache, see writeIndex) and, unless write-through (makeSealedDurable does it
   * then), writes what is deferred and cuts zeros written ahead. The caller must have the
   * data durable (makeSealedDurable) before the first byte of a later segment is written (a
   * later segment must never hold durable bytes while an earlier one still has unsynced ones,
   * or a crash could leave a hole that looks like damage).
   */
  seal(): void {
    const memory = this.memory;
    assert(memory !== null, `seal of sealed segment ${this.dataPath}`);
    if (!this.context.writeThrough) {
      this.writePending();
      this.trimPreallocation();
    }
    const handle = this.writeIndex(memory);
    this.memory = null;
    this.indexHandle = handle;
  }

  /** Releases the files; trims zeros written ahead (records not yet written stay unwritten). */
  close(): void {
    if (this.writtenBytes === this.sizeBytes) this.trimPreallocation();
    this.context.fs.close(this.data);
    if (this.indexHandle !== null) this.context.fs.close(this.indexHandle);
    this.index.close();
    this.indexHandle = null;
  }

  /** Unlinks the files (durable after syncDir); the caller closed the segment. */
  remove(): void {
    this.context.fs.remove(this.dataPath);
    if (this.context.fs.list(this.context.dir).includes(path.basename(this.indexPath))) {
      this.context.fs.remove(this.indexPath);
    }
  }

  /** Slots from..last, cut where the cursor's budgets run out (but at least one entry per call overall). */
  private plan(from: number, last: number, cursor: ReadCursor): IndexSlot[] {
    const slots: IndexSlot[] = [];
    // Bounded by entriesMax: every pass adds one slot or stops.
    for (let at = from; at <= last && cursor.out.length + slots.length < cursor.entriesMax; ) {
      const batch = this.slotsFrom(at, Math.min(SLOT_READ_BATCH, last - at + 1));
      for (const slot of batch) {
        const payload = slot.recordBytes - RECORD_HEADER_BYTES;
        const firstOverall = cursor.out.length === 0 && slots.length === 0;
        if (!firstOverall && (payload > cursor.payloadBytesLeft || cursor.out.length + slots.length >= cursor.entriesMax)) {
          return slots;
        }
        cursor.payloadBytesLeft -= payload;
        slots.push(slot);
        at++;
      }
    }
    return slots;
  }

  private slotsFrom(from: number, count: number): IndexSlot[] {
    const memory = this.memory;
    if (memory === null) return this.readSlots(from, count);
    const slots: IndexSlot[] = [];
    for (let k = from - this.firstIndex; k < from - this.firstIndex + count; k++) {
      const offset = memory.offsetAt(k);
      const end = k + 1 < memory.count ? memory.offsetAt(k + 1) : this.sizeBytes;
      slots.push({ offset, recordBytes: end - offset, index: this.firstIndex + k, term: memory.termAt(k) });
    }
    return slots;
  }

  /** Slots of a sealed segment from its index file; rebuilds the file once if a slot is bad. */
  private readSlots(from: number, count: number): IndexSlot[] {
    const handle = this.indexHandle;
    assert(handle !== null, () => `slot read of active segment ${this.dataPath}`);
    const buf = new Uint8Array(count * INDEX_SLOT_BYTES);
    const got = this.context.fs.readAt(handle, buf, (from - this.firstIndex) * INDEX_SLOT_BYTES);
    const slots: IndexSlot[] = [];
    for (let k = 0; k < count; k++) {
      const slot = decodeSlot(buf.subarray(0, got), k * INDEX_SLOT_BYTES, from + k);
      if (slot === null) {
        this.rebuildIndex();
        return this.readSlots(from, count);
      }
      slots.push(slot);
    }
    return slots;
  }

  /** Opens the index file, which exists, if it agrees with the data at both ends. */
  private openIndexIfValid(): boolean {
    const { fs, payloadBytesMax } = this.context;
    const handle = fs.open(this.indexPath, 'existing');
    const count = this.lastIndex - this.firstIndex + 1;
    const ends = new Uint8Array(INDEX_SLOT_BYTES * 2);
    fs.readAt(handle, ends.subarray(0, INDEX_SLOT_BYTES), 0);
    fs.readAt(handle, ends.subarray(INDEX_SLOT_BYTES), (count - 1) * INDEX_SLOT_BYTES);
    const head = decodeSlot(ends, 0, this.firstIndex);
    const tail = decodeSlot(ends, INDEX_SLOT_BYTES, this.lastIndex);
    let valid = fs.size(handle) === count * INDEX_SLOT_BYTES && head?.offset === 0;
    if (valid && tail !== null && tail.offset + tail.recordBytes === this.sizeBytes) {
      const record = new Uint8Array(tail.recordBytes);
      fs.readAt(this.data, record, tail.offset);
      const decoded = decodeRecord(record, 0, payloadBytesMax);
      valid = decoded.ok && decoded.entry.index === this.lastIndex && decoded.entry.term === tail.term;
    } else {
      valid = false;
    }
    if (valid) this.indexHandle = handle;
    else fs.close(handle);
    return valid;
  }

  /**
   * Rebuilds a sealed segment's index from its data, which must hold exactly
   * firstIndex..lastIndex of good records: anything else is damage, not a torn tail.
   */
  private rebuildIndex(checked: MemoryIndex = this.checkedScan()): void {
    if (this.indexHandle !== null) this.context.fs.close(this.indexHandle);
    this.indexHandle = this.writeIndex(checked);
  }

  /** Reads every record of a sealed segment, which must be exactly firstIndex..lastIndex of good records. */
  private checkedScan(): MemoryIndex {
    const { fs, payloadBytesMax } = this.context;
    const scan = scanSegment({ fs, handle: this.data, firstIndex: this.firstIndex, prevTerm: 0, payloadBytesMax });
    const count = this.lastIndex - this.firstIndex + 1;
    if (scan.index.count > count) {
      throw new CorruptRecordError(this.dataPath, scan.index.offsetAt(count), this.lastIndex + 1, 'wrong-index');
    }
    if (scan.fault !== null) {
      throw new CorruptRecordError(this.dataPath, scan.fault.byteOffset, scan.fault.expectedIndex, scan.fault.fault);
    }
    if (scan.index.count < count) {
      throw new MissingSegmentError(this.context.dir, this.firstIndex + scan.index.count, this.lastIndex + 1);
    }
    return scan.index;
  }

  /**
   * Completes the index file from `memory` (IndexImage.finish): its sync is not waited for,
   * since the index is a cache, checked against the data when opened and on every read, and
   * rebuilt from the segment when it is missing, short or wrong. Sealing happens on the append
   * path, where a synchronous sync of the index of a 64 MiB segment held every append for
   * milliseconds. A sealed segment reads its slots from the returned handle.
   */
  private writeIndex(memory: MemoryIndex): FileHandle {
    // Slots the appends did not encode: all of them for a rebuilt or recovered index.
    return this.index.finish(memory, this.sizeBytes, memory !== this.memory);
  }

  /** Turns a sealed segment back into the active one (truncation reached into it). */
  private unseal(): void {
    const count = this.lastIndex - this.firstIndex + 1;
    const memory = new MemoryIndex();
    for (let at = this.firstIndex; at <= this.lastIndex; at += SLOT_READ_BATCH) {
      for (const slot of this.readSlots(at, Math.min(SLOT_READ_BATCH, this.lastIndex - at + 1))) {
        memory.push(slot.offset, slot.term);
      }
    }
    assert(memory.count === count, 'unseal lost slots');
    if (this.indexHandle !== null) this.context.fs.close(this.indexHandle);
    this.indexHandle = null;
    this.memory = memory;
  }
}
