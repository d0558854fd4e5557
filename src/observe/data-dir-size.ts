import { strict as assert } from 'node:assert';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A file the node writes through its file system; the file system keeps `sizeBytes` current. */
export interface TrackedFile {
  sizeBytes: number;
}

export interface DataDirSizeOptions {
  /** How often the directory is walked again for the files not tracked (default 60 s). */
  readonly walkIntervalMs?: number;
  /** Files a walk sums at most (a node's directory holds a few dozen). */
  readonly walkFilesMax?: number;
}

/**
 * The bytes of the files under a data directory, without walking it on every scrape. The
 * files the node writes through its metered file system are tracked as they are opened,
 * written, truncated, renamed and removed (`track`, `renamed`, `removed`), so the log's and
 * the snapshots' growth shows at once; the others (the identity file, anything written
 * around the file system) come from a walk of the directory, redone at most every
 * `walkIntervalMs`. Where a file is both tracked and walked, the tracked size counts.
 */
export class DataDirSize {
  private readonly tracked = new Map<string, TrackedFile>();
  /** Sizes the last walk found, by resolved path; null until the first walk. */
  private walked: Map<string, number> | null = null;
  private walkedAtMs = -Infinity;
  private readonly walkIntervalMs: number;
  private readonly walkFilesMax: number;

  constructor(options: DataDirSizeOptions = {}) {
    this.walkIntervalMs = options.walkIntervalMs ?? 60_000;
    this.walkFilesMax = options.walkFilesMax ?? 10_000;
    assert(this.walkIntervalMs >= 0 && this.walkFilesMax > 0, 'DataDirSize: bad options');
  }

  /** `file` was opened with `sizeBytes`: the record the file system updates from now on. */
  track(file: string, sizeBytes: number): TrackedFile {
    const key = path.resolve(file);
    const known = this.tracked.get(key);
    if (known !== undefined) {
      known.sizeBytes = sizeBytes;
      return known;
    }
    const record = { sizeBytes };
    this.tracked.set(key, record);
    return record;
  }

  renamed(from: string, to: string): void {
    const [fromKey, toKey] = [path.resolve(from), path.resolve(to)];
    const record = this.tracked.get(fromKey);
    const walkedSize = this.walked?.get(fromKey);
    this.forget(toKey);
    this.forget(fromKey);
    if (record !== undefined) this.tracked.set(toKey, record);
    else if (walkedSize !== undefined) this.walked?.set(toKey, walkedSize);
  }

  removed(file: string): void {
    this.forget(path.resolve(file));
  }

  /**
   * Bytes of the files under `dir` at `nowMs`, walking it first when the last walk is older
   * than the interval. Rejects when the directory cannot be read.
   */
  async bytes(dir: string, nowMs: number): Promise<number> {
    const root = path.resolve(dir);
    if (this.walked === null || nowMs - this.walkedAtMs >= this.walkIntervalMs) {
      const walked = new Map<string, number>();
      await walk(root, walked, { filesLeft: this.walkFilesMax });
      this.walked = walked;
      this.walkedAtMs = nowMs;
    }
    const under = root + path.sep;
    let total = 0;
    for (const [file, record] of this.tracked) if (file.startsWith(under)) total += record.sizeBytes;
    for (const [file, sizeBytes] of this.walked) if (!this.tracked.has(file)) total += sizeBytes;
    return total;
  }

  private forget(key: string): void {
    this.tracked.delete(key);
    this.walked?.delete(key);
  }
}

async function walk(dir: string, into: Map<string, number>, budget: { filesLeft: number }): Promise<void> {
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    if (budget.filesLeft-- <= 0) return;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await walk(full, into, budget);
    else if (entry.isFile()) {
      const stat = await fsp.stat(full).catch(() => null);
      // Removed between the listing and the stat: it takes no room.
      if (stat !== null) into.set(full, stat.size);
    }
  }
}
