import { promises as fsp, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

import type { FileSystem } from '../../storage/index.js';
import { OpenMode } from '../../storage/index.js';
import type { DiskUsage, DiskUsageSource } from './disk-guard.js';

/**
 * The real disk usage of the file system holding `dir` (fs.statfs), counted as df counts
 * Use%: used over used plus what is available to this process, so the blocks reserved for
 * root do not make a disk this node can no longer write to look 95% full.
 */
export function statfsDiskUsage(dir: string): DiskUsageSource {
  return async (): Promise<DiskUsage> => {
    const stats = await fsp.statfs(dir);
    const usedBytes = (stats.blocks - stats.bfree) * stats.bsize;
    return { usedBytes, sizeBytes: usedBytes + stats.bavail * stats.bsize };
  };
}

/**
 * When the newest snapshot file in `dir` was last written (ms since 1970), by its mtime on
 * the real disk; null when there is none or it cannot be read. Read once at start, for the
 * age of the snapshot a node started from.
 */
export function newestSnapshotFileTimeMs(dir: string): number | null {
  try {
    let newest: number | null = null;
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.snap')) continue;
      const mtimeMs = statSync(path.join(dir, name)).mtimeMs;
      newest = newest === null ? mtimeMs : Math.max(newest, mtimeMs);
    }
    return newest;
  } catch {
    return null;
  }
}

/** Files of a directory summed at most (a snapshot directory holds a few). */
const DIRECTORY_FILES_MAX = 1_000;

/**
 * Bytes of the snapshot files in `dir` through the node's file system, the ones being written
 * or received (.tmp) included: they take room too (0 for a missing directory).
 */
export function snapshotFilesBytes(fs: FileSystem, dir: string): number {
  let names: string[];
  try {
    names = fs.list(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of names.slice(0, DIRECTORY_FILES_MAX)) {
    if (!name.endsWith('.snap') && !name.endsWith('.tmp')) continue; // the directory's lock file
    try {
      const handle = fs.open(path.join(dir, name), OpenMode.existing);
      try {
        total += fs.size(handle);
      } finally {
        fs.close(handle);
      }
    } catch {
      // Removed meanwhile (a pruned snapshot, a finished temp file): it takes no room.
    }
  }
  return total;
}
