import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Damage to a stopped node's log files, as a failing disk or a torn write would leave it.
 * Works on the bytes only (framing per docs/storage.md): 32-byte header with magic at 0 and
 * payload length at 8, then the payload; segments named by their first index, 20 digits.
 */
const RECORD_MAGIC = 0x3147_4c51;
const RECORD_HEADER_BYTES = 32;
const SEGMENT_NAME = /^\d{20}\.log$/;
const SCAN_RECORDS_MAX = 50_000_000;

export function lastSegmentPath(dataDir: string): string {
  const logDir = path.join(dataDir, 'log');
  const names = fs.readdirSync(logDir).filter((name) => SEGMENT_NAME.test(name)).sort();
  const last = names.at(-1);
  if (last === undefined) throw new Error(`no segment files in ${logDir}`);
  return path.join(logDir, last);
}

/** Byte offset and length of the last whole record in a segment file. */
export function lastRecordSpan(file: string): { readonly offset: number; readonly bytes: number; readonly records: number } {
  const buf = fs.readFileSync(file);
  let offset = 0;
  let last: { offset: number; bytes: number } | null = null;
  let records = 0;
  for (; records < SCAN_RECORDS_MAX && offset + RECORD_HEADER_BYTES <= buf.length; records++) {
    if (buf.readUInt32LE(offset) !== RECORD_MAGIC) break;
    const bytes = RECORD_HEADER_BYTES + buf.readUInt32LE(offset + 8);
    if (offset + bytes > buf.length) break;
    last = { offset, bytes };
    offset += bytes;
  }
  if (last === null) throw new Error(`${file} holds no whole record`);
  return { ...last, records };
}

/**
 * Cuts `bytes` off the end of the last record of the node's last segment (a torn tail):
 * the file is truncated `bytes` before the end of its last whole record, not of the file,
 * because a log that writes zeros ahead of its records (preallocation) ends in zeros that
 * a cut from the file's end would remove without damaging any record. Returns the new size.
 */
export function cutTail(dataDir: string, bytes: number): number {
  const file = lastSegmentPath(dataDir);
  const last = lastRecordSpan(file);
  const newSize = Math.max(0, last.offset + last.bytes - bytes);
  fs.truncateSync(file, newSize);
  return newSize;
}

/** Flips one payload bit (or header bit, for an empty payload) in the last record of the last segment. */
export function flipByteInLastRecord(dataDir: string): { readonly file: string; readonly offset: number } {
  const file = lastSegmentPath(dataDir);
  const span = lastRecordSpan(file);
  // The middle of the payload when there is one; otherwise the index field of the header.
  const at = span.bytes > RECORD_HEADER_BYTES ? span.offset + RECORD_HEADER_BYTES + Math.floor((span.bytes - RECORD_HEADER_BYTES) / 2) : span.offset + 16;
  const fd = fs.openSync(file, 'r+');
  try {
    const one = Buffer.alloc(1);
    fs.readSync(fd, one, 0, 1, at);
    one[0] = (one[0] ?? 0) ^ 0x10;
    fs.writeSync(fd, one, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
  return { file, offset: at };
}
