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
 * Longer runs are for people: npm run jepsen -- --time 600.
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

describe('jepsen-style runs with snapshots, compaction and retention against real node processes', () => {
  it('a mixed run with a snapshot every 50 entries, 4 KiB segments and no time retention passes every checker, and some node installed a snapshot', async () => {
    // Seed 159 in 20 s: power loss of one node while another is paused, a node partitioned
    // away, disk damage (flip-old) and a paused node: each leaves a node behind a leader that
    // has compacted past it, so it catches up by InstallSnapshot.
    const seed = 159;
    const result = await run('snapshots-mix', {
      seed,
      timeS: 20,
      nemeses: NEMESIS_KINDS,
      compaction: { snapshotEntries: 50, segmentBytes: 4096, retentionHours: 0, retentionPolicy: null },
    });
    const failed = result.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.examples.slice(0, 3))}`);
    try {
      expect(failed, `seed ${seed}, ${result.runDir}`).toEqual([]);
      expect(result.missedFaults, 'every scheduled fault ran').toEqual([]);
      const results = JSON.parse(fs.readFileSync(path.join(result.runDir, 'results.json'), 'utf8')) as { command: string; snapshots: { node: string; snapshotsWritten: number; snapshotsInstalled: number; segmentsDeleted: number; firstIndex: number | null }[] };
      expect(results.command).toContain('--snapshot-entries 50 --segment-bytes 4096 --retention-hours 0');
      expect(results.snapshots.map((s) => s.node)).toEqual(['n1', 'n2', 'n3']);
      for (const s of results.snapshots) {
        expect(s.snapshotsWritten, `${s.node} wrote snapshots`).toBeGreaterThan(0);
        expect(s.segmentsDeleted, `${s.node} deleted segments`).toBeGreaterThan(0);
        expect(s.firstIndex, `${s.node} holds no longer its whole log`).toBeGreaterThan(1);
      }
      expect(Math.max(...results.snapshots.map((s) => s.snapshotsInstalled)), 'some node installed a snapshot').toBeGreaterThan(0);
      // The checkers saw compaction: acknowledged writes deleted from every node are counted, not passed silently.
      expect(result.checkers.find((c) => c.name === 'lost')?.counts['deletedEverywhere']).toBeGreaterThan(0);
      expect(result.checkers.find((c) => c.name === 'replica-agreement')?.counts['comparedFrom']).toBeGreaterThan(1);
      expect(result.lines.some((l) => /^snapshots: n1 \d+ written \d+ installed/.test(l))).toBe(true);
      expect(fs.readFileSync(path.join(result.runDir, 'report.html'), 'utf8')).toContain('<h2>Snapshots and compaction</h2>');
      expect(liveChildPids()).toEqual([]);
    } finally {
      keepOnFailure(result, result.valid);
    }
  }, 150_000);
});
