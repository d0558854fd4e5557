import * as fs from 'node:fs';

import { alignedBytes } from '../direct-writer.js';
import { DURABLE_WRITE_BLOCK_BYTES as BLOCK_BYTES, durableWriteEnd } from '../file-system.js';

const ZERO_RUN_BYTES = 1024 * 1024;
/** `bytes` rounded up to whole blocks. */
const wholeBlocks = (bytes: number): number => durableWriteEnd(0, bytes);

export interface DirectAppenderOptions {
  /** Zeros written and synced at open, which the records then overwrite; past them the appender starts over at 0. */
  readonly zeroBytes: number;
  /** The longest chunk append() takes. */
  readonly chunkBytesMax: number;
  /** Open with O_DSYNC too: each append is durable when it returns (as the log's sync mode writes), with no sync() after it. */
  readonly durableEachAppend?: boolean;
}

/**
 * Appends chunks to a file opened with O_DIRECT, so that they never enter the page cache: the
 * storage bench's measure of what writing a log's records that way would save (filling new
 * page-cache pages costs a guest whose freed memory goes back to its host about ten times the
 * CPU of reusing pages; docs/bench.md, "Where the time goes").
 *
 * Underneath every write is whole blocks from block-aligned memory (alignedBytes, as the
 * log's DirectWriter): the block holding the previous chunk's tail is written again with the
 * next chunk, its head kept in memory, and the last block is padded with zeros. A write
 * returns once the device has the data, not once it is durable (unless durableEachAppend):
 * sync() is what makes it so. For a bench loop only: the write blocks its caller on the
 * device.
 */
export class DirectAppender {
  readonly fd: number;
  readonly #scratch: Buffer;
  readonly #options: DirectAppenderOptions;
  /** Bytes appended since the last start over: the next chunk goes here. */
  #end = 0;
  /** scratch[0, headBytes) holds the bytes of the block that #end falls in, before #end. */
  #headBytes = 0;

  private constructor(fd: number, scratch: Buffer, options: DirectAppenderOptions) {
    this.fd = fd;
    this.#scratch = scratch;
    this.#options = options;
  }

  /** Creates (or empties) `file` and fills it with `zeroBytes` of synced zeros, written past the page cache. */
  static open(file: string, options: DirectAppenderOptions): DirectAppender {
    const zeroBytes = wholeBlocks(options.zeroBytes);
    if (zeroBytes < wholeBlocks(options.chunkBytesMax) + BLOCK_BYTES) throw new RangeError(`${options.zeroBytes} bytes of zeros cannot hold a chunk of ${options.chunkBytesMax} bytes`);
    const scratchBytes = wholeBlocks(options.chunkBytesMax) + BLOCK_BYTES;
    const scratch = Buffer.from(alignedBytes(scratchBytes).buffer, 0, scratchBytes);
    const zeros = Buffer.from(alignedBytes(ZERO_RUN_BYTES).buffer, 0, ZERO_RUN_BYTES);
    const { O_RDWR, O_CREAT, O_TRUNC, O_DIRECT, O_DSYNC } = fs.constants;
    const fd = fs.openSync(file, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | (options.durableEachAppend === true ? O_DSYNC : 0), 0o644);
    try {
      for (let at = 0; at < zeroBytes; at += zeros.length) writeWhole(fd, zeros, Math.min(zeros.length, zeroBytes - at), at);
      fs.fdatasyncSync(fd);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    return new DirectAppender(fd, scratch, { ...options, zeroBytes });
  }

  /** Writes `chunk` after the previous one (at 0 again once the zeros are used up). */
  append(chunk: Uint8Array): void {
    const { chunkBytesMax, zeroBytes } = this.#options;
    if (chunk.length > chunkBytesMax) throw new RangeError(`a chunk of ${chunk.length} bytes: this appender takes at most ${chunkBytesMax}`);
    if (this.#end + chunk.length > zeroBytes) {
      this.#end = 0;
      this.#headBytes = 0;
    }
    const scratch = this.#scratch;
    scratch.set(chunk, this.#headBytes);
    const used = this.#headBytes + chunk.length;
    const span = wholeBlocks(used);
    scratch.fill(0, used, span);
    writeWhole(this.fd, scratch, span, this.#end - this.#headBytes);
    this.#end += chunk.length;
    const lastBlock = used - (used % BLOCK_BYTES);
    scratch.copyWithin(0, lastBlock, used);
    this.#headBytes = used - lastBlock;
  }

  /** fdatasync: what was appended is durable when it returns. */
  sync(): void {
    fs.fdatasyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** One write of `bytes` from the start of `from` at `position`; a short write (never seen for whole blocks) throws. */
function writeWhole(fd: number, from: Buffer, bytes: number, position: number): void {
  const written = fs.writeSync(fd, from, 0, bytes, position);
  if (written !== bytes) throw new Error(`O_DIRECT write of ${bytes} bytes at ${position} wrote ${written}`);
}
