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
 * - Methods that can block on the disk for long are async (fdatasync, syncDir,
 *   writeDurably); the rest are synchronous because they touch only the page cache, so the
 *   Raft core can read the log synchronously.
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

/**
 * writeDurably pads each write with zeros to a multiple of this many bytes from the start of
 * the file: what O_DIRECT asks of offsets and lengths (4 KiB covers the logical block sizes
 * disks report, 512 B and 4 KiB).
 */
export const DURABLE_WRITE_BLOCK_BYTES = 4096;

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
  /**
   * Writes `data` at `position`, then `zerosAfter` zeros (0 by default: a log's zeros written
   * ahead of its records, in the same write without a buffer of them), then zeros to the next
   * multiple of DURABLE_WRITE_BLOCK_BYTES (growing the file to there if it is shorter), and resolves once
   * those bytes and every write and truncate of this file done before the call are durable:
   * writeAt and fdatasync in one step, for a log's tail, where what follows the data is
   * zeros written ahead or nothing. NodeFileSystem writes it past the page cache where the
   * file system allows (O_DIRECT | O_DSYNC, on the thread pool), so until it resolves a readAt
   * of those bytes may see them or what was there before: the caller serves them from memory.
   * At most one per handle in flight, with no writeAt or truncate of that handle beside it.
   * Keeps no reference to `data`: the caller may reuse the buffer on return.
   */
  writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter?: number): Promise<void>;
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

/** Where a write of `bytes` (data and zeros after it) at `position` ends once writeDurably has padded it with zeros. */
export function durableWriteEnd(position: number, bytes: number): number {
  return Math.ceil((position + bytes) / DURABLE_WRITE_BLOCK_BYTES) * DURABLE_WRITE_BLOCK_BYTES;
}

/**
 * writeDurably as writeAt of the padded data, then fdatasync, both through `fs`: what the
 * in-memory and power-loss file systems do, and NodeFileSystem where O_DIRECT is refused.
 * One write, so a torn write tears the data and its padding as the one write they are.
 */
export function writeThenSync(fs: FileSystem, handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
  const padded = new Uint8Array(durableWriteEnd(position, data.length + zerosAfter) - position);
  padded.set(data);
  fs.writeAt(handle, padded, position);
  return fs.fdatasync(handle);
}
