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
    // Real-process suites start servers on fixed loopback ports; files run one at a time
    // so two suites never race for the same port or for the two cores of this machine.
    fileParallelism: false,
  },
});
