import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { Admin, Producer, type SendResult } from '../../src/client/index.js';
import { NodeProcess, OutputLog, REPO_ROOT, startClusterForTest, type TestCluster } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

const CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'spool-child.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');
const texts = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `m-${from + k}`);

async function stopAllNodes(cluster: TestCluster): Promise<void> {
  await Promise.all(cluster.ids.map((id) => cluster.stop(id)));
}

async function startAllNodes(cluster: TestCluster): Promise<void> {
  await Promise.all(cluster.ids.map((id) => cluster.restart(id)));
  await cluster.leader({ timeoutMs: 20_000 });
}

async function expectOnEveryNode(cluster: TestCluster, topic: string, expected: readonly string[]): Promise<void> {
  await cluster.converged();
  for (const id of cluster.ids) expect(await fetchPayloads(cluster, id, topic), id).toEqual(expected);
}

describe('producer spool on a real cluster', () => {
  it('all nodes stopped: sends resolve spooled after spool.afterMs; nodes restarted: everything arrives once, in order, on every node', async () => {
    const cluster = await startClusterForTest({ label: 'spool' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('spool');
    admin.close();
    const dir = path.join(cluster.dataRoot, 'spool-a');
    const producer = new Producer({ brokers: cluster.brokers(), spool: { dir, afterMs: 300 }, lingerMs: 2, retryBackoff: { initialMs: 20, maxMs: 200 }, requestTimeoutMs: 1_000, log: () => {} });
    try {
      const before = await Promise.all(texts(0, 100).map((payload) => producer.send('spool', { payload })));
      expect(before.map((r) => r.offset)).toEqual([...Array(100).keys()]);

      await stopAllNodes(cluster);
      const started = Date.now();
      const during: SendResult[] = [];
      // Kept sending while the cluster is down, in bursts.
      for (let burst = 0; burst < 4; burst++) {
        during.push(...(await Promise.all(texts(100 + 50 * burst, 150 + 50 * burst).map((payload) => producer.send('spool', { payload })))));
      }
      expect(during.map((r) => r.status)).toEqual(Array(200).fill('spooled'));
      expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 290);
      expect(producer.stats().spoolPendingMessages).toBe(200);

      await startAllNodes(cluster);
      await cluster.waitFor(() => producer.stats().spoolPendingMessages === 0, { timeoutMs: 30_000, what: `the spool drained (${producer.stats().spoolPendingMessages} left)`, intervalMs: 20 });
      const after = await Promise.all(texts(300, 350).map((payload) => producer.send('spool', { payload })));
      expect(after.map((r) => r.offset)).toEqual([...Array(50).keys()].map((k) => 300 + k));
      console.log(`[producer-spool] ${JSON.stringify(producer.stats())}`);
    } finally {
      await producer.close();
    }
    expect(fs.statSync(path.join(dir, 'spool.log')).size).toBe(0);
    await expectOnEveryNode(cluster, 'spool', texts(0, 350));
  }, 90_000);

  it('the producer process killed -9 while spooling, and again while its spool is being resent; restarted on the same spool each time: nothing lost, nothing twice, in order', async () => {
    const cluster = await startClusterForTest({ label: 'spool-kill' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('spool-kill');
    const dir = path.join(cluster.dataRoot, 'spool-b');
    const brokers = cluster.brokers().join(',');
    const outputs = [1, 2, 3].map((run) => new OutputLog(`producer${run}`, path.join(cluster.dataRoot, 'logs', `producer${run}.out`)));
    const children: NodeProcess[] = [];
    const child = (run: number, from: number, count: number, mode: 'send' | 'drain'): NodeProcess => {
      const proc = NodeProcess.spawn({ args: [CHILD, CLIENT, brokers, dir, 'spool-kill', String(from), String(count), mode], output: outputs[run - 1]!, runTag: `#${run}`, cwd: REPO_ROOT });
      children.push(proc);
      return proc;
    };
    try {
      await stopAllNodes(cluster);
      // Run 1: killed while spooling, the cluster down throughout.
      const first = child(1, 0, 400, 'send');
      await first.waitForLine('resolved 150 spooled', 20_000);
      await first.kill('SIGKILL');
      // Run 2: resends what run 1 spooled, spools its own messages behind them, and is killed once the resend is under way.
      const second = child(2, 400, 200, 'send');
      await second.waitForLine('resolved 450 spooled', 20_000);
      await startAllNodes(cluster);
      await cluster.waitFor(async () => (await admin.describeTopic('spool-kill')).nextOffset >= 40, { timeoutMs: 30_000, what: 'the spooled messages being resent', intervalMs: 5 });
      await second.kill('SIGKILL');
      // Run 3: sends nothing new, drains the spool, closes.
      const third = child(3, 0, 0, 'drain');
      await third.waitForLine('closed', 30_000);
      expect((await third.exited).code).toBe(0);
    } finally {
      admin.close();
      await Promise.all(children.map((c) => c.kill('SIGKILL')));
    }
    const output = (run: number): string => fs.readFileSync(outputs[run - 1]!.filePath!, 'utf8');
    const resolvedIn = (run: number): number[] => [...output(run).matchAll(/resolved (\d+) (spooled|acknowledged)/g)].map((m) => Number(m[1]));
    const pendingAt = (run: number): number => Number(/opened pending=(\d+)/.exec(output(run))?.[1] ?? -1);
    const resolved = [...resolvedIn(1), ...resolvedIn(2)];
    console.log(`[producer-spool] run 1 resolved ${resolvedIn(1).length} of 400 before its kill; run 2 opened with ${pendingAt(2)} spooled, resolved ${resolvedIn(2).length} of 200; run 3 opened with ${pendingAt(3)} spooled`);
    expect(resolvedIn(1).length).toBeGreaterThanOrEqual(151);
    expect(resolvedIn(1).length).toBeLessThan(400);
    // Every send() run 1 saw resolve was in its spool; a kill between a spool write's fsync and
    // the resolutions it releases leaves a few more there than were reported.
    expect(pendingAt(2)).toBeGreaterThanOrEqual(resolvedIn(1).length);
    expect(pendingAt(2)).toBeLessThanOrEqual(400);
    expect(pendingAt(3)).toBeGreaterThan(0);
    await cluster.converged();
    for (const id of cluster.ids) {
      const payloads = await fetchPayloads(cluster, id, 'spool-kill');
      const numbers = payloads.map((p) => Number(p.slice(2)));
      // Nothing twice, in send order (each later one has a larger number) ...
      for (let k = 1; k < numbers.length; k++) expect(numbers[k]!, `${id} offset ${k}`).toBeGreaterThan(numbers[k - 1]!);
      // ... and every message whose send() resolved (acknowledged or spooled) is there.
      const present = new Set(numbers);
      expect(resolved.filter((k) => !present.has(k)), id).toEqual([]);
      // The cluster was down while run 1 ran, so what it wrote is exactly what its spool held
      // when run 2 opened it: m-0 up to pendingAt(2), no more and no fewer.
      expect(numbers.filter((k) => k < 400), id).toEqual([...Array(pendingAt(2)).keys()]);
      // Run 2's own messages went through its spool in send order, so they are a gapless run from m-400.
      const second = numbers.filter((k) => k >= 400);
      expect(second, id).toEqual(second.map((_, k) => 400 + k));
    }
  }, 90_000);
});
