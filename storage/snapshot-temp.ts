import type { FileHandle, FileSystem } from './file-system.js';
import type { SnapshotMeta } from '../raft/index.js';

/** What the store does for its writers and receivers (SnapshotStore implements it). */
export interface Publisher {
  /** fdatasync the temp file, close it, rename it to the snapshot's name, sync the directory. */
  publish(handle: FileHandle, tempPath: string, meta: SnapshotMeta): Promise<void>;
  /** The temp file is no longer this writer's or receiver's (published, aborted or failed). */
  released(tempPath: string, owner: object): void;
}

export interface TempFile {
  readonly fs: FileSystem;
  readonly publisher: Publisher;
  readonly meta: SnapshotMeta;
  readonly handle: FileHandle;
  readonly tempPath: string;
}

/** The life of a writer or receiver: it leaves the first state once, for one of the others. */
export type TempState = 'receiving' | 'writing' | 'finishing' | 'finished' | 'aborted' | 'failed';

/** Closes and unlinks a temp file that will not be published (best effort: open removes leftovers). */
export function discard(file: TempFile, closeHandle: boolean): void {
  // A failed close or unlink (a handle closed by a failed publish, a crashed process) leaves
  // at most a temp file, which the next open removes.
  try {
    if (closeHandle) file.fs.close(file.handle);
  } catch {
    // see above
  }
  try {
    file.fs.remove(file.tempPath);
  } catch {
    // see above
  }
}

/**
 * Drops an unfinished snapshot's temp file for its `owner` (a writer or receiver in `state`)
 * and returns the state it is left in: 'aborted', or the one it had if it was already done.
 */
export function abandon(file: TempFile, state: TempState, owner: object): TempState {
  if (state === 'finished' || state === 'aborted') return state;
  discard(file, state !== 'failed');
  file.publisher.released(file.tempPath, owner);
  return 'aborted';
}
