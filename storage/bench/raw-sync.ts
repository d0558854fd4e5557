import * as fs from 'node:fs';
import * as path from 'node:path';

import { DirectAppender } from './direct-appender.js';

const ZERO_RUN_BYTES = 1024 * 1024;

/** Opens `file` (created or emptied) holding `bytes` of zeros (none for 0), synced: blocks a log can overwrite without a journal commit. */
export function syncedZeros(file: string, bytes: number): number {
  const fd = fs.openSync(file, 'w+');
  const zeros = Buffer.alloc(ZERO_RUN_BYTES);
  for (let at = 0; at < bytes; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
  fs.fdatasyncSync(fd);
  return fd;
}

/**
 * The disk's own limit: write + fdatasync of `recordBytes` at a time, one after the other,
 * for `caseMs`, each extending the file (as a log without preallocation does), or, with
 * `preallocatedBytes`, overwriting that many synced zeros (starting over them at their end).
 * The file is made in `dir` and removed.
 */
export function rawSyncRate(dir: string, recordBytes: number, caseMs: number, preallocatedBytes = 0): { perSecond: number; bytesPerSecond: number } {
  const file = path.join(dir, `raw-${recordBytes}`);
  const fd = syncedZeros(file, preallocatedBytes);
  const record = Buffer.alloc(recordBytes, 7);
  let count = 0;
  let position = 0;
  const started = performance.now();
  try {
    // Bounded by caseMs.
    while (performance.now() - started < caseMs) {
      fs.writeSync(fd, record, 0, recordBytes, position);
      fs.fdatasyncSync(fd);
      position += recordBytes;
      // Past the zeros, start over them: still allocated, synced blocks, never growing the file.
      if (preallocatedBytes > 0 && position + recordBytes > preallocatedBytes) position = 0;
      count++;
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file);
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, bytesPerSecond: (count * recordBytes) / seconds };
}

/**
 * The disk's limit the way the log's sync mode writes: `recordBytes` at a time, one after the
 * other, each written past the page cache and durable when the write returns (O_DIRECT |
 * O_DSYNC, DirectAppender: whole blocks, the block holding the previous record's tail written
 * again), over `preallocatedBytes` of synced zeros, for `caseMs`. Throws where the file system
 * refuses O_DIRECT. The file is made in `dir` and removed.
 */
export function rawDirectRate(dir: string, recordBytes: number, caseMs: number, preallocatedBytes: number): { perSecond: number } {
  const file = path.join(dir, `raw-direct-${recordBytes}`);
  const appender = DirectAppender.open(file, { zeroBytes: preallocatedBytes, chunkBytesMax: recordBytes, durableEachAppend: true });
  const record = Buffer.alloc(recordBytes, 7);
  let count = 0;
  const started = performance.now();
  try {
    // Bounded by caseMs.
    while (performance.now() - started < caseMs) {
      appender.append(record);
      count++;
    }
  } finally {
    appender.close();
    fs.rmSync(file);
  }
  return { perSecond: count / ((performance.now() - started) / 1000) };
}

/** The middle value (the upper of the two middle ones for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
