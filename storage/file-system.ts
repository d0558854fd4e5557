/**
 * The one seam through which storage touches files. Three implementations:
 * NodeFileSystem (real files), MemoryFileSystem (tests and the simulator: loses unsynced
 * writes, tears and flips bits on command) and PowerLossFileSystem (a real process whose
 * kill -9 loses exactly what a power failure would).
 *
 * The durability contract every implementation keeps, and storage relies on:
 * - A write or truncate is visible to readAt at once, and durable only once fdatasync (or
 *   fdatasyncNow) of that handle has resolved after it.
 * - A name (a file created by open, a rename, a removal) is durable only once syncDir of
 *   its directory has resolved after it. A file's data is durable only when both hold.
 * - Methods that can block on the disk for long are async (fdatasync, syncDir); the rest
 *   are synchronous because they touch only the page cache, so the Raft core can read the
 *   log synchronously.
 * Failures are thrown as StorageIoError (with the system error as cause).
 */

/** An open file. Stays bound to the same file across rename and remove, like a POSIX fd. */
export interface FileHandle {
  /** The path the file was opened under, for messages. */
  readonly path: string;
}

export const OpenMode = {
  /** Open for read and write, creating an empty file if none exists. */
  create: 'create',
  /** Open for read and write; the file must exist. */
  existing: 'existing',
} as const;
export type OpenMode = (typeof OpenMode)[keyof typeof OpenMode];

export interface FileSystem {
  /** Opens `path` for reading and writing. A creation is durable after syncDir(parent). */
  open(path: string, mode: OpenMode): FileHandle;
  /** The current size in bytes, unsynced writes included. */
  size(handle: FileHandle): number;
  /**
   * Reads up to `into.length` bytes at `position` into `into`, returning how many were read
   * (fewer only at end of file). Sees writes that are not yet synced.
   */
  readAt(handle: FileHandle, into: Uint8Array, position: number): number;
  /**
   * Writes all of `data` at `position`, extending the file if needed. Durable after
   * fdatasync. Keeps no reference to `data`: the caller may reuse the buffer on return.
   */
  writeAt(handle: FileHandle, data: Uint8Array, position: number): void;
  /** Sets the size (cutting or zero-extending). Durable after fdatasync. */
  truncate(handle: FileHandle, sizeBytes: number): void;
  /** Makes every write and truncate of this file done before the call durable. */
  fdatasync(handle: FileHandle): Promise<void>;
  /**
   * The same as fdatasync but blocking the caller. Only for rare events where the caller
   * cannot yield (sealing a segment on roll-over); never on the per-append path.
   */
  fdatasyncNow(handle: FileHandle): void;
  /** Releases the handle. Unsynced writes stay pending (close is not a sync). */
  close(handle: FileHandle): void;
  /** Atomically replaces `to` with `from`. Durable after syncDir of the directory. */
  rename(from: string, to: string): void;
  /** Unlinks `path`; open handles stay usable. Durable after syncDir of the directory. */
  remove(path: string): void;
  /** The names (not paths) in `dir`, in no particular order. */
  list(dir: string): string[];
  /** Makes every creation, rename and removal in `dir` done before the call durable. */
  syncDir(dir: string): Promise<void>;
  /** Creates `dir` and its parents if missing (durable once synced by whoever made it). */
  mkdir(dir: string): void;
  /**
   * Takes the exclusive lock of the existing directory `dir` for this process, before anything
   * in it is read. Throws DirectoryLockedError (naming the holder's pid where known) when
   * another process, or another open of this process, holds it. The lock is released by
   * release() or when the holding process dies, however it dies (kill -9 included): the
   * kernel drops it, so no stale lock outlives its holder.
   */
  lockDir(dir: string): DirectoryLock;
}

/** An exclusive hold on a directory; see FileSystem.lockDir. */
export interface DirectoryLock {
  readonly dir: string;
  /** Gives the lock up. Idempotent. */
  release(): void;
}
