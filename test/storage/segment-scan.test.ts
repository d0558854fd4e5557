import { describe, expect, it } from 'vitest';

import { MemoryFileSystem } from '../../storage/index.js';
import { encodeRecords, recordBytes } from '../../storage/record-codec.js';
import { AssertionError } from '../../storage/assert.js';
import { MemoryIndex, nonZeroEnd, scanSegment, validRecordAfter } from '../../storage/segment-scan.js';
import { entry } from './log-fixtures.js';

const MiB = 1 << 20;

function fileWith(records: ReadonlyArray<{ at: number; index: number }>, sizeBytes: number) {
  const fs = new MemoryFileSystem();
  fs.mkdir('/d');
  const handle = fs.open('/d/f', 'create');
  fs.truncate(handle, sizeBytes);
  for (const { at, index } of records) {
    const e = entry(index, 1, 40);
    const out = new Uint8Array(recordBytes(40));
    encodeRecords([e], 0, 1, out, 0);
    fs.writeAt(handle, out, at);
  }
  return { fs, handle };
}

describe('segment scan', () => {
  it('finds a valid record after damage even where it straddles a read window', () => {
    for (const delta of [-3, -2, -1, 0, 1, 7]) {
      const { fs, handle } = fileWith([{ at: 1 + MiB + delta, index: 9 }], 3 * MiB);
      expect(validRecordAfter({ fs, handle, fromOffset: 0, payloadBytesMax: 1000 })).toBe(true);
    }
  });

  it('finds nothing in zeros or after the last record', () => {
    const { fs, handle } = fileWith([{ at: 100, index: 1 }], 2 * MiB + 5);
    expect(validRecordAfter({ fs, handle, fromOffset: 100, payloadBytesMax: 1000 })).toBe(false);
    expect(validRecordAfter({ fs, handle, fromOffset: 50, payloadBytesMax: 1000 })).toBe(true);
  });

  it('stops at the first record that breaks the index sequence', () => {
    const size = recordBytes(40);
    const { fs, handle } = fileWith(
      [
        { at: 0, index: 5 },
        { at: size, index: 6 },
        { at: 2 * size, index: 8 },
      ],
      3 * size,
    );
    const scan = scanSegment({ fs, handle, firstIndex: 5, prevTerm: 0, payloadBytesMax: 1000 });
    expect(scan.index.count).toBe(2);
    expect(scan.fault).toEqual({ byteOffset: 2 * size, expectedIndex: 7, fault: 'wrong-index' });
  });

  it('finds the end of the last non-zero byte from the end backwards, across read windows', () => {
    const { fs, handle } = fileWith([], 3 * MiB);
    expect(nonZeroEnd(fs, handle, 0)).toBe(0);
    expect(nonZeroEnd(fs, handle, 5)).toBe(5);
    for (const at of [0, 7, MiB - 1, MiB, 2 * MiB + 1, 3 * MiB - 1]) {
      fs.writeAt(handle, new Uint8Array([9]), at);
      expect(nonZeroEnd(fs, handle, 0)).toBe(at + 1);
      expect(nonZeroEnd(fs, handle, at + 1)).toBe(at + 1); // only zeros after it
    }
  });

  it('the memory index answers only for the records it holds, not from its spare capacity or a truncated tail', () => {
    const index = new MemoryIndex();
    index.push(0, 3);
    index.push(60, 4);
    expect([index.offsetAt(1), index.termAt(1)]).toEqual([60, 4]);
    index.truncate(1);
    expect(() => index.offsetAt(1)).toThrow(AssertionError);
    expect(() => index.termAt(1)).toThrow(AssertionError);
    expect(() => index.termAt(200)).toThrow(AssertionError);
  });
});
