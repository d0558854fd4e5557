import { describe, expect, it } from 'vitest';

import { Consumer } from '../../src/client/index.js';
import { runCliInProcess } from '../harness/cli-in-process.js';
import { runCli, startClusterForTest } from '../harness/index.js';

const text = (data: Uint8Array): string => new TextDecoder().decode(data);

describe('quorumlog consume, groups and dlq (real processes)', () => {
  it('consumes in a group acking each printed line; lists lag; lists and redrives the dead-letter topic once; bad arguments exit 2 in one line', async () => {
    const cluster = await startClusterForTest({ label: 'groups-cli' });
    await cluster.leader();
    const brokers = ['--brokers', cluster.brokers().join(',')];
    const run = async (args: string[]): Promise<string> => {
      const result = await runCli([...args, ...brokers]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    await run(['topics', 'create', 'jobs']);
    await run(['produce', '--topic', 'jobs', 'a', 'b', 'c', 'poison']);

    expect(await run(['consume', '--topic', 'jobs', '--group', 'printer', '--max', '3'])).toBe('0\ta\n1\tb\n2\tc\n');
    // The fourth message was prefetched but not printed: released on exit, ready to go out
    // again, and not counted as a delivery (the command never showed it).
    expect(await run(['groups', 'describe', 'printer'])).toBe('printer\ttopic jobs\tcommitted 3\tlag 1\tinflight 0\twaiting 1\tdead 0\tconsumers -\n');
    expect(await run(['consume', '--topic', 'jobs', '--group', 'printer', '--max', '1', '--json'])).toBe(`${JSON.stringify({ offset: 3, delivery: 1, key: '', message: 'poison' })}\n`);
    expect(await run(['groups', 'create', 'late', '--topic', 'jobs', '--from', 'offset:2', '--retry-delays', '100ms', '--max-retries', '1'])).toBe('created group late on topic jobs\n');
    const listed = JSON.parse(await run(['groups', 'list', '--json'])) as { name: string; committedOffset: number; lag: number; retriesMax: number; retryDelaysMs: number[] }[];
    expect(listed.map((g) => [g.name, g.committedOffset, g.lag])).toEqual([['late', 2, 2], ['printer', 4, 0]]);
    expect(listed[0]).toMatchObject({ retriesMax: 1, retryDelaysMs: [100] });
    expect(await run(['groups'])).toBe(await run(['groups', 'list']));

    // No dead letters yet: an empty list and nothing to redrive; an unknown group is an error.
    expect(await run(['dlq', 'list', '--group', 'late'])).toBe('');
    expect(await run(['dlq', 'redrive', '--group', 'printer'])).toBe('redrove 0 message(s) from printer.dlq\n');
    const unknownGroup = await runCli(['dlq', 'list', '--group', 'nope', ...brokers]);
    expect(unknownGroup.code).toBe(1);
    expect(unknownGroup.stderr).toBe('quorumlog: describe group: group nope does not exist\n');
    // Group "late" fails "poison" twice (1 retry): it goes to late.dlq.
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'late', topic: 'jobs' });
    const running = consumer.run(async (m) => {
      if (text(m.payload) === 'poison') throw new Error('bad payload');
    });
    await cluster.waitFor(async () => (await runCli(['dlq', 'list', '--group', 'late', ...brokers])).stdout !== '', { timeoutMs: 15_000, what: 'poison in late.dlq' });
    await consumer.close();
    await running;
    expect(await run(['dlq', 'list', '--group', 'late'])).toBe('0\tfrom jobs/3\tdeliveries 2\tbad payload\tpoison\n');
    expect(await run(['dlq', 'redrive', '--group', 'late'])).toBe('redrove late.dlq/0 to jobs\nredrove 1 message(s) from late.dlq\n');
    expect(await run(['dlq', 'redrive', '--group', 'late'])).toBe('redrove 0 message(s) from late.dlq\n');
    expect(await run(['fetch', '--topic', 'jobs', '--from', '4'])).toBe('4\tpoison\n');
    // Long enough that the fetch right after (a process start, on a machine running other
    // suites) still comes before it is due.
    expect(await run(['produce', '--topic', 'jobs', '--delay', '5s', 'soon'])).toBe('scheduled\n');
    expect(await run(['fetch', '--topic', 'jobs', '--from', '5'])).toBe('');
    await cluster.waitFor(async () => (await runCli(['fetch', '--topic', 'jobs', '--from', '5', ...brokers])).stdout === '5\tsoon\n', { timeoutMs: 20_000, what: 'the delayed message' });

    // Refused by the parser before anything connects: in this process, through the binary's
    // runCommand and failureOf (test/harness/cli-in-process.ts), not eight node starts.
    for (const args of [['consume', '--topic', 'jobs'], ['consume', '--group', 'g'], ['groups', 'frob'], ['groups', 'create', 'x'], ['groups', 'list', '--topic', 't'], ['dlq', 'frob', '--group', 'g'], ['dlq', 'list'], ['consume', '--topic', 'jobs', '--group', 'g', '--prefetch', '0']]) {
      const bad = await runCliInProcess([...args, ...brokers]);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr.trim().split('\n').length, bad.stderr).toBe(1);
    }
    const missing = await runCli(['groups', 'describe', 'nope', ...brokers]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('quorumlog: describe group: group nope does not exist\n');
  });
});
