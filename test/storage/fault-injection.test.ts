/**
 * Damage on real files, through NodeFileSystem: cut the last segment at every byte of its
 * last record, flip bits in headers and payloads, delete or damage index files, delete
 * segments. Each case either recovers exactly the durable prefix (and says what it cut and
 * whether acknowledged entries are gone) or fails with the typed error naming the place.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { Index } from '../../raft/types.js';
import { CorruptRecordError, durableWriteEnd, MissingSegmentError, NodeFileSystem, openLog, StorageIoError, type DirectoryLock, type FileHandle } from '../../storage/index.js';
import { cleanup, entries, expectLogEquals, FIVE_SEGMENTS, indexFilePath, segmentFilePath, tempDir } from './log-fixtures.js';

const { payloadBytes: PAYLOAD_BYTES, recordBytes: RECORD_BYTES, segmentBytes: SEGMENT_BYTES, count: COUNT } = FIVE_SEGMENTS;
const all = entries(1, COUNT, 1, PAYLOAD_BYTES);

let dir = '';
const segmentPath = (first: number): string => segmentFilePath(dir, first);
const indexPath = (first: number): string => indexFilePath(dir, first);
const open = () => openLog({ dir, fs: new NodeFileSystem(), segmentBytes: SEGMENT_BYTES });

/**
 * Real files as one process sees them. die() does what kill -9 does: the kernel drops its
 * directory locks, and nothing the process had scheduled (a zero-fill step, a flush) reaches
 * the files afterwards, since a killed process has no more turns; here its later writes throw.
 */
class ProcessFileSystem extends NodeFileSystem {
  private readonly locks: DirectoryLock[] = [];
  private dead = false;

  override lockDir(dir: string): DirectoryLock {
    const lock = super.lockDir(dir);
    this.locks.push(lock);
    return lock;
  }

  override writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    this.refuseIfDead(handle);
    super.writeAt(handle, data, position);
  }

  override truncate(handle: FileHandle, sizeBytes: number): void {
    this.refuseIfDead(handle);
    super.truncate(handle, sizeBytes);
  }

  override writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    this.refuseIfDead(handle);
    return super.writeDurably(handle, data, position, zerosAfter);
  }

  die(): void {
    this.dead = true;
    for (const lock of this.locks.splice(0)) lock.release();
  }

  private refuseIfDead(handle: FileHandle): void {
    if (this.dead) throw new StorageIoError('write', handle.path, { cause: new Error('the process was killed') });
  }
}

/**
 * Bytes up to the last non-zero one: what recovery counts as cut (zeros at a segment's end
 * may be space written ahead, so a torn record's own trailing zeros are not counted).
 */
function nonZeroBytes(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

function flip(filePath: string, byteOffset: number, bit: number): void {
  const bytes = nodeFs.readFileSync(filePath);
  bytes[byteOffset] = (bytes[byteOffset] ?? 0) ^ (1 << bit);
  nodeFs.writeFileSync(filePath, bytes);
}

beforeEach(async () => {
  dir = await tempDir();
  const log = await open();
  await log.append(all);
  await log.close();
});
afterEach(async () => {
  await cleanup(dir);
});

describe('a torn or damaged tail of the last segment', () => {
  it('is cut at every byte offset of the last record, and the loss is reported', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const start = original.length - RECORD_BYTES;
    for (let cut = start; cut < original.length; cut++) {
      nodeFs.writeFileSync(last, original.subarray(0, cut));
      const log = await open();
      expectLogEquals(log, all.slice(0, COUNT - 1), 1);
      expect(log.recovery.cutTailBytes).toBe(nonZeroBytes(original.subarray(start, cut)));
      expect(log.recovery.cutFromIndex).toBe(cut === start ? null : COUNT);
      // Entry 40 was acknowledged durable: its disappearance is a loss, not a torn write.
      expect(log.recovery.lostEntries).toBe(true);
      expect(log.recovery.durableMark.index).toBe(COUNT);
      await log.close();
      expect(nodeFs.statSync(last).size).toBe(start); // the cut itself is durable
    }
  });

  it('cuts a last record with any flipped bit, header or payload', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const start = original.length - RECORD_BYTES;
    for (let byte = start; byte < original.length; byte++) {
      nodeFs.writeFileSync(last, original);
      flip(last, byte, byte % 8);
      const log = await open();
      expect(log.lastIndex()).toBe(COUNT - 1);
      expect(log.recovery).toMatchObject({ cutTailBytes: RECORD_BYTES, cutFromIndex: COUNT, lostEntries: true });
      await log.close();
    }
  });

  it('does not cut past the torn tail: a later append lands right after the good records', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    nodeFs.writeFileSync(last, original.subarray(0, original.length - 7));
    let log = await open();
    await log.append(entries(COUNT, 1, 2, PAYLOAD_BYTES));
    await log.close();
    log = await open();
    expectLogEquals(log, [...all.slice(0, COUNT - 1), ...entries(COUNT, 1, 2, PAYLOAD_BYTES)], 1);
    expect(log.recovery.lostEntries).toBe(false);
    await log.close();
  });
});

describe('damage that is not a torn tail', () => {
  it('a bad record followed by good ones in the last segment is a CorruptRecordError at its place', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const victim = 2; // the third record of the segment: index 35
    for (let byte = victim * RECORD_BYTES; byte < (victim + 1) * RECORD_BYTES; byte++) {
      nodeFs.writeFileSync(last, original);
      flip(last, byte, (byte * 3) % 8);
      const error = await open().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect(error).toMatchObject({ file: last, byteOffset: victim * RECORD_BYTES, expectedIndex: 33 + victim });
    }
  });

  it('a flipped bit inside a sealed segment is caught when the entry is read', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2); // payload of index 12
    const log = await open();
    expect(log.term(12 as Index)).toBe(1); // terms come from the index, not the damaged record
    expect(log.entries(9 as Index, 12 as Index, 1 << 20).length).toBe(3);
    expect(() => log.entries(9 as Index, 13 as Index, 1 << 20)).toThrow(CorruptRecordError);
    await log.close();
  });

  it('a damaged last record of a sealed segment fails the open with CorruptRecordError', async () => {
    flip(segmentPath(9), 7 * RECORD_BYTES + 20, 0); // the header of index 16
    await expect(open()).rejects.toMatchObject({ name: 'CorruptRecordError', expectedIndex: 16, file: segmentPath(9) });
  });

  it('a sealed segment cut short is reported, never skipped', async () => {
    const sealed = segmentPath(17);
    const original = nodeFs.readFileSync(sealed);
    nodeFs.writeFileSync(sealed, original.subarray(0, original.length - 5));
    await expect(open()).rejects.toBeInstanceOf(CorruptRecordError);
    nodeFs.writeFileSync(sealed, original.subarray(0, original.length - RECORD_BYTES));
    nodeFs.rmSync(indexPath(17));
    await expect(open()).rejects.toMatchObject({ name: 'MissingSegmentError', expectedFirstIndex: 24 });
  });

  it('a missing middle segment is a MissingSegmentError naming the hole', async () => {
    nodeFs.rmSync(segmentPath(17));
    const error = await open().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MissingSegmentError);
    expect(error).toMatchObject({ expectedFirstIndex: 17, foundFirstIndex: 25 });
  });

  it('a missing first segment is a MissingSegmentError too', async () => {
    nodeFs.rmSync(segmentPath(1));
    await expect(open()).rejects.toMatchObject({ name: 'MissingSegmentError', expectedFirstIndex: 1, foundFirstIndex: 9 });
  });
});

describe('index files are caches', () => {
  it('a deleted index file is rebuilt from its segment', async () => {
    nodeFs.rmSync(indexPath(9));
    const log = await open();
    expect(log.recovery.rebuiltIndexes).toEqual([indexPath(9)]);
    expectLogEquals(log, all, 1, 100);
    await log.close();
    expect(nodeFs.existsSync(indexPath(9))).toBe(true);
  });

  it('a stale or damaged index file is rebuilt, at open or on first use', async () => {
    nodeFs.truncateSync(indexPath(1), 3 * 32); // stale: too short
    flip(indexPath(17), 4 * 32 + 3, 1); // a middle slot: only found when used
    const log = await open();
    expect(log.recovery.rebuiltIndexes).toEqual([indexPath(1)]);
    expectLogEquals(log, all, 1, 100);
    await log.close();
  });
});

describe('zeros written ahead of the last record', () => {
  it('are a clean end; a partial record in them is a torn tail', async () => {
    const sub = path.join(dir, 'prealloc');
    // Each open stands for a process; the one before it was killed without closing its files,
    // and the kernel released its directory lock.
    let process: ProcessFileSystem | null = null;
    const openSub = () => {
      process?.die();
      process = new ProcessFileSystem();
      return openLog({ dir: sub, fs: process, segmentBytes: 1 << 20, preallocateBytes: 64 * 1024 });
    };
    const crashed = await openSub();
    await crashed.append(entries(1, 5, 1, PAYLOAD_BYTES));
    const file = path.join(sub, `${String(1).padStart(20, '0')}.log`);
    // The group's one write carried half a run of zeros after its 5 records.
    expect(nodeFs.statSync(file).size).toBe(durableWriteEnd(0, 5 * RECORD_BYTES + 32 * 1024));
    // No close: as after kill -9, the file keeps its zeros.
    let log = await openSub();
    expect(log.recovery).toMatchObject({ cutTailBytes: 0, cutFromIndex: null, lostEntries: false });
    expect(nodeFs.statSync(file).size).toBe(5 * RECORD_BYTES);
    await log.append(entries(6, 1, 1, PAYLOAD_BYTES));
    const torn = nodeFs.readFileSync(file).subarray(5 * RECORD_BYTES, 6 * RECORD_BYTES - 9);
    const fd = nodeFs.openSync(file, 'r+');
    nodeFs.writeSync(fd, torn, 0, torn.length, 6 * RECORD_BYTES); // half of a 7th record in the zeros
    nodeFs.closeSync(fd);
    log = await openSub();
    expect(log.lastIndex()).toBe(6);
    expect(log.recovery).toMatchObject({ cutFromIndex: 7, lostEntries: false });
    expect(log.recovery.cutTailBytes).toBe(torn.length); // the torn bytes, not the zeros after them
    await log.close();
    expect(nodeFs.statSync(file).size).toBe(6 * RECORD_BYTES);
    // `crashed` stands for a killed process: it is never used or closed again.
  });
});

describe('a preallocated last segment (a killed node leaves zeros after its records)', () => {
  const ZEROS_AHEAD = 64 * 1024;
  /** The last segment as a preallocating node killed mid-write leaves it: `records`, then zeros. */
  function withZerosAhead(filePath: string, records: Uint8Array): void {
    nodeFs.writeFileSync(filePath, Buffer.concat([records, Buffer.alloc(ZEROS_AHEAD)]));
  }

  it('a last record torn at every byte, zeros after it, is cut; the zeros are not counted', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const start = original.length - RECORD_BYTES;
    for (let cut = start; cut < original.length; cut++) {
      withZerosAhead(last, original.subarray(0, cut));
      const log = await open();
      expectLogEquals(log, all.slice(0, COUNT - 1), 1);
      const torn = nonZeroBytes(original.subarray(start, cut));
      expect(log.recovery).toMatchObject({ cutTailBytes: torn, cutFromIndex: torn === 0 ? null : COUNT, lostEntries: true });
      await log.close();
      expect(nodeFs.statSync(last).size).toBe(start); // torn bytes and zeros both gone, durably
    }
  });

  it('a last record with any flipped bit, zeros after it, is cut', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const start = original.length - RECORD_BYTES;
    for (let byte = start; byte < original.length; byte++) {
      withZerosAhead(last, original);
      flip(last, byte, (byte * 5) % 8);
      const log = await open();
      expect(log.lastIndex()).toBe(COUNT - 1);
      expect(log.recovery).toMatchObject({ cutTailBytes: RECORD_BYTES, cutFromIndex: COUNT, lostEntries: true });
      await log.close();
    }
  });

  it('zeros alone after the last record are a clean end, and appends continue after the records', async () => {
    const last = segmentPath(33);
    withZerosAhead(last, nodeFs.readFileSync(last));
    let log = await open();
    expect(log.recovery).toMatchObject({ cutTailBytes: 0, cutFromIndex: null, lostEntries: false });
    expectLogEquals(log, all, 1);
    await log.append(entries(COUNT + 1, 1, 1, PAYLOAD_BYTES));
    await log.close();
    log = await open();
    expectLogEquals(log, [...all, ...entries(COUNT + 1, 1, 1, PAYLOAD_BYTES)], 1);
    await log.close();
  });

  it('a segment holding only zeros (created, preallocated, nothing written) opens empty', async () => {
    const empty = segmentPath(COUNT + 1);
    nodeFs.writeFileSync(empty, Buffer.alloc(ZEROS_AHEAD));
    const log = await open();
    expect(log.recovery).toMatchObject({ cutTailBytes: 0, cutFromIndex: null, lostEntries: false });
    expectLogEquals(log, all, 1);
    await log.close();
    expect(nodeFs.statSync(empty).size).toBe(0);
  });

  it('a bad record followed by non-zero garbage in the zeros is a torn tail, counted to the garbage', async () => {
    const last = segmentPath(33);
    const original = nodeFs.readFileSync(last);
    const start = original.length - RECORD_BYTES;
    withZerosAhead(last, original.subarray(0, start + 10));
    const garbageAt = start + 500;
    const fd = nodeFs.openSync(last, 'r+');
    nodeFs.writeSync(fd, Buffer.from([1, 2, 3]), 0, 3, garbageAt);
    nodeFs.closeSync(fd);
    const log = await open();
    expect(log.recovery).toMatchObject({ cutTailBytes: garbageAt + 3 - start, cutFromIndex: COUNT, lostEntries: true });
    await log.close();
    expect(nodeFs.statSync(last).size).toBe(start);
  });

  it('a bad durable record followed by a good one, zeros after, is still a CorruptRecordError', async () => {
    const last = segmentPath(33);
    withZerosAhead(last, nodeFs.readFileSync(last));
    const victim = 6; // index 39: acknowledged, and index 40 after it is good
    flip(last, victim * RECORD_BYTES + 40, 3);
    await expect(open()).rejects.toMatchObject({ name: 'CorruptRecordError', file: last, byteOffset: victim * RECORD_BYTES, expectedIndex: 33 + victim });
  });
});
