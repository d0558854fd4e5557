/**
 * Recovery with `onDamage: 'truncate'` (what a node opens its log with): damage that is not
 * a torn tail ends the log just before the first damaged record, discards everything after
 * it, reports exactly what, and sets lostEntries so the node waits for repair before voting.
 * On real files, through NodeFileSystem.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { NodeFileSystem, openLog, StorageIoError, type FileHandle } from '../../storage/index.js';
import { cleanup, entries, expectLogEquals, FIVE_SEGMENTS, segmentFilePath, tempDir } from './log-fixtures.js';

const { payloadBytes: PAYLOAD_BYTES, recordBytes: RECORD_BYTES, perSegment: PER_SEGMENT, segmentBytes: SEGMENT_BYTES, count: COUNT } = FIVE_SEGMENTS;
const all = entries(1, COUNT, 1, PAYLOAD_BYTES);

let dir = '';
const segmentPath = (first: number): string => segmentFilePath(dir, first);

/** Real files, except that opening one existing file fails as a dying disk's EIO would (a file made anew there is fine). */
class FailingReadsFileSystem extends NodeFileSystem {
  constructor(private readonly unreadable: string) {
    super();
  }

  override open(filePath: string, mode: 'create' | 'existing'): FileHandle {
    if (filePath === this.unreadable && mode === 'existing') throw new StorageIoError('open', filePath, { cause: Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }) });
    return super.open(filePath, mode);
  }
}

const open = (fs = new NodeFileSystem()) => openLog({ dir, fs, segmentBytes: SEGMENT_BYTES, onDamage: 'truncate' });

function overwrite(filePath: string, byteOffset: number, bytes: Uint8Array): void {
  const fd = nodeFs.openSync(filePath, 'r+');
  nodeFs.writeSync(fd, bytes, 0, bytes.length, byteOffset);
  nodeFs.closeSync(fd);
}

function flip(filePath: string, byteOffset: number, bit: number): void {
  const bytes = nodeFs.readFileSync(filePath);
  bytes[byteOffset] = (bytes[byteOffset] ?? 0) ^ (1 << bit);
  nodeFs.writeFileSync(filePath, bytes);
}

beforeEach(async () => {
  dir = await tempDir();
  const log = await openLog({ dir, fs: new NodeFileSystem(), segmentBytes: SEGMENT_BYTES });
  await log.append(all);
  await log.close();
});
afterEach(async () => {
  await cleanup(dir);
});

/** Opens with damage, checks the log is exactly entries 1..keptThrough, and that the cut is durable and appendable. */
async function expectCutAt(keptThrough: number, damage: Record<string, unknown>, fs?: NodeFileSystem): Promise<void> {
  const log = await open(fs);
  expectLogEquals(log, all.slice(0, keptThrough), 1);
  expect(log.recovery.damage).toMatchObject({ fromIndex: keptThrough + 1, ...damage });
  expect(log.recovery.lostEntries).toBe(true);
  expect(log.recovery.durableMark.index).toBe(COUNT);
  // What a repairing leader does: send the rest again. Once it reaches the mark, nothing is lost.
  await log.append(all.slice(keptThrough));
  await log.close();
  const repaired = await open();
  expectLogEquals(repaired, all, 1);
  expect(repaired.recovery).toMatchObject({ damage: null, lostEntries: false, cutTailBytes: 0 });
  await repaired.close();
}

describe("recovery with onDamage: 'truncate'", () => {
  it('a bad record with good ones after it in the last segment: cut there, the rest reported', async () => {
    const victim = 2; // index 35
    flip(segmentPath(33), victim * RECORD_BYTES + 40, 3);
    await expectCutAt(34, { file: segmentPath(33), byteOffset: victim * RECORD_BYTES, fault: 'bad-crc', cutBytes: (PER_SEGMENT - victim) * RECORD_BYTES, discardedSegments: [] });
  });

  it('a hole of zeros in the middle of the last segment', async () => {
    overwrite(segmentPath(33), 3 * RECORD_BYTES, new Uint8Array(RECORD_BYTES));
    await expectCutAt(35, { file: segmentPath(33), byteOffset: 3 * RECORD_BYTES, fault: 'bad-magic', discardedSegments: [] });
  });

  it('a flipped bit inside a sealed segment is found at open (every record is verified), and later segments are discarded', async () => {
    flip(segmentPath(9), 3 * RECORD_BYTES + 40, 2); // payload of index 12
    await expectCutAt(11, { file: segmentPath(9), byteOffset: 3 * RECORD_BYTES, fault: 'bad-crc', discardedSegments: [segmentPath(17), segmentPath(25), segmentPath(33)] });
    expect(nodeFs.readdirSync(dir).filter((name) => name.endsWith('.log')).length).toBe(5); // rebuilt by the repair's appends
  });

  it('a sealed segment cut short', async () => {
    const sealed = segmentPath(17);
    nodeFs.truncateSync(sealed, nodeFs.statSync(sealed).size - 5);
    await expectCutAt(23, { file: sealed, byteOffset: 7 * RECORD_BYTES, discardedSegments: [segmentPath(25), segmentPath(33)] });
  });

  it('a missing middle segment: the log ends where the hole begins', async () => {
    nodeFs.rmSync(segmentPath(17));
    await expectCutAt(16, { file: segmentPath(17), fault: 'missing-segment', discardedSegments: [segmentPath(25), segmentPath(33)] });
  });

  it('a missing first segment leaves an empty log', async () => {
    nodeFs.rmSync(segmentPath(1));
    await expectCutAt(0, { file: segmentPath(1), fault: 'missing-segment', discardedSegments: [segmentPath(9), segmentPath(17), segmentPath(25), segmentPath(33)] });
  });

  it('an unreadable sealed segment: the segments before it are kept', async () => {
    await expectCutAt(24, { file: segmentPath(25), fault: 'unreadable-segment', discardedSegments: [segmentPath(25), segmentPath(33)] }, new FailingReadsFileSystem(segmentPath(25)));
  });

  it('an unreadable last segment: the sealed one before it becomes the last', async () => {
    await expectCutAt(32, { file: segmentPath(33), fault: 'unreadable-segment', discardedSegments: [segmentPath(33)] }, new FailingReadsFileSystem(segmentPath(33)));
  });

  it('a torn tail is still a torn tail, not damage', async () => {
    const last = segmentPath(33);
    nodeFs.truncateSync(last, nodeFs.statSync(last).size - 7);
    const log = await open();
    expect(log.lastIndex()).toBe(COUNT - 1);
    expect(log.recovery).toMatchObject({ damage: null, cutFromIndex: COUNT, lostEntries: true });
    await log.close();
  });

  it("the default ('refuse') changes nothing when it refuses", async () => {
    flip(segmentPath(33), 2 * RECORD_BYTES + 40, 3);
    const before = nodeFs.readdirSync(dir).map((name) => [name, nodeFs.readFileSync(path.join(dir, name)).toString('hex')]);
    await expect(openLog({ dir, fs: new NodeFileSystem(), segmentBytes: SEGMENT_BYTES })).rejects.toMatchObject({ name: 'CorruptRecordError' });
    expect(nodeFs.readdirSync(dir).map((name) => [name, nodeFs.readFileSync(path.join(dir, name)).toString('hex')])).toEqual(before);
  });
});
