import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { pidAlive, startClusterForTest, TestCluster, trackedPids, waitFor } from '../harness/index.js';

/**
 * A node's piped stdout, as the harness's file keeps it (`[id#run] ` and the line as printed):
 * JSON lines, each naming the node, and from its "serving" line on also its term and role.
 */
function expectJsonLines(file: string, id: string): void {
  const printed = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(`[${id}#1] {`))
    .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
  const serving = printed.findIndex((line) => line['event'] === 'serving');
  expect(serving, JSON.stringify(printed)).toBeGreaterThanOrEqual(0);
  expect(printed.map((line) => line['event'])).toEqual(expect.arrayContaining(['serving', 'shutting-down', 'stopped']));
  for (const line of printed) {
    expect(line, JSON.stringify(line)).toMatchObject({ node: id, level: expect.any(String) as unknown, time: expect.any(String) as unknown, msg: expect.any(String) as unknown });
  }
  for (const line of printed.slice(serving)) {
    expect(line, JSON.stringify(line)).toMatchObject({ term: expect.any(Number) as unknown, role: expect.any(String) as unknown });
  }
  // Every line the node printed on stdout is one of those: nothing else reached the pipe.
  const other = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.startsWith(`[${id}#1] `) && !line.startsWith(`[${id}#1] {`) && !/^\[\S+\] (spawned pid|exited code)/.test(line));
  expect(other).toEqual([]);
}

/**
 * The harness's own promises: a test's processes end with the test, pass or fail. The
 * first test fails on purpose (it.fails passes only if it does); the second checks that the
 * nodes it started are gone.
 */
describe('the process harness', () => {
  const startedPids: number[] = [];
  let failedDataRoot = '';

  it.fails('a test that fails still stops its nodes (this one fails on purpose)', async () => {
    const cluster = await startClusterForTest({ label: 'harness-fail' });
    failedDataRoot = cluster.dataRoot;
    for (const id of cluster.ids) startedPids.push(cluster.pid(id) ?? -1);
    expect(startedPids.every((pid) => pid > 0 && pidAlive(pid))).toBe(true);
    throw new Error('deliberate failure, to prove the nodes are stopped anyway');
  });

  it('the nodes of the failed test are gone', async () => {
    expect(startedPids).toHaveLength(3);
    for (const pid of startedPids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(trackedPids()).toEqual([]);
    // A failed test keeps its data for a look, but this failure was expected (it.fails): nothing kept.
    expect(failedDataRoot).not.toBe('');
    expect(fs.existsSync(failedDataRoot)).toBe(false);
  });

  it('stop() is a clean SIGTERM exit (code 0), kill() is SIGKILL, and restart() brings a node back on its data', async () => {
    const cluster = await startClusterForTest({ label: 'harness-signals' });
    const leader = await cluster.leader();
    const appended = await cluster.client().append([new TextEncoder().encode('kept')]);
    const follower = cluster.ids.find((id) => id !== leader) ?? 'n1';
    const clean = await cluster.stop(follower);
    expect(clean, cluster.outputTail(follower, 20).join('\n')).toEqual({ code: 0, signal: null });
    expectJsonLines(path.join(cluster.dataRoot, 'logs', `${follower}.out`), follower);
    const killed = await cluster.kill(leader);
    expect(killed.signal).toBe('SIGKILL');
    await cluster.restart(follower);
    await cluster.restart(leader);
    await cluster.leader();
    // The restarted follower serves the record once it has applied it again, which waits for
    // the new leader to tell it the commit index: a leader existing is not yet that.
    const record = await waitFor(
      async () => (await cluster.nodeClient(follower).read(appended.firstIndex, { bytesMax: 1024 })).records[0],
      { timeoutMs: 15_000, what: `${follower} to apply index ${appended.firstIndex} again` },
    );
    expect(new TextDecoder().decode(record.payload)).toBe('kept');
  });

  it('stopAll() twice is harmless, and a stopped cluster starts nothing', async () => {
    const cluster = await TestCluster.start({ label: 'harness-twice' });
    await cluster.stopAll();
    await cluster.stopAll();
    await waitFor(() => cluster.runningIds().length === 0, { timeoutMs: 1_000, what: 'no running nodes' });
    await expect(cluster.startNode('n1')).rejects.toThrow(/stopped/);
  });
});
