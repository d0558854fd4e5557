import * as fs from 'node:fs';

import { assert } from './assert.js';
import { DirectWriter } from './direct-writer.js';
import { StorageIoError } from './errors.js';
import { lockDirWithFlock } from './directory-lock.js';
import { writeThenSync, type DirectoryLock, type FileHandle, type FileSystem, type OpenMode } from './file-system.js';

/** Direct writers (each an O_DIRECT fd and up to 4 MiB of aligned memory) kept open at most; see NodeFileSystem.#directWriters. */
const DIRECT_WRITERS_OPEN_MAX = 4;

class NodeFileHandle implements FileHandle {
  /** writeAt and truncate calls on this handle so far. */
  bufferedChanges = 0;
  /**
   * How many of those a completed fdatasync covers. While fewer than bufferedChanges, a
   * writeDurably must sync the buffered fd too: O_DSYNC makes only its own range durable.
   */
  syncedChanges = 0;
  /** The writeDurably side: opened on the first one, 'refused' where O_DIRECT is not available. */
  direct: DirectWriter | 'unopened' | 'refused' | 'closed' = 'unopened';

  constructor(
    readonly path: string,
    readonly fd: number,
  ) {}
}

function nodeHandleOf(handle: FileHandle): NodeFileHandle {
  if (!(handle instanceof NodeFileHandle)) throw new TypeError(`not a NodeFileSystem handle: ${handle.path}`);
  return handle;
}

function fdOf(handle: FileHandle): number {
  return nodeHandleOf(handle).fd;
}

/** Before a writeAt or truncate: counts it, and the direct writer's head may no longer be the file's. */
function noteBufferedChange(handle: NodeFileHandle): void {
  if (handle.direct instanceof DirectWriter) {
    assert(!handle.direct.writing, () => `writeAt or truncate of ${handle.path} beside a writeDurably`);
    handle.direct.forgetHead();
  }
  handle.bufferedChanges++;
}

function io<T>(operation: string, path: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new StorageIoError(operation, path, { cause: error });
  }
}

/**
 * Real files through node:fs. Page-cache operations use the synchronous calls (a few
 * microseconds each); fdatasync, directory sync and writeDurably go through the libuv thread
 * pool so many appenders can wait on one of them. writeDurably writes past the page cache
 * (direct-writer.ts) where the file system takes O_DIRECT.
 */
export class NodeFileSystem implements FileSystem {
  /**
   * The handles whose direct writer is open, least recently written first. A log writes one
   * segment at a time, and a sealed segment's handle stays open for reads long after its last
   * write: past DIRECT_WRITERS_OPEN_MAX the least recently written writer is closed (its fd
   * and aligned memory), to be opened again if that file is ever written durably again.
   */
  readonly #directWriters = new Set<NodeFileHandle>();

  open(path: string, mode: OpenMode): FileHandle {
    const flags = mode === 'create' ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR;
    return new NodeFileHandle(path, io('open', path, () => fs.openSync(path, flags, 0o644)));
  }

  size(handle: FileHandle): number {
    return io('fstat', handle.path, () => fs.fstatSync(fdOf(handle)).size);
  }

  readAt(handle: FileHandle, into: Uint8Array, position: number): number {
    const fd = fdOf(handle);
    return io('read', handle.path, () => {
      let done = 0;
      // Bounded: every pass reads at least one byte or stops at end of file.
      while (done < into.length) {
        const n = fs.readSync(fd, into, done, into.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    });
  }

  writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    const nodeHandle = nodeHandleOf(handle);
    noteBufferedChange(nodeHandle);
    const fd = nodeHandle.fd;
    io('write', handle.path, () => {
      let done = 0;
      while (done < data.length) {
        done += fs.writeSync(fd, data, done, data.length - done, position + done);
      }
    });
  }

  writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    const nodeHandle = nodeHandleOf(handle);
    const writer = this.#directWriterOf(nodeHandle);
    if (writer === null) return writeThenSync(this, handle, data, position, zerosAfter);
    const changes = nodeHandle.bufferedChanges;
    return writer.write(data, position, zerosAfter).then(() => {
      if (nodeHandle.syncedChanges < changes) return this.fdatasync(handle);
      return undefined;
    });
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    const nodeHandle = nodeHandleOf(handle);
    noteBufferedChange(nodeHandle);
    io('ftruncate', handle.path, () => fs.ftruncateSync(nodeHandle.fd, sizeBytes));
  }

  fdatasync(handle: FileHandle): Promise<void> {
    const nodeHandle = nodeHandleOf(handle);
    const changes = nodeHandle.bufferedChanges;
    return new Promise((resolve, reject) => {
      fs.fdatasync(nodeHandle.fd, (error) => {
        if (error) {
          reject(new StorageIoError('fdatasync', handle.path, { cause: error }));
          return;
        }
        nodeHandle.syncedChanges = Math.max(nodeHandle.syncedChanges, changes);
        resolve();
      });
    });
  }

  fdatasyncNow(handle: FileHandle): void {
    const nodeHandle = nodeHandleOf(handle);
    const changes = nodeHandle.bufferedChanges;
    io('fdatasync', handle.path, () => fs.fdatasyncSync(nodeHandle.fd));
    nodeHandle.syncedChanges = Math.max(nodeHandle.syncedChanges, changes);
  }

  close(handle: FileHandle): void {
    const nodeHandle = nodeHandleOf(handle);
    const direct = nodeHandle.direct;
    // Checked before anything is closed, so the caller's mistake leaves the handle as it was.
    if (direct instanceof DirectWriter) assert(!direct.writing, () => `close of ${handle.path} while a writeDurably is in flight`);
    nodeHandle.direct = 'closed';
    this.#directWriters.delete(nodeHandle);
    try {
      if (direct instanceof DirectWriter) direct.close();
    } finally {
      io('close', handle.path, () => fs.closeSync(nodeHandle.fd));
    }
  }

  rename(from: string, to: string): void {
    io('rename', from, () => fs.renameSync(from, to));
  }

  remove(path: string): void {
    io('unlink', path, () => fs.unlinkSync(path));
  }

  list(dir: string): string[] {
    return io('readdir', dir, () => fs.readdirSync(dir));
  }

  async syncDir(dir: string): Promise<void> {
    // fsync on a directory fd makes its entries (creations, renames, unlinks) durable.
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(dir, fs.constants.O_RDONLY);
      await handle.sync();
    } catch (error) {
      throw new StorageIoError('fsync-dir', dir, { cause: error });
    } finally {
      await handle?.close();
    }
  }

  mkdir(dir: string): void {
    io('mkdir', dir, () => fs.mkdirSync(dir, { recursive: true }));
  }

  lockDir(dir: string): DirectoryLock {
    return lockDirWithFlock(dir);
  }

  /** The handle's direct writer, opened on first use; null where O_DIRECT is refused. */
  #directWriterOf(handle: NodeFileHandle): DirectWriter | null {
    assert(handle.direct !== 'closed', () => `writeDurably on ${handle.path} after close`);
    if (handle.direct === 'unopened') {
      handle.direct = DirectWriter.open(handle.fd, handle.path) ?? 'refused';
      if (handle.direct !== 'refused') this.#closeLeastRecentWriter();
    }
    if (handle.direct === 'refused') return null;
    this.#directWriters.delete(handle);
    this.#directWriters.add(handle);
    return handle.direct;
  }

  /** Closes the least recently written direct writer not in flight, once more than DIRECT_WRITERS_OPEN_MAX are open. */
  #closeLeastRecentWriter(): void {
    if (this.#directWriters.size < DIRECT_WRITERS_OPEN_MAX) return;
    for (const handle of this.#directWriters) {
      if (!(handle.direct instanceof DirectWriter) || handle.direct.writing) continue;
      this.#directWriters.delete(handle);
      const writer = handle.direct;
      handle.direct = 'unopened';
      writer.close();
      return;
    }
  }
}
