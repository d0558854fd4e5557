import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { planFaults, NEMESIS_KINDS } from '../../jepsen-style/nemesis.js';
import { Prng } from '../../jepsen-style/prng.js';
import { liveChildPids } from '../../src/process/index.js';
import { expectMixedRunPasses, keepOnFailure, useJepsenRuns } from './jepsen-runs.js';

/**
 * The short real runs `npm test` keeps: a 30 s mixed run of every nemesis (log workload),
 * a 35 s one of the queue workload, and a 20 s mixed run with a snapshot every 50 entries and
 * compaction at once, each of which must pass every checker. The longer
 * runs, and the runs that must be flagged, are in runs.long.test.ts (`npm run test:long`).
 * Each prints its seed and run folder; a run folder is kept only when the test fails.
 * Longer runs are for people: npm run jepsen -- --time 600. The run with snapshots, compaction
 * and retention is in runs.long.test.ts (npm run test:long); npm test streams a snapshot
 * between real processes in test/bench/snapshot-bench-smoke.test.ts.
 */
const jepsen = useJepsenRuns();
const { run } = jepsen;

describe('jepsen-style runs against real node processes', () => {
  it('a short mixed run of every nemesis passes every checker, and writes history, results and a self-contained report', async () => {
    await expectMixedRunPasses(jepsen, 87, 30);
  }, 200_000);
});

describe('the queue workload (producers, a consumer group in processes killed -9) against real node processes', () => {
  it('a mixed run of every nemesis plus consumer kills passes every checker, the consumer checker included', async () => {
    const seed = 2;
    const plan = planFaults(new Prng(seed).derive('schedule'), { kinds: NEMESIS_KINDS, variants: null, timeMs: 35_000 });
    expect(new Set(plan.map((f) => f.kind)), 'the seed covers every nemesis').toEqual(new Set(NEMESIS_KINDS));
    const result = await run('queue-mix', { seed, timeS: 35, nemeses: NEMESIS_KINDS, workload: 'queue' });
    const failed = result.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.examples.slice(0, 3))}`);
    try {
      expect(failed, `seed ${seed}, ${result.runDir}`).toEqual([]);
      const consumer = result.checkers.find((c) => c.name === 'consumer');
      expect(consumer?.counts['distinctProcessed']).toBeGreaterThan(1_000);
      const results = JSON.parse(fs.readFileSync(path.join(result.runDir, 'results.json'), 'utf8')) as { checkers: { name: string }[]; faults: { kind: string }[] };
      expect(results.checkers.map((c) => c.name)).toContain('consumer');
      expect(results.faults.filter((f) => f.kind === 'consumer').length, 'consumer kills are faults in the history').toBeGreaterThan(2);
      expect(fs.readFileSync(path.join(result.runDir, 'report.html'), 'utf8')).toContain('consumer:kill');
      expect(liveChildPids()).toEqual([]);
    } finally {
      keepOnFailure(result, result.valid);
    }
  }, 200_000);
});
