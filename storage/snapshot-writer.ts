import type { SnapshotMeta } from '../raft/index.js';
import { assert } from './assert.js';
import { encodeEndFrame, encodeFrameHeader, encodeHeader, FRAME_HEADER_BYTES, headerBytesOf } from './snapshot-file.js';
import { abandon, discard, type TempFile, type TempState } from './snapshot-temp.js';

/**
 * Writes a new snapshot: write() takes the payload in chunks of any size and writes a frame
 * each time chunkBytes have gathered (page-cache writes, one frame at a time, so a caller
 * that writes in chunks holds the event loop for one chunk's copy at most); finish() writes
 * the last frame, the end frame and the header, and publishes crash-atomically.
 */
export class SnapshotWriter {
  private current: TempState = 'writing';
  private readonly pending: Uint8Array;
  private pendingBytes = 0;
  private payloadBytes = 0;
  private fileOffset: number;

  constructor(private readonly file: TempFile & { readonly chunkBytes: number }) {
    this.pending = new Uint8Array(file.chunkBytes);
    this.fileOffset = headerBytesOf(file.meta);
  }

  /** Where it is in its life; it takes units or chunks only while the first state holds. */
  get state(): TempState {
    return this.current;
  }

  get meta(): SnapshotMeta {
    return this.file.meta;
  }

  /** Appends `chunk` to the payload. Keeps no reference to it. */
  write(chunk: Uint8Array): void {
    assert(this.current === 'writing', () => `write to a snapshot writer that is ${this.current}`);
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
    assert(this.current === 'writing', () => `finish of a snapshot writer that is ${this.current}`);
    this.current = 'finishing';
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
    this.current = 'finished';
    this.file.publisher.released(tempPath, this);
    return meta;
  }

  /** Drops the unfinished snapshot and its temp file. Idempotent; nothing after finish(). */
  abort(): void {
    this.current = abandon(this.file, this.current, this);
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
    this.current = 'failed';
    discard(this.file, true);
    this.file.publisher.released(this.file.tempPath, this);
  }
}
