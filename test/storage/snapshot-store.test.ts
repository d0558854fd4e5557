/**
 * The snapshot store: the file format round trip, crash-atomic writes and receives (a power
 * failure before any file-system call leaves the old snapshot or the complete new one),
 * resumed and refused transfers, and damage found, never skipped.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Index, NodeId, SnapshotMeta, Term } from '../../raft/types.js';
import {
  AssertionError,
  CorruptSnapshotError,
  type CrashOptions,
  DirectoryLockedError,
  type FileSystem,
  MemoryFileSystem,
  NodeFileSystem,
  openSnapshotStore,
  type SnapshotStore,
  SnapshotTransferError,
} from '../../storage/index.js';
import { FRAME_HEADER_BYTES, headerBytesOf, snapshotFileName } from '../../storage/snapshot-file.js';
import { CrashPoints } from './crash-points.js';
import { cleanup, manualScheduler, payloadFor, tempDir } from './log-fixtures.js';

const DIR = '/data/n1/snapshots';
const VOTERS = ['n1', 'n2', 'n3'] as NodeId[];
const meta = (index: number, term: number, voters: readonly NodeId[] = VOTERS): SnapshotMeta => ({ index: index as Index, term: term as Term, voters });

function open(fs: FileSystem, chunkBytes = 64, dir = DIR): Promise<SnapshotStore> {
  return openSnapshotStore({ fs, dir, chunkBytes, scheduler: manualScheduler });
}

/** Writes `payload` in pieces of the given sizes (cycled), then finishes. */
async function writeSnapshot(store: SnapshotStore, m: SnapshotMeta, payload: Uint8Array, pieces: readonly number[] = [37]): Promise<SnapshotMeta> {
  const writer = store.create(m);
  // Bounded: each pass writes at least one byte.
  for (let at = 0, k = 0; at < payload.length; k++) {
    const size = Math.max(1, pieces[k % pieces.length] ?? 1);
    writer.write(payload.subarray(at, at + size));
    at += size;
  }
  return writer.finish();
}

async function expectSnapshot(store: SnapshotStore, m: SnapshotMeta, payload: Uint8Array): Promise<void> {
  expect(store.latest()).toEqual(m);
  const reader = store.open(m);
  expect(Buffer.from(await reader.readPayload()).equals(Buffer.from(payload))).toBe(true);
  reader.close();
}

/** The units of a stored snapshot, as a leader would stream them. */
async function unitsOf(store: SnapshotStore, m: SnapshotMeta): Promise<Array<{ offset: number; bytes: Uint8Array }>> {
  const reader = store.open(m);
  const out: Array<{ offset: number; bytes: Uint8Array }> = [];
  for await (const unit of reader.frames()) out.push({ offset: unit.offset, bytes: unit.bytes });
  reader.close();
  return out;
}

const tempNames = (fs: MemoryFileSystem): string[] => fs.list(DIR).filter((name) => name.endsWith('.tmp'));

describe('writing and reading', () => {
  it('round-trips a payload written in uneven pieces, framed as the layout says', async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    expect(store.latest()).toBeNull();
    const payload = payloadFor(10, 2, 1000);
    expect(await writeSnapshot(store, meta(10, 2), payload, [1, 200, 63, 64, 65])).toEqual(meta(10, 2));
    await expectSnapshot(store, meta(10, 2), payload);
    const frames = Math.ceil(1000 / 64);
    const units = await unitsOf(store, meta(10, 2));
    expect(units.length).toBe(frames + 2); // header, frames, end frame
    expect(units.slice(1, -1).every((u, k) => u.bytes.length === FRAME_HEADER_BYTES + (k < frames - 1 ? 64 : 1000 - 64 * (frames - 1)))).toBe(true);
    expect(fs.readFile(`${DIR}/${snapshotFileName(meta(10, 2))}`).length).toBe(headerBytesOf(meta(10, 2)) + frames * FRAME_HEADER_BYTES + 1000 + FRAME_HEADER_BYTES);
    store.close();
    await expectSnapshot(await open(fs.crash()), meta(10, 2), payload);
  });

  it('round-trips an empty payload and voters of many sizes', async () => {
    const store = await open(new MemoryFileSystem());
    const voters = ['a', 'node-with-a-long-name', 'ü'.repeat(40)] as NodeId[];
    await writeSnapshot(store, meta(5, 1, voters), new Uint8Array(0));
    await expectSnapshot(store, meta(5, 1, voters), new Uint8Array(0));
  });

  it('works on real files', async () => {
    const dir = await tempDir();
    try {
      const store = await open(new NodeFileSystem(), 1024, `${dir}/snapshots`);
      const payload = payloadFor(3, 3, 10_000);
      await writeSnapshot(store, meta(3, 3), payload, [4096]);
      store.close();
      await expectSnapshot(await open(new NodeFileSystem(), 1024, `${dir}/snapshots`), meta(3, 3), payload);
    } finally {
      await cleanup(dir);
    }
  });

  it('orders by index then term, prunes all but the newest two, removes temp files at open and holds the directory', async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    for (const [index, term] of [[10, 1], [30, 2], [20, 2], [30, 3]] as const) await writeSnapshot(store, meta(index, term), payloadFor(index, term, 50));
    expect(store.latest()).toEqual(meta(30, 3));
    const dropped = store.create(meta(40, 3));
    dropped.write(payloadFor(40, 3, 100));
    expect(tempNames(fs)).toHaveLength(1);
    await expect(open(fs)).rejects.toBeInstanceOf(DirectoryLockedError);
    const removed = await store.prune();
    expect(removed.map((p) => p.split('/').at(-1))).toEqual([snapshotFileName(meta(10, 1)), snapshotFileName(meta(20, 2))]);
    expect(store.list()).toEqual([{ index: 30, term: 2 }, { index: 30, term: 3 }]);
    const next = fs.crash();
    expect(tempNames(next)).toHaveLength(1); // prune's directory sync made its name durable
    const reopened = await open(next);
    expect(tempNames(next)).toEqual([]);
    expect(reopened.list()).toEqual([{ index: 30, term: 2 }, { index: 30, term: 3 }]);
    expect(reopened.latest()).toEqual(meta(30, 3));
  });

  it('abort drops an unfinished snapshot and its temp file', async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    const writer = store.create(meta(7, 1));
    writer.write(payloadFor(7, 1, 300));
    writer.abort();
    expect(tempNames(fs)).toEqual([]);
    expect(store.latest()).toBeNull();
    expect(() => writer.write(new Uint8Array(1))).toThrow(AssertionError);
  });
});

describe('damage', () => {
  async function damaged(harm: (fs: MemoryFileSystem, file: string) => void): Promise<{ store: SnapshotStore; file: string }> {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await writeSnapshot(store, meta(10, 1), payloadFor(10, 1, 500));
    await writeSnapshot(store, meta(20, 2), payloadFor(20, 2, 500));
    store.close();
    const file = `${DIR}/${snapshotFileName(meta(20, 2))}`;
    harm(fs, file);
    return { store: await open(fs), file };
  }

  const expectCorrupt = (store: SnapshotStore, file: string, fault: string): void => {
    let caught: unknown = null;
    try {
      store.latest();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CorruptSnapshotError);
    expect(caught).toMatchObject({ file, fault, code: 'corruptRecord' });
  };

  it('a flipped bit in the newest snapshot\'s payload is CorruptSnapshotError from latest(), never the older one', async () => {
    const { store, file } = await damaged((fs, f) => fs.flipBit(f, headerBytesOf(meta(20, 2)) + (FRAME_HEADER_BYTES + 64) * 3 + FRAME_HEADER_BYTES + 17, 4));
    expectCorrupt(store, file, 'bad-crc');
    expect((store.latest as () => unknown).bind(store)).toThrow(/corrupt snapshot .*00000000000000000020-00000000000000000002\.snap/);
    // A newer snapshot (from the leader, say) supersedes it; the older one is never chosen.
    await writeSnapshot(store, meta(30, 2), payloadFor(30, 2, 200));
    await expectSnapshot(store, meta(30, 2), payloadFor(30, 2, 200));
  });

  it('a flipped bit in the header, or a flipped frame length, is found', async () => {
    const header = await damaged((fs, f) => fs.flipBit(f, 20, 0));
    expectCorrupt(header.store, header.file, 'bad-crc');
    const length = await damaged((fs, f) => fs.flipBit(f, headerBytesOf(meta(20, 2)) + (FRAME_HEADER_BYTES + 64) * 2, 1));
    expectCorrupt(length.store, length.file, 'bad-frame-length');
  });

  it('a truncated newest snapshot (cut in a frame, at a frame boundary, or its end frame) is CorruptSnapshotError', async () => {
    const h = headerBytesOf(meta(20, 2));
    for (const cutAt of [h + 100, h + (FRAME_HEADER_BYTES + 64) * 3, h + 8 * 8 + 500, 10]) {
      const { store, file } = await damaged((fs, f) => fs.faultTruncate(f, cutAt));
      expectCorrupt(store, file, cutAt === 10 ? 'short-header' : 'wrong-size');
    }
  });

  it('a file whose header names another snapshot than its name is CorruptSnapshotError', async () => {
    const { store, file } = await damaged((fs, f) => {
      fs.faultRemove(f);
      const other = `${DIR}/${snapshotFileName(meta(10, 1))}`;
      const bytes = fs.readFile(other);
      const handle = fs.open(f, 'create');
      fs.writeAt(handle, bytes, 0);
      fs.fdatasyncNow(handle);
    });
    expectCorrupt(store, file, 'wrong-meta');
  });

  it('reads check every frame again: damage after open is found by readPayload and readFrame', async () => {
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    await writeSnapshot(store, meta(10, 1), payloadFor(10, 1, 500));
    const reader = store.open(meta(10, 1));
    const at = headerBytesOf(meta(10, 1)) + (FRAME_HEADER_BYTES + 64) * 4 + 30;
    fs.flipBit(`${DIR}/${snapshotFileName(meta(10, 1))}`, at, 2);
    await expect(reader.readPayload()).rejects.toMatchObject({ name: 'CorruptSnapshotError', fault: 'bad-crc', byteOffset: at - 30 });
    expect(() => reader.readFrame(at - 30)).toThrow(CorruptSnapshotError);
    expect(() => reader.readFrame(at - 29)).toThrow(AssertionError); // no unit starts there
  });
});

describe('receiving', () => {
  async function leaderWith(m: SnapshotMeta, payload: Uint8Array, chunkBytes = 64): Promise<SnapshotStore> {
    const store = await open(new MemoryFileSystem(), chunkBytes);
    await writeSnapshot(store, m, payload);
    return store;
  }

  it('receives a snapshot unit by unit and publishes it, byte for byte the leader\'s file', async () => {
    const payload = payloadFor(40, 3, 777);
    const leader = await leaderWith(meta(40, 3), payload);
    const fs = new MemoryFileSystem();
    const store = await open(fs, 4096); // the follower's own chunk size does not matter
    const receiver = store.receive(meta(40, 3));
    for (const unit of await unitsOf(leader, meta(40, 3))) receiver.accept(unit.offset, unit.bytes);
    expect(receiver.complete).toBe(true);
    await receiver.finish();
    await expectSnapshot(store, meta(40, 3), payload);
    expect(tempNames(fs)).toEqual([]);
  });

  it('resumes a broken stream at receivedBytes, with several units in one accept', async () => {
    const payload = payloadFor(40, 3, 1500);
    const leader = await leaderWith(meta(40, 3), payload);
    const units = await unitsOf(leader, meta(40, 3));
    const store = await open(new MemoryFileSystem());
    const first = store.receive(meta(40, 3));
    for (const unit of units.slice(0, 9)) first.accept(unit.offset, unit.bytes);
    const kept = first.receivedBytes;
    // The stream breaks; the leader asks again for the same snapshot.
    const again = store.receive(meta(40, 3));
    expect(again).toBe(first);
    expect(again.receivedBytes).toBe(kept);
    const reader = leader.open(meta(40, 3));
    // Bounded by the file's units.
    for (let offset = again.receivedBytes; !again.complete; ) {
      const a = reader.readFrame(offset);
      const b = a.last ? null : reader.readFrame(a.nextOffset);
      again.accept(offset, b === null ? a.bytes : Buffer.concat([a.bytes, b.bytes]));
      offset = again.receivedBytes;
    }
    await again.finish();
    await expectSnapshot(store, meta(40, 3), payload);
  });

  it('refuses a bad frame, keeps the good ones before it, and takes the frame again when it comes right', async () => {
    const payload = payloadFor(40, 3, 1000);
    const leader = await leaderWith(meta(40, 3), payload);
    const units = await unitsOf(leader, meta(40, 3));
    const store = await open(new MemoryFileSystem());
    const receiver = store.receive(meta(40, 3));
    for (const unit of units.slice(0, 4)) receiver.accept(unit.offset, unit.bytes);
    const good = units[4];
    const next = units[5];
    if (good === undefined || next === undefined) throw new Error('too few units');
    const bad = Uint8Array.from(good.bytes);
    bad[20] = (bad[20] ?? 0) ^ 0x10;
    const before = receiver.receivedBytes;
    const refusal = (run: () => void): unknown => {
      try {
        run();
      } catch (error) {
        return error;
      }
      return null;
    };
    // A good unit then a bad one in one buffer: the good one is kept.
    const error = refusal(() => receiver.accept(before, Buffer.concat([good.bytes, next.bytes.subarray(0, 10)])));
    expect(error).toBeInstanceOf(SnapshotTransferError);
    expect(error).toMatchObject({ fault: 'short-unit', receivedBytes: next.offset, code: 'malformedMessage' });
    expect(receiver.receivedBytes).toBe(next.offset);
    expect(refusal(() => receiver.accept(next.offset, Uint8Array.from(next.bytes, (b, k) => (k === 30 ? b ^ 1 : b))))).toMatchObject({ fault: 'bad-crc' });
    expect(refusal(() => receiver.accept(good.offset, good.bytes))).toMatchObject({ fault: 'wrong-offset', receivedBytes: next.offset });
    // A frame from another place in the stream has a good crc for its own place only.
    const elsewhere = units[6];
    if (elsewhere === undefined) throw new Error('too few units');
    expect(refusal(() => receiver.accept(next.offset, elsewhere.bytes))).toMatchObject({ fault: 'bad-crc' });
    await expect(receiver.finish()).rejects.toMatchObject({ fault: 'incomplete' });
    for (const unit of units.slice(5)) receiver.accept(unit.offset, unit.bytes);
    expect(refusal(() => receiver.accept(receiver.receivedBytes, units[1]?.bytes ?? new Uint8Array(8)))).toMatchObject({ fault: 'after-end' });
    await receiver.finish();
    await expectSnapshot(store, meta(40, 3), payload);
    void bad;
  });

  it('refuses a header for another snapshot, and a receive for another snapshot discards the partial one', async () => {
    const leader = await leaderWith(meta(40, 3), payloadFor(40, 3, 500));
    const units = await unitsOf(leader, meta(40, 3));
    const fs = new MemoryFileSystem();
    const store = await open(fs);
    const wrong = store.receive(meta(40, 3, ['n1', 'n2'] as NodeId[]));
    const header = units[0];
    if (header === undefined) throw new Error('no header');
    expect(() => wrong.accept(0, header.bytes)).toThrow(SnapshotTransferError);
    const partial = store.receive(meta(40, 3));
    expect(partial).not.toBe(wrong);
    expect(wrong.state).toBe('aborted');
    for (const unit of units.slice(0, 3)) partial.accept(unit.offset, unit.bytes);
    expect(tempNames(fs)).toEqual([`${snapshotFileName(meta(40, 3))}.tmp`]);
    const other = store.receive(meta(50, 3));
    expect(partial.state).toBe('aborted');
    expect(other.receivedBytes).toBe(0);
    expect(tempNames(fs)).toEqual([`${snapshotFileName(meta(50, 3))}.tmp`]);
  });

  it('a receiver given up for another snapshot refuses the rest of its stream with SnapshotTransferError, not an assertion', async () => {
    // Two leaders' streams at once: a deposed leader resumes streaming its snapshot after the
    // new leader's stream made the store give that copy up (found by the membership node-sim).
    const leader = await leaderWith(meta(40, 3), payloadFor(40, 3, 500));
    const units = await unitsOf(leader, meta(40, 3));
    const store = await open(new MemoryFileSystem());
    const old = store.receive(meta(40, 3));
    for (const unit of units.slice(0, 2)) old.accept(unit.offset, unit.bytes);
    store.receive(meta(50, 4));
    const next = units[2];
    if (next === undefined) throw new Error('too few units');
    expect(() => old.accept(next.offset, next.bytes)).toThrow(SnapshotTransferError);
    expect(() => old.accept(next.offset, next.bytes)).toThrow(expect.objectContaining({ fault: 'superseded', receivedBytes: 0 }) as Error);
    await expect(old.finish()).rejects.toMatchObject({ name: 'SnapshotTransferError', fault: 'superseded' });
  });
});

interface CrashCase {
  readonly payloadBytes: number;
  readonly pieces: readonly number[];
  readonly chunkBytes: number;
  readonly withOld: boolean;
  readonly crashAfterCalls: number;
  readonly tearAt: number | null;
  readonly receive: boolean;
}

/**
 * Writes (or receives) a snapshot over an older one with a crash armed before the n-th
 * disk-changing call, then reopens: latest() is the old snapshot (or none) or the new one,
 * complete and equal to what was written; if finish() resolved, the new one. Returns the
 * count of disk-changing calls the write made.
 */
async function crashDuringSnapshot(c: CrashCase): Promise<number> {
  const points = new CrashPoints(new MemoryFileSystem());
  const store = await open(points.fs, c.chunkBytes);
  const oldPayload = payloadFor(10, 1, 300);
  if (c.withOld) await writeSnapshot(store, meta(10, 1), oldPayload);
  const payload = payloadFor(20, 2, c.payloadBytes);
  const units = c.receive ? await unitsOf(await leaderFor(payload, c.chunkBytes), meta(20, 2)) : [];
  const tear: CrashOptions = c.tearAt === null ? {} : { tearLastWrite: { atByte: c.tearAt } };
  points.arm(c.crashAfterCalls, tear);
  let finished = false;
  try {
    if (c.receive) {
      const receiver = store.receive(meta(20, 2));
      for (const unit of units) receiver.accept(unit.offset, unit.bytes);
      await receiver.finish();
    } else {
      await writeSnapshot(store, meta(20, 2), payload, c.pieces);
    }
    finished = true;
  } catch (error) {
    expect(points.crashed).toBe(true); // only the crash may stop it
  }
  const calls = points.calls;
  const next = points.crashNow(tear);
  const reopened = await open(next, c.chunkBytes);
  expect(tempNames(next)).toEqual([]);
  const latest = reopened.latest();
  if (finished || (latest !== null && latest.index === 20)) await expectSnapshot(reopened, meta(20, 2), payload);
  else if (c.withOld) await expectSnapshot(reopened, meta(10, 1), oldPayload);
  else expect(latest).toBeNull();
  reopened.close();
  return calls;
}

async function leaderFor(payload: Uint8Array, chunkBytes: number): Promise<SnapshotStore> {
  const leader = await open(new MemoryFileSystem(), chunkBytes);
  await writeSnapshot(leader, meta(20, 2), payload);
  return leader;
}

describe('snapshots under power failure', () => {
  const base: CrashCase = { payloadBytes: 700, pieces: [100, 33], chunkBytes: 128, withOld: true, crashAfterCalls: Infinity, tearAt: null, receive: false };

  it.each([false, true])('receive %s: the old snapshot or the whole new one, with a crash before each file-system call', async (receive) => {
    const total = await crashDuringSnapshot({ ...base, receive });
    expect(total).toBeGreaterThan(10);
    for (let k = 0; k <= total; k++) {
      await crashDuringSnapshot({ ...base, receive, crashAfterCalls: k });
      await crashDuringSnapshot({ ...base, receive, crashAfterCalls: k, withOld: false, tearAt: 5 });
    }
  });

  it('holds for random payloads, pieces, frame sizes and crash points (fast-check, seed printed on failure)', async () => {
    const caseArb: fc.Arbitrary<CrashCase> = fc.record({
      payloadBytes: fc.nat(3000),
      pieces: fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 5 }),
      chunkBytes: fc.constantFrom(1, 64, 100, 1024),
      withOld: fc.boolean(),
      crashAfterCalls: fc.nat(80),
      tearAt: fc.option(fc.nat(200), { nil: null }),
      receive: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await crashDuringSnapshot(c);
      }),
      { numRuns: Number(process.env['STORAGE_RUNS'] ?? 200) },
    );
  });
});
