import * as path from 'node:path';

import { assert } from './assert.js';
import { StorageIoError } from './errors.js';
import { writeThenSync, type DirectoryLock, type FileHandle, type FileSystem, type OpenMode } from './file-system.js';

type PendingOp =
  | { readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly sizeBytes: number };

type DirOp =
  | { readonly kind: 'create'; readonly path: string; readonly file: VirtualFile }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'remove'; readonly path: string };

/**
 * One file as the process sees it: a durable image (a real file, or synced bytes held in
 * memory while the file's name is not yet durable) plus the writes since the last sync.
 */
class VirtualFile {
  /** Open handle on the real file, once its name has been made durable. */
  real: FileHandle | null = null;
  /** The synced contents while `real` is null. */
  detached: Uint8Array = new Uint8Array(0);
  /** Size of the durable image. */
  baseBytes = 0;
  /** Size including pending writes. */
  sizeBytes = 0;
  pending: PendingOp[] = [];
}

class PowerLossHandle implements FileHandle {
  constructor(
    readonly path: string,
    readonly file: VirtualFile,
  ) {}
}

/**
 * Wraps a real file system for a real process so that kill -9 loses exactly what a power
 * failure would: writes since a file's last fdatasync live only in this process's memory
 * and reach the real file at fdatasync; creations, renames and removals live only in
 * memory and reach the real directory at syncDir. Whatever is on the real disk was
 * therefore made durable by the program, and a killed process leaves nothing else.
 *
 * Not built for speed: a read replays the pending writes of that file over the bytes on
 * disk. Meant for fault-injection runs (the node layer exposes it as a flag).
 */
export class PowerLossFileSystem implements FileSystem {
  /** Paths whose view differs from the real disk: a file, or null for "removed". */
  private readonly overrides = new Map<string, VirtualFile | null>();
  private readonly dirOps = new Map<string, DirOp[]>();

  constructor(private readonly inner: FileSystem) {}

  open(filePath: string, mode: OpenMode): FileHandle {
    const known = this.lookup(filePath);
    if (known !== null) return new PowerLossHandle(filePath, known);
    if (mode === 'existing') {
      throw new StorageIoError('open', filePath, { cause: Object.assign(new Error('ENOENT'), { code: 'ENOENT' }) });
    }
    const file = new VirtualFile();
    this.overrides.set(filePath, file);
    this.pushDirOp(path.dirname(filePath), { kind: 'create', path: filePath, file });
    return new PowerLossHandle(filePath, file);
  }

  size(handle: FileHandle): number {
    return fileOf(handle).sizeBytes;
  }

  readAt(handle: FileHandle, into: Uint8Array, position: number): number {
    const file = fileOf(handle);
    const n = Math.max(0, Math.min(into.length, file.sizeBytes - position));
    const view = into.subarray(0, n);
    view.fill(0);
    const fromBase = Math.max(0, Math.min(n, file.baseBytes - position));
    if (fromBase > 0) {
      if (file.real === null) view.set(file.detached.subarray(position, position + fromBase));
      else this.inner.readAt(file.real, view.subarray(0, fromBase), position);
    }
    for (const op of file.pending) overlay(view, position, op);
    return n;
  }

  writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    const file = fileOf(handle);
    file.pending.push({ kind: 'write', position, data: data.slice() });
    file.sizeBytes = Math.max(file.sizeBytes, position + data.length);
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    const file = fileOf(handle);
    file.pending.push({ kind: 'truncate', sizeBytes });
    file.sizeBytes = sizeBytes;
  }

  async fdatasync(handle: FileHandle): Promise<void> {
    const real = this.applyPending(fileOf(handle));
    if (real !== null) await this.inner.fdatasync(real);
  }

  /** The write stays in memory until its fdatasync, as every other: a kill -9 before that loses all of it. */
  writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    return writeThenSync(this, handle, data, position, zerosAfter);
  }

  fdatasyncNow(handle: FileHandle): void {
    const real = this.applyPending(fileOf(handle));
    if (real !== null) this.inner.fdatasyncNow(real);
  }

  close(handle: FileHandle): void {
    // The real handle stays open: pending writes may still need it at the next sync.
    fileOf(handle);
  }

  rename(from: string, to: string): void {
    assert(path.dirname(from) === path.dirname(to), 'PowerLossFileSystem renames within one directory only');
    const file = this.lookup(from);
    if (file === null) throw new StorageIoError('rename', from, { cause: new Error('ENOENT') });
    this.overrides.set(from, null);
    this.overrides.set(to, file);
    this.pushDirOp(path.dirname(to), { kind: 'rename', from, to });
  }

  remove(filePath: string): void {
    if (this.lookup(filePath) === null) throw new StorageIoError('unlink', filePath, { cause: new Error('ENOENT') });
    this.overrides.set(filePath, null);
    this.pushDirOp(path.dirname(filePath), { kind: 'remove', path: filePath });
  }

  list(dir: string): string[] {
    const names = new Set(this.inner.list(dir));
    for (const [filePath, file] of this.overrides) {
      if (path.dirname(filePath) !== dir) continue;
      if (file === null) names.delete(path.basename(filePath));
      else names.add(path.basename(filePath));
    }
    return [...names];
  }

  async syncDir(dir: string): Promise<void> {
    const ops = this.dirOps.get(dir) ?? [];
    this.dirOps.delete(dir);
    for (const op of ops) this.applyDirOp(op);
    await this.inner.syncDir(dir);
  }

  mkdir(dir: string): void {
    this.inner.mkdir(dir);
  }

  /** The lock is about processes, not durability: the real one, released when this process dies. */
  lockDir(dir: string): DirectoryLock {
    return this.inner.lockDir(dir);
  }

  private applyDirOp(op: DirOp): void {
    if (op.kind === 'create') {
      // The synced bytes become a real file now that its name is durable.
      const real = this.inner.open(op.path, 'create');
      this.inner.truncate(real, 0);
      if (op.file.detached.length > 0) this.inner.writeAt(real, op.file.detached, 0);
      this.inner.fdatasyncNow(real);
      op.file.real = real;
      op.file.detached = new Uint8Array(0);
    } else if (op.kind === 'rename') {
      this.inner.rename(op.from, op.to);
    } else {
      this.inner.remove(op.path);
    }
  }

  /** Moves the pending writes into the durable image; returns the real handle to sync, if any. */
  private applyPending(file: VirtualFile): FileHandle | null {
    const ops = file.pending;
    file.pending = [];
    if (file.real === null) {
      file.detached = replay(file.detached, ops, file.sizeBytes);
    } else {
      for (const op of ops) {
        if (op.kind === 'write') this.inner.writeAt(file.real, op.data, op.position);
        else this.inner.truncate(file.real, op.sizeBytes);
      }
    }
    file.baseBytes = file.sizeBytes;
    return file.real;
  }

  private lookup(filePath: string): VirtualFile | null {
    const known = this.overrides.get(filePath);
    if (known !== undefined) return known;
    let real: FileHandle;
    try {
      real = this.inner.open(filePath, 'existing');
    } catch {
      return null;
    }
    const file = new VirtualFile();
    file.real = real;
    file.baseBytes = file.sizeBytes = this.inner.size(real);
    this.overrides.set(filePath, file);
    return file;
  }

  private pushDirOp(dir: string, op: DirOp): void {
    const ops = this.dirOps.get(dir);
    if (ops === undefined) this.dirOps.set(dir, [op]);
    else ops.push(op);
  }
}

function fileOf(handle: FileHandle): VirtualFile {
  assert(handle instanceof PowerLossHandle, () => `not a PowerLossFileSystem handle: ${handle.path}`);
  return handle.file;
}

/** Applies `op` to the bytes of `view`, which holds the file from `position` on. */
function overlay(view: Uint8Array, position: number, op: PendingOp): void {
  if (op.kind === 'truncate') {
    if (op.sizeBytes < position + view.length) view.fill(0, Math.max(0, op.sizeBytes - position));
    return;
  }
  const start = Math.max(op.position, position);
  const end = Math.min(op.position + op.data.length, position + view.length);
  if (start < end) view.set(op.data.subarray(start - op.position, end - op.position), start - position);
}

function replay(base: Uint8Array, ops: readonly PendingOp[], finalBytes: number): Uint8Array {
  let sizeBytes = base.length;
  let bytes: Uint8Array = new Uint8Array(Math.max(finalBytes, sizeBytes));
  bytes.set(base);
  for (const op of ops) {
    const end = op.kind === 'write' ? op.position + op.data.length : op.sizeBytes;
    if (end > bytes.length) {
      const grown = new Uint8Array(end);
      grown.set(bytes);
      bytes = grown;
    }
    if (op.kind === 'write') {
      if (op.position > sizeBytes) bytes.fill(0, sizeBytes, op.position);
      bytes.set(op.data, op.position);
      sizeBytes = Math.max(sizeBytes, end);
    } else {
      if (op.sizeBytes > sizeBytes) bytes.fill(0, sizeBytes, op.sizeBytes);
      else bytes.fill(0, op.sizeBytes);
      sizeBytes = op.sizeBytes;
    }
  }
  return bytes.slice(0, sizeBytes);
}
