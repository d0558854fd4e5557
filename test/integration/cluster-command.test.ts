import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { LogClient } from '../../src/client/index.js';
import { NODE_V8_FLAGS } from '../../src/node/v8-flags.js';
import { LONG_RUN, pidAlive, waitFor } from '../harness/index.js';
import { describeCli, runCli } from '../harness/index.js';
import { nodePid, nodeProcesses, processState, startCli, startClusterCommand, type ClusterCommandRun } from './cluster-command-helpers.js';

const LEADER_LINE = /^quorumlog: (n\d) is the leader \(term (\d+)\), clients at 127\.0\.0\.1:\d+/;

/** What `npm start` runs: the README promises a leader line and a clean stop on Ctrl-C. */
describe('quorumlog cluster (real processes)', () => {
  const runs: ClusterCommandRun[] = [];
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.cleanup();
  });

  const marks: [string[], string][] = [
    [[], 'ordered'],
    [['--durable-mark', 'lagging'], 'lagging'],
  ];
  // The lagging mark's start is test:long's (crash-recovery runs a lagging cluster there too).
  it.each(LONG_RUN ? marks : marks.slice(0, 1))('starts three nodes (extra flags %j: %s durable mark), names the leader, serves clients, and stops them all on SIGINT', async (flags: string[], mark: string) => {
    const run = await startClusterCommand(flags);
    runs.push(run);
    await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
    expect(run.output().match(new RegExp(`^n\\d \\| .* serving clients on .*; flush sync, ${mark} durable mark$`, 'gm'))?.length ?? 0, run.output()).toBe(3);
    const client = new LogClient({ brokers: run.brokers, timeoutMs: 10_000 });
    try {
      const { firstIndex } = await client.append([new TextEncoder().encode('hello')]);
      const read = await client.read(firstIndex);
      expect(new TextDecoder().decode(read.records[0]?.payload)).toBe('hello');
    } finally {
      client.close();
    }
    const nodePids = nodeProcesses(run.dataDir);
    expect(nodePids).toHaveLength(3);
    // Every node runs with the V8 flags the CLI starts nodes with (src/node/v8-flags.ts).
    for (const pid of nodePids) expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([...NODE_V8_FLAGS]));

    // An impatient second Ctrl-C must not end the cluster command before its nodes.
    process.kill(run.pid, 'SIGINT');
    process.kill(run.pid, 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('quorumlog: all nodes stopped');
    expect(run.output().match(/^n\d \| .* stopped$/gm)?.length ?? 0).toBe(3);
    for (const pid of nodePids) expect(pidAlive(pid)).toBe(false);
    expect(nodeProcesses(run.dataDir)).toEqual([]);
  }, 60_000);

  it('with --tls DIR (from quorumlog certs init), serves clients over TLS only: the README\'s TLS cluster in two commands', async () => {
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-cluster-tls-'));
    try {
      const init = await runCli(['certs', 'init', certs]);
      expect(init.code, describeCli(['certs', 'init'], init)).toBe(0);
      const run = await startClusterCommand(['--tls', certs]);
      runs.push(run);
      await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
      expect(run.output().match(/^n\d \| .* serving clients on .*\(TLS, peers mutual TLS\)/gm)?.length ?? 0, run.output()).toBe(3);
      const client = new LogClient({ brokers: run.brokers, timeoutMs: 10_000, tls: { ca: fs.readFileSync(path.join(certs, 'ca.pem')) } });
      try {
        const { firstIndex } = await client.append([new TextEncoder().encode('over tls')]);
        expect(new TextDecoder().decode((await client.read(firstIndex)).records[0]?.payload)).toBe('over tls');
      } finally {
        client.close();
      }
      // A plaintext client gets nothing through.
      const plain = await runCli(['status', '--brokers', run.brokers.join(','), '--timeout-ms', '2000']);
      expect(plain.code, describeCli(['status (plaintext)'], plain)).toBe(1);
      process.kill(run.pid, 'SIGINT');
      expect(await run.exited).toBe(0);
    } finally {
      fs.rmSync(certs, { recursive: true, force: true });
    }
  }, 60_000);

  it('keeps serving when the leader is killed -9: the others elect a new leader, and the dead node is restarted and catches up', async () => {
    const run = await startClusterCommand(['--restart-delay-ms', '500']);
    runs.push(run);
    const first = await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
    const oldLeader = first[1] ?? '';
    const pid = nodePid(run.dataDir, oldLeader);
    expect(pid, 'the leader process').not.toBeNull();
    const mark = run.output().length;
    process.kill(pid ?? -1, 'SIGKILL');

    await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} exited \\(SIGKILL\\); restarting it in 0\\.5 s`), { from: mark, timeoutMs: 10_000, what: 'the exit line' });
    const next = await run.waitForOutput(/^quorumlog: (n\d) is the leader \(term \d+\), clients at \S+ \(was (n\d)\)$/, { from: mark, timeoutMs: 30_000, what: 'a new leader' });
    expect(next[1]).not.toBe(oldLeader);
    expect(next[2]).toBe(oldLeader);
    // The survivors serve while the old leader is away or catching up.
    const client = new LogClient({ brokers: run.brokers, timeoutMs: 20_000 });
    try {
      const { firstIndex } = await client.append([new TextEncoder().encode('after failover')]);
      expect(firstIndex).toBeGreaterThan(1);
    } finally {
      client.close();
    }
    await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} restarted \\(pid \\d+, restart 1\\)$`), { from: mark, timeoutMs: 30_000, what: 'the restart' });
    await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} caught up \\(applied \\d+, leader commit \\d+\\)$`), { from: mark, timeoutMs: 30_000, what: 'the catch-up line' });
    expect(run.exit()).toBeNull();
    expect(nodeProcesses(run.dataDir)).toHaveLength(3);

    const nodePids = nodeProcesses(run.dataDir);
    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited).toBe(0);
    await waitFor(() => nodePids.every((p) => !pidAlive(p)), { timeoutMs: 5_000, what: 'every node to exit' });
  }, 120_000);

  it('tells the README story: a writer checks every acknowledged record while nodes are killed, paused, resumed and restarted through quorumlog cluster', async () => {
    const run = await startClusterCommand();
    runs.push(run);
    const control = async (...args: string[]): Promise<string> => {
      const full = ['cluster', ...args, '--data-dir', run.dataDir];
      const result = await runCli(full, { timeoutMs: 60_000 });
      expect(result.code, describeCli(full, result)).toBe(0);
      return result.stdout;
    };
    const first = await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
    const oldLeader = first[1] ?? '';
    expect(fs.existsSync(`${run.dataDir}/cluster.json`)).toBe(true);
    const status = new LogClient({ brokers: run.brokers, timeoutMs: 2_000, connectTimeoutMs: 500 });
    const writer = startCli(['verify-writes', '--brokers', run.brokers.join(','), '--duration', '5m', '--writers', '4', '--timeout-ms', '10000', '--json'], { timeoutMs: 170_000 });
    try {
      // Writes committed by the survivors after `from`: the cluster kept serving.
      const commitPast = async (from: number, what: string): Promise<number> =>
        waitFor(
          async () => {
            const commit = Math.max(0, ...(await status.statusAll()).map((s) => ('error' in s ? 0 : s.commitIndex)));
            return commit >= from + 30 ? commit : undefined;
          },
          { timeoutMs: 30_000, what },
        );
      let commit = await commitPast(0, 'the writer to get going');

      // Kill the leader: a new one is elected and shown, the old one restarted after the default delay and caught up.
      let mark = run.output().length;
      expect(await control('kill', oldLeader)).toMatch(new RegExp(`^${oldLeader} \\(pid \\d+\\) killed with SIGKILL$`, 'm'));
      await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} exited \\(SIGKILL\\); restarting it in 1 s; it led term \\d+`), { from: mark, timeoutMs: 10_000, what: 'the exit line' });
      const next = await run.waitForOutput(/^quorumlog: (n\d) is the leader \(term \d+\), clients at \S+ \(was (n\d)\)$/, { from: mark, timeoutMs: 30_000, what: 'a new leader' });
      const newLeader = next[1] ?? '';
      expect(newLeader).not.toBe(oldLeader);
      await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} restarted \\(pid \\d+, restart 1\\)$`), { from: mark, timeoutMs: 30_000, what: 'the restart' });
      await run.waitForOutput(new RegExp(`^quorumlog: ${oldLeader} caught up`), { from: mark, timeoutMs: 60_000, what: 'the catch-up' });
      commit = await commitPast(commit, 'writes after the failover');

      // Pause a follower: the others keep committing; ps shows it paused; resume, and it catches up.
      const follower = ['n1', 'n2', 'n3'].find((id) => id !== newLeader && id !== oldLeader) ?? '';
      const followerPid = nodePid(run.dataDir, follower) ?? -1;
      mark = run.output().length;
      await control('pause', follower);
      expect(processState(followerPid)).toBe('T');
      const ps = JSON.parse(await control('ps', '--json')) as { id: string; state: string; pid: number }[];
      expect(ps.find((n) => n.id === follower)).toMatchObject({ state: 'paused', pid: followerPid });
      expect(ps.find((n) => n.id === oldLeader)).toMatchObject({ state: 'running', restarts: 1 });
      commit = await commitPast(commit, 'writes while a follower is paused');
      await control('resume', follower);
      await run.waitForOutput(new RegExp(`^quorumlog: ${follower} caught up`), { from: mark, timeoutMs: 60_000, what: 'the resumed follower to catch up' });

      // Restart the current leader by hand: it is back and serving when the command returns.
      expect(await control('restart', newLeader)).toMatch(new RegExp(`^${newLeader} restarted \\(pid \\d+\\) and serving clients$`, 'm'));
      await commitPast(commit, 'writes after the restart');

      writer.signal('SIGINT');
      const result = await writer.result;
      expect(result.code, `verify-writes: ${result.stdout}\n${result.stderr}`).toBe(0);
      const summary = JSON.parse(result.stdout) as { ok: boolean; acknowledged: number; lost: number; duplicated: number; misplaced: number; reordered: number; unexpected: number; nodes: { skipped: string | null }[] };
      expect(summary).toMatchObject({ ok: true, lost: 0, duplicated: 0, misplaced: 0, reordered: 0, unexpected: 0 });
      expect(summary.acknowledged).toBeGreaterThan(90);
      expect(summary.nodes.filter((n) => n.skipped === null), result.stdout).toHaveLength(3);
    } finally {
      writer.signal('SIGKILL');
      status.close();
    }

    // SIGTERM with a node paused: every node exits, the paused one too, and the state file goes.
    await control('pause', oldLeader);
    const nodePids = nodeProcesses(run.dataDir);
    expect(nodePids).toHaveLength(3);
    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited).toBe(0);
    await waitFor(() => nodePids.every((p) => !pidAlive(p)), { timeoutMs: 5_000, what: 'every node to exit' });
    expect(fs.existsSync(`${run.dataDir}/cluster.json`)).toBe(false);
  }, 180_000);

  it('with --restart never leaves a killed node down until quorumlog cluster restart starts it', async () => {
    const run = await startClusterCommand(['--restart', 'never']);
    runs.push(run);
    await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
    const cli = (...args: string[]) => runCli(['cluster', ...args, '--data-dir', run.dataDir], { timeoutMs: 60_000 });
    const second = await runCli(['cluster', '--data-dir', run.dataDir, '--client-port-base', String(run.base + 20)], { timeoutMs: 30_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^quorumlog: a cluster is already running under .* \(pid \d+\); stop it first, or use another --data-dir\n$/);
    expect((await cli('kill', 'n2')).code).toBe(0);
    await run.waitForOutput(/^quorumlog: n2 exited \(SIGKILL\); leaving it down: --restart never/, { timeoutMs: 10_000, what: 'the leave-down line' });
    expect((await cli('ps')).stdout).toMatch(/^n2 +down +- +0 /m);
    const paused = await cli('pause', 'n2');
    expect(paused.code).toBe(1);
    expect(paused.stderr).toBe('quorumlog: n2 is down, not running: nothing to pause\n');
    const unknown = await cli('kill', 'n7');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^quorumlog: no node n7 in this cluster \(nodes: n1, n2, n3\)\n$/);
    const restarted = await cli('restart', 'n2');
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toMatch(/^n2 restarted \(pid \d+\) and serving clients$/m);
    expect(nodeProcesses(run.dataDir)).toHaveLength(3);
    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited).toBe(0);
  }, 90_000);

  // Five restarts one second apart (about 11 s): npm run test:long; the restart policy's
  // arithmetic is test/cli/restart-policy.test.ts, a killed leader's restart is above.
  it.runIf(LONG_RUN)('leaves down a node that fails at every start (its client port taken) after 5 restarts, while the others keep serving', async () => {
    const run = await startClusterCommand(['--restart-delay-ms', '300']);
    runs.push(run);
    await run.waitForOutput(LEADER_LINE, { timeoutMs: 30_000, what: 'a leader line' });
    const cli = (...args: string[]) => runCli(['cluster', ...args, '--data-dir', run.dataDir], { timeoutMs: 60_000 });
    // kill returns once n3 has exited; its restart is 300 ms away, and then its port is ours.
    expect((await cli('kill', 'n3')).code).toBe(0);
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(run.base + 2, '127.0.0.1', resolve);
    });
    try {
      await run.waitForOutput(/^quorumlog: n3 exited \(status 1\); leaving it down: it failed 6 times within 60 s; the others keep serving/, { timeoutMs: 60_000, what: 'n3 left down' });
      expect(run.output().match(/^quorumlog: n3 restarted /gm)).toHaveLength(6);
      const client = new LogClient({ brokers: run.brokers.slice(0, 2), timeoutMs: 20_000 });
      try {
        await client.append([new TextEncoder().encode('still serving')]);
      } finally {
        client.close();
      }
      expect((await cli('ps')).stdout).toMatch(/^n3 +down +- +6 /m);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    // By hand, once the port is free again, it starts.
    const restarted = await cli('restart', 'n3');
    expect(restarted.stdout, restarted.stderr).toMatch(/^n3 restarted \(pid \d+\) and serving clients$/m);
    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited).toBe(0);
  }, 120_000);
});

