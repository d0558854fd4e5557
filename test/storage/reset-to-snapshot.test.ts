/**
 * CommitLog.resetToSnapshot: after a follower installs a snapshot its log does not hold, the
 * whole log goes and the log continues after the snapshot. A power failure before any
 * file-system call of the reset must reopen either a prefix of the old log (the new
 * compaction point not yet durable) or exactly the empty log after the snapshot.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Entry, Index, Term } from '../../raft/types.js';
import {
  AssertionError,
  type CommitLog,
  type CrashOptions,
  EntriesTruncatedError,
  type FlushPolicy,
  MemoryFileSystem,
  openLog,
  type OpenLogOptions,
} from '../../storage/index.js';
import { parseSegmentFileName } from '../../storage/segment.js';
import { CrashPoints } from './crash-points.js';
import { entries, entry, expectLogEquals, manualScheduler } from './log-fixtures.js';

const DIR = '/data/n1';
const i = (n: number): Index => n as Index;
const t = (n: number): Term => n as Term;

function segmentNames(fs: MemoryFileSystem): number[] {
  return fs
    .list(DIR)
    .map(parseSegmentFileName)
    .filter((first): first is number => first !== null)
    .sort((a, b) => a - b);
}

async function openFresh(fs: MemoryFileSystem | CrashPoints, extra: Partial<OpenLogOptions> = {}): Promise<{ log: CommitLog; options: OpenLogOptions }> {
  const options: OpenLogOptions = { dir: DIR, fs: fs instanceof CrashPoints ? fs.fs : fs, segmentBytes: 200, scheduler: manualScheduler, ...extra };
  return { log: await openLog(options), options };
}

describe('resetToSnapshot', () => {
  it('discards the whole log and continues after a snapshot past its end', async () => {
    const fs = new MemoryFileSystem();
    const { log, options } = await openFresh(fs);
    await log.append(entries(1, 30, 1, 20));
    await log.resetToSnapshot({ index: i(50), term: t(3) });
    expect(log.firstIndex()).toBe(51);
    expect(log.lastIndex()).toBe(50);
    expect(log.term(i(50))).toBe(3);
    expect(log.term(i(49))).toBeUndefined();
    expect(log.term(i(30))).toBeUndefined();
    expect(log.durableMark()).toEqual({ index: 50, term: 3 });
    expect(segmentNames(fs)).toEqual([51]);
    await log.append(entries(51, 5, 3, 20));
    await log.close();
    const reopened = await openLog(options);
    expect(reopened.recovery.lostEntries).toBe(false);
    expect(reopened.term(i(50))).toBe(3);
    expectLogEquals(reopened, entries(51, 5, 3, 20), 51);
  });

  it('discards entries above a point the log holds with another term, and appends continue there', async () => {
    const fs = new MemoryFileSystem();
    const { log, options } = await openFresh(fs);
    await log.append(entries(1, 30, 1, 20));
    await log.resetToSnapshot({ index: i(20), term: t(2) });
    expectLogEquals(log, [], 21);
    expect(log.term(i(20))).toBe(2);
    await log.append(entries(21, 12, 2, 20));
    const crashed = fs.crash();
    const reopened = await openLog({ ...options, fs: crashed });
    expect(reopened.recovery.lostEntries).toBe(false);
    expect(reopened.term(i(20))).toBe(2);
    expectLogEquals(reopened, entries(21, 12, 2, 20), 21);
  });

  it('refuses, as a caller bug, a point the log holds with the same term or one at or below its compaction point', async () => {
    const { log } = await openFresh(new MemoryFileSystem());
    await log.append(entries(1, 30, 1, 20));
    await log.compactBefore(i(15));
    const first = log.firstIndex();
    expect(first).toBeGreaterThan(1);
    await expect(log.resetToSnapshot({ index: i(20), term: t(1) })).rejects.toBeInstanceOf(AssertionError);
    await expect(log.resetToSnapshot({ index: i(first - 1), term: t(2) })).rejects.toBeInstanceOf(AssertionError);
    expect(log.lastIndex()).toBe(30);
  });

  it('rejects the pending appends it discards', async () => {
    const { log } = await openFresh(new MemoryFileSystem());
    await log.append(entries(1, 3, 1, 20));
    const doomed = log.append(entries(4, 3, 1, 20));
    await log.resetToSnapshot({ index: i(10), term: t(2) });
    await expect(doomed).rejects.toBeInstanceOf(EntriesTruncatedError);
    expect(log.lastIndex()).toBe(10);
  });

  it('compactBefore works after a reset: drops the new segments below a later point, across a reopen', async () => {
    const fs = new MemoryFileSystem();
    const { log, options } = await openFresh(fs);
    await log.append(entries(1, 20, 1, 20));
    await log.resetToSnapshot({ index: i(100), term: t(4) });
    const after = entries(101, 40, 4, 20);
    await log.append(after);
    await log.close();
    const reopened = await openLog(options);
    await reopened.compactBefore(i(125));
    const first = reopened.firstIndex();
    expect(first).toBeGreaterThan(101);
    expect(first).toBeLessThanOrEqual(125);
    expect(reopened.term(i(first - 1))).toBe(4);
    expect(segmentNames(fs)[0]).toBe(first);
    const crashed = fs.crash();
    const again = await openLog({ ...options, fs: crashed });
    expectLogEquals(again, after.slice(first - 101), first);
    // And a second reset from there.
    await again.resetToSnapshot({ index: i(200), term: t(5) });
    await again.append([entry(201, 5)]);
    await again.close();
    expectLogEquals(await openLog({ ...options, fs: crashed }), [entry(201, 5)], 201);
  });
});

interface Case {
  readonly count: number;
  /** How many of the entries start a new term (spread evenly). */
  readonly termBumps: number;
  readonly segmentBytes: number;
  /** Compact before this many entries in, first (0: no compaction). */
  readonly compactAhead: number;
  /** The point's index, counted from the log's first index (may lie past its end). */
  readonly pointAhead: number;
  readonly flush: FlushPolicy;
  readonly preallocateBytes: number;
  /** Crash before this disk-changing call of the reset (past its last: after it completed). */
  readonly crashAfterCalls: number;
  readonly tearAt: number | null;
}

/** Builds the old log, resets it with a crash armed, reopens and checks old-or-new; returns the reset's call count. */
async function crashDuringReset(c: Case): Promise<number> {
  const points = new CrashPoints(new MemoryFileSystem());
  const { log, options } = await openFresh(points, { segmentBytes: c.segmentBytes, flush: c.flush, preallocateBytes: c.preallocateBytes });
  const all: Entry[] = [];
  const bumpEvery = Math.max(1, Math.floor(c.count / (c.termBumps + 1)));
  for (let index = 1; index <= c.count; index++) all.push(entry(index, 1 + Math.floor((index - 1) / bumpEvery), 10 + (index % 40)));
  for (let at = 0; at < all.length; at += 7) await log.append(all.slice(at, at + 7));
  await log.flush();
  if (c.compactAhead > 0) await log.compactBefore(i(1 + c.compactAhead));
  const oldFirst = log.firstIndex();
  const oldCompactedTerm = log.term(i(oldFirst - 1));
  const old = all.slice(oldFirst - 1);
  const pointIndex = oldFirst + c.pointAhead;
  const lastTerm = all.at(-1)?.term ?? 1;
  const point = { index: i(pointIndex), term: t((log.term(i(pointIndex)) ?? lastTerm) + 1) };

  const tear: CrashOptions = c.tearAt === null ? {} : { tearLastWrite: { atByte: c.tearAt } };
  points.arm(c.crashAfterCalls, tear);
  const done = await log.resetToSnapshot(point).then(
    () => true,
    () => false,
  );
  const calls = points.calls;
  const next = points.crashNow(tear);
  const reopened = await openLog({ ...options, fs: next });
  expect(reopened.recovery.lostEntries).toBe(false);
  const reset = reopened.firstIndex() === pointIndex + 1;
  if (reset) {
    expectLogEquals(reopened, [], pointIndex + 1);
    expect(reopened.term(point.index)).toBe(point.term);
  } else {
    // The new point never became durable: a prefix of the old log, its compaction point unchanged.
    expect(done).toBe(false);
    expect(reopened.firstIndex()).toBe(oldFirst);
    expect(reopened.term(i(oldFirst - 1))).toBe(oldCompactedTerm);
    expectLogEquals(reopened, old.slice(0, reopened.lastIndex() - oldFirst + 1), oldFirst);
  }
  // Whichever it is, it takes appends and keeps them.
  const term = Math.max(point.term, lastTerm);
  const more = [entry(reopened.lastIndex() + 1, term), entry(reopened.lastIndex() + 2, term)];
  const kept = reset ? more : [...old.slice(0, reopened.lastIndex() - oldFirst + 1), ...more];
  await reopened.append(more);
  await reopened.close();
  expectLogEquals(await openLog({ ...options, fs: next }), kept, reopened.firstIndex());
  return calls;
}

describe('resetToSnapshot under power failure', () => {
  const base: Case = {
    count: 40,
    termBumps: 3,
    segmentBytes: 256,
    compactAhead: 12,
    pointAhead: 10,
    flush: { mode: 'sync' },
    preallocateBytes: 0,
    crashAfterCalls: Number.POSITIVE_INFINITY,
    tearAt: null,
  };

  it('reopens the old log or the reset one, with a crash before each of its file-system calls', async () => {
    const total = await crashDuringReset(base);
    expect(total).toBeGreaterThan(5);
    for (let k = 0; k <= total; k++) await crashDuringReset({ ...base, crashAfterCalls: k });
    for (let k = 0; k <= total; k++) await crashDuringReset({ ...base, crashAfterCalls: k, pointAhead: 200, compactAhead: 0 });
  });

  it('holds for random logs, points, policies and crash points (fast-check, seed printed on failure)', async () => {
    const caseArb: fc.Arbitrary<Case> = fc.record({
      count: fc.integer({ min: 1, max: 80 }),
      termBumps: fc.nat(5),
      segmentBytes: fc.constantFrom(128, 256, 1024),
      compactAhead: fc.nat(40),
      pointAhead: fc.nat(120),
      flush: fc.constantFrom<FlushPolicy>({ mode: 'sync' }, { mode: 'sync', mark: 'lagging' }, { mode: 'async', intervalMs: 10 }),
      preallocateBytes: fc.constantFrom(0, 512),
      crashAfterCalls: fc.nat(40),
      tearAt: fc.option(fc.nat(300), { nil: null }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await crashDuringReset(c);
      }),
      { numRuns: Number(process.env['STORAGE_RUNS'] ?? 200) },
    );
  });
});
