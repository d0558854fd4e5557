import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { Admin, Producer, type SendResult } from '../../src/client/index.js';
import { ManagedProcess, OutputLog, REPO_ROOT, startClusterForTest, type TestCluster } from '../harness/index.js';
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

  it('the producer process killed -9 while its spool is being resent, restarted on the same spool: nothing lost, nothing twice, in order', async () => {
    const cluster = await startClusterForTest({ label: 'spool-kill' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('spool-kill');
    const dir = path.join(cluster.dataRoot, 'spool-b');
    const brokers = cluster.brokers().join(',');
    const total = 400;
    const outputs = [1, 2].map((run) => new OutputLog(`producer${run}`, path.join(cluster.dataRoot, 'logs', `producer${run}.out`)));
    const children: ManagedProcess[] = [];
    try {
      await stopAllNodes(cluster);
      const first = ManagedProcess.spawn({ args: [CHILD, CLIENT, brokers, dir, 'spool-kill', '0', String(total), 'send'], output: outputs[0]!, runTag: '#1', cwd: REPO_ROOT });
      children.push(first);
      // Well into spooling: some batches spooled, later ones still being sent.
      await first.waitForLine('resolved 150 spooled', 20_000);
      await startAllNodes(cluster);
      // The resend is under way: kill the producer in the middle of it.
      await cluster.waitFor(async () => (await admin.describeTopic('spool-kill')).nextOffset >= 40, { timeoutMs: 30_000, what: 'the spooled messages being resent', intervalMs: 5 });
      await first.kill('SIGKILL');
      const second = ManagedProcess.spawn({ args: [CHILD, CLIENT, brokers, dir, 'spool-kill', '0', '0', 'drain'], output: outputs[1]!, runTag: '#2', cwd: REPO_ROOT });
      children.push(second);
      await second.waitForLine('closed', 30_000);
      expect((await second.exited).code).toBe(0);
    } finally {
      admin.close();
      await Promise.all(children.map((c) => c.kill('SIGKILL')));
    }
    const firstOut = fs.readFileSync(outputs[0]!.filePath!, 'utf8');
    const resolved = [...firstOut.matchAll(/resolved (\d+) (spooled|acknowledged)/g)].map((m) => Number(m[1]));
    const pendingAtRestart = Number(/opened pending=(\d+)/.exec(fs.readFileSync(outputs[1]!.filePath!, 'utf8'))?.[1] ?? -1);
    console.log(`[producer-spool] first run resolved ${resolved.length} of ${total} before the kill; ${pendingAtRestart} still spooled at the restart`);
    expect(resolved.length).toBeGreaterThan(150);
    expect(pendingAtRestart).toBeGreaterThan(0);
    await cluster.converged();
    for (const id of cluster.ids) {
      const payloads = await fetchPayloads(cluster, id, 'spool-kill');
      const numbers = payloads.map((p) => Number(p.slice(2)));
      // Nothing twice, in send order (each later one has a larger number) ...
      for (let k = 1; k < numbers.length; k++) expect(numbers[k]!, `${id} offset ${k}`).toBeGreaterThan(numbers[k - 1]!);
      // ... and every message whose send() resolved (acknowledged or spooled) is there.
      const present = new Set(numbers);
      expect(resolved.filter((k) => !present.has(k)), id).toEqual([]);
    }
  }, 90_000);
});
