import * as path from 'node:path';

import { assert } from './assert.js';
import { DirectoryLockedError, StorageIoError } from './errors.js';
import { writeThenSync, type DirectoryLock, type FileHandle, type FileSystem, type OpenMode } from './file-system.js';

type PendingOp =
  | { readonly kind: 'write'; readonly seq: number; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly seq: number; readonly sizeBytes: number };

/** A file's contents, named by zero or more paths (like an inode). */
class Inode {
  current: Uint8Array = new Uint8Array(64);
  sizeBytes = 0;
  /** What a crash leaves: the contents as of the last fdatasync. */
  synced: Uint8Array = new Uint8Array(0);
  /** Writes and truncates since the last fdatasync, oldest first, for tearing. */
  pending: PendingOp[] = [];

  read(into: Uint8Array, position: number): number {
    const n = Math.max(0, Math.min(into.length, this.sizeBytes - position));
    into.set(this.current.subarray(position, position + n));
    return n;
  }

  write(data: Uint8Array, position: number): void {
    this.reserve(position + data.length);
    if (position > this.sizeBytes) this.current.fill(0, this.sizeBytes, position);
    this.current.set(data, position);
    this.sizeBytes = Math.max(this.sizeBytes, position + data.length);
  }

  truncate(sizeBytes: number): void {
    this.reserve(sizeBytes);
    if (sizeBytes > this.sizeBytes) this.current.fill(0, this.sizeBytes, sizeBytes);
    this.sizeBytes = sizeBytes;
  }

  /** The sequence number of the newest op the synced contents include. */
  syncedSeq = 0;

  /** The sequence number of the newest op applied to `current`. */
  get currentSeq(): number {
    return this.pending.at(-1)?.seq ?? this.syncedSeq;
  }

  sync(): void {
    this.syncTo(this.current.slice(0, this.sizeBytes), this.currentSeq);
  }

  /**
   * Makes `image` (the contents as of op `seq`) the synced state, unless a sync that
   * started later already finished: a slow sync never rolls the disk back.
   */
  syncTo(image: Uint8Array, seq: number): void {
    if (seq < this.syncedSeq) return;
    this.synced = image;
    this.syncedSeq = seq;
    this.pending = this.pending.filter((op) => op.seq > seq);
  }

  /** Reset to the synced contents, then replay `ops` (what survived the crash). */
  restore(ops: readonly PendingOp[]): void {
    this.current = new Uint8Array(Math.max(64, this.synced.length));
    this.current.set(this.synced);
    this.sizeBytes = this.synced.length;
    for (const op of ops) {
      if (op.kind === 'write') this.write(op.data, op.position);
      else this.truncate(op.sizeBytes);
    }
    this.sync();
  }

  private reserve(bytes: number): void {
    if (bytes <= this.current.length) return;
    const grown = new Uint8Array(Math.max(bytes, this.current.length * 2));
    grown.set(this.current.subarray(0, this.sizeBytes));
    this.current = grown;
  }
}

class MemoryFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    readonly inode: Inode,
    /** Handles opened before a crash are dead: the process that held them is gone. */
    readonly generation: number,
  ) {}
}

export interface CrashOptions {
  /**
   * Keep the unsynced writes of the file written last, with its very last write cut to
   * its first `atByte` bytes (a torn write). Without it every unsynced write is lost.
   */
  readonly tearLastWrite?: {
    readonly atByte: number;
    /**
     * Also tear the page (of this many bytes) the last write began in: its bytes before the
     * write, synced or not, come back as garbage. A device that rewrites a whole page and
     * loses power midway does this to data an earlier fdatasync had made durable.
     */
    readonly tornPageBytes?: number;
  };
}

/** What a torn page holds where it held other bytes before: never a valid record or slot. */
const TORN_PAGE_BYTE = 0xa5;

/**
 * An in-memory file system that remembers what is durable. A crash() drops every write
 * not covered by an fdatasync and every name not covered by a syncDir, optionally tearing
 * the last write; flipBit() and the fault* methods damage "the disk" directly.
 * Deterministic: nothing here reads a clock or a random source.
 */
/** Everything that outlives a crash, shared by the file systems of successive "processes". */
class MemoryDisk {
  readonly dirs = new Set<string>(['/']);
  /** The names a running process sees. */
  names = new Map<string, Inode>();
  /** The names that survive a crash. */
  durableNames = new Map<string, Inode>();
  generation = 0;
  seq = 0;
  readonly stats = { fdatasyncs: 0, dirSyncs: 0, writes: 0 };
  /** A crash armed to happen right after a given number of further syncs complete. */
  armed: { syncsLeft: number; options: CrashOptions } | null = null;
  /** The file system of the process running now; older ones are dead. */
  current: MemoryFileSystem | null = null;
  /** Directory locks, by directory, each with the generation of the process holding it: a crash ends every hold. */
  readonly locks = new Map<string, { readonly generation: number; readonly token: object }>();
  /** How long a sync takes: resolves when it completes (a microtask unless delaySyncs set one). */
  syncWait: () => Promise<void> = () => Promise.resolve();
}

export class MemoryFileSystem implements FileSystem {
  private readonly disk: MemoryDisk;

  /** A fresh empty disk, or (from crash()) the next process's view of an existing one. */
  constructor(disk?: MemoryDisk) {
    this.disk = disk ?? new MemoryDisk();
    this.disk.current = this;
  }

  /**
   * Makes every later fdatasync and syncDir on this disk (across crashes) complete when
   * `wait` resolves instead of on the next microtask: the simulator passes a wait on its
   * virtual clock, so a crash can land while a sync is in flight. The sync still covers
   * exactly what was written before the call.
   */
  delaySyncs(wait: () => Promise<void>): void {
    this.disk.syncWait = wait;
  }

  /** Counters for tests that check how many syncs an operation cost. */
  get stats(): { readonly fdatasyncs: number; readonly dirSyncs: number; readonly writes: number } {
    return this.disk.stats;
  }

  open(filePath: string, mode: OpenMode): FileHandle {
    this.live('open', filePath);
    let inode = this.disk.names.get(filePath);
    if (inode === undefined) {
      if (mode === 'existing') throw this.missing('open', filePath);
      this.requireDir('open', path.dirname(filePath));
      inode = new Inode();
      this.disk.names.set(filePath, inode);
    }
    return new MemoryFileHandle(filePath, inode, this.disk.generation);
  }

  size(handle: FileHandle): number {
    return this.inodeOf(handle).sizeBytes;
  }

  readAt(handle: FileHandle, into: Uint8Array, position: number): number {
    return this.inodeOf(handle).read(into, position);
  }

  writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    const inode = this.inodeOf(handle);
    inode.write(data, position);
    inode.pending.push({ kind: 'write', seq: ++this.disk.seq, position, data: data.slice() });
    this.disk.stats.writes++;
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    const inode = this.inodeOf(handle);
    inode.truncate(sizeBytes);
    inode.pending.push({ kind: 'truncate', seq: ++this.disk.seq, sizeBytes });
  }

  async fdatasync(handle: FileHandle): Promise<void> {
    // Like a real fdatasync: covers what was written before the call, takes effect only
    // when it completes (a crash before that loses the writes), and lets writes that
    // arrive meanwhile queue up for the next one.
    const inode = this.inodeOf(handle);
    const image = inode.current.slice(0, inode.sizeBytes);
    const covered = inode.currentSeq;
    await this.disk.syncWait();
    this.inodeOf(handle);
    inode.syncTo(image, covered);
    this.disk.stats.fdatasyncs++;
    this.syncCompleted();
  }

  /** One padded write (a crash may tear it, tearLastWrite), then an fdatasync covering it. */
  writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    return writeThenSync(this, handle, data, position, zerosAfter);
  }

  fdatasyncNow(handle: FileHandle): void {
    this.inodeOf(handle).sync();
    this.disk.stats.fdatasyncs++;
    this.syncCompleted();
  }

  close(handle: FileHandle): void {
    this.inodeOf(handle);
  }

  rename(from: string, to: string): void {
    this.live('rename', from);
    const inode = this.disk.names.get(from);
    if (inode === undefined) throw this.missing('rename', from);
    this.requireDir('rename', path.dirname(to));
    this.disk.names.delete(from);
    this.disk.names.set(to, inode);
  }

  remove(filePath: string): void {
    this.live('unlink', filePath);
    if (!this.disk.names.delete(filePath)) throw this.missing('unlink', filePath);
  }

  list(dir: string): string[] {
    this.live('readdir', dir);
    this.requireDir('readdir', dir);
    const out: string[] = [];
    for (const name of this.disk.names.keys()) if (path.dirname(name) === dir) out.push(path.basename(name));
    return out;
  }

  async syncDir(dir: string): Promise<void> {
    this.live('fsync-dir', dir);
    this.requireDir('fsync-dir', dir);
    // Takes effect on completion, with the names as they were at the call.
    const generation = this.disk.generation;
    const snapshot = [...this.disk.names].filter(([name]) => path.dirname(name) === dir);
    await this.disk.syncWait();
    if (generation !== this.disk.generation) {
      throw new StorageIoError('fsync-dir', dir, { cause: new Error('crashed during the sync') });
    }
    for (const name of [...this.disk.durableNames.keys()]) if (path.dirname(name) === dir) this.disk.durableNames.delete(name);
    for (const [name, inode] of snapshot) this.disk.durableNames.set(name, inode);
    this.disk.stats.dirSyncs++;
    this.syncCompleted();
  }

  /**
   * Arms a crash that happens right after `afterSyncs` more syncs (file or directory)
   * complete, 0 meaning "right after the next one": the way to crash between two steps of
   * an operation that is in flight. The sync itself completes; everything after it is lost.
   */
  armCrash(options: CrashOptions & { readonly afterSyncs: number }): void {
    this.disk.armed = { syncsLeft: options.afterSyncs, options };
  }

  /** Cancels an armed crash; returns the next process's file system if it already happened. */
  disarmCrash(): MemoryFileSystem | null {
    const fired = this.disk.armed === null;
    this.disk.armed = null;
    return fired ? this.disk.current : null;
  }

  private syncCompleted(): void {
    if (this.disk.armed === null) return;
    if (this.disk.armed.syncsLeft-- > 0) return;
    const { options } = this.disk.armed;
    this.disk.armed = null;
    this.crash(options);
  }

  /** Models flock(2): one holder per directory, dropped with the process (a crash) or on release. */
  lockDir(dir: string): DirectoryLock {
    this.live('lock', dir);
    if (!this.disk.dirs.has(dir)) throw this.missing('lock', dir);
    const held = this.disk.locks.get(dir);
    if (held !== undefined && held.generation === this.disk.generation) throw new DirectoryLockedError(dir, null);
    const token = {};
    this.disk.locks.set(dir, { generation: this.disk.generation, token });
    return {
      dir,
      release: () => {
        if (this.disk.locks.get(dir)?.token === token) this.disk.locks.delete(dir);
      },
    };
  }

  mkdir(dir: string): void {
    this.live('mkdir', dir);
    // Directories are modelled as always durable: the node layer creates the data dir once.
    for (let d = dir; !this.disk.dirs.has(d); d = path.dirname(d)) this.disk.dirs.add(d);
  }

  /**
   * Power failure: the process using this file system dies (every later call through it
   * fails, so it cannot touch the disk again) and the returned one stands for the next
   * process. Every handle dies; each file keeps its synced contents and each
   * directory its synced names. With `tearLastWrite`, the file written last also keeps
   * its unsynced writes, the last one torn at `atByte`.
   */
  crash(options: CrashOptions = {}): MemoryFileSystem {
    const torn = options.tearLastWrite === undefined ? null : this.lastWritten();
    for (const inode of this.allInodes()) {
      if (inode !== torn || options.tearLastWrite === undefined) {
        inode.restore([]);
        continue;
      }
      const ops = inode.pending.slice(0, -1);
      const last = inode.pending.at(-1);
      if (last?.kind === 'write') {
        const { atByte, tornPageBytes } = options.tearLastWrite;
        const keep = Math.max(0, Math.min(last.data.length, atByte));
        ops.push({ ...last, data: last.data.subarray(0, keep) });
        if (tornPageBytes !== undefined) ops.push(tornPageBefore(last, tornPageBytes));
      }
      inode.restore(ops);
    }
    this.disk.names = new Map(this.disk.durableNames);
    this.disk.generation++;
    return new MemoryFileSystem(this.disk);
  }

  /** Disk damage: flips one bit, in what is read now and in what survives a crash. */
  flipBit(filePath: string, byteOffset: number, bit: number): void {
    const inode = this.disk.names.get(filePath);
    if (inode === undefined) throw this.missing('flip', filePath);
    assert(byteOffset < inode.sizeBytes && bit >= 0 && bit < 8, `flipBit outside ${filePath}`);
    const mask = 1 << bit;
    inode.current[byteOffset] = (inode.current[byteOffset] ?? 0) ^ mask;
    if (byteOffset < inode.synced.length) inode.synced[byteOffset] = (inode.synced[byteOffset] ?? 0) ^ mask;
  }

  /** Disk damage: the file loses its tail, durably. */
  faultTruncate(filePath: string, sizeBytes: number): void {
    const inode = this.disk.names.get(filePath);
    if (inode === undefined) throw this.missing('fault-truncate', filePath);
    inode.truncate(Math.min(sizeBytes, inode.sizeBytes));
    inode.sync();
  }

  /** Disk damage: the file is gone, durably. */
  faultRemove(filePath: string): void {
    if (!this.disk.names.delete(filePath)) throw this.missing('fault-remove', filePath);
    this.disk.durableNames.delete(filePath);
  }

  /** The current contents of a file, for assertions. */
  readFile(filePath: string): Uint8Array {
    const inode = this.disk.names.get(filePath);
    if (inode === undefined) throw this.missing('read', filePath);
    return inode.current.slice(0, inode.sizeBytes);
  }

  exists(filePath: string): boolean {
    return this.disk.names.has(filePath);
  }

  /**
   * What a crash now (without a torn write) would leave in `dir`: every name the directory
   * durably holds, with its file's synced contents. For checkers that hold a process's
   * claims against its disk; readable from a crashed process's view too. The arrays are
   * the disk's own: read them, never write to them.
   */
  durableFiles(dir: string): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [name, inode] of this.disk.durableNames) if (path.dirname(name) === dir) out.set(path.basename(name), inode.synced);
    return out;
  }

  private lastWritten(): Inode | null {
    let best: Inode | null = null;
    let bestSeq = -1;
    for (const inode of this.allInodes()) {
      const seq = inode.pending.at(-1)?.seq ?? -1;
      if (seq > bestSeq) {
        best = inode;
        bestSeq = seq;
      }
    }
    return best;
  }

  private allInodes(): Set<Inode> {
    return new Set([...this.disk.names.values(), ...this.disk.durableNames.values()]);
  }

  /** A crashed process does nothing more: every call from its file system fails. */
  private live(operation: string, filePath: string): void {
    if (this.disk.current !== this) {
      throw new StorageIoError(operation, filePath, { cause: new Error('the process using this file system crashed') });
    }
  }

  private inodeOf(handle: FileHandle): Inode {
    this.live('use', handle.path);
    assert(handle instanceof MemoryFileHandle, () => `not a MemoryFileSystem handle: ${handle.path}`);
    if (handle.generation !== this.disk.generation) {
      throw new StorageIoError('use', handle.path, { cause: new Error('handle opened before a crash') });
    }
    return handle.inode;
  }

  private requireDir(operation: string, dir: string): void {
    if (!this.disk.dirs.has(dir)) throw this.missing(operation, dir);
  }

  private missing(operation: string, filePath: string): StorageIoError {
    return new StorageIoError(operation, filePath, { cause: Object.assign(new Error('ENOENT'), { code: 'ENOENT' }) });
  }
}

/** Garbage over the bytes of `write`'s first page that lie before it (none if it starts a page). */
function tornPageBefore(write: Extract<PendingOp, { kind: 'write' }>, pageBytes: number): PendingOp {
  assert(Number.isInteger(pageBytes) && pageBytes >= 1, 'tornPageBytes must be a whole number >= 1');
  const pageStart = write.position - (write.position % pageBytes);
  return { kind: 'write', seq: write.seq, position: pageStart, data: new Uint8Array(write.position - pageStart).fill(TORN_PAGE_BYTE) };
}
