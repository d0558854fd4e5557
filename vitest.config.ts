import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**', 'data/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Real-process suites start servers on fixed loopback ports; files run one at a time
    // so two suites never race for the same port or for the two cores of this machine.
    fileParallelism: false,
  },
});
