import { describe, expect, it } from 'vitest';

import type { Index, NodeId, Term } from '../../raft/types.js';
import {
  durableWriteEnd,
  AppendBacklogError,
  AssertionError,
  type CommitLog,
  type CrashOptions,
  CorruptHardStateError,
  EntriesTruncatedError,
  type FileHandle,
  type FileSystem,
  type Scheduler,
  MemoryFileSystem,
  openLog,
  type OpenLogOptions,
  RecordTooLargeError,
  StorageClosedError,
  StorageFailedError,
  StorageIoError,
} from '../../storage/index.js';
import { decodeSlot, INDEX_SLOT_BYTES } from '../../storage/index-slot.js';
import { RECORD_HEADER_BYTES } from '../../storage/record-codec.js';
import { parseSegmentFileName } from '../../storage/segment.js';
import { entries, entry, expectLogEquals, manualScheduler } from './log-fixtures.js';
import { withOverrides } from './file-system-overrides.js';

const DIR = '/data/n1';
const SEGMENT = `${DIR}/00000000000000000001.log`;
const i = (n: number): Index => n as Index;

interface Fixture {
  readonly fs: MemoryFileSystem;
  readonly log: CommitLog;
  /** Power failure: the running log is dead; reopen() then opens the next "process". */
  crash(options?: CrashOptions): void;
  reopen(): Promise<CommitLog>;
  /** The file system of the process running now (after crashes, not `fs`). */
  current(): MemoryFileSystem;
}

async function fresh(options: Partial<OpenLogOptions> = {}): Promise<Fixture> {
  let fs = options.fs instanceof MemoryFileSystem ? options.fs : new MemoryFileSystem();
  const full: OpenLogOptions = { dir: DIR, fs, segmentBytes: 1024, scheduler: manualScheduler, ...options };
  return {
    fs,
    log: await openLog(full),
    crash: (crashOptions) => {
      fs = fs.crash(crashOptions);
    },
    reopen: () => openLog({ ...full, fs }),
    current: () => fs,
  };
}

describe('a fresh log', () => {
  it('is empty with a zero hard state', async () => {
    const { log } = await fresh();
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(0);
    expect(log.term(i(0))).toBe(0);
    expect(log.term(i(1))).toBeUndefined();
    expect(log.entries(i(1), i(1), 100)).toEqual([]);
    expect(log.hardState()).toEqual({ term: 0, vote: null, commit: 0 });
    expect(log.recovery).toMatchObject({ fresh: true, lostEntries: false, cutTailBytes: 0 });
  });
});

describe('append and read', () => {
  it('makes entries readable as soon as append returns, across segment rolls', async () => {
    const { log, reopen } = await fresh({ segmentBytes: 300 });
    const batch = [...entries(1, 20, 1, 50), ...entries(21, 20, 2, 10)];
    const done = log.append(batch);
    expectLogEquals(log, batch, 1);
    await done;
    await log.close();
    expectLogEquals(await reopen(), batch, 1, 64);
  });

  it('caps a read by payload bytes but always returns at least one entry', async () => {
    const { log } = await fresh({ segmentBytes: 400 });
    await log.append(entries(1, 30, 1, 100));
    expect(log.entries(i(1), i(31), 250).length).toBe(2);
    expect(log.entries(i(1), i(31), 10).length).toBe(1);
    expect(log.entries(i(5), i(7), 1 << 20).map((e) => e.index)).toEqual([5, 6]);
    expect(log.entries(i(1), i(31), 1 << 20).length).toBe(30); // spans several segments
  });

  it('bounds one read by readEntriesMax', async () => {
    const { log } = await fresh({ readEntriesMax: 7 });
    await log.append(entries(1, 20, 1, 0));
    expect(log.entries(i(1), i(21), 1 << 20).length).toBe(7);
  });

  it('asserts on an append that does not continue the log', async () => {
    const { log } = await fresh();
    await log.append(entries(1, 3, 2));
    expect(() => log.append([entry(5, 2)])).toThrow(AssertionError);
    expect(() => log.append([entry(4, 1)])).toThrow(AssertionError);
  });

  it('asserts on an entry kind recovery would read as damage, and writes nothing of its batch', async () => {
    const fixture = await fresh();
    await fixture.log.append(entries(1, 3, 1));
    const unknownKind = { ...entry(4, 1), kind: 0 } as unknown as ReturnType<typeof entry>;
    expect(() => fixture.log.append([entry(4, 1), { ...unknownKind, index: i(5) }])).toThrow(AssertionError);
    await fixture.log.close();
    const reopened = await fixture.reopen();
    expect(reopened.lastIndex()).toBe(3);
    expect(reopened.recovery.lostEntries).toBe(false);
    await reopened.close();
  });

  it('rejects a payload above the limit with a typed error and writes nothing', async () => {
    const { log } = await fresh({ payloadBytesMax: 100 });
    await expect(log.append([entry(1, 1, 101)])).rejects.toThrow(RecordTooLargeError);
    expect(log.lastIndex()).toBe(0);
  });

  it('refuses appends beyond pendingAppendsMax waiting for one sync', async () => {
    const { log } = await fresh({ pendingAppendsMax: 3 });
    const waiting = [1, 2, 3].map((k) => log.append([entry(k, 1)]));
    await expect(log.append([entry(4, 1)])).rejects.toMatchObject({ name: 'AppendBacklogError', unit: 'appends' });
    await Promise.all(waiting);
    await log.append([entry(4, 1)]);
  });

  it('shares one fdatasync among concurrent appends (group commit)', async () => {
    const { fs, log } = await fresh({ segmentBytes: 1 << 20 });
    const before = fs.stats.fdatasyncs;
    await Promise.all(Array.from({ length: 200 }, (_, k) => log.append([entry(k + 1, 1)])));
    // One data sync for the group plus one for the mark, give or take a pipeline step.
    expect(fs.stats.fdatasyncs - before).toBeLessThanOrEqual(4);
    expect(log.durableMark()).toEqual({ index: 200, term: 1 });
  });

  // Preallocation off, then on: with it, a group may also write one run of zeros ahead.
  it.each([
    { preallocateBytes: 0, zeroWritesMax: 0 },
    { preallocateBytes: 1 << 20, zeroWritesMax: 1 },
  ])('writes each group once from a reused buffer, byte-exact across groups of any size (preallocate $preallocateBytes)', async ({ preallocateBytes, zeroWritesMax }) => {
    const { fs, log, reopen } = await fresh({ segmentBytes: 64 << 20, preallocateBytes });
    const all: ReturnType<typeof entry>[] = [];
    const group = async (count: number, bytes: number): Promise<void> => {
      const batch = Array.from({ length: count }, (_, k) => entry(all.length + k + 1, 1, bytes, 7));
      all.push(...batch);
      const writes = fs.stats.writes;
      await Promise.all(batch.map((one) => log.append([one])));
      // The first append starts a group of its own; the rest share the next: per group, one
      // write of its records and one of the mark's slot (and, preallocating, maybe zeros).
      expect(fs.stats.writes - writes).toBeLessThanOrEqual(4 + 2 * zeroWritesMax);
    };
    // Small groups reuse one buffer; a 5 MiB group grows it past what is kept; then small again.
    await group(50, 100);
    await group(3, 20_000);
    await group(40, 128 * 1024);
    await group(64, 128);
    expectLogEquals(log, all, 1);
    await log.close();
    expectLogEquals(await reopen(), all, 1);
  });

  it('in sync mode, a resolved append survives a crash', async () => {
    const { fs, log, reopen, crash } = await fresh({ segmentBytes: 256 });
    await log.append(entries(1, 10, 1, 40));
    void log.append(entries(11, 5, 1, 40)).catch(() => undefined);
    crash();
    const after = await reopen();
    // 11.. were never acknowledged; those in segments sealed on roll-over may survive.
    expect(after.lastIndex()).toBeGreaterThanOrEqual(10);
    expect(after.lastIndex()).toBeLessThanOrEqual(15);
    expect(after.recovery.lostEntries).toBe(false);
    expect(after.recovery.durableMark.index).toBe(10);
  });
});

/**
 * A MemoryFileSystem seen through a recorder of the rule segment rolls must keep: no byte of
 * a segment is written while an earlier segment has writes no completed fdatasync covers
 * (truncations are not counted: a roll empties the new file, which recovery handles).
 */
function rollRecorder(inner: MemoryFileSystem): { fs: FileSystem; violations: string[]; blockingSyncs: number; segmentBytesWritten: number } {
  const firstOf = (handle: FileHandle): number | null => parseSegmentFileName(handle.path.split('/').at(-1) ?? '');
  /** Per segment file (by first index): writes made, and how many of them a completed sync covers. */
  const files = new Map<number, { written: number; synced: number }>();
  const record = { violations: [] as string[], blockingSyncs: 0, segmentBytesWritten: 0 };
  const wrote = (handle: FileHandle): void => {
    const first = firstOf(handle);
    if (first === null) return;
    for (const [earlier, state] of files) {
      if (earlier < first && state.synced < state.written) record.violations.push(`segment ${first} written while segment ${earlier} had unsynced writes`);
    }
    const state = files.get(first) ?? { written: 0, synced: 0 };
    state.written++;
    files.set(first, state);
  };
  const overrides: Partial<FileSystem> = {
    writeAt: (handle: FileHandle, data: Uint8Array, position: number) => {
      wrote(handle);
      if (firstOf(handle) !== null) record.segmentBytesWritten += data.length;
      inner.writeAt(handle, data, position);
    },
    fdatasync: async (handle: FileHandle) => {
      const state = files.get(firstOf(handle) ?? -1);
      const covers = state?.written ?? 0;
      await inner.fdatasync(handle);
      if (state !== undefined) state.synced = Math.max(state.synced, covers);
    },
    fdatasyncNow: (handle: FileHandle) => {
      record.blockingSyncs++;
      inner.fdatasyncNow(handle);
      const state = files.get(firstOf(handle) ?? -1);
      if (state !== undefined) state.synced = state.written;
    },
  };
  const fs = withOverrides(inner, overrides);
  return Object.assign(record, { fs });
}

describe('sync-mode group writes (write-through)', () => {
  it('serve reads of records in a write still in flight, and of those appended meanwhile, from memory', async () => {
    const memory = new MemoryFileSystem();
    let release = (): void => undefined;
    let held = 0;
    // A writeDurably that reaches the file only once released: until then the file shows nothing of it.
    const fs = withOverrides(memory, {
      writeDurably: async (handle: FileHandle, data: Uint8Array, position: number, zerosAfter?: number) => {
        const copy = data.slice();
        held++;
        await new Promise<void>((resolve) => (release = resolve));
        await memory.writeDurably(handle, copy, position, zerosAfter);
      },
    });
    const { log } = await fresh({ fs, segmentBytes: 1 << 20 });
    await turn();
    const first = log.append(entries(1, 3, 1, 40)); // G: its write is held
    for (let n = 0; n < 4 && held === 0; n++) await turn();
    expect(held).toBe(1);
    expect(memory.readFile(SEGMENT).length).toBe(0);
    const second = log.append(entries(4, 2, 1, 40)); // G+1, deferred behind G's write
    expectLogEquals(log, entries(1, 5, 1, 40), 1); // across G (in flight) and G+1 (deferred)
    expect(log.entries(i(3), i(5), 1 << 20).map((e) => e.index)).toEqual([3, 4]);
    release();
    await first;
    for (let n = 0; n < 4 && held === 1; n++) await turn();
    expect(held).toBe(2);
    expectLogEquals(log, entries(1, 5, 1, 40), 1); // 1..3 from the file now, 4..5 in flight
    release();
    await second;
    expectLogEquals(log, entries(1, 5, 1, 40), 1);
    await log.close();
  });
});

describe('segment rolls in sync mode', () => {
  // A roll writes nothing: the flush loop writes and syncs each sealed segment's records, in
  // order, before any of the next. So no roll blocks, also where a group fills a whole
  // segment before the loop runs (the larger payloads).
  it.each([{ payloadMax: 100 }, { payloadMax: 400 }])('never write a byte of a segment before the one before it is durable, and never block (payloads up to $payloadMax B)', async ({ payloadMax }) => {
    const memory = new MemoryFileSystem();
    const recorder = rollRecorder(memory);
    const options: OpenLogOptions = { dir: DIR, fs: recorder.fs, segmentBytes: 700, preallocateBytes: 256, scheduler: manualScheduler };
    const log = await openLog(options);
    const all: ReturnType<typeof entry>[] = [];
    // Groups of concurrent appends of mixed sizes, rolling segments as they go, the second
    // half of each a few microtasks after the first (so a roll lands at every step of a
    // flush pass in progress); reads of entries not yet written in between, which must not
    // write them early.
    for (let round = 0; round < 80; round++) {
      const group = Array.from({ length: 1 + (round % 5) }, (_, k) => entry(all.length + k + 1, 1, 20 + ((round * 37 + k * 11) % (payloadMax - 19)), round));
      all.push(...group);
      const half = group.length >> 1;
      const done = group.slice(0, half).map((one) => log.append([one]));
      for (let tick = 0; tick < round % 7; tick++) await Promise.resolve();
      done.push(...group.slice(half).map((one) => log.append([one])));
      expect(log.entries(group[0]?.index ?? i(1), i(log.lastIndex() + 1), 1 << 20).map((e) => e.index)).toEqual(group.map((e) => e.index));
      await Promise.all(done);
    }
    expect(recorder.violations).toEqual([]);
    expect(recorder.blockingSyncs).toBe(0);
    expect(memory.list(DIR).filter((name) => name.endsWith('.log')).length).toBeGreaterThan(10);
    expectLogEquals(log, all, 1);
    await log.close();
    expectLogEquals(await openLog({ ...options, fs: memory.crash() }), all, 1);
  });

  it('recovers a sealed segment cut short by a power failure before its sync, behind an empty next segment whose name reached the disk', async () => {
    const { log, crash, reopen, current } = await fresh({ segmentBytes: 400, preallocateBytes: 0 });
    await log.append(entries(1, 4, 1, 40)); // 4 x 72 bytes: durable, acknowledged
    expect(log.durableMark()).toEqual({ index: 4, term: 1 });
    // 5 fills segment 1 and 6 rolls: the seal writes 5 into segment 1 and creates segment 6,
    // then the power fails before segment 1's sync, which loses 5.
    void log.append(entries(5, 3, 1, 40)).catch(() => undefined);
    const next = `${DIR}/00000000000000000006.log`;
    expect(current().exists(next)).toBe(true);
    crash();
    // The new file's name survived (a file system may persist a creation before any sync).
    expect(current().exists(next)).toBe(false);
    current().open(next, 'create');
    await current().syncDir(DIR);

    const after = await reopen();
    expect(after.recovery).toMatchObject({ lostEntries: false, removedSegments: [next] });
    expectLogEquals(after, entries(1, 4, 1, 40), 1);
    // It goes on from there: the next append rolls again, and all of it survives a crash.
    await after.append(entries(5, 4, 2, 40));
    crash();
    expectLogEquals(await reopen(), [...entries(1, 4, 1, 40), ...entries(5, 4, 2, 40)], 1);
  });
});

describe('segment rolls in async mode', () => {
  it('sync the sealed segment on the thread pool before a byte of the next is written, and resolve the appends deferred meanwhile only once written', async () => {
    const memory = new MemoryFileSystem();
    const recorder = rollRecorder(memory);
    // No zeros written ahead: every byte written to a segment is a record's.
    const options: OpenLogOptions = { dir: DIR, fs: recorder.fs, segmentBytes: 700, preallocateBytes: 0, flush: { mode: 'async', intervalMs: 10 }, scheduler: manualScheduler };
    const log = await openLog(options);
    const all: ReturnType<typeof entry>[] = [];
    /** Bytes of records up to and including each index. */
    const through: number[] = [0];
    let deferred = 0;
    const unwrittenAtResolve: number[] = [];
    const append = (one: ReturnType<typeof entry>): Promise<void> => {
      const done = log.append([one]);
      if (recorder.segmentBytesWritten < (through[one.index] ?? 0)) deferred++;
      // Async mode acknowledges written records (a process crash keeps the page cache).
      return done.then(() => {
        if (recorder.segmentBytesWritten < (through[one.index] ?? 0)) unwrittenAtResolve.push(one.index);
      });
    };
    // Groups below the segment size (at most one roll each), the second half of each a few
    // microtasks after the first, so a roll lands at every step of a flush pass in progress.
    for (let round = 0; round < 80; round++) {
      const group = Array.from({ length: 1 + (round % 5) }, (_, k) => entry(all.length + k + 1, 1, 20 + ((round * 37 + k * 11) % 81), round));
      for (const one of group) through.push((through.at(-1) ?? 0) + RECORD_HEADER_BYTES + one.payload.length);
      all.push(...group);
      const half = group.length >> 1;
      const done = group.slice(0, half).map(append);
      for (let tick = 0; tick < round % 7; tick++) await Promise.resolve();
      done.push(...group.slice(half).map(append));
      expect(log.entries(group[0]?.index ?? i(1), i(log.lastIndex() + 1), 1 << 20).map((e) => e.index)).toEqual(group.map((e) => e.index));
      await Promise.all(done);
    }
    expect(recorder.violations).toEqual([]);
    // The roll never synced on the caller's turn: the flush loop did, on the thread pool.
    expect(recorder.blockingSyncs).toBe(0);
    expect(deferred).toBeGreaterThan(0);
    expect(unwrittenAtResolve).toEqual([]);
    expect(memory.list(DIR).filter((name) => name.endsWith('.log')).length).toBeGreaterThan(10);
    expectLogEquals(log, all, 1);
    await log.close();
    expectLogEquals(await openLog({ ...options, fs: memory.crash() }), all, 1);
  });
});

describe('index files', () => {
  it('a sealed segment\'s index, encoded as entries were appended (truncations included), equals one rebuilt from its data', async () => {
    const fixture = await fresh({ segmentBytes: 2048 });
    const { fs } = fixture;
    let log = fixture.log;
    let next = 1;
    const add = async (count: number, term: number, bytes: number): Promise<void> => {
      await log.append(Array.from({ length: count }, (_, k) => entry(next + k, term, bytes + ((next + k) % 7) * 9)));
      next += count;
    };
    const indexFiles = (): string[] => fs.list(DIR).filter((name) => name.endsWith('.idx')).sort();
    /** Closes the log, deletes every index file, reopens (which rebuilds them from the data) and compares. */
    const expectRebuiltEqual = async (): Promise<void> => {
      const sealed = indexFiles();
      expect(sealed.length).toBeGreaterThan(0);
      const written = new Map(sealed.map((name) => [name, Buffer.from(fs.readFile(`${DIR}/${name}`))]));
      await log.close();
      for (const name of sealed) fs.faultRemove(`${DIR}/${name}`);
      log = await fixture.reopen();
      expect(indexFiles()).toEqual(sealed);
      for (const name of sealed) expect(Buffer.from(fs.readFile(`${DIR}/${name}`)).equals(written.get(name) ?? Buffer.alloc(0)), name).toBe(true);
      expect(log.lastIndex()).toBe(next - 1);
    };
    // Mixed sizes; a truncation inside the active segment, then enough to seal it.
    await add(30, 1, 40);
    await log.truncateAfter(i(next - 4));
    next -= 3;
    await add(40, 2, 70);
    await expectRebuiltEqual();
    // A truncation reaching back into a sealed segment (which unseals it), then more seals.
    await log.truncateAfter(i(5));
    next = 6;
    await add(80, 3, 30);
    await expectRebuiltEqual();
    await log.close();
  });
  it('writes a filling segment\'s index in runs as it goes (truncations across a run included), equal to one rebuilt from its data', async () => {
    const f = await indexFixture();
    await f.add(40_000);
    await turn();
    // While the segment is still active: the run of 32,768 written in line (one append of
    // 40,000 outran the steps), then the rest in a step after it.
    expect(f.fs.readFile(FIRST_INDEX).length).toBe(40_000 * 32);
    await f.log.truncateAfter(i(30_000));
    f.next = 30_001;
    await f.fillFirstSegment();
    await f.expectIndexOfRecordsRebuiltEqual();
    expect(f.log.entries(i(29_999), i(30_003), 1 << 20).map((e) => [e.index, e.payload.length])).toEqual([29_999, 30_000, 30_001, 30_002].map((n) => [n, n % 23]));
    await f.log.close();
  });

  it('writes a filling segment\'s index between appends once 4,096 slots wait, none in line with an append', async () => {
    const memory = new MemoryFileSystem();
    const indexWrites: { readonly bytes: number; readonly inAppend: boolean }[] = [];
    let appending = false;
    const fs = withOverrides(memory, {
      writeAt: (handle: FileHandle, data: Uint8Array, position: number) => {
        if (handle.path === FIRST_INDEX) indexWrites.push({ bytes: data.length, inAppend: appending });
        memory.writeAt(handle, data, position);
      },
    });
    const { log } = await fresh({ fs, segmentBytes: 4 << 20 });
    for (let k = 0; k < 50; k++) {
      appending = true;
      const appended = log.append(Array.from({ length: 1_000 }, (_, n) => entry(1 + k * 1_000 + n, 1, (1 + k * 1_000 + n) % 23)));
      appending = false;
      await appended;
      await turn(); // a real disk's sync takes at least a turn; this file system's take none
    }
    // 50,000 slots, 1,000 an append: what waited once 4,096 did (5,000 slots), written in a
    // turn of its own, ten times; in line, a 1 MiB run would have gone with the 33rd append.
    expect(indexWrites).toEqual(Array.from({ length: 10 }, () => ({ bytes: 5_000 * INDEX_SLOT_BYTES, inAppend: false })));
    expect(memory.readFile(FIRST_INDEX).length).toBe(50_000 * INDEX_SLOT_BYTES);
    expectLogEquals(log, Array.from({ length: 50_000 }, (_, n) => entry(1 + n, 1, (1 + n) % 23)), 1);
    await log.close();
  });

  it('after a restart, writes the recovered active segment\'s index in runs as appends go on, not all at its seal', async () => {
    const f = await indexFixture();
    await f.add(40_000);
    await f.log.close();
    await f.reopen();
    // 40,000 more in small appends: the 40,000 recovered slots are encoded a few thousand per
    // append, and written as they are, so all but the last few thousand of the 80,000 are in
    // the file while the segment is still active.
    for (let round = 0; round < 40; round++) {
      await f.add(1_000);
      await turn();
    }
    expect(f.segments()).toBe(1);
    expect(f.fs.readFile(FIRST_INDEX).length).toBeGreaterThan((80_000 - 4_096) * 32);
    await f.fillFirstSegment();
    await f.expectIndexOfRecordsRebuiltEqual();
    await f.log.close();
  });
});

const FIRST_INDEX = `${DIR}/00000000000000000001.idx`;

/**
 * The index-run tests' log: 4 MiB segments (~120,000 of these records), entry n in term 1
 * with n % 23 bytes of payload, so every record's place follows from its index.
 */
async function indexFixture() {
  const fixture = await fresh({ segmentBytes: 4 << 20 });
  const f = {
    fs: fixture.fs,
    log: fixture.log,
    next: 1,
    async add(count: number): Promise<void> {
      await f.log.append(Array.from({ length: count }, (_, k) => entry(f.next + k, 1, (f.next + k) % 23)));
      f.next += count;
    },
    async reopen(): Promise<void> {
      f.log = await fixture.reopen();
    },
    segments: (): number => fixture.fs.list(DIR).filter((name) => name.endsWith('.log')).length,
    async fillFirstSegment(): Promise<void> {
      // Bounded: ~120,000 records fill the 4 MiB segment.
      for (let round = 0; round < 20 && f.segments() === 1; round++) await f.add(20_000);
      expect(f.segments()).toBe(2);
    },
    /**
     * Every slot of the sealed first segment's index names its entry and its record's place
     * (the records lie back to back), and an index rebuilt from the data is the same bytes.
     */
    async expectIndexOfRecordsRebuiltEqual(): Promise<void> {
      const written = Buffer.from(fixture.fs.readFile(FIRST_INDEX));
      const count = written.length / INDEX_SLOT_BYTES;
      let offset = 0;
      for (let k = 0; k < count; k++) {
        const slot = decodeSlot(written, k * INDEX_SLOT_BYTES, 1 + k);
        const expected = { index: 1 + k, term: 1, offset, recordBytes: RECORD_HEADER_BYTES + ((1 + k) % 23) };
        if (slot === null || slot.term !== 1 || slot.offset !== expected.offset || slot.recordBytes !== expected.recordBytes) expect(slot).toEqual(expected);
        offset += expected.recordBytes;
      }
      await f.log.close();
      fixture.fs.faultRemove(FIRST_INDEX);
      await f.reopen();
      expect(f.log.recovery.rebuiltIndexes).toEqual([FIRST_INDEX]);
      expect(Buffer.from(fixture.fs.readFile(FIRST_INDEX)).equals(written)).toBe(true);
    },
  };
  return f;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Async flush with a timer that never fires (manualScheduler): appends resolve once written. */
const ASYNC = { mode: 'async', intervalMs: 10 } as const;

describe('preallocation', () => {

  it('is on by default: zeros ahead of the records, up to segmentBytes, trimmed on close', async () => {
    const { fs, log, crash, reopen } = await fresh({ segmentBytes: 64 << 20 });
    await log.append(entries(1, 10, 1, 40));
    // Sync mode: the group's one write carried half a run of zeros after its 10 records.
    expect(fs.readFile(SEGMENT).length).toBe(durableWriteEnd(0, 10 * 72 + (512 << 10)));
    await log.close();
    expect(fs.readFile(SEGMENT).length).toBe(10 * 72);
    // A crash keeps the zeros (they were synced with the records); open trims them.
    const again = await reopen();
    await again.append(entries(11, 1, 1, 40));
    crash();
    const after = await reopen();
    expect(after.recovery).toMatchObject({ cutTailBytes: 0, cutFromIndex: null, lostEntries: false });
    expectLogEquals(after, entries(1, 11, 1, 40), 1);
    expect(fs.readFile(SEGMENT).length).toBe(11 * 72);
  });

  it('write-through: each group is one write, carrying half a run of zeros once fewer than an eighth of a run are left ahead', async () => {
    const memory = new MemoryFileSystem();
    /** Per write to the segment, whether it grew the file (only a write carrying zeros ahead does). */
    const grew: boolean[] = [];
    const fs = withOverrides(memory, {
      writeAt: (handle: FileHandle, data: Uint8Array, position: number) => {
        if (handle.path === SEGMENT) grew.push(position + data.length > memory.size(handle));
        memory.writeAt(handle, data, position);
      },
    });
    const { log } = await fresh({ fs, segmentBytes: 64 << 10, preallocateBytes: 8 << 10 });
    let ahead = 0;
    for (let k = 1; k <= 600; k++) {
      await log.append(entries(k, 1, 1, 40));
      await turn();
      ahead = memory.readFile(SEGMENT).length - k * 72;
      // Zeros lie ahead of the records, however far they have come.
      expect(ahead).toBeGreaterThan(0);
    }
    expect(grew.length).toBe(600); // one write per group, nothing between
    // 600 x 72 B is 43,200 B: a refill every 3 KiB to 4 KiB of records (below an eighth of 8 KiB
    // ahead, then half of it), not with every group.
    const refills = grew.filter(Boolean).length;
    expect(refills).toBeGreaterThanOrEqual(10);
    expect(refills).toBeLessThanOrEqual(15);
    expectLogEquals(log, entries(1, 600, 1, 40), 1);
  });

  it('async mode refills ahead in steps between appends, a quarter run per turn, instead of a whole run in line with a group\'s write', async () => {
    const memory = new MemoryFileSystem();
    const zeroWrites: number[] = [];
    const fs = withOverrides(memory, {
      writeAt: (handle: FileHandle, data: Uint8Array, position: number) => {
        if (handle.path === SEGMENT && data.every((b) => b === 0)) zeroWrites.push(data.length);
        memory.writeAt(handle, data, position);
      },
    });
    const { log } = await fresh({ fs, segmentBytes: 64 << 10, preallocateBytes: 8 << 10, flush: ASYNC });
    for (let k = 1; k <= 600; k++) {
      await log.append(entries(k, 1, 1, 40));
      await turn(); // a real disk's sync takes at least a turn; this file system's take none
      // Zeros lie ahead of the records, however far they have come.
      expect(memory.readFile(SEGMENT).length).toBeGreaterThan(k * 72);
    }
    expect(zeroWrites.length).toBeGreaterThan(16);
    // The first append's write fills a whole run in line (there were no zeros at all); after
    // that, none in line, a quarter run per step.
    expect(zeroWrites[0]).toBe(8 << 10);
    expect(new Set(zeroWrites.slice(1))).toEqual(new Set([2 << 10]));
    expectLogEquals(log, entries(1, 600, 1, 40), 1);
  });

  it('async mode fills in line as before when appends outrun the steps, and zeros stay ahead', async () => {
    const { fs, log } = await fresh({ segmentBytes: 64 << 10, preallocateBytes: 8 << 10, flush: ASYNC });
    await log.append(entries(1, 100, 1, 40)); // 7,200 B in one write: too big to zero-fill for (over 1/8 of a run)
    expect(fs.readFile(SEGMENT).length).toBe(100 * 72);
    for (let k = 101; k <= 400; k++) await log.append(entries(k, 1, 1, 40)); // no turn between: in-line fills keep up
    for (let n = 0; n < 8; n++) await turn();
    expect(fs.readFile(SEGMENT).length).toBeGreaterThan(400 * 72);
    expectLogEquals(log, entries(1, 400, 1, 40), 1);
  });

  it('stops at segmentBytes, and preallocateBytes 0 turns it off', async () => {
    const capped = await fresh({ segmentBytes: 4096 });
    await capped.log.append(entries(1, 2, 1, 40));
    expect(capped.fs.readFile(SEGMENT).length).toBe(4096);
    const off = await fresh({ segmentBytes: 64 << 20, preallocateBytes: 0 });
    await off.log.append(entries(1, 2, 1, 40));
    expect(off.fs.readFile(SEGMENT).length).toBe(durableWriteEnd(0, 2 * 72)); // only the write's zeros to its block end
  });
});

describe('async flush policy', () => {
  it('acknowledges at once, loses unsynced entries in a crash, syncs on the timer', async () => {
    let tick: (() => void) | null = null;
    const scheduler: Scheduler = {
      ...manualScheduler,
      every: (_ms, run) => {
        tick = run;
        return { cancel: () => undefined };
      },
    };
    const { fs, log, reopen, crash } = await fresh({ flush: { mode: 'async', intervalMs: 5 }, scheduler });
    await log.append(entries(1, 5, 1));
    expect(log.durableMark().index).toBe(0);
    expect(tick).not.toBeNull();
    (tick as unknown as () => void)();
    // Wait on the condition (bounded), not on time: the timer's flush makes 1..5 durable.
    for (let turn = 0; turn < 1000 && log.durableMark().index < 5; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(log.durableMark().index).toBe(5);
    await log.append(entries(6, 5, 1)); // resolves at once; no timer runs before the crash
    crash();
    const after = await reopen();
    expect(after.lastIndex()).toBe(5);
    expect(after.recovery.lostEntries).toBe(false);
  });

  it('refuses appends once too many bytes wait for a sync', async () => {
    const { log } = await fresh({ flush: { mode: 'async', intervalMs: 5 }, pendingBytesMax: 1000 });
    await log.append(entries(1, 5, 1, 100));
    await expect(log.append(entries(6, 5, 1, 100))).rejects.toThrow(AppendBacklogError);
    await log.flush();
    await log.append(entries(6, 5, 1, 100));
  });
});

describe('truncateAfter', () => {
  it('removes a suffix across segments, durably, and the log continues from there', async () => {
    const { fs, log, reopen, crash } = await fresh({ segmentBytes: 200 });
    await log.append(entries(1, 30, 1, 20));
    await log.truncateAfter(i(7));
    expect(log.lastIndex()).toBe(7);
    expect(log.term(i(8))).toBeUndefined();
    expect(log.durableMark()).toEqual({ index: 7, term: 1 });
    await log.append(entries(8, 3, 2, 20));
    crash();
    const after = await reopen();
    expectLogEquals(after, [...entries(1, 7, 1, 20), ...entries(8, 3, 2, 20)], 1);
    expect(after.recovery.lostEntries).toBe(false);
  });

  it('rejects the pending appends it removes', async () => {
    const { log } = await fresh({ flush: { mode: 'async', intervalMs: 5 } });
    await log.append(entries(1, 3, 1));
    const pending = log.flush();
    const truncating = log.truncateAfter(i(1));
    await expect(pending).resolves.toBeUndefined(); // the flush began first and covers 1..3
    await truncating;
    expect(log.lastIndex()).toBe(1);
  });

  it('rejects an append whose entries were truncated before they became durable', async () => {
    const { log } = await fresh();
    await log.append(entries(1, 2, 1));
    const doomed = log.append(entries(3, 2, 1));
    await log.truncateAfter(i(2)).catch(() => undefined);
    // Either the sync beat the truncation or the append was told its entries are gone.
    await doomed.catch((error: unknown) => expect(error).toBeInstanceOf(EntriesTruncatedError));
    expect(log.lastIndex()).toBe(2);
  });

  it('can empty the log down to the compaction point', async () => {
    const { log, reopen } = await fresh({ segmentBytes: 200 });
    await log.append(entries(1, 10, 1, 20));
    await log.truncateAfter(i(0));
    expect(log.lastIndex()).toBe(0);
    await log.close();
    expect((await reopen()).lastIndex()).toBe(0);
  });
});

describe('compactBefore', () => {
  it('drops whole segments below the index and keeps the compaction term known', async () => {
    const { fs, log, reopen, crash } = await fresh({ segmentBytes: 200 });
    await log.append([...entries(1, 10, 1, 20), ...entries(11, 20, 3, 20)]);
    await log.compactBefore(i(15));
    const first = log.firstIndex();
    expect(first).toBeGreaterThan(1);
    expect(first).toBeLessThanOrEqual(15);
    expect(log.term(i(first - 1))).toBe(first - 1 <= 10 ? 1 : 3);
    expect(log.term(i(first - 2))).toBeUndefined();
    expect(fs.list(DIR).filter((name) => name.endsWith('.log')).length).toBeLessThan(10);
    crash();
    const after = await reopen();
    expect(after.firstIndex()).toBe(first);
    expect(after.term(i(first - 1))).toBe(log.term(i(first - 1)));
    expectLogEquals(after, [...entries(1, 10, 1, 20), ...entries(11, 20, 3, 20)].slice(first - 1), first);
  });

  it('never drops the active segment', async () => {
    const { log } = await fresh({ segmentBytes: 1 << 20 });
    await log.append(entries(1, 10, 1));
    await log.compactBefore(i(11));
    expect(log.firstIndex()).toBe(1);
  });
});

describe('hard state', () => {
  it('is durable when saveHardState resolves and survives a crash', async () => {
    const { fs, log, reopen, crash } = await fresh();
    const hardState = { term: 7 as Term, vote: 'n3' as NodeId, commit: 0 as Index };
    await log.saveHardState(hardState);
    expect(log.hardState()).toEqual(hardState);
    crash();
    expect((await reopen()).hardState()).toEqual(hardState);
  });

  it('a missing state file beside segment files is reported, not recreated', async () => {
    const { fs, log, reopen } = await fresh();
    await log.append(entries(1, 3, 1));
    await log.close();
    fs.faultRemove(`${DIR}/state`);
    await expect(reopen()).rejects.toThrow(CorruptHardStateError);
  });
});

describe('loss detection (the durable mark)', () => {
  it('reports lost entries when the disk lost a durable tail, until a leader repairs it', async () => {
    const { fs, log, reopen } = await fresh({ segmentBytes: 1 << 20 });
    await log.append(entries(1, 10, 1, 20));
    await log.close();
    const segment = `${DIR}/00000000000000000001.log`;
    fs.faultTruncate(segment, 8 * (32 + 20)); // a clean cut at a record boundary
    const damaged = await reopen();
    expect(damaged.lastIndex()).toBe(8);
    expect(damaged.recovery).toMatchObject({ lostEntries: true, durableMark: { index: 10, term: 1 } });
    // Repair from a leader: 9 arrives, the mark must not drop back to 9 (a crash now
    // would hide the loss), then 10..11 arrive and the mark moves past the old one.
    await damaged.append([entry(9, 1, 20)]);
    expect(damaged.durableMark().index).toBe(10);
    await damaged.append([entry(10, 2, 20), entry(11, 2, 20)]);
    expect(damaged.durableMark()).toEqual({ index: 11, term: 2 });
    await damaged.close();
    expect((await reopen()).recovery.lostEntries).toBe(false);
  });

  it('reports lost entries when the term at the mark disagrees', async () => {
    const { fs, log, reopen } = await fresh();
    await log.append(entries(1, 3, 4));
    await log.close();
    fs.faultRemove(`${DIR}/00000000000000000001.log`);
    const handle = fs.open(`${DIR}/00000000000000000001.log`, 'create');
    await fs.syncDir(DIR);
    const other = await fresh({ fs: new MemoryFileSystem() });
    await other.log.append(entries(1, 3, 2));
    fs.writeAt(handle, other.fs.readFile(`${DIR}/00000000000000000001.log`), 0);
    fs.fdatasyncNow(handle);
    const after = await reopen();
    expect(after.lastIndex()).toBe(3);
    expect(after.recovery.lostEntries).toBe(true);
  });
});

/**
 * A MemoryFileSystem whose fdatasyncs of the state file (where the durable mark lives) wait,
 * while held, until released: the way to look at a log between its data sync and its mark's.
 */
function markSyncGate(inner: MemoryFileSystem): { fs: FileSystem; held(): number; hold(): void; release(): void } {
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  let held = 0;
  const overrides: Partial<FileSystem> = {
    fdatasync: async (handle: FileHandle) => {
      if (gate !== null && handle.path.endsWith('/state')) {
        held++;
        await gate.promise;
      }
      await inner.fdatasync(handle);
    },
  };
  const fs = withOverrides(inner, overrides);
  return {
    fs,
    held: () => held,
    hold: () => {
      let open = (): void => undefined;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
    },
    release: () => {
      const opened = gate;
      gate = null;
      opened?.open();
    },
  };
}

/** Lets promise callbacks and pending setImmediates run (the flush loop starts in the check phase). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('the lagging durable mark (flush: sync, mark: lagging)', () => {
  type Mark = 'lagging' | 'ordered';
  const openWith = (fs: FileSystem, mark: Mark): Promise<CommitLog> =>
    openLog({ dir: DIR, fs, segmentBytes: 1 << 20, scheduler: manualScheduler, flush: { mode: 'sync', mark } });

  it.each(['lagging', 'ordered'] as const)('%s: an append resolves after its data fdatasync while the mark\'s is held only when lagging', async (mark) => {
    const gate = markSyncGate(new MemoryFileSystem());
    const log = await openWith(gate.fs, mark);
    gate.hold();
    let resolved = false;
    const appended = log.append(entries(1, 3, 1, 20)).then(() => (resolved = true));
    await settle();
    expect(gate.held()).toBe(1); // the data is synced; the mark's sync waits
    expect(resolved).toBe(mark === 'lagging');
    expect(log.durableMark().index).toBe(0);
    gate.release();
    await appended;
    await log.flush();
    expect(log.durableMark()).toEqual({ index: 3, term: 1 });
    await log.close();
  });

  it('flush() waits for the mark in lagging mode too', async () => {
    const gate = markSyncGate(new MemoryFileSystem());
    const log = await openWith(gate.fs, 'lagging');
    await log.append(entries(1, 2, 1, 20));
    gate.hold();
    void log.append(entries(3, 1, 1, 20));
    let flushed = false;
    const flushing = log.flush().then(() => (flushed = true));
    await settle();
    expect(flushed).toBe(false);
    gate.release();
    await flushing;
    expect(log.durableMark()).toEqual({ index: 3, term: 1 });
  });

  it.each(['lagging', 'ordered'] as const)('%s: a power failure between the data sync and the mark\'s keeps the entries and reports no loss', async (mark) => {
    const fs = new MemoryFileSystem();
    const log = await openWith(fs, mark);
    await log.append(entries(1, 2, 1, 20));
    await log.flush(); // no sync of the first append's left in flight
    fs.armCrash({ afterSyncs: 0 }); // right after the next sync: the data's, before the mark's
    const acknowledged = await log.append(entries(3, 2, 1, 20)).then(() => true, () => false);
    expect(acknowledged).toBe(mark === 'lagging');
    const next = fs.disarmCrash();
    expect(next).not.toBeNull();
    const after = await openWith(next as MemoryFileSystem, mark);
    expect(after.lastIndex()).toBe(4);
    expect(after.recovery.lostEntries).toBe(false);
    expect(after.recovery.durableMark.index).toBe(2); // lagging: behind what was acknowledged
  });

  it('misses a disk that loses the last acknowledged group, which the ordered mark reports; a loss further back it reports too', async () => {
    const lostAfter = async (mark: Mark, keepEntries: number): Promise<boolean> => {
      const inner = new MemoryFileSystem();
      const gate = markSyncGate(inner);
      const log = await openWith(gate.fs, mark);
      await log.append(entries(1, 5, 1, 20));
      await log.flush(); // the mark covers 1..5
      if (mark === 'lagging') gate.hold(); // the power fails before the mark covers 6..8
      await log.append(entries(6, 3, 1, 20)); // acknowledged
      await settle();
      const next = inner.crash();
      // The disk lost recently written pages: the segment keeps `keepEntries` records.
      next.faultTruncate(`${DIR}/00000000000000000001.log`, keepEntries * (RECORD_HEADER_BYTES + 20));
      const after = await openWith(next, mark);
      expect(after.lastIndex()).toBe(keepEntries);
      return after.recovery.lostEntries;
    };
    expect(await lostAfter('ordered', 5)).toBe(true);
    expect(await lostAfter('lagging', 5)).toBe(false); // the price of acknowledging before the mark
    expect(await lostAfter('lagging', 3)).toBe(true);
  });
});

describe('lifecycle and failures', () => {
  it('refuses writes after close', async () => {
    const { log } = await fresh();
    await log.close();
    await log.close();
    await expect(log.append([entry(1, 1)])).rejects.toThrow(StorageClosedError);
    await expect(log.saveHardState({ term: 1 as Term, vote: null, commit: 0 as Index })).rejects.toThrow(StorageClosedError);
  });

  it('close waits for a truncation in flight, then flushes', async () => {
    const { log, reopen } = await fresh({ segmentBytes: 200 });
    await log.append(entries(1, 20, 1, 20));
    const truncating = log.truncateAfter(i(3));
    await log.close();
    await truncating;
    expect((await reopen()).lastIndex()).toBe(3);
  });

  it('fails every waiter and refuses further writes after a failed fdatasync', async () => {
    const fs = new MemoryFileSystem();
    let failSyncs = false;
    const failingSync = (handle: FileHandle): Promise<void> =>
      Promise.reject(new StorageIoError('fdatasync', handle.path, { cause: new Error('EIO') }));
    const flaky = withOverrides(fs, { fdatasync: (handle: FileHandle) => (failSyncs ? failingSync(handle) : fs.fdatasync(handle)) });
    const log = await openLog({ dir: DIR, fs: flaky });
    await log.append(entries(1, 2, 1));
    failSyncs = true;
    await expect(log.append(entries(3, 2, 1))).rejects.toThrow(StorageFailedError);
    await expect(log.append(entries(5, 1, 1))).rejects.toThrow(StorageFailedError);
  });
});
