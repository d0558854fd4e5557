import * as fs from 'node:fs';

import { assert } from './assert.js';
import { StorageIoError } from './errors.js';
import { DURABLE_WRITE_BLOCK_BYTES, durableWriteEnd } from './file-system.js';

const BLOCK_BYTES = DURABLE_WRITE_BLOCK_BYTES;
/** WebAssembly memory comes in pages of this size. */
const WASM_PAGE_BYTES = 64 * 1024;
/** Aligned memory larger than this is let go once its write completes, so one burst does not keep it. */
const KEPT_MEMORY_BYTES_MAX = 4 * 1024 * 1024;
/** WebAssembly.Memory (Node has it; the project's TypeScript lib does not name it). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } } }).WebAssembly.Memory;

/**
 * At least `bytes` zeroed bytes at a block-aligned address, as O_DIRECT asks of a buffer: a
 * WebAssembly memory, whose pages Node allocates aligned (a Buffer's address may not be).
 */
export function alignedBytes(bytes: number): Uint8Array {
  return new Uint8Array(new WasmMemory({ initial: Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES)) }).buffer);
}

/**
 * NodeFileSystem.writeDurably's writes past the page cache, for one open file: filling new
 * page-cache pages costs this Firecracker guest, whose freed memory goes back to its host, about
 * ten times the CPU of reusing pages (docs/bench.md, "Where the time goes"). A second fd on the
 * file, opened with O_DIRECT | O_DSYNC, takes whole blocks from block-aligned memory, and a write
 * completes once they and the file's size are durable: no fdatasync after it.
 *
 * The first block of a write starts before the write's position: its head must be the file's
 * bytes. The head of the block the last write ended in is kept here, so a log appending group
 * after group reads nothing from the disk; after an open, a buffered write or a truncate the head
 * is read from the file (the owner calls forgetHead() when those may have changed it).
 */
export class DirectWriter {
  readonly #fd: number;
  /** The file's buffered fd, which heads not kept here are read through. */
  readonly #bufferedFd: number;
  readonly #path: string;
  /**
   * Where writes are assembled: a WebAssembly memory, whose pages Node allocates aligned (a
   * Buffer's address may not be, and O_DIRECT refuses an unaligned one). Null before the first
   * write and after a large one.
   */
  #scratch: Uint8Array | null = null;
  /** #head[0, #headBytes) are the file's bytes from #headBlockStart; null when not known. */
  #headBlockStart: number | null = null;
  #headBytes = 0;
  readonly #head = new Uint8Array(BLOCK_BYTES);
  /** A write is on the thread pool (at most one: it owns #scratch until it completes). */
  #writing = false;

  private constructor(fd: number, bufferedFd: number, path: string) {
    this.#fd = fd;
    this.#bufferedFd = bufferedFd;
    this.#path = path;
  }

  /**
   * Opens the direct fd of the file open as `bufferedFd`, or returns null where the platform or
   * the file system refuses O_DIRECT (tmpfs before Linux 6.6 answers EINVAL). Through
   * /proc/self/fd, so it is the same inode even after a rename or unlink of `path`.
   */
  static open(bufferedFd: number, path: string): DirectWriter | null {
    const { O_RDWR, O_DIRECT, O_DSYNC } = fs.constants;
    if (O_DIRECT === undefined || O_DSYNC === undefined) return null;
    try {
      return new DirectWriter(fs.openSync(`/proc/self/fd/${bufferedFd}`, O_RDWR | O_DIRECT | O_DSYNC), bufferedFd, path);
    } catch {
      return null;
    }
  }

  get writing(): boolean {
    return this.#writing;
  }

  /**
   * Writes `data` at `position`, `zerosAfter` zeros and zeros to the block end, resolving once
   * they are durable. Copies `data` before it returns. Rejects with StorageIoError.
   */
  write(data: Uint8Array, position: number, zerosAfter: number): Promise<void> {
    assert(!this.#writing, () => `writeDurably on ${this.#path} while another is in flight`);
    assert(Number.isSafeInteger(position) && position >= 0, () => `writeDurably at ${position}`);
    const blockStart = position - (position % BLOCK_BYTES);
    const headBytes = position - blockStart;
    const spanBytes = durableWriteEnd(position, data.length + zerosAfter) - blockStart;
    const scratch = this.#scratchOf(spanBytes);
    try {
      this.#fillHead(scratch, blockStart, headBytes);
    } catch (error) {
      return Promise.reject(new StorageIoError('read', this.#path, { cause: error }));
    }
    scratch.set(data, headBytes);
    scratch.fill(0, headBytes + data.length, spanBytes);
    this.#writing = true;
    return new Promise((resolve, reject) => {
      fs.write(this.#fd, scratch, 0, spanBytes, blockStart, (error, writtenBytes) => {
        this.#writing = false;
        if (error === null && writtenBytes === spanBytes) {
          this.#keepHead(scratch, blockStart, headBytes + data.length);
          resolve();
        } else {
          this.#headBlockStart = null;
          const cause = error ?? new Error(`short write: ${writtenBytes} of ${spanBytes} bytes at ${blockStart}`);
          reject(new StorageIoError('write', this.#path, { cause }));
        }
        if (scratch.length > KEPT_MEMORY_BYTES_MAX) this.#scratch = null;
      });
    });
  }

  /** The file's bytes before the next write's position may have changed (a buffered write, a truncate). */
  forgetHead(): void {
    this.#headBlockStart = null;
  }

  /** Closes the direct fd; the buffered one is the owner's. */
  close(): void {
    assert(!this.#writing, () => `close of ${this.#path} while a writeDurably is in flight`);
    try {
      fs.closeSync(this.#fd);
    } catch (error) {
      throw new StorageIoError('close', this.#path, { cause: error });
    }
  }

  #scratchOf(bytes: number): Uint8Array {
    if (this.#scratch !== null && this.#scratch.length >= bytes) return this.#scratch;
    this.#scratch = alignedBytes(bytes);
    return this.#scratch;
  }

  /** Puts the file's `headBytes` bytes from `blockStart` at the start of `into`. */
  #fillHead(into: Uint8Array, blockStart: number, headBytes: number): void {
    if (headBytes === 0) return;
    if (this.#headBlockStart === blockStart && headBytes <= this.#headBytes) {
      into.set(this.#head.subarray(0, headBytes));
      return;
    }
    let done = 0;
    // Bounded: every pass reads at least one byte or stops at end of file, past which are zeros.
    while (done < headBytes) {
      const n = fs.readSync(this.#bufferedFd, into, done, headBytes - done, blockStart + done);
      if (n === 0) break;
      done += n;
    }
    into.fill(0, done, headBytes);
  }

  /** Keeps the head of the block a write of `usedBytes` bytes (head and data) from `blockStart` ended in. */
  #keepHead(scratch: Uint8Array, blockStart: number, usedBytes: number): void {
    const lastBlockOffset = usedBytes - (usedBytes % BLOCK_BYTES);
    this.#head.set(scratch.subarray(lastBlockOffset, usedBytes));
    this.#headBlockStart = blockStart + lastBlockOffset;
    this.#headBytes = usedBytes - lastBlockOffset;
  }
}
