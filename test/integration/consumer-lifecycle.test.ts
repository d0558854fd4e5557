import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { Admin, Consumer, Producer } from '../../src/client/index.js';
import { ManagedProcess, OutputLog, REPO_ROOT, startClusterForTest, waitFor, withTimeout, type TestCluster } from '../harness/index.js';

const BREAK_CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'consumer-break.mjs');
const DOWN_CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'clients-cluster-down.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');

/** Retries that would dead-letter a message after three counted deliveries, none of them due during the test. */
const STRICT_GROUP = { maxRetries: 2, ackDeadlineMs: 60_000, retryDelaysMs: [60_000] } as const;

async function produceAll(cluster: TestCluster, topic: string, count: number): Promise<void> {
  const producer = new Producer({ brokers: cluster.brokers() });
  try {
    await Promise.all(Array.from({ length: count }, (_, k) => producer.send(topic, { payload: `m-${k}` })));
  } finally {
    await producer.close();
  }
}

/** The dead-letter topic's size (0 when it does not exist). */
async function deadLettered(admin: Admin, group: string): Promise<number> {
  const topics = await admin.listTopics();
  return topics.find((t) => t.name === `${group}.dlq`)?.nextOffset ?? 0;
}

describe('consumer lifecycle on a real cluster', () => {
  it('five clean closes after taking and acking one message each dead-letter nothing; what the application never saw keeps delivery 1', async () => {
    const cluster = await startClusterForTest({ label: 'consumer-close-unseen' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders');
      await produceAll(cluster, 'orders', 100);
      const acked: number[] = [];
      for (let round = 0; round < 5; round++) {
        const consumer = new Consumer({ brokers: cluster.brokers(), group: 'g', topic: 'orders', prefetch: 16, groupSettings: STRICT_GROUP });
        for await (const m of consumer) {
          expect(await m.ack()).toBe('acked');
          acked.push(m.offset);
          break;
        }
        await consumer.close();
      }
      expect(acked).toHaveLength(5);
      await waitFor(async () => (await admin.describeGroup('g')).inflight === 0, { timeoutMs: 10_000, what: 'every closed consumer released' });
      expect(await admin.describeGroup('g')).toMatchObject({ dead: 0, inflight: 0, lag: 95 });
      expect(await deadLettered(admin, 'g')).toBe(0);

      // Nothing the closed consumers held and never handed out was counted as a delivery.
      const last = new Consumer({ brokers: cluster.brokers(), group: 'g', topic: 'orders', prefetch: 16 });
      const deliveries = new Map<number, number>();
      for await (const m of last) {
        deliveries.set(m.offset, m.delivery);
        await m.ack();
        if (deliveries.size === 95) break;
      }
      await last.close();
      expect([...deliveries.values()].filter((d) => d !== 1)).toEqual([]);
      expect(await deadLettered(admin, 'g')).toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('a process that breaks out of `for await` (after `void m.ack()`) exits by itself; five such runs dead-letter nothing and lose no ack', async () => {
    const cluster = await startClusterForTest({ label: 'consumer-break-exit' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders');
      await produceAll(cluster, 'orders', 100);
      const taken: string[] = [];
      for (let run = 1; run <= 5; run++) {
        const output = new OutputLog(`break${run}`, path.join(cluster.dataRoot, 'logs', `break-${run}.out`));
        const proc = ManagedProcess.spawn({ args: [BREAK_CHILD, CLIENT, cluster.brokers().join(','), 'orders', 'g'], output, runTag: `#${run}`, cwd: REPO_ROOT });
        try {
          // Nothing stops it: it must end on its own once it has left the loop.
          const exit = await withTimeout(proc.exited, 20_000, `run ${run} to exit by itself`);
          expect(exit, output.tail().join('\n')).toMatchObject({ code: 0 });
        } finally {
          await proc.stop(2_000);
        }
        const lines = output.tail();
        expect(lines.some((l) => l.includes('unhandled'))).toBe(false);
        taken.push(...lines.filter((l) => /took \d+ \d+/.test(l)));
      }
      expect(taken).toHaveLength(5);
      await waitFor(async () => (await admin.describeGroup('g')).inflight === 0, { timeoutMs: 10_000, what: 'every run released what it held' });
      // Each run's ack reached the cluster before its process ended: close() waits for acks.
      expect(await admin.describeGroup('g')).toMatchObject({ dead: 0, inflight: 0, lag: 95 });
      expect(await deadLettered(admin, 'g')).toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('with the whole cluster down for longer than any timeout, a process holding a Producer and a Consumer stops on close() and exits', async () => {
    const cluster = await startClusterForTest({ label: 'clients-cluster-down' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('orders');
    await admin.close();
    const brokers = cluster.brokers();
    await cluster.stopAll({ keepData: true });
    const output = new OutputLog('down', path.join(cluster.dataRoot, 'logs', 'clients-down.out'));
    const proc = ManagedProcess.spawn({ args: [DOWN_CHILD, CLIENT, brokers.join(',')], output, runTag: '#1', cwd: REPO_ROOT });
    try {
      await proc.waitForLine('waiting', 20_000);
      proc.signal('SIGTERM');
      const exit = await withTimeout(proc.exited, 20_000, 'the process to exit after close()');
      expect(exit, output.render()).toMatchObject({ code: 0 });
    } finally {
      await proc.stop(2_000);
    }
    const lines = output.tail().join('\n');
    expect(lines).toMatch(/send rejected ClientClosedError: .*closed before it was acknowledged/);
    expect(lines).toMatch(/closed/);
    // The consumer never gave up on its own: it ended only because it was closed.
    expect(lines).not.toMatch(/consumer ended (?!cleanly)/);
    expect(lines).not.toMatch(/unhandled/);
  });
});
