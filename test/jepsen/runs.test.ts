import { describe, it } from 'vitest';

import { expectMembershipRunPasses, expectMixedRunPasses, expectQueueRunPasses, useJepsenRuns } from './jepsen-runs.js';

/**
 * The short real runs `npm test` keeps: a 30 s mixed run of every nemesis (log workload), a
 * 16 s run of the queue workload under kills, pauses and partitions, and a 12 s run of the
 * membership nemesis among kills, each of which must pass every checker. The longer runs (the queue workload under every nemesis among them), and the
 * runs that must be flagged, are in runs.long.test.ts (`npm run test:long`).
 * Each prints its seed and run folder; a run folder is kept only when the test fails.
 * Longer runs are for people: npm run jepsen -- --time 600. The run with snapshots, compaction
 * and retention is in runs.long.test.ts (npm run test:long); npm test streams a snapshot
 * between real processes in test/bench/snapshot-bench-smoke.test.ts.
 */
const jepsen = useJepsenRuns();

describe('jepsen-style runs against real node processes', () => {
  it('a short mixed run of every nemesis passes every checker, and writes history, results and a self-contained report', async () => {
    await expectMixedRunPasses(jepsen, 87, 30);
  }, 200_000);
});

describe('the queue workload (producers, a consumer group in processes killed -9) against real node processes', () => {
  it('a 16 s run of kills, pauses and partitions plus consumer kills passes every checker, the consumer checker included', async () => {
    // Seed 26 in 16 s: a paused node, every node killed at once, the cluster cut in halves.
    // The run of every nemesis with this workload is in runs.long.test.ts.
    await expectQueueRunPasses(jepsen, 26, 16, ['kill', 'pause', 'partition']);
  }, 200_000);
});

describe('the membership nemesis against real node processes', () => {
  it('a 12 s run grows to five voters and back and replaces a wiped member while a majority is killed twice; every checker passes and three voters remain', async () => {
    // Seed 132 in 12 s: grow-shrink and replace-wiped beside two kills of a majority (about
    // 30 s in all: membership steps run past --time). Every variant, with pauses, partitions
    // and power loss, is runs.long.test.ts's.
    await expectMembershipRunPasses(
      jepsen,
      { name: 'members-short', seed: 132, timeS: 12, nemeses: ['members', 'kill'], variants: ['grow-shrink', 'replace-wiped'] },
      // Two grown, one replacement; the replaced member lost its data.
      { promotes: 3, wipes: 1 },
    );
  }, 200_000);
});
