import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Prng } from './prng.js';

/**
 * Damage to a stopped node's log files, as a failing disk would leave it. Works on the bytes
 * only, per docs/storage.md: segments `<20-digit first index>.log` under DATA_DIR/log, each a
 * run of records with a 32-byte header (magic "QLG1" u32 LE at 0, payload length u32 at 8,
 * index u64 at 16), then the payload.
 */
const RECORD_MAGIC = 0x3147_4c51;
const RECORD_HEADER_BYTES = 32;
const SEGMENT_NAME = /^\d{20}\.log$/;
const SCAN_RECORDS_MAX = 50_000_000;

export type DiskDamageKind = 'cut-tail' | 'flip-last' | 'flip-old';

export interface DiskDamage {
  readonly kind: DiskDamageKind;
  readonly file: string;
  readonly offset: number;
  /** Where the damaged record starts (for a cut: where the cut is). */
  readonly recordOffset: number;
  /** The Raft index of the damaged record (for a cut: the first record the cut reached). */
  readonly index: number;
  readonly bytes: number;
  /** Records in the segment before the damage; for flip-old the damaged record is this far from the end. */
  readonly recordsAfter: number;
}

interface RecordSpan {
  readonly offset: number;
  readonly bytes: number;
  readonly index: number;
}

function logDir(dataDir: string): string {
  return path.join(dataDir, 'log');
}

export function lastSegmentPath(dataDir: string): string | null {
  const dir = logDir(dataDir);
  if (!fs.existsSync(dir)) return null;
  const last = fs.readdirSync(dir).filter((name) => SEGMENT_NAME.test(name)).sort().at(-1);
  return last === undefined ? null : path.join(dir, last);
}

/** Every whole record of a segment file, in order (stops at the first bad header or short record). */
export function scanRecords(file: string): RecordSpan[] {
  const buf = fs.readFileSync(file);
  const spans: RecordSpan[] = [];
  let offset = 0;
  for (let k = 0; k < SCAN_RECORDS_MAX && offset + RECORD_HEADER_BYTES <= buf.length; k++) {
    if (buf.readUInt32LE(offset) !== RECORD_MAGIC) break;
    const bytes = RECORD_HEADER_BYTES + buf.readUInt32LE(offset + 8);
    if (offset + bytes > buf.length) break;
    spans.push({ offset, bytes, index: Number(buf.readBigUInt64LE(offset + 16)) });
    offset += bytes;
  }
  return spans;
}

/**
 * Applies one kind of damage to the last segment of a stopped node; null when there is too
 * little log to damage that way (the caller records it and damages nothing).
 *  - cut-tail: cuts a random number of bytes (1 .. 3 records' worth) off the end of the
 *    last record (not of the file: a segment the node preallocated ends in zeros, and
 *    cutting those would damage nothing), truncating the file there;
 *  - flip-last: flips one byte in the last record;
 *  - flip-old: flips one byte in a record from the older half of the segment, at least
 *    FLIP_OLD_RECORDS_MIN / 2 records below its end, long acknowledged. A segment that holds
 *    fewer records (just rolled over, as with tiny segments and compaction) is too little log.
 */
/** Records the last segment must hold for flip-old (see damageLog). */
export const FLIP_OLD_RECORDS_MIN = 8;

export function damageLog(dataDir: string, kind: DiskDamageKind, random: Prng): DiskDamage | null {
  const file = lastSegmentPath(dataDir);
  if (file === null) return null;
  const spans = scanRecords(file);
  const last = spans.at(-1);
  if (last === undefined) return null;
  switch (kind) {
    case 'cut-tail': {
      const end = last.offset + last.bytes;
      const tail = spans.slice(-3);
      const bytesMax = end - (tail[0]?.offset ?? 0);
      const bytes = random.between(1, Math.max(1, bytesMax));
      fs.truncateSync(file, end - bytes);
      const reached = spans.find((s) => s.offset + s.bytes > end - bytes) ?? last;
      return { kind, file, offset: end - bytes, recordOffset: end - bytes, index: reached.index, bytes, recordsAfter: spans.filter((s) => s.offset > reached.offset).length };
    }
    case 'flip-last':
      return flipIn(file, last, random, kind, 0);
    case 'flip-old': {
      if (spans.length < FLIP_OLD_RECORDS_MIN) return null;
      const k = random.nextInt(Math.floor(spans.length / 2));
      const span = spans[k];
      return span === undefined ? null : flipIn(file, span, random, kind, spans.length - 1 - k);
    }
  }
}

function flipIn(file: string, span: RecordSpan, random: Prng, kind: DiskDamageKind, recordsAfter: number): DiskDamage {
  const at = span.offset + random.nextInt(span.bytes);
  const fd = fs.openSync(file, 'r+');
  try {
    const one = Buffer.alloc(1);
    fs.readSync(fd, one, 0, 1, at);
    one[0] = (one[0] ?? 0) ^ (1 << random.nextInt(8));
    fs.writeSync(fd, one, 0, 1, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { kind, file, offset: at, recordOffset: span.offset, index: span.index, bytes: 1, recordsAfter };
}

/**
 * The operator's repair of a log that refuses to open because of a damaged record in the
 * middle: drop that record and everything after it (cut the segment file at the record,
 * remove its index cache and any later segments). The node then opens a log shorter than
 * its durable mark, reports the loss, refuses to vote, and is repaired by the leader.
 */
export function dropFromDamagedRecord(damage: DiskDamage): void {
  fs.truncateSync(damage.file, damage.recordOffset);
  const dir = path.dirname(damage.file);
  const base = path.basename(damage.file, '.log');
  fs.rmSync(path.join(dir, `${base}.idx`), { force: true });
  for (const name of fs.readdirSync(dir)) {
    if ((SEGMENT_NAME.test(name) || name.endsWith('.idx')) && name.slice(0, 20) > base) fs.rmSync(path.join(dir, name), { force: true });
  }
}
