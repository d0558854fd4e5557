import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { NodeFileSystem, OpenMode } from '../../storage/index.js';
import { DataDirSize, MeteredFileSystem } from '../../src/observe/index.js';

/** The sizes of the files under `dir`, summed from the disk: what the gauge must equal. */
function duBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

describe('DataDirSize', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-data-dir-size-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('follows the writes, truncates, renames and removals of the file system without walking again', async () => {
    fs.writeFileSync(path.join(dir, 'identity'), 'x'.repeat(40));
    const sizes = new DataDirSize({ walkIntervalMs: 60_000 });
    const metered = new MeteredFileSystem(new NodeFileSystem(), { written: () => {}, synced: () => {} }, () => 0, sizes);
    metered.mkdir(path.join(dir, 'log'));
    expect(await sizes.bytes(dir, 0)).toBe(40);

    const segment = metered.open(path.join(dir, 'log', 'a.log'), OpenMode.create);
    metered.writeAt(segment, new Uint8Array(1000), 0);
    metered.writeAt(segment, new Uint8Array(10), 500); // inside the file: no growth
    expect(await sizes.bytes(dir, 1)).toBe(1040);
    metered.truncate(segment, 300);
    metered.writeAt(segment, new Uint8Array(100), 300);
    expect(await sizes.bytes(dir, 2)).toBe(440);
    expect(await sizes.bytes(dir, 2)).toBe(duBytes(dir));

    const temp = metered.open(path.join(dir, 'log', 'b.tmp'), OpenMode.create);
    metered.writeAt(temp, new Uint8Array(64), 0);
    metered.close(temp);
    metered.rename(path.join(dir, 'log', 'b.tmp'), path.join(dir, 'log', 'b.snap'));
    expect(await sizes.bytes(dir, 3)).toBe(504);
    metered.close(segment);
    metered.remove(path.join(dir, 'log', 'a.log'));
    expect(await sizes.bytes(dir, 4)).toBe(104);
    expect(await sizes.bytes(dir, 4)).toBe(duBytes(dir));
  });

  it('counts a file that was already there when the node opened it once, by its tracked size', async () => {
    fs.writeFileSync(path.join(dir, 'state'), new Uint8Array(256));
    const sizes = new DataDirSize({ walkIntervalMs: 60_000 });
    expect(await sizes.bytes(dir, 0)).toBe(256);
    const metered = new MeteredFileSystem(new NodeFileSystem(), { written: () => {}, synced: () => {} }, () => 0, sizes);
    const state = metered.open(path.join(dir, 'state'), OpenMode.existing);
    metered.writeAt(state, new Uint8Array(100), 256);
    expect(await sizes.bytes(dir, 1)).toBe(356);
    metered.close(state);
  });

  it('sees files written around the file system at the next walk, not before', async () => {
    const sizes = new DataDirSize({ walkIntervalMs: 1_000 });
    expect(await sizes.bytes(dir, 0)).toBe(0);
    fs.writeFileSync(path.join(dir, 'outside'), new Uint8Array(500));
    expect(await sizes.bytes(dir, 999)).toBe(0);
    expect(await sizes.bytes(dir, 1_000)).toBe(500);
    fs.rmSync(path.join(dir, 'outside'));
    expect(await sizes.bytes(dir, 2_000)).toBe(0);
  });

  it('rejects when the directory cannot be read', async () => {
    const sizes = new DataDirSize();
    await expect(sizes.bytes(path.join(dir, 'missing'), 0)).rejects.toThrow();
  });
});
