import { defineConfig } from 'vitest/config';

/**
 * `npm test` runs every test/**\/*.test.ts but the long ones (*.long.test.ts: long fault runs,
 * each of which has a short run in npm test); `npm run test:long` sets QUORUMLOG_TEST_LONG=1
 * and runs everything.
 */
const long = process.env['QUORUMLOG_TEST_LONG'] === '1';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**', 'data/**', ...(long ? [] : ['test/**/*.long.test.ts'])],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    globalSetup: ['test/harness/global-build.ts'],
    // Three files at a time on two cores: real-process suites spend most of their time
    // waiting (elections, fsyncs, deadlines), take free loopback ports (test/harness/ports.ts)
    // and wait on conditions with deadlines, so side by side they only run slower; dist/ is
    // built once, before any worker starts.
    fileParallelism: true,
    maxWorkers: 3,
  },
});
