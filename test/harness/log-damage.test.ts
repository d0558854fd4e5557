import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { cutTail, flipByteInLastRecord, lastRecordSpan } from './log-damage.js';

/**
 * The damage helpers work on bytes (framing of docs/storage.md). These check them on a
 * hand-built segment, with and without the zeros a preallocating log leaves after its
 * last record, so a cut always removes bytes of a record.
 */
const RECORDS = 10;
let dataDir = '';
let file = '';
let recordsEnd = 0;

function writeSegment(zerosAfter: number): void {
  const parts: Buffer[] = [];
  for (let i = 1; i <= RECORDS; i++) {
    const payload = Buffer.from(`record-${i}`);
    const header = Buffer.alloc(32);
    header.writeUInt32LE(0x3147_4c51, 0);
    header.writeUInt32LE(payload.length, 8);
    header.writeBigUInt64LE(BigInt(i), 16);
    header.writeBigUInt64LE(1n, 24);
    parts.push(header, payload);
  }
  const records = Buffer.concat(parts);
  recordsEnd = records.length;
  fs.writeFileSync(file, Buffer.concat([records, Buffer.alloc(zerosAfter)]));
}

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-log-damage-'));
  fs.mkdirSync(path.join(dataDir, 'log'));
  file = path.join(dataDir, 'log', '00000000000000000001.log');
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('cutTail', () => {
  for (const zerosAfter of [0, 4096]) {
    it(`cuts from the end of the last record (${zerosAfter} zero bytes after it)`, () => {
      for (const bytes of [1, 7, 41, 100]) {
        writeSegment(zerosAfter);
        const last = lastRecordSpan(file);
        expect(last.offset + last.bytes).toBe(recordsEnd);
        expect(cutTail(dataDir, bytes)).toBe(recordsEnd - bytes);
        expect(fs.statSync(file).size).toBe(recordsEnd - bytes);
        // The last whole record is now an earlier one: bytes of a record were removed.
        expect(lastRecordSpan(file).records).toBeLessThan(RECORDS);
      }
    });
  }
});

describe('flipByteInLastRecord', () => {
  it('flips a byte inside the last record, not in the zeros after it', () => {
    writeSegment(4096);
    const before = fs.readFileSync(file);
    const { offset } = flipByteInLastRecord(dataDir);
    const after = fs.readFileSync(file);
    expect([...after.keys()].filter((k) => after[k] !== before[k])).toEqual([offset]);
    expect(offset).toBeGreaterThanOrEqual(lastRecordSpan(file).offset);
    expect(offset).toBeLessThan(recordsEnd);
  });
});
