import * as fs from 'node:fs';
import * as path from 'node:path';

/** Entries visited per walk at most: a node's data directory holds a few dozen files. */
const ENTRIES_MAX = 100_000;

/**
 * Bytes the files under `dir` occupy on disk, as `du -s` counts them (allocated blocks, not
 * apparent sizes, so zero-filled preallocation shows). Files that vanish during the walk (a
 * segment deleted, a temp file renamed) are skipped; a missing `dir` is 0.
 */
export function dataDirBytes(dir: string): number {
  let bytes = 0;
  let visited = 0;
  const pending = [dir];
  // Bounded by ENTRIES_MAX entries.
  while (pending.length > 0 && visited < ENTRIES_MAX) {
    const current = pending.pop() ?? dir;
    let names: string[];
    try {
      names = fs.readdirSync(current);
    } catch {
      continue;
    }
    for (const name of names) {
      visited++;
      const full = path.join(current, name);
      try {
        const stat = fs.lstatSync(full);
        if (stat.isDirectory()) pending.push(full);
        else bytes += stat.blocks * 512;
      } catch {
        // Gone since readdir.
      }
    }
  }
  return bytes;
}

/** Whether any file under `dir` (one level of subfolders deep) ends with `suffix`. */
export function hasFileEndingWith(dir: string, suffix: string): boolean {
  const look = (folder: string, depth: number): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const entry of entries) {
      if (entry.isFile() && entry.name.endsWith(suffix)) return true;
      if (entry.isDirectory() && depth > 0 && look(path.join(folder, entry.name), depth - 1)) return true;
    }
    return false;
  };
  return look(dir, 1);
}

/** A snapshot file's name (storage/snapshot-file.ts): zero-padded index and term. */
const SNAPSHOT_FILE_NAME = /^(\d{20})-(\d{20})\.snap$/;

/**
 * The index of the newest snapshot file in a node's `<dataDir>/snapshots` (0: none). Read
 * from the files because the node's status reports the snapshot its log was compacted
 * below, which stays 0 while retention keeps the whole log.
 */
export function newestSnapshotFileIndex(dataDir: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(dataDir, 'snapshots'));
  } catch {
    return 0;
  }
  return Math.max(0, ...names.map((name) => Number(SNAPSHOT_FILE_NAME.exec(name)?.[1] ?? 0)));
}
