/**
 * NodeFileSystem.writeDurably: whole blocks written past the page cache (O_DIRECT | O_DSYNC
 * through a second fd), the head of the first block from the cache or the file, the buffered
 * fd synced when buffered changes came before, and the writeAt-then-fdatasync fallback where
 * the file system refuses O_DIRECT.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { AssertionError } from '../../storage/assert.js';
import { DURABLE_WRITE_BLOCK_BYTES, NodeFileSystem, StorageIoError, type FileHandle, type FileSystem } from '../../storage/index.js';
import { cleanup, tempDir } from './log-fixtures.js';

const BLOCK = DURABLE_WRITE_BLOCK_BYTES;

/** `bytes` bytes, each depending on `seed` and its offset, so a misplaced or stale byte shows. */
function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) out[k] = (seed * 53 + k * 7 + 1) & 0xff || 1;
  return out;
}

function readAll(fs: FileSystem, handle: FileHandle): Uint8Array {
  const out = new Uint8Array(fs.size(handle));
  expect(fs.readAt(handle, out, 0)).toBe(out.length);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Expects `file` to be `expected` followed by zeros up to the next block end. */
function expectDataThenZeros(file: Uint8Array, expected: Uint8Array): void {
  expect(file.length).toBe(Math.ceil(expected.length / BLOCK) * BLOCK);
  expect(Buffer.from(file.subarray(0, expected.length)).equals(Buffer.from(expected))).toBe(true);
  expect(file.subarray(expected.length).every((byte) => byte === 0)).toBe(true);
}

/** Whether creating a file in `dir` and reopening it with O_DIRECT fails, as it does on tmpfs before Linux 6.6. */
function refusesODirect(dir: string): boolean {
  const probe = path.join(dir, `quorumlog-odirect-probe-${process.pid}`);
  const fd = nodeFs.openSync(probe, 'w');
  try {
    nodeFs.closeSync(nodeFs.openSync(`/proc/self/fd/${fd}`, nodeFs.constants.O_RDWR | nodeFs.constants.O_DIRECT));
    return false;
  } catch {
    return true;
  } finally {
    nodeFs.closeSync(fd);
    nodeFs.unlinkSync(probe);
  }
}

/** This process's fds whose target path `matches` (from /proc/self/fd). */
function fdsOn(matches: (target: string) => boolean): string[] {
  return nodeFs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return matches(nodeFs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false; // the fd of the listing itself, gone by now
    }
  });
}

let dir = '';
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup(dir);
});

describe('NodeFileSystem.writeDurably past the page cache', () => {
  it('consecutive writes of odd lengths read back as their concatenation, padded with zeros to the block end', async () => {
    expect(refusesODirect(dir)).toBe(false); // the temp dir must take O_DIRECT, or this tests the fallback only
    const fs = new NodeFileSystem();
    const file = path.join(dir, 'log');
    const handle = fs.open(file, 'create');
    const sync = vi.spyOn(fs, 'fdatasync');
    const parts: Uint8Array[] = [];
    let end = 0;
    for (const [k, length] of [1, 100, 5000, 4095, 4097, 3, 8192, 1].entries()) {
      const part = pattern(length, k);
      await fs.writeDurably(handle, part, end);
      parts.push(part);
      end += length;
      // Visible at once through the buffered fd: the direct write left no stale page behind.
      expectDataThenZeros(readAll(fs, handle), concat(parts));
    }
    // Nothing was written through the page cache, so O_DSYNC alone made each write durable.
    expect(sync).not.toHaveBeenCalled();
    fs.close(handle);
    const reopened = fs.open(file, 'existing');
    expectDataThenZeros(readAll(fs, reopened), concat(parts));
    fs.close(reopened);
  });

  it('writes through an fd the kernel holds O_DIRECT | O_DSYNC, so each write is durable when it returns with no fdatasync after it', async () => {
    const fs = new NodeFileSystem();
    const file = path.join(dir, 'log');
    const handle = fs.open(file, 'create');
    await fs.writeDurably(handle, pattern(100, 1), 0);
    /** The open flags of this process's fds on `file` (octal in /proc/self/fdinfo). */
    const flags = fdsOn((target) => target === file).map((fd) => Number.parseInt(/flags:\s+([0-7]+)/.exec(nodeFs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? 'x', 8));
    const { O_DIRECT, O_DSYNC } = nodeFs.constants;
    expect(flags.length).toBe(2); // the buffered fd and the direct one
    expect(flags.filter((f) => (f & (O_DIRECT | O_DSYNC)) === (O_DIRECT | O_DSYNC)).length).toBe(1);
    fs.close(handle);
  });

  it('takes the head of the first block from the file after buffered writes, and keeps those bytes', async () => {
    const fs = new NodeFileSystem();
    const file = path.join(dir, 'log');
    const handle = fs.open(file, 'create');
    const buffered = pattern(6000, 1);
    fs.writeAt(handle, buffered, 0);
    await fs.fdatasync(handle);
    const direct = pattern(300, 2);
    await fs.writeDurably(handle, direct, 6000);
    expectDataThenZeros(readAll(fs, handle), concat([buffered, direct]));
    fs.close(handle);
    // A fresh handle knows no head: it reads it from the file.
    const again = fs.open(file, 'existing');
    const more = pattern(10, 3);
    await fs.writeDurably(again, more, 6300);
    expectDataThenZeros(readAll(fs, again), concat([buffered, direct, more]));
    fs.close(again);
  });

  it('forgets the cached head on writeAt: the next write keeps the bytes written through the page cache', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const first = pattern(3000, 1);
    await fs.writeDurably(handle, first, 0);
    const patch = pattern(100, 2);
    fs.writeAt(handle, patch, 1000);
    const second = pattern(50, 3);
    await fs.writeDurably(handle, second, 3000);
    const expected = concat([first, second]);
    expected.set(patch, 1000);
    expectDataThenZeros(readAll(fs, handle), expected);
    fs.close(handle);
  });

  it('forgets the cached head on truncate: a cut into the cached block keeps what remains, and the cut bytes stay gone', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const first = pattern(3000, 1);
    await fs.writeDurably(handle, first, 0);
    fs.truncate(handle, 1000);
    // Past the new end, inside what the cache held: the gap is the file's zeros, not the cut bytes.
    const second = pattern(20, 2);
    await fs.writeDurably(handle, second, 1500);
    expectDataThenZeros(readAll(fs, handle), concat([first.subarray(0, 1000), new Uint8Array(500), second]));
    // At the new end: what remains of the block before it is kept.
    fs.truncate(handle, 1200);
    const third = pattern(40, 3);
    await fs.writeDurably(handle, third, 1200);
    expectDataThenZeros(readAll(fs, handle), concat([first.subarray(0, 1000), new Uint8Array(200), third]));
    fs.close(handle);
  });

  it('syncs the buffered fd when a writeAt or truncate came before, and only then', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const sync = vi.spyOn(fs, 'fdatasync');
    fs.writeAt(handle, pattern(100, 1), 1 << 20);
    await fs.writeDurably(handle, pattern(10, 2), 0);
    expect(sync).toHaveBeenCalledTimes(1);
    expect(sync).toHaveBeenLastCalledWith(handle);
    await fs.writeDurably(handle, pattern(10, 3), 10);
    expect(sync).toHaveBeenCalledTimes(1);
    fs.truncate(handle, 4096);
    await fs.writeDurably(handle, pattern(10, 4), 20);
    expect(sync).toHaveBeenCalledTimes(2);
    // A sync that completed after the buffered write covers it.
    fs.writeAt(handle, pattern(10, 5), 8192);
    fs.fdatasyncNow(handle);
    await fs.writeDurably(handle, pattern(10, 6), 30);
    expect(sync).toHaveBeenCalledTimes(2);
    fs.close(handle);
  });

  it('writes zerosAfter zeros after the data in the same write, and the next write continues right after the data', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const first = pattern(100, 1);
    await fs.writeDurably(handle, first, 0, 10_000);
    const file = readAll(fs, handle);
    expect(file.length).toBe(Math.ceil(10_100 / BLOCK) * BLOCK);
    expect(Buffer.from(file.subarray(0, 100)).equals(Buffer.from(first))).toBe(true);
    expect(file.subarray(100).every((byte) => byte === 0)).toBe(true);
    const second = pattern(50, 2);
    await fs.writeDurably(handle, second, 100);
    const after = readAll(fs, handle);
    expect(after.length).toBe(file.length); // within the zeros: the file did not grow or shrink
    expect(Buffer.from(after.subarray(0, 150)).equals(Buffer.from(concat([first, second])))).toBe(true);
    expect(after.subarray(150).every((byte) => byte === 0)).toBe(true);
    fs.close(handle);
  });

  it('copies the data at call time: the caller may overwrite its buffer at once', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const data = pattern(5000, 1);
    const expected = data.slice();
    const written = fs.writeDurably(handle, data, 0);
    data.fill(0xee);
    await written;
    expectDataThenZeros(readAll(fs, handle), expected);
    fs.close(handle);
  });

  it('writes to the same file after it was renamed and its old name reused', async () => {
    const fs = new NodeFileSystem();
    const file = path.join(dir, 'log');
    const handle = fs.open(file, 'create');
    fs.writeAt(handle, pattern(10, 1), 0);
    fs.rename(file, path.join(dir, 'renamed'));
    const usurper = fs.open(file, 'create');
    const data = pattern(700, 2);
    await fs.writeDurably(handle, data, 10);
    expect(fs.size(usurper)).toBe(0);
    fs.close(usurper);
    fs.close(handle);
    const renamed = fs.open(path.join(dir, 'renamed'), 'existing');
    expectDataThenZeros(readAll(fs, renamed), concat([pattern(10, 1), data]));
    fs.close(renamed);
  });

  it('grows its aligned memory for a large write and still writes small ones after letting it go', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const large = pattern(5 * 1024 * 1024 + 123, 1);
    await fs.writeDurably(handle, large, 0);
    const small = pattern(77, 2);
    await fs.writeDurably(handle, small, large.length);
    expectDataThenZeros(readAll(fs, handle), concat([large, small]));
    fs.close(handle);
  });

  it('keeps at most four direct writers open, closing the least recently written, and writes on through a closed one', async () => {
    const fs = new NodeFileSystem();
    const fdsOnDir = (): number => fdsOn((target) => target.startsWith(dir)).length;
    const handles = Array.from({ length: 6 }, (_, k) => fs.open(path.join(dir, `segment-${k}`), 'create'));
    for (const [k, handle] of handles.entries()) await fs.writeDurably(handle, pattern(100, k), 0);
    expect(fdsOnDir()).toBe(6 + 4); // six buffered fds, four direct ones
    // The first file's writer was closed: its next write opens one again and reads its head from the file.
    await fs.writeDurably(handles[0] as FileHandle, pattern(50, 9), 100);
    expect(fdsOnDir()).toBe(6 + 4);
    expectDataThenZeros(readAll(fs, handles[0] as FileHandle), concat([pattern(100, 0), pattern(50, 9)]));
    for (const handle of handles) fs.close(handle);
    expect(fdsOnDir()).toBe(0);
  });

  it('asserts one write in flight a handle, and no close beside it', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    const first = fs.writeDurably(handle, pattern(10, 1), 0);
    expect(() => fs.writeDurably(handle, pattern(10, 2), 10)).toThrow(AssertionError);
    expect(() => fs.writeAt(handle, pattern(10, 3), 10)).toThrow(AssertionError);
    expect(() => fs.close(handle)).toThrow(AssertionError);
    await first;
    fs.close(handle);
  });

  it('rejects a failed write with StorageIoError, and writes again after it', async () => {
    const fs = new NodeFileSystem();
    const handle = fs.open(path.join(dir, 'log'), 'create');
    await fs.writeDurably(handle, pattern(3000, 1), 0);
    // Past the largest file ext4 holds (16 TiB with 4 KiB blocks): EFBIG.
    const failed = fs.writeDurably(handle, pattern(10, 2), 2 ** 46);
    await expect(failed).rejects.toThrow(StorageIoError);
    await expect(failed).rejects.toMatchObject({ operation: 'write', path: handle.path });
    const data = pattern(10, 3);
    await fs.writeDurably(handle, data, 3000);
    expectDataThenZeros(readAll(fs, handle), concat([pattern(3000, 1), data]));
    fs.close(handle);
  });
});

describe('NodeFileSystem.writeDurably where O_DIRECT is refused', () => {
  const shm = '/dev/shm';
  const refused = nodeFs.existsSync(shm) && refusesODirect(shm);
  it.skipIf(!refused)(
    `falls back to writeAt then fdatasync (needs ${shm} on a tmpfs that refuses O_DIRECT: tmpfs takes it since Linux 6.6)`,
    async () => {
      const shmDir = nodeFs.mkdtempSync(path.join(shm, 'quorumlog-storage-'));
      try {
        const fs = new NodeFileSystem();
        const handle = fs.open(path.join(shmDir, 'log'), 'create');
        const sync = vi.spyOn(fs, 'fdatasync');
        const parts = [pattern(1, 1), pattern(5000, 2), pattern(4095, 3)];
        let end = 0;
        for (const part of parts) {
          const written = fs.writeDurably(handle, part, end);
          part.fill(0xee);
          await written;
          end += part.length;
        }
        expect(sync).toHaveBeenCalledTimes(parts.length);
        const expected = concat([pattern(1, 1), pattern(5000, 2), pattern(4095, 3)]);
        expectDataThenZeros(readAll(fs, handle), expected);
        fs.close(handle);
      } finally {
        nodeFs.rmSync(shmDir, { recursive: true, force: true });
      }
    },
  );
});
