import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { DirectoryLockedError, StorageIoError } from './errors.js';
import type { DirectoryLock } from './file-system.js';

/** The file whose flock(2) lock stands for the directory; it holds the holder's pid, for messages. */
export const LOCK_FILE_NAME = 'lock';

/** flock(1)'s exit status when the lock is held elsewhere (we ask for one no other outcome uses). */
const CONFLICT_EXIT_CODE = 75;
const FLOCK_TIMEOUT_MS = 10_000;

/**
 * Takes flock(2)'s exclusive lock on `dir`/lock, which the kernel drops when the last
 * descriptor of the open file goes away, so a holder killed by any signal leaves no stale
 * lock. Node has no flock binding; util-linux's flock(1) is handed our descriptor as its fd 3
 * and locks the open file description we share with it. The lock belongs to that description,
 * not to the short-lived flock process, so it stays held until we close our descriptor (on
 * release or at our death). Our descriptor is close-on-exec, so no child of ours inherits it.
 *
 * flock(2) locks conflict between open file descriptions, so a second open of the directory in
 * this same process is refused too.
 */
export function lockDirWithFlock(dir: string): DirectoryLock {
  const lockPath = path.join(dir, LOCK_FILE_NAME);
  let fd: number;
  try {
    // O_CREAT changes nothing when the file exists: a refused second process writes no byte.
    fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (error) {
    throw new StorageIoError('open', lockPath, { cause: error });
  }
  try {
    const result = spawnSync('flock', ['--nonblock', '--exclusive', '--conflict-exit-code', String(CONFLICT_EXIT_CODE), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      timeout: FLOCK_TIMEOUT_MS,
      encoding: 'utf8',
    });
    if (result.error !== undefined) {
      const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
      const cause = missing ? new Error('the flock command (util-linux) is not installed', { cause: result.error }) : result.error;
      throw new StorageIoError('flock', lockPath, { cause });
    }
    if (result.status === CONFLICT_EXIT_CODE) throw new DirectoryLockedError(dir, readHolderPid(fd));
    if (result.status !== 0) {
      throw new StorageIoError('flock', lockPath, { cause: new Error(`flock exited ${result.status ?? result.signal}: ${result.stderr.trim()}`) });
    }
    recordHolder(fd);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  let held = true;
  return {
    dir,
    release: () => {
      if (!held) return;
      held = false;
      fs.closeSync(fd);
    },
  };
}

/** Our pid in the lock file, for the message another process prints. Advisory: not synced. */
function recordHolder(fd: number): void {
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
  } catch (error) {
    throw new StorageIoError('write', 'lock file', { cause: error });
  }
}

function readHolderPid(fd: number): number | null {
  try {
    const buffer = Buffer.alloc(32);
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, n).toString('utf8').trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}
