import { strict as assert } from 'node:assert';
import { promises as fsp } from 'node:fs';

/** The file system's numbers the disk gauges show. */
export interface DiskStats {
  /** Bytes free for an unprivileged process (statfs bavail). */
  readonly freeBytes: number;
  readonly sizeBytes: number;
}

export interface DiskStatsCacheOptions {
  /** How long one statfs answers for (default 5 s: a disk fills in minutes, and a scrape comes every second or more). */
  readonly maxAgeMs?: number;
  /** The statfs call: the real one by default, a fake in tests. */
  readonly statfs?: (dir: string) => Promise<{ readonly bavail: number; readonly blocks: number; readonly bsize: number }>;
}

/**
 * statfs of a directory, asked of the kernel at most once every `maxAgeMs`: a statfs through
 * the promise API costs a scrape about 0.3 ms of the main thread (a thread-pool round trip),
 * the biggest part of the disk gauges. Concurrent reads share the call in flight; a failed
 * call is not kept (the next read asks again).
 */
export class DiskStatsCache {
  private readonly maxAgeMs: number;
  private readonly statfs: NonNullable<DiskStatsCacheOptions['statfs']>;
  private last: { readonly dir: string; readonly atMs: number; readonly stats: DiskStats } | null = null;
  private pending: Promise<DiskStats> | null = null;

  constructor(options: DiskStatsCacheOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 5_000;
    this.statfs = options.statfs ?? ((dir) => fsp.statfs(dir));
    assert(this.maxAgeMs >= 0, 'DiskStatsCache: maxAgeMs must not be negative');
  }

  /** The stats of `dir` as of at most `maxAgeMs` before `nowMs`. Rejects when statfs fails. */
  read(dir: string, nowMs: number): Promise<DiskStats> {
    const last = this.last;
    if (last !== null && last.dir === dir && nowMs - last.atMs < this.maxAgeMs && nowMs >= last.atMs) return Promise.resolve(last.stats);
    this.pending ??= this.statfs(dir)
      .then((s) => {
        const stats = { freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
        this.last = { dir, atMs: nowMs, stats };
        return stats;
      })
      .finally(() => (this.pending = null));
    return this.pending;
  }
}
