/**
 * The file-system seam: one contract suite run against all three implementations, then
 * the durability behaviour of the in-memory twin and of the power-loss wrapper.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  type FileSystem,
  MemoryFileSystem,
  NodeFileSystem,
  PowerLossFileSystem,
  StorageIoError,
} from '../../storage/index.js';
import { cleanup, tempDir } from './log-fixtures.js';

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));
const text = (fs: FileSystem, filePath: string): string => {
  const handle = fs.open(filePath, 'existing');
  const out = new Uint8Array(fs.size(handle));
  fs.readAt(handle, out, 0);
  fs.close(handle);
  return Buffer.from(out).toString();
};

let dir = '';
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await cleanup(dir);
});

const implementations: ReadonlyArray<[string, () => FileSystem]> = [
  ['NodeFileSystem', () => new NodeFileSystem()],
  ['MemoryFileSystem', () => new MemoryFileSystem()],
  ['PowerLossFileSystem', () => new PowerLossFileSystem(new NodeFileSystem())],
];

describe.each(implementations)('%s contract', (_name, make) => {
  it('writes at positions, reads back unsynced data, truncates, lists, renames, removes', async () => {
    const fs = make();
    fs.mkdir(dir);
    const a = path.join(dir, 'a');
    const handle = fs.open(a, 'create');
    fs.writeAt(handle, bytes('hello world'), 0);
    fs.writeAt(handle, bytes('W'), 6);
    expect(fs.size(handle)).toBe(11);
    const out = new Uint8Array(20);
    expect(fs.readAt(handle, out, 0)).toBe(11);
    expect(Buffer.from(out.subarray(0, 11)).toString()).toBe('hello World');
    fs.writeAt(handle, bytes('!'), 13); // leaves a zero-filled hole
    expect(fs.readAt(handle, out, 10)).toBe(4);
    expect([...out.subarray(0, 4)]).toEqual([100, 0, 0, 33]);
    fs.truncate(handle, 5);
    expect(fs.size(handle)).toBe(5);
    await fs.fdatasync(handle);
    fs.fdatasyncNow(handle);
    fs.close(handle);
    expect(fs.list(dir)).toEqual(['a']);
    fs.rename(a, path.join(dir, 'b'));
    await fs.syncDir(dir);
    expect(fs.list(dir)).toEqual(['b']);
    expect(text(fs, path.join(dir, 'b'))).toBe('hello');
    fs.remove(path.join(dir, 'b'));
    await fs.syncDir(dir);
    expect(fs.list(dir)).toEqual([]);
    expect(() => fs.open(path.join(dir, 'b'), 'existing')).toThrow(StorageIoError);
  });
});

describe('MemoryFileSystem durability', () => {
  it('a crash keeps synced writes and synced names only', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const synced = fs.open('/d/synced', 'create');
    fs.writeAt(synced, bytes('kept'), 0);
    await fs.fdatasync(synced);
    await fs.syncDir('/d');
    fs.writeAt(synced, bytes('-lost'), 4);
    const unnamed = fs.open('/d/unnamed', 'create');
    fs.writeAt(unnamed, bytes('data'), 0);
    await fs.fdatasync(unnamed); // data synced, but the name never was
    const after = fs.crash();
    expect(after.list('/d')).toEqual(['synced']);
    expect(Buffer.from(after.readFile('/d/synced')).toString()).toBe('kept');
    expect(() => after.size(synced)).toThrow(StorageIoError); // handles die with the "process"
    expect(() => fs.open('/d/new', 'create')).toThrow(StorageIoError); // and so does the process
  });

  it('an fdatasync in flight at the crash does not count', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const handle = fs.open('/d/f', 'create');
    await fs.syncDir('/d');
    fs.writeAt(handle, bytes('x'), 0);
    const sync = fs.fdatasync(handle);
    const after = fs.crash();
    await expect(sync).rejects.toThrow(StorageIoError);
    expect(after.readFile('/d/f').length).toBe(0);
  });

  it('tears the last write at the given byte, keeping earlier unsynced writes', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const handle = fs.open('/d/f', 'create');
    await fs.syncDir('/d');
    fs.writeAt(handle, bytes('first-'), 0);
    fs.writeAt(handle, bytes('second'), 6);
    const after = fs.crash({ tearLastWrite: { atByte: 3 } });
    expect(Buffer.from(after.readFile('/d/f')).toString()).toBe('first-sec');
  });

  it('with tornPageBytes, also destroys the synced bytes before the torn write in the page it began in', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const handle = fs.open('/d/f', 'create');
    await fs.syncDir('/d');
    fs.writeAt(handle, new Uint8Array(12).fill(1), 0);
    await fs.fdatasync(handle);
    fs.writeAt(handle, new Uint8Array(4).fill(2), 12);
    const after = fs.crash({ tearLastWrite: { atByte: 1, tornPageBytes: 8 } });
    // Page 8..16 held synced bytes 8..12: they come back as garbage; page 0..8 is untouched.
    expect([...after.readFile('/d/f')]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0xa5, 0xa5, 0xa5, 0xa5, 2]);
  });

  it('can crash between two syncs of an operation in flight', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const a = fs.open('/d/a', 'create');
    const b = fs.open('/d/b', 'create');
    await fs.syncDir('/d');
    fs.writeAt(a, bytes('A'), 0);
    fs.writeAt(b, bytes('B'), 0);
    fs.armCrash({ afterSyncs: 0 });
    await fs.fdatasync(a); // completes, then the power fails
    await expect(fs.fdatasync(b)).rejects.toThrow(StorageIoError);
    const after = fs.disarmCrash();
    expect(after).not.toBeNull();
    expect(after?.readFile('/d/a').length).toBe(1);
    expect(after?.readFile('/d/b').length).toBe(0);
  });

  it('durableFiles shows what a crash now would keep, without crashing', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const synced = fs.open('/d/synced', 'create');
    fs.writeAt(synced, bytes('kept'), 0);
    await fs.fdatasync(synced);
    await fs.syncDir('/d');
    fs.writeAt(synced, bytes('-unsynced'), 4);
    const unnamed = fs.open('/d/unnamed', 'create');
    fs.writeAt(unnamed, bytes('data'), 0);
    await fs.fdatasync(unnamed);
    const shown = [...fs.durableFiles('/d')].map(([name, image]) => [name, Buffer.from(image).toString()]);
    expect(shown).toEqual([['synced', 'kept']]);
    const after = fs.crash();
    expect(after.list('/d')).toEqual(['synced']);
    expect(Buffer.from(after.readFile('/d/synced')).toString()).toBe('kept');
  });

  it('flips bits durably', async () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/d');
    const handle = fs.open('/d/f', 'create');
    fs.writeAt(handle, bytes('A'), 0);
    await fs.fdatasync(handle);
    await fs.syncDir('/d');
    fs.flipBit('/d/f', 0, 5);
    const after = fs.crash();
    expect(Buffer.from(after.readFile('/d/f')).toString()).toBe('a');
  });
});

describe('PowerLossFileSystem', () => {
  /** A "kill -9": the wrapper (the process's memory) is dropped; a new one sees only the disk. */
  const restart = (): PowerLossFileSystem => new PowerLossFileSystem(new NodeFileSystem());

  it('puts nothing on disk before fdatasync and syncDir', async () => {
    const fs = restart();
    const a = path.join(dir, 'a');
    const handle = fs.open(a, 'create');
    fs.writeAt(handle, bytes('volatile'), 0);
    expect(fs.list(dir)).toEqual(['a']);
    expect(nodeFs.readdirSync(dir)).toEqual([]);
    await fs.fdatasync(handle);
    expect(nodeFs.readdirSync(dir)).toEqual([]); // the data is synced, its name is not
    await fs.syncDir(dir);
    expect(nodeFs.readFileSync(a, 'utf8')).toBe('volatile');
    fs.writeAt(handle, bytes('V'), 0);
    fs.writeAt(handle, bytes('+more'), 8);
    expect(text(fs, a)).toBe('Volatile+more');
    expect(nodeFs.readFileSync(a, 'utf8')).toBe('volatile');
    expect(text(restart(), a)).toBe('volatile');
    await fs.fdatasync(handle);
    expect(text(restart(), a)).toBe('Volatile+more');
  });

  it('applies renames and removals only at syncDir', async () => {
    const fs = restart();
    const temp = path.join(dir, 'state.tmp');
    const final = path.join(dir, 'state');
    nodeFs.writeFileSync(final, 'old');
    const handle = fs.open(temp, 'create');
    fs.writeAt(handle, bytes('new'), 0);
    await fs.fdatasync(handle);
    fs.rename(temp, final);
    expect(text(fs, final)).toBe('new');
    expect(text(restart(), final)).toBe('old');
    await fs.syncDir(dir);
    expect(text(restart(), final)).toBe('new');
    fs.remove(final);
    expect(fs.list(dir)).toEqual([]);
    expect(restart().list(dir)).toEqual(['state']);
    await fs.syncDir(dir);
    expect(restart().list(dir)).toEqual([]);
  });

  it('truncations reach the disk at fdatasync, in order with writes', async () => {
    const fs = restart();
    const a = path.join(dir, 'a');
    nodeFs.writeFileSync(a, 'abcdef');
    const handle = fs.open(a, 'existing');
    fs.truncate(handle, 2);
    fs.writeAt(handle, bytes('Z'), 4);
    const out = new Uint8Array(5);
    fs.readAt(handle, out, 0);
    expect([...out]).toEqual([97, 98, 0, 0, 90]);
    expect(nodeFs.readFileSync(a, 'utf8')).toBe('abcdef');
    await fs.fdatasync(handle);
    expect([...nodeFs.readFileSync(a)]).toEqual([97, 98, 0, 0, 90]);
  });
});
