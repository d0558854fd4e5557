import * as path from 'node:path';

import type { Index, SnapshotMeta, Term } from '../raft/index.js';
import { assert } from './assert.js';
import { CorruptSnapshotError, StorageIoError } from './errors.js';
import type { DirectoryLock, FileHandle, FileSystem } from './file-system.js';
import type { Scheduler } from './scheduler.js';
import { realScheduler } from './scheduler.js';
import { SnapshotReader } from './snapshot-reader.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import type { Publisher } from './snapshot-temp.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { CHUNK_BYTES_DEFAULT, CHUNK_BYTES_MAX, parseSnapshotFileName, sameMeta, snapshotFileName, TEMP_SUFFIX } from './snapshot-file.js';

export interface SnapshotStoreOptions {
  readonly fs: FileSystem;
  /** The snapshot directory (a node's `<dataDir>/snapshots`); created if missing, locked while open. */
  readonly dir: string;
  /** Payload bytes per frame of the snapshots this store writes (default 1 MiB, at most 16 MiB). */
  readonly chunkBytes?: number;
  /** Long reads yield to other work between frames through it (default realScheduler). */
  readonly scheduler?: Scheduler;
}

/** How many snapshots prune() keeps by default: the newest, and one to fall back on by hand. */
export const SNAPSHOTS_KEPT = 2;

/** A snapshot file in the directory. */
interface Stored {
  readonly index: Index;
  readonly term: Term;
  /** Read from the header once verified (the newest at open, and each one published since). */
  meta: SnapshotMeta | null;
  /** Set when the newest was found damaged at open. */
  fault: CorruptSnapshotError | null;
}

/**
 * A directory of snapshot files (format: snapshot-file.ts). Every snapshot appears
 * crash-atomically: it is written to `<name>.tmp`, fdatasync'd, renamed to its name and
 * the directory synced, so after a crash at any point the directory holds either no new
 * snapshot or the complete new one. Temp files left by a crash (or by an unfinished
 * transfer) are removed when the store opens.
 *
 * Open verifies the newest snapshot in full. A damaged newest snapshot makes latest()
 * throw CorruptSnapshotError: a node must not fall back silently to an older snapshot or
 * to none (it would replay from the wrong place), so that is a startup error naming the file.
 */
export class SnapshotStore implements Publisher {
  /** Snapshot files by (index, term), oldest first. */
  private readonly stored: Stored[];
  /** Temp paths a writer or receiver of this process is using. */
  private readonly temps = new Set<string>();
  private readonly writers = new Set<SnapshotWriter>();
  private receiving: SnapshotReceiver | null = null;
  private closed = false;

  private constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    private readonly chunkBytes: number,
    private readonly scheduler: Scheduler,
    private readonly lock: DirectoryLock,
    stored: Stored[],
  ) {
    this.stored = stored;
  }

  /** @internal Use openSnapshotStore(). */
  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    const chunkBytes = options.chunkBytes ?? CHUNK_BYTES_DEFAULT;
    assert(Number.isInteger(chunkBytes) && chunkBytes >= 1 && chunkBytes <= CHUNK_BYTES_MAX, 'chunkBytes must be within 1 B..16 MiB');
    const { fs, dir } = options;
    fs.mkdir(dir);
    const lock = fs.lockDir(dir);
    try {
      const names = fs.list(dir);
      const temps = names.filter((name) => name.endsWith(TEMP_SUFFIX));
      for (const name of temps) fs.remove(path.join(dir, name));
      if (temps.length > 0) await fs.syncDir(dir);
      const stored = names
        .map(parseSnapshotFileName)
        .filter((position) => position !== null)
        .map((position): Stored => ({ ...position, meta: null, fault: null }))
        .sort(byPosition);
      const store = new SnapshotStore(fs, dir, chunkBytes, options.scheduler ?? realScheduler, lock, stored);
      await store.verifyNewest();
      return store;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /**
   * The newest snapshot, or null when there is none. Throws CorruptSnapshotError when the
   * newest is damaged (found at open): never an older one in its place.
   */
  latest(): SnapshotMeta | null {
    const newest = this.stored.at(-1);
    if (newest === undefined) return null;
    if (newest.fault !== null) throw newest.fault;
    assert(newest.meta !== null, 'the newest snapshot was not verified');
    return newest.meta;
  }

  /** The snapshots in the directory by index and term, oldest first. */
  list(): ReadonlyArray<{ readonly index: Index; readonly term: Term }> {
    return this.stored.map(({ index, term }) => ({ index, term }));
  }

  /** A writer or receiver of this store holds an unfinished snapshot at `position`. */
  isUnfinished(position: { readonly index: number; readonly term: number }): boolean {
    return this.temps.has(path.join(this.dir, snapshotFileName(position) + TEMP_SUFFIX));
  }

  /**
   * A writer for a new snapshot of `meta`: write() the payload in chunks of any size, then
   * finish(); until finish() resolves, a crash leaves no trace of it. abort() drops it.
   */
  create(meta: SnapshotMeta): SnapshotWriter {
    const { handle, tempPath } = this.openTemp(meta);
    const writer = new SnapshotWriter({ fs: this.fs, publisher: this, meta, handle, tempPath, chunkBytes: this.chunkBytes });
    this.writers.add(writer);
    return writer;
  }

  /**
   * A receiver for a snapshot streamed from a leader. For the same meta as an unfinished
   * receiver of this process it returns that one, to resume at its receivedBytes; for
   * another meta it aborts the unfinished one (its partial file is removed) and starts anew.
   * Partial transfers do not outlive the process: open removes their temp files.
   */
  receive(meta: SnapshotMeta): SnapshotReceiver {
    const current = this.receiving;
    if (current !== null && current.state === 'receiving') {
      if (sameMeta(current.meta, meta)) return current;
      current.abort();
    }
    const { handle, tempPath } = this.openTemp(meta);
    const receiver = new SnapshotReceiver({ fs: this.fs, publisher: this, meta, handle, tempPath });
    this.receiving = receiver;
    return receiver;
  }

  /**
   * A reader of the stored snapshot `meta` (from latest() or a finish()). Checks the header
   * and the file's size now; each frame is checked as it is read. CorruptSnapshotError on
   * damage. The reader keeps working if prune() removes the file meanwhile.
   */
  open(meta: SnapshotMeta): SnapshotReader {
    this.assertOpen();
    const entry = this.stored.find((s) => s.index === meta.index && s.term === meta.term);
    assert(entry !== undefined, () => `no snapshot at index ${meta.index}, term ${meta.term} in ${this.dir}`);
    const reader = SnapshotReader.open({ fs: this.fs, filePath: this.pathOf(entry), expected: entry, scheduler: this.scheduler });
    if (entry.meta !== null && !sameMeta(entry.meta, reader.meta)) {
      reader.close();
      throw new CorruptSnapshotError(this.pathOf(entry), 0, 'wrong-meta');
    }
    return reader;
  }

  /**
   * Removes the snapshots `which` names (never the newest), durably; returns the removed
   * files' paths. Names of snapshots not stored are ignored.
   */
  async remove(which: readonly { readonly index: number; readonly term: number }[]): Promise<string[]> {
    this.assertOpen();
    const newest = this.stored.at(-1);
    const named = (entry: Stored): boolean => entry !== newest && which.some((w) => w.index === entry.index && w.term === entry.term);
    const removed = this.stored.filter(named).map((entry) => this.pathOf(entry));
    const remaining = this.stored.filter((entry) => !named(entry));
    this.stored.length = 0;
    this.stored.push(...remaining);
    for (const filePath of removed) this.fs.remove(filePath);
    if (removed.length > 0) await this.fs.syncDir(this.dir);
    return removed;
  }

  /** Removes all but the newest `keep` snapshots, durably; returns the removed files' paths. */
  async prune(keep: number = SNAPSHOTS_KEPT): Promise<string[]> {
    assert(Number.isInteger(keep) && keep >= 1, 'prune must keep at least the newest snapshot');
    return this.remove(this.stored.slice(0, Math.max(0, this.stored.length - keep)));
  }

  /** Aborts unfinished writers and the unfinished receiver, and releases the directory. Idempotent. */
  close(): void {
    if (this.closed) return;
    for (const writer of [...this.writers]) writer.abort();
    this.receiving?.abort();
    this.closed = true;
    this.lock.release();
  }

  /** @internal Publisher: makes a finished temp file the snapshot `meta`, crash-atomically. */
  async publish(handle: FileHandle, tempPath: string, meta: SnapshotMeta): Promise<void> {
    await this.fs.fdatasync(handle);
    this.fs.close(handle);
    const finalPath = path.join(this.dir, snapshotFileName(meta));
    this.fs.rename(tempPath, finalPath);
    this.temps.delete(tempPath);
    await this.fs.syncDir(this.dir);
    const existing = this.stored.findIndex((s) => s.index === meta.index && s.term === meta.term);
    if (existing >= 0) this.stored.splice(existing, 1);
    this.stored.push({ index: meta.index, term: meta.term, meta, fault: null });
    this.stored.sort(byPosition);
  }

  /** @internal Publisher: a writer or receiver is done with its temp file (published, aborted or failed). */
  released(tempPath: string, owner: object): void {
    this.temps.delete(tempPath);
    if (owner instanceof SnapshotWriter) this.writers.delete(owner);
    else if (this.receiving === owner) this.receiving = null;
  }

  private openTemp(meta: SnapshotMeta): { handle: FileHandle; tempPath: string } {
    this.assertOpen();
    const tempPath = path.join(this.dir, snapshotFileName(meta) + TEMP_SUFFIX);
    assert(!this.temps.has(tempPath), () => `a snapshot at index ${meta.index}, term ${meta.term} is being written already`);
    const handle = this.fs.open(tempPath, 'create');
    this.fs.truncate(handle, 0);
    this.temps.add(tempPath);
    return { handle, tempPath };
  }

  /** Reads the newest snapshot whole, checking every frame; records what is wrong with it. */
  private async verifyNewest(): Promise<void> {
    const newest = this.stored.at(-1);
    if (newest === undefined) return;
    let reader: SnapshotReader | null = null;
    try {
      reader = SnapshotReader.open({ fs: this.fs, filePath: this.pathOf(newest), expected: newest, scheduler: this.scheduler });
      await reader.verify();
      newest.meta = reader.meta;
    } catch (error) {
      if (!(error instanceof CorruptSnapshotError)) throw error;
      newest.fault = error;
    } finally {
      reader?.close();
    }
  }

  private pathOf(position: { readonly index: number; readonly term: number }): string {
    return path.join(this.dir, snapshotFileName(position));
  }

  private assertOpen(): void {
    assert(!this.closed, () => `snapshot store ${this.dir} is closed`);
  }
}

function byPosition(a: { index: number; term: number }, b: { index: number; term: number }): number {
  return a.index - b.index || a.term - b.term;
}

/**
 * The position of the newest snapshot file in `dir` by its name (what the store's latest()
 * will be, once open has verified it), or null when there is none or no directory. A listing
 * only, no file read, so that it can be asked before the log is opened: a node names it as
 * the log's restorePoint.
 */
export function newestSnapshotPosition(fs: FileSystem, dir: string): { readonly index: Index; readonly term: Term } | null {
  let names: string[];
  try {
    names = fs.list(dir);
  } catch (error) {
    if (error instanceof StorageIoError) return null;
    throw error;
  }
  const positions = names.map(parseSnapshotFileName).filter((position) => position !== null);
  return positions.sort(byPosition).at(-1) ?? null;
}

/** Opens (or creates) the snapshot directory: removes temp files, verifies the newest snapshot. */
export function openSnapshotStore(options: SnapshotStoreOptions): Promise<SnapshotStore> {
  return SnapshotStore.open(options);
}
