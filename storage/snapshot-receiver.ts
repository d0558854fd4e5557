import type { SnapshotMeta } from '../raft/index.js';
import { assert } from './assert.js';
import { SnapshotTransferError, type SnapshotFault } from './errors.js';
import { checkFrame, decodeHeader, headerBytesOf, sameMeta, type SnapshotHeader, type Unit, unitAt } from './snapshot-file.js';
import { abandon, discard, type TempFile, type TempState } from './snapshot-temp.js';

/**
 * Receives a snapshot streamed from a leader as the units of its file (SnapshotReader's
 * readFrame): the header, then each frame, then the end frame, in order. Each unit is
 * checked on arrival (its length by the layout the header fixes, its crc) and written
 * unchanged; a bad one is refused with SnapshotTransferError and everything before it is
 * kept, so the leader resumes at receivedBytes. finish() checks the end frame has arrived and
 * publishes crash-atomically, like a writer.
 */
export class SnapshotReceiver {
  private current: TempState = 'receiving';
  private header: SnapshotHeader | null = null;
  private offset = 0;
  private ended = false;

  constructor(private readonly file: TempFile) {}

  /** Where it is in its life; it takes units or chunks only while the first state holds. */
  get state(): TempState {
    return this.current;
  }

  get meta(): SnapshotMeta {
    return this.file.meta;
  }

  /** Bytes received and kept: where the next unit must start. */
  get receivedBytes(): number {
    return this.offset;
  }

  /**
   * The size of the unit that must arrive next (the header, a frame or the end frame), or 0
   * once the end frame has: a transport that delivers the file in pieces of its own size
   * gathers this many bytes before accept().
   */
  get nextUnitBytes(): number {
    return this.nextUnit()?.bytes ?? 0;
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
    this.refuseIfSuperseded(offset);
    assert(this.current === 'receiving', () => `accept on a snapshot receiver that is ${this.current}`);
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
    this.refuseIfSuperseded(this.offset);
    assert(this.current === 'receiving', () => `finish of a snapshot receiver that is ${this.current}`);
    if (!this.ended) throw new SnapshotTransferError('incomplete', this.offset, this.offset);
    this.current = 'finishing';
    try {
      await this.file.publisher.publish(this.file.handle, this.file.tempPath, this.file.meta);
    } catch (error) {
      this.fail();
      throw error;
    }
    this.current = 'finished';
    this.file.publisher.released(this.file.tempPath, this);
    return this.file.meta;
  }

  /** Drops the partial snapshot and its temp file. Idempotent; nothing after finish(). */
  abort(): void {
    this.current = abandon(this.file, this.current, this);
  }

  /**
   * The store gives a partial copy up when a stream of another snapshot begins (receive()),
   * and the stream this receiver served may still be sending (two leaders, one deposed, at
   * once): an operating condition, refused with SnapshotTransferError ('superseded').
   */
  private refuseIfSuperseded(offset: number): void {
    if (this.current === 'aborted') throw new SnapshotTransferError('superseded', offset, 0);
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
    this.current = 'failed';
    discard(this.file, true);
    this.file.publisher.released(this.file.tempPath, this);
  }
}
