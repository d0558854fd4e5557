import * as fs from 'node:fs';
import * as path from 'node:path';

import { LatencyRecorder, perSecond, type LatencySummary } from './stats.js';

/** One raw case: `recordsPerSync` records of `recordBytes` written, then one fdatasync, repeated. */
export interface DiskCase {
  readonly recordBytes: number;
  readonly recordsPerSync: number;
  readonly syncsPerSecond: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly fdatasync: LatencySummary;
}

export interface DiskProbeResult {
  readonly dir: string;
  readonly cases: readonly DiskCase[];
}

/** What our figures are compared with: single records, and records sharing a sync. */
export const DISK_PROBE_SHAPES = [
  { recordsPerSync: 1 },
  { recordsPerSync: 16 },
  { recordsPerSync: 256 },
] as const;

/**
 * The disk's own limit, measured with plain synchronous write + fdatasync on a file that
 * grows (as a log does): no framing, no checksums, no event loop. Each case runs for
 * `caseMs` and its file is removed. Runs before the nodes start, so nothing competes.
 */
export function probeDisk(options: { readonly dir: string; readonly recordBytes: number; readonly caseMs: number }): DiskProbeResult {
  const cases = DISK_PROBE_SHAPES.map((shape) => probeCase(options.dir, options.recordBytes, shape.recordsPerSync, options.caseMs));
  return { dir: options.dir, cases };
}

function probeCase(dir: string, recordBytes: number, recordsPerSync: number, caseMs: number): DiskCase {
  const file = path.join(dir, `disk-probe-${recordBytes}x${recordsPerSync}`);
  const fd = fs.openSync(file, 'w');
  // One write per group, as a log writes a batch it framed in one buffer.
  const chunk = Buffer.alloc(recordBytes * recordsPerSync, 0x5a);
  const syncs = new LatencyRecorder({ initialCapacity: 16_384 });
  let position = 0;
  let count = 0;
  const started = performance.now();
  let now = started;
  try {
    // Bounded by time; a disk slower than one sync per caseMs still does one round.
    while (now - started < caseMs) {
      fs.writeSync(fd, chunk, 0, chunk.length, position);
      const before = performance.now();
      fs.fdatasyncSync(fd);
      now = performance.now();
      syncs.record(now - before);
      position += chunk.length;
      count++;
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  const elapsedMs = now - started;
  const syncsPerSecond = perSecond(count, elapsedMs);
  return {
    recordBytes,
    recordsPerSync,
    syncsPerSecond,
    recordsPerSecond: syncsPerSecond * recordsPerSync,
    megabytesPerSecond: (syncsPerSecond * chunk.length) / 1e6,
    fdatasync: syncs.summary(),
  };
}

/** Writing one file of a given size sequentially and making it durable, as a snapshot is written. */
export interface SequentialWriteResult {
  readonly bytes: number;
  readonly chunkBytes: number;
  readonly elapsedMs: number;
  readonly megabytesPerSecond: number;
}

/**
 * The disk's sequential write limit for a file of `bytes`: `chunkBytes` writes (1 MiB, a
 * snapshot's frame) into a new file, one fdatasync at the end, timed from open to the sync's
 * end, then the file removed. Synchronous, like probeDisk: nothing of ours in the way.
 */
export function probeSequentialWrite(options: { readonly dir: string; readonly bytes: number; readonly chunkBytes?: number }): SequentialWriteResult {
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const file = path.join(options.dir, `disk-probe-sequential-${options.bytes}`);
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  const started = performance.now();
  const fd = fs.openSync(file, 'w');
  try {
    // Bounded by bytes / chunkBytes writes.
    for (let position = 0; position < options.bytes; position += chunkBytes) {
      fs.writeSync(fd, chunk, 0, Math.min(chunkBytes, options.bytes - position), position);
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const elapsedMs = performance.now() - started;
  fs.rmSync(file, { force: true });
  return { bytes: options.bytes, chunkBytes, elapsedMs, megabytesPerSecond: perSecond(options.bytes, elapsedMs) / 1e6 };
}
