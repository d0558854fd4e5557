import { describe, expect, it } from 'vitest';

import { runCliInProcess } from '../harness/cli-in-process.js';
import { LONG_RUN, runCli, startClusterForTest } from '../harness/index.js';

describe('quorumlog group reset', () => {
  it('needs exactly one well-formed target: anything else is a usage error, exit 2 in one line, before connecting', async () => {
    // Nothing listens there: a command that got past its arguments would fail with exit 1.
    const brokers = ['--brokers', '127.0.0.1:1', '--timeout-ms', '2000'];
    const cases: [string[], RegExp][] = [
      [['group', 'reset', 'g'], /exactly one of --to-earliest, --to-latest, --to-offset N or --to-time ISO8601\|MS; none was given/],
      [['group', 'reset', 'g', '--to-earliest', '--to-offset', '3'], /got --to-earliest and --to-offset/],
      [['group', 'reset', 'g', '--force'], /none was given/],
      [['group', 'reset', 'g', '--to-offset', '-1'], /--to-offset must be a whole number/],
      [['group', 'reset', 'g', '--to-offset', 'x'], /--to-offset must be a whole number/],
      [['group', 'reset', 'g', '--to-time', 'yesterday'], /--to-time must be an ISO 8601 time/],
      [['group', 'reset', 'g', '--to-time', '2024-13-45T99:00:00Z'], /--to-time must be an ISO 8601 time/],
      [['group', 'reset', '--to-latest'], /groups reset needs a group name/],
      [['group', 'reset', 'g', 'h', '--to-latest'], /unexpected argument "h"/],
      [['groups', 'describe', 'g', '--to-latest'], /--to-latest goes with group reset only/],
      [['group', 'reset', 'g', '--to-latest', '--topic', 't'], /--topic goes with groups create only/],
    ];
    // In this process, through the binary's runCommand and failureOf
    // (test/harness/cli-in-process.ts): milliseconds a case, so every case runs in npm test.
    for (const [args, message] of cases) {
      const bad = await runCliInProcess([...args, ...brokers]);
      expect(bad.code, `${args.join(' ')}: ${bad.stderr}`).toBe(2);
      expect(bad.stderr.trim().split('\n'), bad.stderr).toHaveLength(1);
      expect(bad.stderr, args.join(' ')).toMatch(message);
    }
    const help = await runCliInProcess(['group', 'reset', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('quorumlog group reset G --to-earliest | --to-latest | --to-offset N | --to-time ISO8601|MS [--force]');
  });

  // About 9 s of real processes: npm run test:long (the simulator's group-reset test covers the
  // node's side in npm test, the usage errors above the CLI's).
  it.skipIf(!LONG_RUN)('moves a group on a real cluster and prints where it now starts (real processes)', async () => {
    const cluster = await startClusterForTest({ label: 'group-reset-cli' });
    await cluster.leader();
    const brokers = ['--brokers', cluster.brokers().join(',')];
    const run = async (args: string[]): Promise<string> => {
      const result = await runCli([...args, ...brokers]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    await run(['topics', 'create', 'jobs']);
    await run(['produce', '--topic', 'jobs', 'a', 'b', 'c', 'd', 'e']);
    await run(['groups', 'create', 'g', '--topic', 'jobs']);
    expect(await run(['consume', '--topic', 'jobs', '--group', 'g', '--max', '2', '--prefetch', '2'])).toBe('0\ta\n1\tb\n');

    // What the consume prefetched and never printed went back to the group (ready again): a
    // reset forgets it and says how many (how far the prefetch got is timing).
    expect(await run(['group', 'reset', 'g', '--to-latest'])).toMatch(/^group g now starts at offset 5 \(was 2\)(; forgot \d+ unfinished deliver(y|ies))?\n$/);
    expect(await run(['group', 'reset', 'g', '--to-earliest'])).toBe('group g now starts at offset 0 (was 5)\n');
    expect(JSON.parse(await run(['groups', 'reset', 'g', '--to-offset', '3', '--json']))).toEqual({ group: 'g', committedOffset: 3, previousCommittedOffset: 0, forgotten: 0 });
    expect(await run(['group', 'reset', 'g', '--to-time', '2001-09-09T01:46:40Z'])).toBe('group g now starts at offset 0 (was 3)\n');
    expect(await run(['consume', '--topic', 'jobs', '--group', 'g', '--max', '1', '--prefetch', '1'])).toBe('0\ta\n');

    const past = await runCli(['group', 'reset', 'g', '--to-offset', '6', ...brokers]);
    expect(past.code).toBe(1);
    expect(past.stderr).toBe('quorumlog: reset group: offset 6 is outside what topic jobs keeps (0..5)\n');
    const unknown = await runCli(['group', 'reset', 'nope', '--to-latest', ...brokers]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('quorumlog: reset group: group nope does not exist\n');
  });
});
