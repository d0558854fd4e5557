/**
 * Model-based property test: random sequences of append (awaited or not), truncate,
 * compact, flush, hard-state saves, clean reopen and crash (losing unsynced writes, maybe
 * tearing the last one) and disk damage (a flipped bit, a file cut inside a record, a removed
 * segment, opened with onDamage 'truncate') against an in-memory model, checked after every reopen.
 * STORAGE_RUNS=2000 for a longer soak; a failure prints the seed and the shrunk op list.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Entry, HardState, Index, NodeId, Term } from '../../raft/types.js';
import { type CommitLog, type FlushPolicy, MemoryFileSystem, openLog, type OpenLogOptions } from '../../storage/index.js';
import { recordBytes } from '../../storage/record-codec.js';
import { entry, expectLogEquals, manualScheduler } from './log-fixtures.js';

type Op =
  | { readonly kind: 'append'; readonly sizes: readonly number[]; readonly newTerm: boolean; readonly wait: boolean }
  | { readonly kind: 'truncate'; readonly back: number }
  | { readonly kind: 'compact'; readonly ahead: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'hardState'; readonly term: number; readonly vote: string | null }
  | { readonly kind: 'reopen' }
  | { readonly kind: 'crash'; readonly tearAt: number | null }
  /** Disk damage while the log is closed, then an open with onDamage 'truncate' and a repair. */
  | { readonly kind: 'damage'; readonly fault: 'flip' | 'cut' | 'remove'; readonly pick: number; readonly within: number }
  | {
      readonly kind: 'crashDuring';
      readonly afterSyncs: number;
      readonly tearAt: number | null;
      /** What is in flight when the power fails. */
      readonly action:
        | { readonly kind: 'append'; readonly sizes: readonly number[]; readonly saveHardState: boolean }
        | { readonly kind: 'truncate'; readonly back: number }
        | { readonly kind: 'compact'; readonly ahead: number };
    };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      sizes: fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 6 }),
      newTerm: fc.boolean(),
      wait: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), ahead: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('hardState' as const),
      term: fc.nat(1000),
      vote: fc.option(fc.constantFrom('n1', 'n2', 'n3'), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), tearAt: fc.option(fc.nat(400), { nil: null }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('damage' as const), fault: fc.constantFrom('flip' as const, 'cut' as const, 'remove' as const), pick: fc.nat(1000), within: fc.nat(1000) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crashDuring' as const),
      afterSyncs: fc.nat(4),
      tearAt: fc.option(fc.nat(400), { nil: null }),
      action: fc.oneof(
        fc.record({
          kind: fc.constant('append' as const),
          sizes: fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 6 }),
          saveHardState: fc.boolean(),
        }),
        fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 12 }) }),
        fc.record({ kind: fc.constant('compact' as const), ahead: fc.integer({ min: 0, max: 30 }) }),
      ),
    }),
  },
);

interface Model {
  entries: Entry[];
  firstIndex: number;
  /** Everything up to here was acknowledged durable (awaited sync append, flush, truncate). */
  acked: number;
  lastTerm: number;
  hardState: HardState;
}

const lastOf = (model: Model): number => model.firstIndex + model.entries.length - 1;

/** The flush policies under test: sync with the ordered mark (the default), sync with the lagging one, async. */
type Mode = 'sync' | 'sync-lagging' | 'async';
const FLUSH: Record<Mode, FlushPolicy> = {
  sync: { mode: 'sync' },
  'sync-lagging': { mode: 'sync', mark: 'lagging' },
  async: { mode: 'async', intervalMs: 10 },
};
/** Whether a resolved append is acknowledged as durable (async resolves before any sync). */
const acknowledges = (mode: Mode): boolean => mode !== 'async';

async function runOps(mode: Mode, segmentBytes: number, ops: readonly Op[], preallocateBytes = 0): Promise<void> {
  const fs = new MemoryFileSystem();
  const flush = FLUSH[mode];
  const options = { dir: '/data/n1', fs, segmentBytes, flush, scheduler: manualScheduler, preallocateBytes };
  const env: Env = { fs, options, mode };
  let log: CommitLog = await openLog(env.options);
  const model: Model = {
    entries: [],
    firstIndex: 1,
    acked: 0,
    lastTerm: 1,
    hardState: { term: 0 as Term, vote: null, commit: 0 as Index },
  };
  for (const op of ops) {
    if (process.env['STORAGE_TRACE']) console.log('op', JSON.stringify(op), 'last', log.lastIndex());
    log = await step(log, model, op, env);
    expect(log.lastIndex()).toBe(lastOf(model));
  }
  if (process.env['STORAGE_TRACE']) console.log('closing');
  await log.close();
  if (process.env['STORAGE_TRACE']) console.log('closed');
  log = await openLog(env.options);
  expectLogEquals(log, model.entries, model.firstIndex, 200);
  await log.close();
}

/** The disk as the current "process" sees it; a crash moves both to the next process. */
interface Env {
  fs: MemoryFileSystem;
  options: OpenLogOptions;
  readonly mode: Mode;
}

function nextProcess(env: Env, fs: MemoryFileSystem): void {
  env.fs = fs;
  env.options = { ...env.options, fs };
}

async function step(log: CommitLog, model: Model, op: Op, env: Env): Promise<CommitLog> {
  switch (op.kind) {
    case 'append': {
      if (op.newTerm) model.lastTerm++;
      const first = lastOf(model) + 1;
      const batch = op.sizes.map((bytes, k) => entry(first + k, model.lastTerm, bytes, k));
      const done = log.append(batch);
      model.entries.push(...batch);
      if (op.wait) {
        await done;
        if (acknowledges(env.mode)) model.acked = lastOf(model);
      } else {
        done.catch(() => undefined); // a crash or truncation may overtake it
      }
      return log;
    }
    case 'truncate': {
      const at = Math.max(model.firstIndex - 1, lastOf(model) - op.back);
      await log.truncateAfter(at as Index);
      model.entries.length = at - model.firstIndex + 1;
      model.acked = Math.min(model.acked, at);
      return log;
    }
    case 'compact': {
      const before = model.firstIndex + op.ahead;
      await log.compactBefore(before as Index);
      const first = log.firstIndex();
      expect(first).toBeGreaterThanOrEqual(model.firstIndex);
      expect(first).toBeLessThanOrEqual(Math.max(model.firstIndex, before));
      expect(log.term((first - 1) as Index)).toBe(first - 1 < model.firstIndex ? log.term((first - 1) as Index) : model.entries[first - 1 - model.firstIndex]?.term);
      model.entries.splice(0, first - model.firstIndex);
      model.firstIndex = first;
      return log;
    }
    case 'flush':
      await log.flush();
      model.acked = lastOf(model);
      return log;
    case 'hardState': {
      const hardState = { term: op.term as Term, vote: op.vote as NodeId | null, commit: model.acked as Index };
      await log.saveHardState(hardState);
      model.hardState = hardState;
      return log;
    }
    case 'reopen': {
      await log.close();
      const reopened = await openLog(env.options);
      expect(reopened.recovery.lostEntries).toBe(false);
      // A clean close leaves no torn record (zeros written ahead are not one).
      expect(reopened.recovery).toMatchObject({ cutTailBytes: 0, cutFromIndex: null });
      expect(reopened.hardState()).toEqual(model.hardState);
      expectLogEquals(reopened, model.entries, model.firstIndex, 300);
      model.acked = lastOf(model);
      return reopened;
    }
    case 'crashDuring': {
      // Power fails between two syncs of an operation in flight.
      const tear = op.tearAt === null ? {} : { tearLastWrite: { atByte: op.tearAt } };
      env.fs.armCrash({ afterSyncs: op.afterSyncs, ...tear });
      const bounds = await runInterrupted(log, model, op.action, env.mode);
      nextProcess(env, env.fs.disarmCrash() ?? env.fs.crash()); // crash now if it did not come in time
      return recoverAfterCrash(env, model, bounds);
    }
    case 'crash': {
      nextProcess(env, env.fs.crash(op.tearAt === null ? {} : { tearLastWrite: { atByte: op.tearAt } }));
      return recoverAfterCrash(env, model, { hardStates: [model.hardState], lastAtMost: lastOf(model), firstIndexes: [model.firstIndex] });
    }
    case 'damage':
      return damageAndRepair(log, model, op, env);
  }
}

/**
 * Closes the log (everything durable and acknowledged), damages one record (a flipped bit,
 * a file cut inside it) or removes a whole segment, and opens with onDamage 'truncate': the
 * log must end exactly before the first damaged entry, keep every entry before it, report
 * the loss, and take the discarded entries back as a repairing leader would send them.
 */
async function damageAndRepair(log: CommitLog, model: Model, op: Extract<Op, { kind: 'damage' }>, env: Env): Promise<CommitLog> {
  await log.close();
  const dir = env.options.dir;
  const segments = env.fs
    .list(dir)
    .map((name) => /^(\d{20})\.log$/.exec(name)?.[1])
    .filter((first): first is string => first !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const fileOf = (first: number): string => `${dir}/${String(first).padStart(20, '0')}.log`;
  let firstLost = lastOf(model) + 1;
  if (op.fault === 'remove') {
    const first = segments[op.pick % segments.length] ?? 1;
    env.fs.faultRemove(fileOf(first));
    firstLost = Math.min(firstLost, first);
  } else if (model.entries.length > 0) {
    const victim = model.entries[op.pick % model.entries.length];
    if (victim === undefined) throw new Error('unreachable');
    const first = segments.filter((f) => f <= victim.index).at(-1) ?? model.firstIndex;
    let offset = 0;
    for (const e of model.entries) if (e.index >= first && e.index < victim.index) offset += recordBytes(e.payload.length);
    const at = offset + (op.within % recordBytes(victim.payload.length));
    if (op.fault === 'flip') env.fs.flipBit(fileOf(first), at, op.within % 8);
    else env.fs.faultTruncate(fileOf(first), at);
    firstLost = victim.index;
  }
  const reopened = await openLog({ ...env.options, onDamage: 'truncate' });
  const keptThrough = Math.max(model.firstIndex - 1, firstLost - 1);
  expect(reopened.firstIndex()).toBe(model.firstIndex);
  expect(reopened.lastIndex()).toBe(Math.min(lastOf(model), keptThrough));
  const lost = model.entries.filter((e) => e.index > keptThrough);
  expectLogEquals(reopened, model.entries.slice(0, model.entries.length - lost.length), model.firstIndex, 300);
  // Every entry was acknowledged (the close flushed them): losing any must be known.
  expect(reopened.recovery.lostEntries).toBe(lost.length > 0);
  if (reopened.recovery.damage !== null) expect(reopened.recovery.damage.fromIndex).toBe(keptThrough + 1);
  expect(reopened.hardState()).toEqual(model.hardState);
  if (lost.length > 0) {
    await reopened.append(lost);
    await reopened.flush(); // repaired durably, in every mode: the mark is reached again
  }
  model.acked = lastOf(model);
  return reopened;
}

/** What a crash may leave, beyond "a prefix of the model holding every acknowledged entry". */
interface CrashBounds {
  /** The hard states that may have been durable. */
  readonly hardStates: readonly HardState[];
  /** A truncation that resolved: the log must end at or before this. */
  readonly lastAtMost: number;
  /** The first indexes the log may start at (a compaction in flight may or may not be durable). */
  readonly firstIndexes: readonly number[];
}

/** Starts `action` and lets it run until it settles (the armed crash may cut it short). */
async function runInterrupted(
  log: CommitLog,
  model: Model,
  action: Extract<Op, { kind: 'crashDuring' }>['action'],
  mode: Mode,
): Promise<CrashBounds> {
  const settled = (promise: Promise<void>): Promise<boolean> => promise.then(() => true, () => false);
  const bounds = { hardStates: [model.hardState], lastAtMost: lastOf(model), firstIndexes: [model.firstIndex] };
  if (action.kind === 'append') {
    const first = lastOf(model) + 1;
    const batch = action.sizes.map((bytes, k) => entry(first + k, model.lastTerm, bytes, k));
    model.entries.push(...batch);
    const before = model.hardState;
    const hardState = { term: (before.term + 1) as Term, vote: null, commit: model.acked as Index };
    const saved = action.saveHardState ? settled(log.saveHardState(hardState)) : Promise.resolve(false);
    if ((await settled(log.append(batch))) && acknowledges(mode)) model.acked = lastOf(model);
    const hardStates = (await saved) ? [hardState] : action.saveHardState ? [before, hardState] : [before];
    return { ...bounds, hardStates, lastAtMost: lastOf(model) };
  }
  if (action.kind === 'truncate') {
    const at = Math.max(model.firstIndex - 1, lastOf(model) - action.back);
    const done = await settled(log.truncateAfter(at as Index));
    model.acked = Math.min(model.acked, at);
    return done ? { ...bounds, lastAtMost: at } : bounds;
  }
  const done = await settled(log.compactBefore((model.firstIndex + action.ahead) as Index));
  // The model's entries stay as they were: the check below trims whatever was compacted.
  return done ? { ...bounds, firstIndexes: [log.firstIndex()] } : { ...bounds, firstIndexes: [] };
}

/**
 * Reopens after a crash and checks: every acknowledged entry is there, nothing else
 * changed, the mark claims nothing the disk lost, and the hard state is one of those that
 * may have been durable.
 */
async function recoverAfterCrash(env: Env, model: Model, bounds: CrashBounds): Promise<CommitLog> {
  const reopened = await openLog(env.options);
  const last = reopened.lastIndex();
  const first = reopened.firstIndex();
  expect(reopened.recovery.lostEntries).toBe(false);
  // Bytes are reported cut exactly when a record was: zeros alone are a clean end.
  expect(reopened.recovery.cutTailBytes > 0).toBe(reopened.recovery.cutFromIndex !== null);
  expect(reopened.recovery.durableMark.index).toBeLessThanOrEqual(last);
  expect(last).toBeGreaterThanOrEqual(model.acked);
  expect(last).toBeLessThanOrEqual(Math.min(lastOf(model), bounds.lastAtMost));
  expect(first).toBeGreaterThanOrEqual(model.firstIndex);
  if (bounds.firstIndexes.length > 0) expect(bounds.firstIndexes).toContain(first);
  expect(bounds.hardStates).toContainEqual(reopened.hardState());
  model.hardState = reopened.hardState();
  model.entries.splice(0, first - model.firstIndex);
  model.firstIndex = first;
  model.entries.length = last - model.firstIndex + 1;
  model.lastTerm = Math.max(model.lastTerm, model.entries.at(-1)?.term ?? 0);
  expectLogEquals(reopened, model.entries, model.firstIndex, 100);
  model.acked = last; // open syncs the cut, and what it found was durable
  return reopened;
}

const runs = Number(process.env['STORAGE_RUNS'] ?? 300);

/** STORAGE_SEED (and STORAGE_PATH) re-run a reported failure without shrinking it. */
function replaySeed(): Partial<fc.Parameters<unknown>> {
  const seed = process.env['STORAGE_SEED'];
  if (seed === undefined) return {};
  return { seed: Number(seed), path: process.env['STORAGE_PATH'] ?? '', endOnFailure: true, verbose: 2 };
}

describe('commit log against a model', () => {
  it('survives random appends, truncations, compactions, reopens and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Mode>('sync', 'sync-lagging', 'async'),
        fc.constantFrom(256, 1024, 4096),
        fc.array(opArb, { maxLength: 40 }),
        // Off; a few records ahead; a segment's worth; and the default 1 MiB, which (capped at
        // segmentBytes) preallocates a whole segment at its first write.
        fc.constantFrom(0, 512, 4096, 1 << 20),
        (mode, segmentBytes, ops, preallocateBytes) => runOps(mode, segmentBytes, ops, preallocateBytes),
      ),
      { numRuns: runs, timeout: 5_000, ...replaySeed() },
    );
  });
});

// STORAGE_OPS='["sync",256,[...ops]]' replays one counterexample (STORAGE_TRACE=1 logs each op).
const replay = process.env['STORAGE_OPS'];
if (replay !== undefined) {
  describe('replay', () => {
    it('replays STORAGE_OPS', async () => {
      const [mode, segmentBytes, ops, preallocateBytes] = JSON.parse(replay) as [Mode, number, Op[], number?];
      await runOps(mode, segmentBytes, ops, preallocateBytes);
    }, 5000);
  });
}
