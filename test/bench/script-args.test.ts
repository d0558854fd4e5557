import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { ensureBuilt, REPO_ROOT } from '../harness/build.js';

/** Runs one of the benchmark scripts (built) with `args`; nothing here gets far enough to measure. */
function run(script: string, args: readonly string[]): { readonly code: number | null; readonly stdout: string; readonly stderr: string } {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const STORAGE_BENCH = 'dist/storage/bench/storage-bench.js';
const COMPARE_BUILDS = 'dist/storage/bench/compare-builds.js';
const LATENCY_FLOOR = 'scripts/latency-floor.mjs';
const APPLY_COST = 'scripts/apply-cost.mjs';
const PROFILE_SHARE = 'scripts/profile-share.mjs';
const ZERO_WRITE_COST = 'scripts/zero-write-cost.mjs';

describe('the benchmark scripts\' command lines', () => {
  beforeAll(async () => {
    await ensureBuilt();
  });

  it.each([
    [STORAGE_BENCH, ['--bogus'], /^storage-bench: Unknown option '--bogus'/],
    [STORAGE_BENCH, ['--preallocate', 'maybe'], /^storage-bench: --preallocate takes on, off or both, not "maybe"/],
    [STORAGE_BENCH, ['--repeat', '0'], /^storage-bench: --repeat takes a whole number from 1 to 51, not "0"/],
    [STORAGE_BENCH, ['--seconds', 'soon'], /^storage-bench: --seconds takes a number above 0, not "soon"/],
    [STORAGE_BENCH, ['--appenders', '1,x'], /^storage-bench: --appenders takes whole numbers >= 1, not "1,x"/],
    [STORAGE_BENCH, ['--group-cpu-us', '50'], /^storage-bench: --group-cpu-us applies to the ceiling cases: give --ceiling too/],
    [STORAGE_BENCH, ['--ceiling', '--group-cpu-us', '1.5'], /^storage-bench: --group-cpu-us takes a whole number from 0 to 100000, not "1.5"/],
    [COMPARE_BUILDS, [], /^compare-builds: --base takes the path of a built checkout/],
    [COMPARE_BUILDS, ['--base', '.', '--rounds', '99'], /^compare-builds: --rounds takes a whole number from 1 to 51, not "99"/],
    [LATENCY_FLOOR, ['--fsyncs', '3'], /^latency-floor: --fsyncs takes 0, 1 or 2, not "3"/],
    [LATENCY_FLOOR, ['--seconds'], /^latency-floor: Option '--seconds <value>' argument missing/],
    [APPLY_COST, ['--bogus'], /^apply-cost: Unknown option '--bogus'; run it with --help/],
    [APPLY_COST, ['--size', 'x'], /^apply-cost: --size takes a whole number of bytes above 0, not "x"/],
    [PROFILE_SHARE, ['some.cpuprofile'], /^profile-share: --match takes the patterns to count/],
    [ZERO_WRITE_COST, ['a', 'b'], /^zero-write-cost: takes one DIR at most, not 2/],
  ])('%s %j is refused with status 2 in one line', (script: string, args: string[], message: RegExp) => {
    const { code, stdout, stderr } = run(script, args);
    expect(code, stderr).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([STORAGE_BENCH, COMPARE_BUILDS, LATENCY_FLOOR, APPLY_COST, PROFILE_SHARE, ZERO_WRITE_COST])('%s --help prints its usage and exits 0', (script: string) => {
    const { code, stdout, stderr } = run(script, ['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: /);
    expect(stdout.split('\n').length).toBeGreaterThan(2); // a usage line, then what it does
  });
});
