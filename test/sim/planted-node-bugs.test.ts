import * as fs from 'node:fs';
import * as path from 'node:path';

import fc from 'fast-check';
import { RetentionPolicy } from '../../src/node/config.js';
import { describe, expect, it } from 'vitest';

import { EntryKind, type Entry, type Index, type Term } from '../../raft/index.js';
import { realScheduler } from '../../storage/index.js';
import { CommitWaiters } from '../../src/node/commit-waiters.js';
import { REPO_ROOT } from '../harness/build.js';
import { LONG_RUN } from '../harness/long-run.js';
import { MEMBERSHIP_NODE_WEIGHTS, runNodeSchedule, type NodeSimConfig } from './node-schedule.js';
import { PLANTED_BUG_GLOBAL, plantBugs, plantedFiles } from './planted-bug-transform.js';
import { PLANTED_NODE_BUGS, type PlantedBug } from './planted-node-bugs.js';
import { describeSchedule, scheduleArbitrary, simSeed, type Schedule } from './schedule.js';

/**
 * The simulator's teeth for the production node: each bug of planted-node-bugs.ts, switched on
 * alone, must be found by the simulator's ordinary properties (the same generated fault
 * schedules and checks as node-sim.test.ts, nothing aimed at the bug) within a fixed budget
 * of schedules, from a fixed fast-check seed (printed; SIM_SEED replaces it); the statistics
 * (npm run test:long) hunt from several fresh random seeds.
 * If a property is weakened until it no longer sees a bug, or a plant is disarmed, this fails.
 */

/** Schedules one hunt may try; the medians in test/sim/README.md are far below it. */
const HUNT_SCHEDULES_MAX = 200;
/**
 * Wall time one hunt may take, shrinking excluded (none is done). A hunt that needs 40
 * schedules of the broker workload takes about 15 s alone on this machine, so the bound
 * leaves room for a busy one; a hunt costs this much only when it fails.
 */
const HUNT_WALL_MS_MAX = 30_000;
/** Hunt seeds per bug for the statistics (test:long). */
const STATISTICS_SEEDS = 9;
/**
 * The hunt seed npm test uses (SIM_SEED replaces it): fixed, so a run of npm test finds each
 * bug after the same schedules every time. Hunts have a long tail (one broker bug needed 89
 * schedules on one seed, 17 on the median); how each bug fares across seeds is what the
 * statistics (npm run test:long) measure.
 */
const HUNT_SEED = 20_261_206;
/** Hunt seeds per durability bug with the disk-held checks off (test:long). */
const CONSEQUENCE_SEEDS = 3;

type PlantedGlobal = { [PLANTED_BUG_GLOBAL]?: string };

/** Runs `body` with `name` switched on, and switches it off whatever happens. */
async function withBug<T>(name: string, body: () => Promise<T>): Promise<T> {
  const global = globalThis as PlantedGlobal;
  global[PLANTED_BUG_GLOBAL] = name;
  try {
    return await body();
  } finally {
    delete global[PLANTED_BUG_GLOBAL];
  }
}

interface HuntResult {
  /** Schedules run up to and including the one that found it; null if none did. */
  readonly foundAfter: number | null;
  readonly schedulesRun: number;
  readonly wallMs: number;
  readonly report: string;
}

/**
 * How a hunt runs: the ordinary one (default schedules, every check, the bug's own invariants
 * count), or the consequences-only one, with the disk-held durability checks off, schedules
 * weighted to crashes and slower disks, and any safety invariant counting.
 */
type HuntMode = 'ordinary' | 'consequences';

/** Membership changes among the ordinary faults, with a voter's disk wiped more often. */
const WIPE_WEIGHTS = { ...MEMBERSHIP_NODE_WEIGHTS, wipe: 4 } as const;

const CRASH_WEIGHTS = { crash: 3, restart: 3, crashLeader: 4, burst: 2, isolateLeader: 1, heal: 1 } as const;

/** Generated 3-node schedules with `bug` on, until one fails an invariant that counts. */
async function hunt(bug: PlantedBug, seed: number, mode: HuntMode = 'ordinary'): Promise<HuntResult> {
  const ordinary = mode === 'ordinary';
  const config: NodeSimConfig = {
    size: 3,
    ...(bug.sim?.segmentBytes !== undefined ? { segmentBytes: bug.sim.segmentBytes } : {}),
    ...(bug.sim?.broker === true ? { broker: {} } : {}),
    ...(bug.sim?.membership === true ? { membership: true } : {}),
    ...(bug.sim?.snapshots === true ? { snapshots: { entriesMin: 5, entriesMax: 50, retention: { hours: 0, bytes: Infinity, policy: bug.sim.broker === true ? RetentionPolicy.keepUnconsumed : RetentionPolicy.delete } } } : {}),
    ...(ordinary ? {} : { checkDurability: false, fsyncMinMs: 5, fsyncMaxMs: 60 }),
  };
  const counts = (invariant: string): boolean => (ordinary ? bug.caughtBy.includes(invariant) : invariant !== 'liveness');
  let runs = 0;
  let found: { schedule: Schedule; message: string } | null = null;
  const started = performance.now();
  await withBug(bug.name, () =>
    fc.check(
      fc.asyncProperty(scheduleArbitrary(ordinary ? { size: 3, ...(bug.sim?.membership === true ? { weights: WIPE_WEIGHTS } : {}) } : { size: 3, weights: CRASH_WEIGHTS }), async (schedule) => {
        runs++;
        const result = await runNodeSchedule(config, schedule);
        if (result.failure === null || !counts(result.failure.invariant)) return true;
        found = { schedule, message: result.failure.message };
        return false;
      }),
      { seed, numRuns: HUNT_SCHEDULES_MAX, interruptAfterTimeLimit: HUNT_WALL_MS_MAX, endOnFailure: true },
    ),
  );
  const wallMs = Math.round(performance.now() - started);
  const hit = found as { schedule: Schedule; message: string } | null;
  const report = hit === null ? 'not found' : `${hit.message}\nschedule:\n${describeSchedule(hit.schedule)}\nreplay alone: runNodeSchedule(${JSON.stringify(config)}, ${JSON.stringify(hit.schedule)}) with globalThis.${PLANTED_BUG_GLOBAL} = '${bug.name}'`;
  return { foundAfter: hit === null ? null : runs, schedulesRun: runs, wallMs, report };
}

describe('planted node bugs: the plants themselves', () => {
  it('every snippet occurs exactly once in its file, and every bug is planted', () => {
    const problems: string[] = [];
    const planted = new Set<string>();
    for (const file of plantedFiles()) {
      const result = plantBugs(file, fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'));
      problems.push(...result.problems);
      for (const name of result.planted) planted.add(name);
    }
    expect(problems).toEqual([]);
    expect([...planted].sort()).toEqual(PLANTED_NODE_BUGS.map((bug) => bug.name).sort());
    expect(new Set(PLANTED_NODE_BUGS.map((bug) => bug.name)).size).toBe(PLANTED_NODE_BUGS.length);
  });

  it('a repeated or overlapping snippet is refused, not planted twice', () => {
    const edit = { file: 'x.ts', form: 'statement', original: 'f();', mutant: 'g();' } as const;
    const bug = { name: 'b', edits: [edit], breaks: '', caughtBy: [] };
    expect(plantBugs('x.ts', 'f(); f();', [bug]).problems).toEqual(['b: found more than once in x.ts: f();']);
    const inner = { name: 'c', edits: [{ ...edit, original: 'f()' }], breaks: '', caughtBy: [] };
    expect(plantBugs('x.ts', 'f();', [bug, inner]).problems).toHaveLength(1);
  });

  it('the modules vitest loads carry the plants: a commit waiter answers from an overwritten entry only with its bug on', async () => {
    const overwritten: Entry = { index: 5 as Index, term: 3 as Term, kind: EntryKind.normal, payload: new Uint8Array([0]) };
    const outcome = async (): Promise<string> => {
      const waiters = new CommitWaiters(10, realScheduler);
      const waiting = waiters.wait(5 as Index, 2 as Term, 60_000);
      waiters.applied(overwritten, null);
      return waiting.then(
        () => 'answered',
        (error: unknown) => (error instanceof Error ? error.name : 'failed'),
      );
    };
    expect(await outcome()).toBe('UnavailableError');
    expect(await withBug('waiter-ignores-term', outcome)).toBe('answered');
    expect(await outcome()).toBe('UnavailableError');
  });
});

describe('planted node bugs are found by the simulator', () => {
  for (const bug of PLANTED_NODE_BUGS) {
    it(bug.name, async () => {
      const seed = process.env['SIM_SEED'] !== undefined && process.env['SIM_SEED'] !== '' ? simSeed() : HUNT_SEED;
      const result = await hunt(bug, seed);
      console.log(
        `[planted-node] ${bug.name}: fast-check seed ${seed} (SIM_SEED=${seed} replays), ` +
          `${result.foundAfter === null ? `not found in ${result.schedulesRun} schedules` : `found after ${result.foundAfter} schedules`}, ${result.wallMs} ms wall\n${result.report}`,
      );
      expect(result.foundAfter, `${bug.name} (${bug.breaks}) not found in ${result.schedulesRun} schedules, fast-check seed ${seed}`).not.toBeNull();
    }, HUNT_WALL_MS_MAX + 30_000);
  }

  // The figures in test/sim/README.md: schedules to the first find and wall time, over
  // STATISTICS_SEEDS hunt seeds per bug.
  it.runIf(LONG_RUN)('statistics over several hunt seeds', async () => {
    const rows: string[] = [];
    for (const bug of PLANTED_NODE_BUGS) {
      const found: number[] = [];
      const wall: number[] = [];
      let missed = 0;
      for (let k = 0; k < STATISTICS_SEEDS; k++) {
        const result = await hunt(bug, simSeed() + k);
        if (result.foundAfter === null) missed++;
        else found.push(result.foundAfter);
        wall.push(result.wallMs);
      }
      rows.push(`| ${bug.name} | ${median(found)} | ${Math.max(...found, 0)} | ${missed} | ${median(wall)} | ${Math.max(...wall)} |`);
      expect(missed, `${bug.name} missed by ${missed} of ${STATISTICS_SEEDS} hunts`).toBe(0);
    }
    console.log(`[planted-node] ${STATISTICS_SEEDS} hunt seeds per bug, at most ${HUNT_SCHEDULES_MAX} schedules each\n| bug | median schedules | most | missed | median ms | most ms |\n${rows.join('\n')}`);
    // What the consequences alone (loss after crashes, double votes) find of the durability
    // bugs, without the checks that hold each promise against the disk: recorded, not required.
    const consequences: string[] = [];
    for (const bug of PLANTED_NODE_BUGS.filter((b) => b.caughtBy.includes('durableBeforeAck'))) {
      const found: string[] = [];
      for (let k = 0; k < CONSEQUENCE_SEEDS; k++) {
        const result = await hunt(bug, simSeed() + k, 'consequences');
        found.push(result.foundAfter === null ? `-` : String(result.foundAfter));
      }
      consequences.push(`| ${bug.name} | ${found.join(', ')} |`);
    }
    console.log(`[planted-node] durability checks off, crash-weighted schedules, ${CONSEQUENCE_SEEDS} hunt seeds (- = not found in ${HUNT_SCHEDULES_MAX})\n| bug | schedules to find |\n${consequences.join('\n')}`);
  }, 1_800_000);
});

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}
