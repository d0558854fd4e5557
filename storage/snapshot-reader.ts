import type { SnapshotMeta } from '../raft/index.js';
import { assert } from './assert.js';
import { CorruptSnapshotError, type SnapshotFault } from './errors.js';
import type { FileHandle, FileSystem } from './file-system.js';
import type { Scheduler } from './scheduler.js';
import { checkFrame, decodeHeader, fileBytesOf, HEADER_BYTES_MAX, type SnapshotHeader, unitAt } from './snapshot-file.js';

/** One unit of a snapshot file as it lies on disk: the header, a frame or the end frame. */
export interface SnapshotUnit {
  /** Where it starts in the file (a transfer's byte offset). */
  readonly offset: number;
  /** Its raw bytes, framing included: what a leader sends and a receiver's accept() takes. */
  readonly bytes: Uint8Array;
  readonly nextOffset: number;
  /** It is the end frame: nothing follows. */
  readonly last: boolean;
}

/**
 * Reads one stored snapshot. open() checks the header and the file's size against the
 * layout the header fixes; every unit is checked (length, crc) as it is read, so damage is
 * a CorruptSnapshotError (with the file and the byte offset), never bytes handed on.
 * Reads are synchronous page-cache reads of one unit each; the async methods yield to other
 * work between units.
 */
export class SnapshotReader {
  private constructor(
    private readonly fs: FileSystem,
    readonly filePath: string,
    private readonly handle: FileHandle,
    private readonly header: SnapshotHeader,
    private readonly scheduler: Scheduler,
  ) {}

  static open(options: {
    readonly fs: FileSystem;
    readonly filePath: string;
    /** The index and term the file's name gives, which its header must repeat. */
    readonly expected: { readonly index: number; readonly term: number };
    readonly scheduler: Scheduler;
  }): SnapshotReader {
    const { fs, filePath, expected } = options;
    const handle = fs.open(filePath, 'existing');
    try {
      const fileBytes = fs.size(handle);
      const start = new Uint8Array(Math.min(fileBytes, HEADER_BYTES_MAX));
      fs.readAt(handle, start, 0);
      const header = decodeHeader(start);
      if (typeof header === 'string') throw new CorruptSnapshotError(filePath, 0, header);
      if (header.meta.index !== expected.index || header.meta.term !== expected.term) throw new CorruptSnapshotError(filePath, 0, 'wrong-meta');
      if (fileBytes !== fileBytesOf(header)) throw new CorruptSnapshotError(filePath, Math.min(fileBytes, fileBytesOf(header)), 'wrong-size');
      return new SnapshotReader(fs, filePath, handle, header, options.scheduler);
    } catch (error) {
      fs.close(handle);
      throw error;
    }
  }

  get meta(): SnapshotMeta {
    return this.header.meta;
  }

  get payloadBytes(): number {
    return this.header.payloadBytes;
  }

  /** The file's size: the bytes a transfer of it sends. */
  get fileBytes(): number {
    return fileBytesOf(this.header);
  }

  /**
   * `length` raw bytes of the file from `offset`, unchecked: a transfer ships them and the
   * receiver checks every unit on arrival (a reader that must trust the bytes uses readFrame).
   */
  readBytes(offset: number, length: number): Uint8Array {
    assert(offset >= 0 && length >= 0 && offset + length <= this.fileBytes, () => `bytes ${offset}..${offset + length} outside ${this.filePath} (${this.fileBytes} bytes)`);
    const bytes = new Uint8Array(length);
    if (this.fs.readAt(this.handle, bytes, offset) < length) throw new CorruptSnapshotError(this.filePath, offset, 'wrong-size');
    return bytes;
  }

  /**
   * The unit at `offset`, checked: 0 for the header, then each `nextOffset` (or a
   * receiver's receivedBytes, to resume a transfer). An offset where no unit starts is a
   * caller bug.
   */
  readFrame(offset: number): SnapshotUnit {
    const unit = unitAt(this.header, offset);
    assert(unit !== null, () => `no snapshot unit starts at byte ${offset} of ${this.filePath}`);
    const bytes = new Uint8Array(unit.bytes);
    const read = this.fs.readAt(this.handle, bytes, offset);
    if (read < unit.bytes) throw new CorruptSnapshotError(this.filePath, offset, 'wrong-size');
    const fault = unit.kind === 'header' ? headerFault(bytes, this.header) : checkFrame(this.header, unit, bytes);
    if (fault !== null) throw new CorruptSnapshotError(this.filePath, offset, fault);
    return { offset, bytes, nextOffset: offset + unit.bytes, last: unit.kind === 'end' };
  }

  /** The units from `fromOffset` to the end frame, one per step, yielding to other work between them. */
  async *frames(fromOffset = 0): AsyncGenerator<SnapshotUnit, void, undefined> {
    // Bounded: each pass moves at least 8 bytes on, and the file's size is fixed.
    for (let offset = fromOffset; ; ) {
      const unit = this.readFrame(offset);
      yield unit;
      if (unit.last) return;
      offset = unit.nextOffset;
      await this.yieldTurn();
    }
  }

  /** The whole payload, every frame checked. */
  async readPayload(): Promise<Uint8Array> {
    const out = new Uint8Array(this.header.payloadBytes);
    let at = 0;
    for await (const unit of this.frames(0)) {
      if (unit.offset === 0 || unit.last) continue;
      const payload = unit.bytes.subarray(8);
      out.set(payload, at);
      at += payload.length;
    }
    assert(at === out.length, 'snapshot frames did not fill the payload');
    return out;
  }

  /** Reads and checks every unit. */
  async verify(): Promise<void> {
    // Bounded by the file's units (frames() ends at the end frame).
    for await (const unit of this.frames(0)) void unit;
  }

  close(): void {
    this.fs.close(this.handle);
  }

  private yieldTurn(): Promise<void> {
    return new Promise((resolve) => this.scheduler.soon(resolve));
  }
}

/** The header as read now must be the one open() decoded. */
function headerFault(bytes: Uint8Array, header: SnapshotHeader): SnapshotFault | null {
  const again = decodeHeader(bytes);
  if (typeof again === 'string') return again;
  return again.payloadBytes === header.payloadBytes && again.chunkBytes === header.chunkBytes ? null : 'bad-header';
}
