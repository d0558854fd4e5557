/**
 * Group commit with the ordered durable mark, pipelined: while group G's mark is being
 * synced, group G+1's data is written and fdatasync'd. These tests hold the two kinds of
 * sync separately on the in-memory disk and crash at each step, checking the three rules
 * the order rests on: an append resolves only once its own group's mark is durable; a mark
 * covers only data whose fdatasync completed before the mark was written; and a torn write
 * of G+1 that destroys G's tail is reported as loss once G was acknowledged.
 */
import { describe, expect, it } from 'vitest';

import type { Entry } from '../../raft/types.js';
import { type CommitLog, type CrashOptions, durableWriteEnd, type FileHandle, type FileSystem, MemoryFileSystem, openLog } from '../../storage/index.js';
import { CrashPoints } from './crash-points.js';
import { entries, entry, expectLogEquals, manualScheduler } from './log-fixtures.js';
import { withOverrides } from './file-system-overrides.js';

const DIR = '/data/n1';
type SyncKind = 'data' | 'mark';

/**
 * A MemoryFileSystem whose fdatasyncs of segment files ('data') or of the state file, where
 * the mark lives ('mark'), do not complete while that kind is held. A held sync still
 * covers exactly what was written before it was called, as a real one would.
 */
function syncGates(inner: MemoryFileSystem): {
  fs: FileSystem;
  hold(kind: SyncKind): void;
  release(kind: SyncKind): void;
  /** Syncs of this kind called and not yet completed. */
  inFlight(kind: SyncKind): number;
} {
  const gates: Record<SyncKind, Promise<void> | null> = { data: null, mark: null };
  const opens: Record<SyncKind, () => void> = { data: () => undefined, mark: () => undefined };
  const flying: Record<SyncKind, number> = { data: 0, mark: 0 };
  let calling: SyncKind | null = null;
  // The disk asks for the wait inside fdatasync's synchronous part, after it took its image.
  inner.delaySyncs(() => (calling === null ? null : gates[calling]) ?? Promise.resolve());
  const kindOf = (handle: FileHandle): SyncKind | null => (handle.path.endsWith('/state') ? 'mark' : handle.path.endsWith('.log') ? 'data' : null);
  const overrides: Partial<FileSystem> = {
    fdatasync: async (handle: FileHandle) => {
      const kind = kindOf(handle);
      calling = kind;
      const sync = inner.fdatasync(handle);
      calling = null;
      if (kind !== null) flying[kind]++;
      try {
        await sync;
      } finally {
        if (kind !== null) flying[kind]--;
      }
    },
  };
  const fs = withOverrides(inner, overrides);
  return {
    fs,
    hold: (kind) => {
      gates[kind] = new Promise<void>((resolve) => (opens[kind] = resolve));
    },
    release: (kind) => {
      gates[kind] = null;
      opens[kind]();
    },
    inFlight: (kind) => flying[kind],
  };
}

/** Lets promise callbacks and pending setImmediates run (the flush loop starts in the check phase). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

/** A log on `fs` with the ordered mark (the default) and no zeros written ahead, so write positions are plain. */
const openOrdered = (fs: FileSystem, onDamage: 'refuse' | 'truncate' = 'refuse'): Promise<CommitLog> =>
  openLog({ dir: DIR, fs, segmentBytes: 1 << 20, preallocateBytes: 0, scheduler: manualScheduler, flush: { mode: 'sync' }, onDamage });

/** Appends `batch` without awaiting it; its last index joins `acked` when it resolves. */
function appendTracked(log: CommitLog, batch: readonly Entry[], acked: Set<number>): void {
  const last = batch.at(-1)?.index ?? 0;
  log.append(batch).then(
    () => acked.add(last),
    () => undefined,
  );
}

/** Power failure now; the log recovered from what the disk kept, as a node opens it. */
async function crashAndReopen(inner: MemoryFileSystem, options: CrashOptions = {}): Promise<CommitLog> {
  return openOrdered(inner.crash(options), 'truncate');
}

/** What every crash must leave: each acknowledged entry is still there, or the loss is reported. */
function expectAcknowledgedKeptOrLossReported(after: CommitLog, acked: ReadonlySet<number>): void {
  const highestAcked = Math.max(0, ...acked);
  if (after.lastIndex() < highestAcked) expect(after.recovery.lostEntries).toBe(true);
}

describe('pipelined group commit (ordered mark)', () => {
  it("runs group G+1's data sync while G's mark syncs, and resolves each group only once its own mark is durable", async () => {
    const inner = new MemoryFileSystem();
    const gates = syncGates(inner);
    const log = await openOrdered(gates.fs);
    await log.append(entries(1, 2, 1, 20));
    const acked = new Set<number>();
    gates.hold('mark');
    appendTracked(log, entries(3, 2, 1, 20), acked); // G
    await settle();
    expect(gates.inFlight('mark')).toBe(1); // mark(G) is syncing; G is not acknowledged
    expect(acked.size).toBe(0);
    const dataSyncs = inner.stats.fdatasyncs;
    appendTracked(log, entries(5, 2, 1, 20), acked); // G+1, arriving while mark(G) syncs
    await settle();
    expect(inner.stats.fdatasyncs).toBe(dataSyncs + 1); // G+1's data sync ran beside mark(G)
    // Everything written of the segment is durable: G+1's records (and their zeros to the block end).
    expect(inner.durableFiles(DIR).get('00000000000000000001.log')).toEqual(inner.readFile(`${DIR}/00000000000000000001.log`));
    expect(inner.readFile(`${DIR}/00000000000000000001.log`).length).toBe(durableWriteEnd(0, 6 * (32 + 20)));
    expect(acked.size).toBe(0);
    expect(log.durableMark().index).toBe(2);
    // mark(G) completes; mark(G+1) is held: G resolves, G+1 must not.
    gates.release('mark');
    gates.hold('mark');
    await settle();
    expect(log.durableMark().index).toBe(4);
    expect([...acked]).toEqual([4]);
    expect(gates.inFlight('mark')).toBe(1);
    gates.release('mark');
    await log.flush();
    expect([...acked]).toEqual([4, 6]);
    expect(log.durableMark()).toEqual({ index: 6, term: 1 });
    await log.close();
  });

  it.each(['data', 'mark'] as const)(
    "never writes a mark covering G+1 while G+1's fdatasync is in flight (G+1 arriving while G's %s syncs): a power failure then reports no loss",
    async (arrivesDuring) => {
      const inner = new MemoryFileSystem();
      const gates = syncGates(inner);
      const log = await openOrdered(gates.fs);
      await log.append(entries(1, 2, 1, 20));
      const acked = new Set<number>([2]);
      gates.hold('mark');
      if (arrivesDuring === 'data') gates.hold('data');
      appendTracked(log, entries(3, 2, 1, 20), acked); // G
      await settle();
      expect(gates.inFlight(arrivesDuring)).toBe(1);
      appendTracked(log, entries(5, 2, 1, 20), acked); // G+1
      if (arrivesDuring === 'data') {
        // G's data sync completes, G+1's (the next one) is held; mark(G) is held too.
        gates.release('data');
        gates.hold('data');
      } else {
        gates.hold('data');
      }
      await settle();
      expect(gates.inFlight('data')).toBe(1); // G+1's
      expect(gates.inFlight('mark')).toBe(1); // mark(G)
      gates.release('mark'); // mark(G) completes while G+1's data sync is still in flight
      await settle();
      expect([...acked]).toEqual([2, 4]);
      expect(log.durableMark().index).toBe(4);
      expect(gates.inFlight('mark')).toBe(0); // and no mark write waits for G+1's data
      const after = await crashAndReopen(inner);
      expect(after.lastIndex()).toBe(4); // G+1's unsynced write is gone
      expect(after.recovery.durableMark.index).toBe(4);
      expect(after.recovery.lostEntries).toBe(false);
      expectAcknowledgedKeptOrLossReported(after, acked);
    },
  );

  /**
   * G is two 3,000 B entries (3..4) starting at byte 104, so G's tail (entry 4, bytes
   * 3,136..6,168) lies in the 4 KiB page 4,096..8,192, which holds nothing of G-1 (1..2).
   * G+1 starts at byte 6,168, in that page: its torn write destroys entry 4.
   */
  const BIG = 3000;
  const G1_RECORD = 32 + BIG;

  it.each([0, 20, G1_RECORD])(
    "a torn write of G+1 (kept up to byte %i) destroying G's tail after G was acknowledged is reported as loss",
    async (atByte) => {
      const inner = new MemoryFileSystem();
      const gates = syncGates(inner);
      const log = await openOrdered(gates.fs);
      await log.append(entries(1, 2, 1, 20));
      await log.append([entry(3, 1, BIG), entry(4, 1, BIG)]); // G, acknowledged: mark(G) durable
      const acked = new Set<number>([2, 4]);
      gates.hold('data');
      appendTracked(log, [entry(5, 1, BIG)], acked); // G+1, written; the power fails during its sync
      await settle();
      expect(gates.inFlight('data')).toBe(1);
      const after = await crashAndReopen(inner, { tearLastWrite: { atByte, tornPageBytes: 4096 } });
      expect(after.lastIndex()).toBe(3);
      expect(after.recovery.lostEntries).toBe(true);
      expectAcknowledgedKeptOrLossReported(after, acked);
    },
  );

  it.each([0, 20, G1_RECORD])(
    "the same torn write while G's mark is still syncing cuts G as an unacknowledged tail, with no false loss (kept up to byte %i)",
    async (atByte) => {
      const inner = new MemoryFileSystem();
      const gates = syncGates(inner);
      const log = await openOrdered(gates.fs);
      await log.append(entries(1, 2, 1, 20));
      const acked = new Set<number>([2]);
      gates.hold('mark');
      appendTracked(log, [entry(3, 1, BIG), entry(4, 1, BIG)], acked); // G: data synced, mark(G) in flight
      await settle();
      gates.hold('data');
      appendTracked(log, [entry(5, 1, BIG)], acked); // G+1 written beside mark(G); the power fails during both syncs
      await settle();
      expect(gates.inFlight('data') + gates.inFlight('mark')).toBe(2);
      expect(inner.readFile(`${DIR}/00000000000000000001.log`).length).toBe(durableWriteEnd(0, 2 * 52 + 3 * G1_RECORD));
      expect(acked.size).toBe(1);
      const after = await crashAndReopen(inner, { tearLastWrite: { atByte, tornPageBytes: 4096 } });
      expect(after.lastIndex()).toBe(3);
      expect(after.recovery.durableMark.index).toBe(2);
      expect(after.recovery.lostEntries).toBe(false);
      expectAcknowledgedKeptOrLossReported(after, acked);
    },
  );

  it('a power failure at each sync of a stream of pipelined groups keeps every acknowledged append, without false loss', async () => {
    // afterSyncs k: the power fails right after the k-th sync (data or mark) from here on.
    for (let afterSyncs = 0; afterSyncs < 12; afterSyncs++) {
      const inner = new MemoryFileSystem();
      const log = await openOrdered(inner);
      const acked = new Set<number>();
      inner.armCrash({ afterSyncs });
      const appending: Promise<void>[] = [];
      // Bounded: 24 appends of one entry, three waves so groups overlap.
      for (let wave = 0; wave < 3; wave++) {
        for (let k = 1; k <= 8; k++) {
          const index = wave * 8 + k;
          appending.push(log.append([entry(index, 1, 20)]).then(() => void acked.add(index), () => undefined));
        }
        await settle();
      }
      await Promise.all(appending);
      const next = inner.disarmCrash() ?? inner.crash();
      const after = await openOrdered(next, 'truncate');
      expect(after.recovery.lostEntries, `crash after ${afterSyncs} syncs`).toBe(false);
      expect(after.lastIndex(), `crash after ${afterSyncs} syncs`).toBeGreaterThanOrEqual(Math.max(0, ...acked));
      expect(after.recovery.durableMark.index).toBeGreaterThanOrEqual(Math.max(0, ...acked));
    }
  });

  it.each([
    { tearAt: undefined, how: 'unsynced writes lost' },
    { tearAt: 0, how: 'the last write torn at byte 0 with its first page' },
    { tearAt: 30, how: 'the last write torn at byte 30 with its first page' },
  ])(
    'a power failure before each write and sync of a burst that rolls segments mid-write keeps every acknowledged append or reports the loss, never damage or a false loss ($how)',
    async ({ tearAt }) => {
      const tear: CrashOptions = tearAt === undefined ? {} : { tearLastWrite: { atByte: tearAt, tornPageBytes: 4096 } };
      // Bounded: one crash point per disk-changing call of the burst, at most 400.
      let calls = Number.POSITIVE_INFINITY;
      for (let crashAfter = 0; crashAfter < Math.min(calls, 400); crashAfter++) {
        const points = new CrashPoints(new MemoryFileSystem());
        // 700 B segments of 52-452 B records: a group rolls one or more segments while the
        // loop's write of the one before is in flight, and sealed segments keep deferred records.
        const options = { dir: DIR, fs: points.fs, segmentBytes: 700, preallocateBytes: 256, scheduler: manualScheduler, onDamage: 'refuse' } as const;
        const log = await openLog(options);
        await log.append(entries(1, 3, 1, 20));
        const acked = new Set<number>([3]);
        points.arm(crashAfter, tear);
        const appending: Promise<void>[] = [];
        for (let wave = 0; wave < 4; wave++) {
          for (let k = 1; k <= 4; k++) {
            const index = 3 + wave * 4 + k;
            appending.push(log.append([entry(index, 1, 20 + ((index * 97) % 420))]).then(() => void acked.add(index), () => undefined));
          }
          await settle();
        }
        await Promise.all(appending);
        if (!points.crashed) calls = crashAfter;
        const after = await openLog({ ...options, fs: points.crashNow(tear) });
        const highestAcked = Math.max(...acked);
        const what = `crash before call ${crashAfter + 1}`;
        expect(after.recovery.damage, what).toBeNull();
        // A torn page may take an acknowledged tail with it: the mark must then report the loss.
        expect(after.recovery.lostEntries, what).toBe(after.lastIndex() < highestAcked);
        if (tearAt === undefined) expect(after.lastIndex(), what).toBeGreaterThanOrEqual(highestAcked);
        expectLogEquals(after, Array.from({ length: after.lastIndex() }, (_, k) => (k < 3 ? entry(k + 1, 1, 20) : entry(k + 1, 1, 20 + (((k + 1) * 97) % 420)))), 1);
      }
      expect(calls).toBeGreaterThan(20); // the walk reached the end of the burst's calls
    },
  );
});
