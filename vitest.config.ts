import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

import { plantedBugsPlugin } from './test/sim/planted-bug-transform.js';
import { SlowFirstSequencer } from './test/harness/slow-first-sequencer.js';

/**
 * `npm test` runs every test/**\/*.test.ts but the long ones (*.long.test.ts: long fault runs,
 * each of which has a short run in npm test); `npm run test:long` sets QUORUMLOG_TEST_LONG=1
 * and runs everything.
 */
const long = process.env['QUORUMLOG_TEST_LONG'] === '1';

export default defineConfig({
  // Bugs planted on purpose for the simulator to find (test/sim/planted-node-bugs.ts): each off
  // unless a test switches it on. Only what vitest loads carries them; dist/ never does.
  plugins: [plantedBugsPlugin(fileURLToPath(new URL('.', import.meta.url)))],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**', 'data/**', ...(long ? [] : ['test/**/*.long.test.ts'])],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    globalSetup: ['test/harness/global-build.ts'],
    // Two files at a time, one per core: real-process suites take free loopback ports
    // (test/harness/ports.ts) and wait on conditions with deadlines, so two side by side only
    // run slower; dist/ is built once, before any worker starts. (Three at a time was faster
    // still, but starved nodes enough to miss timing bounds now and then.)
    fileParallelism: true,
    maxWorkers: 2,
    // A worker keeps the modules it loaded from one file to the next instead of loading them
    // again for each (vitest's isolate): the suite spent 44-48 s of its time importing, and
    // about a fifth of its CPU. No test relies on a fresh module: each stops what it started
    // and switches off the planted bugs it switched on.
    isolate: false,
    // The longest files first (test/harness/slow-first-sequencer.ts), so none starts last.
    sequence: { sequencer: SlowFirstSequencer },
  },
});
