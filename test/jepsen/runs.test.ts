import { describe, it } from 'vitest';

import { expectMixedRunPasses, expectQueueRunPasses, useJepsenRuns } from './jepsen-runs.js';

/**
 * The short real runs `npm test` keeps: a 30 s mixed run of every nemesis (log workload) and
 * a 16 s run of the queue workload under kills, pauses and partitions, each of which must pass
 * every checker. The longer runs (the queue workload under every nemesis among them), and the
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
