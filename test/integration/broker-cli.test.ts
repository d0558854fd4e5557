import { describe, expect, it } from 'vitest';

import { runCliInProcess } from '../harness/cli-in-process.js';
import { runCli, startClusterForTest } from '../harness/index.js';

describe('quorumlog topics, produce and fetch (real processes)', () => {
  it('creates a topic, produces from arguments and stdin, fetches in order; bad arguments exit 2 in one line', async () => {
    const cluster = await startClusterForTest({ label: 'broker-cli' });
    await cluster.leader();
    const brokers = ['--brokers', cluster.brokers().join(',')];

    const created = await runCli(['topics', 'create', 'cli-t', '--max-message-bytes', '1000', ...brokers]);
    expect(created.stderr).toBe('');
    expect(created.stdout).toBe('created topic cli-t\n');
    const produced = await runCli(['produce', '--topic', 'cli-t', '--key', 'k', 'one', 'two', ...brokers]);
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toBe('0\n1\n');
    const piped = await runCli(['produce', '--topic', 'cli-t', '--json', ...brokers], { input: 'three\nfour\nfive\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
      { topic: 'cli-t', offset: 2, message: 'three' },
      { topic: 'cli-t', offset: 3, message: 'four' },
      { topic: 'cli-t', offset: 4, message: 'five' },
    ]);
    const fetched = await runCli(['fetch', '--topic', 'cli-t', '--from', '1', ...brokers]);
    expect(fetched.stdout).toBe('1\ttwo\n2\tthree\n3\tfour\n4\tfive\n');
    // acks leader answers with the log index (no offset); the message commits as offset 5.
    const leaderAcked = await runCli(['produce', '--topic', 'cli-t', '--acks', 'leader', 'six', ...brokers]);
    expect(leaderAcked.code, leaderAcked.stderr).toBe(0);
    expect(leaderAcked.stdout).toMatch(/^log-index \d+\n$/);
    await cluster.waitFor(async () => (await runCli(['fetch', '--topic', 'cli-t', '--from', '5', ...brokers])).stdout === '5\tsix\n', { timeoutMs: 10_000, what: 'six committed' });
    const limited = await runCli(['fetch', '--topic', 'cli-t', '--max', '2', ...brokers]);
    expect(limited.stdout).toBe('0\tone\n1\ttwo\n');
    const described = await runCli(['topics', 'describe', 'cli-t', '--json', ...brokers]);
    expect(JSON.parse(described.stdout)).toEqual([{ name: 'cli-t', messageBytesMax: 1000, nextOffset: 6 }]);
    const listed = await runCli(['topics', 'list', ...brokers]);
    expect(listed.stdout).toBe('cli-t\tmax-message-bytes 1000\tnext-offset 6\n');

    // Refused by the parser before anything connects: in this process, through the binary's
    // runCommand and failureOf (test/harness/cli-in-process.ts), not eight node starts.
    for (const args of [
      ['topics'],
      ['topics', 'frob'],
      ['topics', 'create'],
      ['produce', 'x'],
      ['fetch', '--topic', 't', '--from', '-1'],
      ['produce', '--topic', 't', '--bogus'],
      ['produce', '--topic', 't', '--acks', 'some', 'x'],
      ['produce', '--topic', 't', '--acks', 'none', '--spool-dir', '/tmp/never', 'x'],
    ]) {
      const bad = await runCliInProcess([...args, ...brokers]);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr.trim().split('\n').length, bad.stderr).toBe(1);
    }
    for (const args of [
      ['topics', 'create', 'bad name'],
      ['topics', 'create', 'cli-t'],
      ['fetch', '--topic', 'nope'],
      ['produce', '--topic', 'nope', 'x', '--timeout-ms', '5000'],
      ['produce', '--topic', 'cli-t', 'y'.repeat(1001)],
    ]) {
      const refused = await runCli([...args, ...brokers], { timeoutMs: 15_000 });
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr.trim().split('\n').length, refused.stderr).toBe(1);
      expect(refused.stderr).toMatch(/^quorumlog: /);
    }
    const help = await runCli(['produce', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--topic T/);
    const deleted = await runCli(['topics', 'delete', 'cli-t', ...brokers]);
    expect(deleted.stdout).toBe('deleted topic cli-t\n');
  }, 60_000);
});
