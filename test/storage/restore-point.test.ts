/**
 * `restorePoint` with `onDamage: 'truncate'` (what a node opens its log with, naming its
 * newest snapshot): sealed segments wholly at or below the point are not read at open (their
 * entries are not replayed); a read of a damaged record in one answers CorruptRecordError and
 * drops the segment's index file, so the next open verifies that segment and cuts the damage
 * as it always did. Segments after the point keep today's verify-and-cut recovery. On real
 * files, through NodeFileSystem.
 */
import * as nodeFs from 'node:fs';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CorruptRecordError, MemoryFileSystem, newestSnapshotPosition, NodeFileSystem, openLog, type FileHandle, type LogPosition } from '../../storage/index.js';
import type { Index, Term } from '../../raft/index.js';
import { cleanup, entries, expectLogEquals, FIVE_SEGMENTS, indexFilePath, segmentFilePath, tempDir } from './log-fixtures.js';

const { payloadBytes: PAYLOAD_BYTES, recordBytes: RECORD_BYTES, perSegment: PER_SEGMENT, segmentBytes: SEGMENT_BYTES, count: COUNT } = FIVE_SEGMENTS;
const all = entries(1, COUNT, 1, PAYLOAD_BYTES);

let dir = '';
const segmentPath = (first: number): string => segmentFilePath(dir, first);
const indexPath = (first: number): string => indexFilePath(dir, first);
const at = (index: number, term = 1): LogPosition => ({ index: index as Index, term: term as Term });

/** Real files, counting the bytes read from each path. */
class CountingFileSystem extends NodeFileSystem {
  readonly bytesRead = new Map<string, number>();

  override readAt(handle: FileHandle, buf: Uint8Array, position: number): number {
    const got = super.readAt(handle, buf, position);
    this.bytesRead.set(handle.path, (this.bytesRead.get(handle.path) ?? 0) + got);
    return got;
  }
}

function flip(filePath: string, byteOffset: number, bit: number): void {
  const bytes = nodeFs.readFileSync(filePath);
  bytes[byteOffset] = (bytes[byteOffset] ?? 0) ^ (1 << bit);
  nodeFs.writeFileSync(filePath, bytes);
}

const open = (restorePoint: LogPosition | undefined, fs = new NodeFileSystem(), onReadDamage?: (error: CorruptRecordError) => void) =>
  openLog({ dir, fs, segmentBytes: SEGMENT_BYTES, onDamage: 'truncate', ...(restorePoint === undefined ? {} : { restorePoint }), ...(onReadDamage === undefined ? {} : { onReadDamage }) });

beforeEach(async () => {
  dir = await tempDir();
  const log = await openLog({ dir, fs: new NodeFileSystem(), segmentBytes: SEGMENT_BYTES });
  await log.append(all);
  await log.close();
});
afterEach(async () => {
  await cleanup(dir);
});

describe('restorePoint: verification of the segments below it is deferred to their reads', () => {
  it('a damaged record below the point is not read at open: no cut, nothing lost, and the segment is read no further than its last record', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2); // payload of index 12
    const fs = new CountingFileSystem();
    const log = await open(at(24), fs);
    expect(log.lastIndex()).toBe(COUNT);
    expect(log.recovery).toMatchObject({ damage: null, lostEntries: false, cutTailBytes: 0, rebuiltIndexes: [] });
    for (const first of [1, 9, 17]) expect(fs.bytesRead.get(segmentPath(first))).toBe(RECORD_BYTES); // the index's tail check
    // The segments after the point are verified record by record, as without it.
    expect(fs.bytesRead.get(segmentPath(25))).toBeGreaterThanOrEqual(PER_SEGMENT * RECORD_BYTES);
    await log.close();
  });

  it('a read of the damaged record answers CorruptRecordError naming the segment and index, and the next open cuts the damage', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2);
    const found: CorruptRecordError[] = [];
    const log = await open(at(24), new NodeFileSystem(), (error) => found.push(error));
    expect(log.entries(1 as Index, 12 as Index, 1 << 20)).toEqual(all.slice(0, 11)); // reads before the damage are fine
    expect(() => log.entries(10 as Index, 14 as Index, 1 << 20)).toThrow(CorruptRecordError);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ file: segmentPath(9), expectedIndex: 12, byteOffset: 3 * RECORD_BYTES, fault: 'bad-crc' });
    // The segment's index is dropped, so the next open reads the whole segment to rebuild it.
    expect(nodeFs.existsSync(indexPath(9))).toBe(false);
    expect(log.entries(13 as Index, 15 as Index, 1 << 20).map((e) => e.index)).toEqual([13, 14]); // the open handle still serves the rest
    await log.close();

    const reopened = await open(at(24));
    expectLogEquals(reopened, all.slice(0, 11), 1);
    expect(reopened.recovery.damage).toMatchObject({ file: segmentPath(9), fromIndex: 12, fault: 'bad-crc', discardedSegments: [segmentPath(17), segmentPath(25), segmentPath(33)] });
    expect(reopened.recovery.lostEntries).toBe(true);
    await reopened.close();
  });

  it('damage after the point is still found and cut at open, also in the segment that holds the point', async () => {
    flip(segmentPath(17), 1 * RECORD_BYTES + 40, 5); // index 18, in 17..24, which holds the point 20
    const log = await open(at(20));
    expectLogEquals(log, all.slice(0, 17), 1);
    expect(log.recovery.damage).toMatchObject({ file: segmentPath(17), fromIndex: 18, fault: 'bad-crc', discardedSegments: [segmentPath(25), segmentPath(33)] });
    expect(log.recovery.lostEntries).toBe(true);
    await log.close();
  });

  it('a point the recovered log does not hold (another term there) verifies every segment, as without it', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2);
    const log = await open(at(24, 7));
    expectLogEquals(log, all.slice(0, 11), 1);
    expect(log.recovery.damage).toMatchObject({ file: segmentPath(9), fromIndex: 12, fault: 'bad-crc' });
    expect(log.recovery.lostEntries).toBe(true);
    await log.close();
  });

  it('a point the log no longer reaches (damage after it cut the log short) verifies every segment', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2); // index 12, below the point
    nodeFs.rmSync(segmentPath(33)); // the log now ends at 32, before the point 36
    const log = await open(at(36));
    expectLogEquals(log, all.slice(0, 11), 1);
    expect(log.recovery.damage).toMatchObject({ file: segmentPath(9), fromIndex: 12, fault: 'bad-crc' });
    expect(log.recovery.lostEntries).toBe(true);
    await log.close();
  });

  it('without damage, a log opened with a point reads back whole', async () => {
    const log = await open(at(30));
    expectLogEquals(log, all, 1);
    expect(log.recovery).toMatchObject({ damage: null, lostEntries: false });
    await log.close();
  });
});

describe('newestSnapshotPosition: the restore point a node names, from the snapshot directory listing', () => {
  const name = (index: number, t: number): string => `${String(index).padStart(20, '0')}-${String(t).padStart(20, '0')}.snap`;

  it('is the highest (index, term) among the snapshot files, ignoring temp and other files', () => {
    const fs = new MemoryFileSystem();
    fs.mkdir('/snaps');
    for (const file of [name(120, 3), name(300, 4), name(300, 5) + '.tmp', name(90, 2), 'notes']) fs.close(fs.open(`/snaps/${file}`, 'create'));
    expect(newestSnapshotPosition(fs, '/snaps')).toEqual({ index: 300, term: 4 });
  });

  it('is null for an empty or missing directory', () => {
    const fs = new MemoryFileSystem();
    expect(newestSnapshotPosition(fs, '/snaps')).toBeNull();
    fs.mkdir('/snaps');
    expect(newestSnapshotPosition(fs, '/snaps')).toBeNull();
  });
});
