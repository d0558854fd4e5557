import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, expect } from 'vitest';

import { planFaults, MIX_KINDS, type NemesisKind } from '../../jepsen-style/nemesis.js';
import { Prng } from '../../jepsen-style/prng.js';
import { liveChildPids } from '../../src/process/index.js';
import { RUN_DEFAULTS, runJepsen, type RunOptions, type RunResult } from '../../jepsen-style/run.js';
import { ensureBuilt } from '../harness/build.js';

/** What runs.test.ts and runs.long.test.ts share: one run folder root per file, a run with the tests' defaults, verdicts. */
export interface JepsenRuns {
  run(name: string, options: Partial<RunOptions> & Pick<RunOptions, 'seed' | 'timeS' | 'nemeses'>): Promise<RunResult & { lines: string[] }>;
}

/**
 * The availability bound for a single-node fault in these runs, which share the machine with other
 * test files (npm test runs two at a time on two cores): the default (election timeout +
 * 1.5 s, 2.1 s here) is for a machine of its own, and a starved node can miss it by half a
 * second with nothing wrong. This still fails the stall it exists for (a client waiting on
 * a stopped leader: 4-6 s). `npm run jepsen` on a quiet machine keeps the default.
 */
export const SHARED_MACHINE_OUTAGE_MAX_MS = 4_000;

/** Registers the file's build and its run root (removed at the end when no failed run was kept there). */
export function useJepsenRuns(): JepsenRuns {
  const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-jepsen-'));
  beforeAll(async () => {
    await ensureBuilt();
  }, 120_000);
  afterAll(() => {
    // Only kept (failed) run folders remain; an empty root goes.
    if (fs.readdirSync(ROOT).length === 0) fs.rmSync(ROOT, { recursive: true, force: true });
  });
  return {
    async run(name, options) {
      const lines: string[] = [];
      const result = await runJepsen({
        ...RUN_DEFAULTS,
        variants: null,
        idempotence: true,
        flush: { mode: 'sync' },
        powerLoss: false,
        runsDir: ROOT,
        runName: name,
        rate: 150,
        singleNodeOutageMaxMs: SHARED_MACHINE_OUTAGE_MAX_MS,
        log: (line) => lines.push(line),
        ...options,
      });
      console.log(`[jepsen] ${name}: seed ${result.seed}, ${result.valid ? 'valid' : 'INVALID'}; ${lines.filter((l) => /^(PASS|FAIL)/.test(l)).map((l) => l.split(' ').slice(0, 2).join(' ')).join('; ')}`);
      return { ...result, lines };
    },
  };
}

export function verdict(result: RunResult, name: string): boolean {
  const checker = result.checkers.find((c) => c.name === name);
  if (checker === undefined) throw new Error(`no checker ${name}`);
  return checker.valid;
}

/** Keeps the folder of a failed run (and says where); removes a passing one. */
export function keepOnFailure(result: RunResult & { lines: string[] }, ok: boolean): void {
  if (ok) fs.rmSync(result.runDir, { recursive: true, force: true });
  else console.log(`[jepsen] kept ${result.runDir} (seed ${result.seed})\n${result.lines.join('\n')}`);
}

/**
 * A mixed run of every nemesis (the seed must schedule each within timeS) must pass every
 * checker, run every scheduled fault and leave history, results and a self-contained report.
 */
export async function expectMixedRunPasses(runs: JepsenRuns, seed: number, timeS: number): Promise<void> {
    const plan = planFaults(new Prng(seed).derive('schedule'), { kinds: MIX_KINDS, variants: null, timeMs: timeS * 1000 });
    expect(new Set(plan.map((f) => f.kind)), 'the seed covers every nemesis').toEqual(new Set(MIX_KINDS));
    const result = await runs.run('mix', { seed, timeS, nemeses: MIX_KINDS });
    const failed = result.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.examples.slice(0, 3))}`);
    try {
      expect(failed, `seed ${seed}, ${result.runDir}`).toEqual([]);
      expect(result.valid).toBe(true);
      for (const file of ['history.jsonl', 'results.json', 'report.html', 'logs/n1.log', 'run.log']) expect(fs.existsSync(path.join(result.runDir, file)), file).toBe(true);
      const html = fs.readFileSync(path.join(result.runDir, 'report.html'), 'utf8');
      expect(html.match(/<svg /g)?.length).toBe(3);
      expect(html).not.toMatch(/<script|<link|src="http|href="http/);
      for (const kind of MIX_KINDS) expect(html).toContain(`${kind}:`);
      const results = JSON.parse(fs.readFileSync(path.join(result.runDir, 'results.json'), 'utf8')) as { valid: boolean; faults: unknown[]; missedFaults: unknown[] };
      expect(results.valid).toBe(true);
      expect(results.faults.length).toBe(plan.length);
      expect(results.missedFaults, 'every scheduled fault ran').toEqual([]);
      expect(html).toContain('Every scheduled fault ran.');
      expect(liveChildPids()).toEqual([]);
    } finally {
      keepOnFailure(result, result.valid);
    }
}

/**
 * A queue-workload run (producers, a consumer group in processes killed -9 now and then, the
 * given nemeses; the seed must schedule each within timeS) must pass every checker, the
 * consumer checker included, with the consumer kills in its history and report.
 */
export async function expectQueueRunPasses(runs: JepsenRuns, seed: number, timeS: number, nemeses: readonly NemesisKind[]): Promise<void> {
  const plan = planFaults(new Prng(seed).derive('schedule'), { kinds: [...nemeses], variants: null, timeMs: timeS * 1000 });
  expect(new Set(plan.map((f) => f.kind)), 'the seed covers every nemesis asked for').toEqual(new Set(nemeses));
  const result = await runs.run('queue-mix', { seed, timeS, nemeses: [...nemeses], workload: 'queue' });
  const failed = result.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.examples.slice(0, 3))}`);
  try {
    expect(failed, `seed ${seed}, ${result.runDir}`).toEqual([]);
    const consumer = result.checkers.find((c) => c.name === 'consumer');
    expect(consumer?.counts['distinctProcessed']).toBeGreaterThan(timeS * 25);
    const results = JSON.parse(fs.readFileSync(path.join(result.runDir, 'results.json'), 'utf8')) as { checkers: { name: string }[]; faults: { kind: string }[] };
    expect(results.checkers.map((c) => c.name)).toContain('consumer');
    expect(results.faults.filter((f) => f.kind === 'consumer').length, 'consumer kills are faults in the history').toBeGreaterThan(1);
    expect(fs.readFileSync(path.join(result.runDir, 'report.html'), 'utf8')).toContain('consumer:kill');
    expect(liveChildPids()).toEqual([]);
  } finally {
    keepOnFailure(result, result.valid);
  }
}

/**
 * A run of the membership nemesis among `nemeses` (the seed must draw `variants` within
 * timeS) must pass every checker, run every scheduled fault, end with three voters and no
 * learner, have promoted and wiped at least as often as asked, and leave every acknowledged
 * write on every final member; `more` adds the run's own checks.
 */
export async function expectMembershipRunPasses(
  runs: JepsenRuns,
  run: { readonly name: string; readonly seed: number; readonly timeS: number; readonly nemeses: readonly NemesisKind[]; readonly variants: readonly string[] },
  least: { readonly promotes: number; readonly wipes: number },
  more: (result: RunResult & { lines: string[] }) => void = () => undefined,
): Promise<void> {
  const plan = planFaults(new Prng(run.seed).derive('schedule'), { kinds: [...run.nemeses], variants: null, timeMs: run.timeS * 1000 });
  expect(new Set(plan.filter((f) => f.kind === 'members').map((f) => f.variant)), 'the seed draws these membership variants').toEqual(new Set(run.variants));
  const result = await runs.run(run.name, { seed: run.seed, timeS: run.timeS, nemeses: [...run.nemeses] });
  const failed = result.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.examples.slice(0, 3))}`);
  try {
    expect(failed, `seed ${run.seed}, ${result.runDir}`).toEqual([]);
    expect(result.missedFaults, 'every scheduled fault ran').toEqual([]);
    expect(result.configuration.voters).toHaveLength(3);
    expect(result.configuration.learners).toEqual([]);
    const done = (action: string): number => result.memberChanges.filter((c) => c.action === action && c.outcome === 'ok').length;
    expect(done('promote'), 'members promoted').toBeGreaterThanOrEqual(least.promotes);
    expect(done('wipe'), 'members whose data was deleted').toBeGreaterThanOrEqual(least.wipes);
    // The checkers read the final members: the lost checker held each to every acknowledged write.
    expect(result.checkers.find((c) => c.name === 'lost')?.counts['missingOnANode']).toBe(0);
    more(result);
    expect(liveChildPids()).toEqual([]);
  } finally {
    keepOnFailure(result, result.valid);
  }
}
