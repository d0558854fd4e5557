import * as fs from 'node:fs';

import { StorageIoError } from './errors.js';
import { lockDirWithFlock } from './directory-lock.js';
import type { DirectoryLock, FileHandle, FileSystem, OpenMode } from './file-system.js';

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    readonly fd: number,
  ) {}
}

function fdOf(handle: FileHandle): number {
  if (!(handle instanceof NodeFileHandle)) throw new TypeError(`not a NodeFileSystem handle: ${handle.path}`);
  return handle.fd;
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
 * microseconds each); fdatasync and directory sync go through the libuv thread pool so
 * many appenders can wait on one of them.
 */
export class NodeFileSystem implements FileSystem {
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
    const fd = fdOf(handle);
    io('write', handle.path, () => {
      let done = 0;
      while (done < data.length) {
        done += fs.writeSync(fd, data, done, data.length - done, position + done);
      }
    });
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    io('ftruncate', handle.path, () => fs.ftruncateSync(fdOf(handle), sizeBytes));
  }

  fdatasync(handle: FileHandle): Promise<void> {
    const fd = fdOf(handle);
    return new Promise((resolve, reject) => {
      fs.fdatasync(fd, (error) => {
        if (error) reject(new StorageIoError('fdatasync', handle.path, { cause: error }));
        else resolve();
      });
    });
  }

  fdatasyncNow(handle: FileHandle): void {
    io('fdatasync', handle.path, () => fs.fdatasyncSync(fdOf(handle)));
  }

  close(handle: FileHandle): void {
    io('close', handle.path, () => fs.closeSync(fdOf(handle)));
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
}
