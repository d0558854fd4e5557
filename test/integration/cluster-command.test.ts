import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { LogClient } from '../../src/client/index.js';
import { NODE_V8_FLAGS } from '../../src/node/v8-flags.js';
import { pidAlive, waitFor } from '../harness/index.js';
import { nodePid, nodeProcesses, startClusterCommand, type ClusterCommandRun } from './cluster-command-helpers.js';

const LEADER_LINE = /^quorumlog: (n\d) is the leader \(term (\d+)\), clients at 127\.0\.0\.1:\d+/;

/** What `npm start` runs: the README promises a leader line and a clean stop on Ctrl-C. */
describe('quorumlog cluster (real processes)', () => {
  const runs: ClusterCommandRun[] = [];
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.cleanup();
  });

  it.each([
    [[], 'ordered'],
    [['--durable-mark', 'lagging'], 'lagging'],
  ])('starts three nodes (extra flags %j: %s durable mark), names the leader, serves clients, and stops them all on SIGINT', async (flags: string[], mark: string) => {
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

    process.kill(run.pid, 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('quorumlog: all nodes stopped');
    expect(run.output().match(/^n\d \| .* stopped$/gm)?.length ?? 0).toBe(3);
    for (const pid of nodePids) expect(pidAlive(pid)).toBe(false);
    expect(nodeProcesses(run.dataDir)).toEqual([]);
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
});
