import { assert } from './assert.js';
import { SnapshotTransferError, type SnapshotFault } from './errors.js';
import type { FileHandle, FileSystem } from './file-system.js';
import {
  checkFrame,
  decodeHeader,
  encodeEndFrame,
  encodeFrameHeader,
  encodeHeader,
  FRAME_HEADER_BYTES,
  headerBytesOf,
  sameMeta,
  type SnapshotHeader,
  type SnapshotMeta,
  type Unit,
  unitAt,
} from './snapshot-file.js';

/** What the store does for its writers and receivers (SnapshotStore implements it). */
export interface Publisher {
  /** fdatasync the temp file, close it, rename it to the snapshot's name, sync the directory. */
  publish(handle: FileHandle, tempPath: string, meta: SnapshotMeta): Promise<void>;
  /** The temp file is no longer this writer's or receiver's (published, aborted or failed). */
  released(tempPath: string, owner: SnapshotWriter | SnapshotReceiver): void;
}

interface TempFile {
  readonly fs: FileSystem;
  readonly publisher: Publisher;
  readonly meta: SnapshotMeta;
  readonly handle: FileHandle;
  readonly tempPath: string;
}

/** The life of a writer or receiver: it leaves the first state once, for one of the others. */
export type TempState = 'receiving' | 'writing' | 'finishing' | 'finished' | 'aborted' | 'failed';

/** Closes and unlinks a temp file that will not be published (best effort: open removes leftovers). */
function discard(file: TempFile, closeHandle: boolean): void {
  // A failed close or unlink (a handle closed by a failed publish, a crashed process) leaves
  // at most a temp file, which the next open removes.
  try {
    if (closeHandle) file.fs.close(file.handle);
  } catch {
    // see above
  }
  try {
    file.fs.remove(file.tempPath);
  } catch {
    // see above
  }
}

/**
 * Writes a new snapshot: write() takes the payload in chunks of any size and writes a frame
 * each time chunkBytes have gathered (page-cache writes, one frame at a time, so a caller
 * that writes in chunks holds the event loop for one chunk's copy at most); finish() writes
 * the last frame, the end frame and the header, and publishes crash-atomically.
 */
export class SnapshotWriter {
  state: TempState = 'writing';
  private readonly pending: Uint8Array;
  private pendingBytes = 0;
  private payloadBytes = 0;
  private fileOffset: number;

  constructor(private readonly file: TempFile & { readonly chunkBytes: number }) {
    this.pending = new Uint8Array(file.chunkBytes);
    this.fileOffset = headerBytesOf(file.meta);
  }

  get meta(): SnapshotMeta {
    return this.file.meta;
  }

  /** Appends `chunk` to the payload. Keeps no reference to it. */
  write(chunk: Uint8Array): void {
    assert(this.state === 'writing', () => `write to a snapshot writer that is ${this.state}`);
    const { chunkBytes } = this.file;
    try {
      // Bounded: each pass takes at least one byte of the chunk.
      for (let at = 0; at < chunk.length; ) {
        if (this.pendingBytes === 0 && chunk.length - at >= chunkBytes) {
          this.writeFrame(chunk.subarray(at, at + chunkBytes));
          at += chunkBytes;
          continue;
        }
        const take = Math.min(chunkBytes - this.pendingBytes, chunk.length - at);
        this.pending.set(chunk.subarray(at, at + take), this.pendingBytes);
        this.pendingBytes += take;
        at += take;
        if (this.pendingBytes === chunkBytes) this.writePending();
      }
    } catch (error) {
      this.fail();
      throw error;
    }
  }

  /** Publishes the snapshot; when this resolves it is durable and latest() may return it. */
  async finish(): Promise<SnapshotMeta> {
    assert(this.state === 'writing', () => `finish of a snapshot writer that is ${this.state}`);
    this.state = 'finishing';
    const { fs, handle, meta, tempPath } = this.file;
    try {
      this.writePending();
      fs.writeAt(handle, encodeEndFrame(this.payloadBytes), this.fileOffset);
      fs.writeAt(handle, encodeHeader(meta, this.payloadBytes, this.file.chunkBytes), 0);
      await this.file.publisher.publish(handle, tempPath, meta);
    } catch (error) {
      this.fail();
      throw error;
    }
    this.state = 'finished';
    this.file.publisher.released(tempPath, this);
    return meta;
  }

  /** Drops the unfinished snapshot and its temp file. Idempotent; nothing after finish(). */
  abort(): void {
    if (this.state === 'finished' || this.state === 'aborted') return;
    const wasOpen = this.state !== 'failed';
    this.state = 'aborted';
    discard(this.file, wasOpen);
    this.file.publisher.released(this.file.tempPath, this);
  }

  private writePending(): void {
    if (this.pendingBytes === 0) return;
    this.writeFrame(this.pending.subarray(0, this.pendingBytes));
    this.pendingBytes = 0;
  }

  private writeFrame(bytes: Uint8Array): void {
    const { fs, handle } = this.file;
    fs.writeAt(handle, encodeFrameHeader(this.payloadBytes, bytes), this.fileOffset);
    fs.writeAt(handle, bytes, this.fileOffset + FRAME_HEADER_BYTES);
    this.fileOffset += FRAME_HEADER_BYTES + bytes.length;
    this.payloadBytes += bytes.length;
  }

  private fail(): void {
    this.state = 'failed';
    discard(this.file, true);
    this.file.publisher.released(this.file.tempPath, this);
  }
}

/**
 * Receives a snapshot streamed from a leader as the units of its file (SnapshotReader's
 * readFrame): the header, then each frame, then the end frame, in order. Each unit is
 * checked on arrival (its length by the layout the header fixes, its crc) and written
 * unchanged; a bad one is refused with SnapshotTransferError and everything before it is
 * kept, so the leader resumes at receivedBytes. finish() checks the end frame has arrived and
 * publishes crash-atomically, like a writer.
 */
export class SnapshotReceiver {
  state: TempState = 'receiving';
  private header: SnapshotHeader | null = null;
  private offset = 0;
  private ended = false;

  constructor(private readonly file: TempFile) {}

  get meta(): SnapshotMeta {
    return this.file.meta;
  }

  /** Bytes received and kept: where the next unit must start. */
  get receivedBytes(): number {
    return this.offset;
  }

  /** The end frame has arrived: finish() may publish. */
  get complete(): boolean {
    return this.ended;
  }

  /**
   * Takes one or more whole units starting at file offset `offset`, which must be
   * receivedBytes. Writes each good unit (page cache; durable at finish). Throws
   * SnapshotTransferError at the first bad one, keeping those before it.
   */
  accept(offset: number, bytes: Uint8Array): void {
    assert(this.state === 'receiving', () => `accept on a snapshot receiver that is ${this.state}`);
    if (offset !== this.offset) throw new SnapshotTransferError('wrong-offset', offset, this.offset);
    // Bounded: each pass keeps one whole unit (at least 8 bytes) or throws.
    for (let at = 0; at < bytes.length; ) {
      const unit = this.nextUnit();
      const fault = unit === null ? 'after-end' : bytes.length - at < unit.bytes ? 'short-unit' : this.check(unit, bytes.subarray(at, at + unit.bytes));
      if (fault !== null || unit === null) throw new SnapshotTransferError(fault ?? 'after-end', this.offset, this.offset);
      try {
        this.file.fs.writeAt(this.file.handle, bytes.subarray(at, at + unit.bytes), this.offset);
      } catch (error) {
        this.fail();
        throw error;
      }
      if (unit.kind === 'end') this.ended = true;
      this.offset += unit.bytes;
      at += unit.bytes;
    }
  }

  /** Publishes the received snapshot; SnapshotTransferError ('incomplete') before its end frame arrived. */
  async finish(): Promise<SnapshotMeta> {
    assert(this.state === 'receiving', () => `finish of a snapshot receiver that is ${this.state}`);
    if (!this.ended) throw new SnapshotTransferError('incomplete', this.offset, this.offset);
    this.state = 'finishing';
    try {
      await this.file.publisher.publish(this.file.handle, this.file.tempPath, this.file.meta);
    } catch (error) {
      this.fail();
      throw error;
    }
    this.state = 'finished';
    this.file.publisher.released(this.file.tempPath, this);
    return this.file.meta;
  }

  /** Drops the partial snapshot and its temp file. Idempotent; nothing after finish(). */
  abort(): void {
    if (this.state === 'finished' || this.state === 'aborted') return;
    const wasOpen = this.state !== 'failed';
    this.state = 'aborted';
    discard(this.file, wasOpen);
    this.file.publisher.released(this.file.tempPath, this);
  }

  /** What must arrive next: the header (its size follows from the meta), a frame, the end frame; null after it. */
  private nextUnit(): Unit | null {
    if (this.header === null) return { kind: 'header', bytes: headerBytesOf(this.file.meta) };
    if (this.ended) return null;
    const unit = unitAt(this.header, this.offset);
    assert(unit !== null && unit.kind !== 'header', () => `receiver at byte ${this.offset} is between units`);
    return unit;
  }

  private check(unit: Unit, bytes: Uint8Array): SnapshotFault | null {
    if (unit.kind !== 'header') {
      assert(this.header !== null, 'a frame before the header');
      return checkFrame(this.header, unit, bytes);
    }
    const header = decodeHeader(bytes);
    if (typeof header === 'string') return header;
    if (!sameMeta(header.meta, this.file.meta)) return 'wrong-meta';
    this.header = header;
    return null;
  }

  private fail(): void {
    this.state = 'failed';
    discard(this.file, true);
    this.file.publisher.released(this.file.tempPath, this);
  }
}
