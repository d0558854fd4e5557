import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { DirectAppender } from '../../storage/bench/direct-appender.js';
import { rawDirectRate } from '../../storage/bench/raw-sync.js';
import { tempDir } from '../harness/temp-dir.js';

describe('DirectAppender (the storage bench\'s O_DIRECT record writes)', () => {
  it('appends chunks of any length at any offset, block-aligned underneath, and the file reads back as their concatenation', () => {
    const dir = tempDir('quorumlog-direct-');
    const file = path.join(dir, 'data');
    const appender = DirectAppender.open(file, { zeroBytes: 64 * 1024, chunkBytesMax: 8 * 1024 });
    const chunks: Buffer[] = [];
    // Odd lengths, so every append starts inside a block that holds the previous one's tail.
    for (const [k, length] of [1, 511, 512, 513, 700, 4096, 5000, 3, 8192].entries()) {
      const chunk = Buffer.alloc(length, k + 1);
      chunk[0] = 200 + k; // marks each chunk's first byte, so a chunk written over its neighbour shows
      appender.append(chunk);
      chunks.push(chunk);
    }
    appender.sync();
    appender.close();
    const expected = Buffer.concat(chunks);
    const onDisk = fs.readFileSync(file);
    // The zeros run ahead of the records, the records first.
    expect(onDisk.length).toBe(64 * 1024);
    expect(onDisk.subarray(0, expected.length).equals(expected)).toBe(true);
    expect(onDisk.subarray(expected.length).every((byte) => byte === 0)).toBe(true);
  });

  it('with durableEachAppend opens the file O_DSYNC too (each append durable when it returns), which the raw past-the-page-cache rate uses', () => {
    const dir = tempDir('quorumlog-direct-');
    /** The open flags the kernel holds for `fd` (octal in /proc/self/fdinfo). */
    const flagsOf = (fd: number): number => Number.parseInt(/flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? 'x', 8);
    const plain = DirectAppender.open(path.join(dir, 'plain'), { zeroBytes: 8 * 1024, chunkBytesMax: 1024 });
    const durable = DirectAppender.open(path.join(dir, 'durable'), { zeroBytes: 8 * 1024, chunkBytesMax: 1024, durableEachAppend: true });
    try {
      expect(flagsOf(plain.fd) & fs.constants.O_DSYNC).toBe(0);
      expect(flagsOf(durable.fd) & fs.constants.O_DSYNC).toBe(fs.constants.O_DSYNC);
      expect(flagsOf(durable.fd) & fs.constants.O_DIRECT).toBe(fs.constants.O_DIRECT);
    } finally {
      plain.close();
      durable.close();
    }
    const rate = rawDirectRate(dir, 128, 50, 64 * 1024);
    expect(rate.perSecond).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['durable', 'plain']); // its own file removed
  });

  it('starts over at the front once the zeros are used up, as the ceiling\'s page-cache loop does', () => {
    const dir = tempDir('quorumlog-direct-');
    const file = path.join(dir, 'data');
    const appender = DirectAppender.open(file, { zeroBytes: 8 * 1024, chunkBytesMax: 4 * 1024 });
    appender.append(Buffer.alloc(3000, 1));
    appender.append(Buffer.alloc(3000, 2));
    appender.append(Buffer.alloc(3000, 3)); // past 8 KiB: written at 0
    appender.close();
    const onDisk = fs.readFileSync(file);
    expect(onDisk.subarray(0, 3000).every((byte) => byte === 3)).toBe(true);
    // Only the block the third chunk ends in was padded: the second chunk's bytes past it stay.
    expect(onDisk.subarray(4096, 6000).every((byte) => byte === 2)).toBe(true);
  });

  it('refuses a chunk longer than it was sized for', () => {
    const dir = tempDir('quorumlog-direct-');
    const appender = DirectAppender.open(path.join(dir, 'data'), { zeroBytes: 8 * 1024, chunkBytesMax: 1024 });
    expect(() => appender.append(Buffer.alloc(1025))).toThrow(/1025 bytes: this appender takes at most 1024/);
    appender.close();
  });
});
