import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { Admin, Consumer, Producer } from '../../src/client/index.js';
import { NodeProcess, OutputLog, REPO_ROOT, sharedClusterForTests, startClusterForTest, type TestCluster, waitFor, withTimeout } from '../harness/index.js';

const BREAK_CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'consumer-break.mjs');
const DOWN_CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'clients-cluster-down.mjs');
const LOAD_CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'consumer-break-under-load.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');

/** What a close() may take beyond its deadline to close connections: far below any client's retry loop or timeout here. */
const CLOSE_ALLOWANCE_MS = 1_500;

/** More than any run prints: OutputLog keeps the last 200 lines in memory. */
const TAIL_ALL = 200;

/** Retries that would dead-letter a message after three counted deliveries, none of them due during the test. */
const STRICT_GROUP = { retriesMax: 2, ackDeadlineMs: 60_000, retryDelaysMs: [60_000] } as const;

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
  /**
   * One cluster for the three tests that leave it running: each uses a topic and a group of
   * its own, so none sees another's messages or offsets, and a cluster start (three node
   * processes and an election) is paid once, not three times. Started by the first test that
   * asks; stopped after the last, its data kept and output printed if any test failed.
   */
  const sharedCluster = sharedClusterForTests({ label: 'consumer-lifecycle' });

  it('five clean closes after taking and acking one message each dead-letter nothing; what the application never saw keeps delivery 1', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders-close');
      await produceAll(cluster, 'orders-close', 100);
      const acked: number[] = [];
      for (let round = 0; round < 5; round++) {
        const consumer = new Consumer({ brokers: cluster.brokers(), group: 'close-g', topic: 'orders-close', prefetch: 16, groupSettings: STRICT_GROUP });
        for await (const m of consumer) {
          expect(await m.ack()).toBe('acked');
          acked.push(m.offset);
          break;
        }
        await consumer.close();
      }
      expect(acked).toHaveLength(5);
      await waitFor(async () => (await admin.describeGroup('close-g')).inflight === 0, { timeoutMs: 10_000, what: 'every closed consumer released' });
      expect(await admin.describeGroup('close-g')).toMatchObject({ dead: 0, inflight: 0, lag: 95 });
      expect(await deadLettered(admin, 'close-g')).toBe(0);

      // Nothing the closed consumers held and never handed out was counted as a delivery.
      const last = new Consumer({ brokers: cluster.brokers(), group: 'close-g', topic: 'orders-close', prefetch: 16 });
      const deliveries = new Map<number, number>();
      for await (const m of last) {
        deliveries.set(m.offset, m.delivery);
        await m.ack();
        if (deliveries.size === 95) break;
      }
      await last.close();
      expect([...deliveries.values()].filter((d) => d !== 1)).toEqual([]);
      expect(await deadLettered(admin, 'close-g')).toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('a process that breaks out of `for await` (after `void m.ack()`) exits by itself; five such runs dead-letter nothing and lose no ack', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders-break');
      await produceAll(cluster, 'orders-break', 100);
      const taken: string[] = [];
      for (let run = 1; run <= 5; run++) {
        const output = new OutputLog(`break${run}`, path.join(cluster.dataRoot, 'logs', `break-${run}.out`));
        const proc = NodeProcess.spawn({ args: [BREAK_CHILD, CLIENT, cluster.brokers().join(','), 'orders-break', 'break-g'], output, runTag: `#${run}`, cwd: REPO_ROOT });
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
      await waitFor(async () => (await admin.describeGroup('break-g')).inflight === 0, { timeoutMs: 10_000, what: 'every run released what it held' });
      // Each run's ack reached the cluster before its process ended: close() waits for acks.
      expect(await admin.describeGroup('break-g')).toMatchObject({ dead: 0, inflight: 0, lag: 95 });
      expect(await deadLettered(admin, 'break-g')).toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('breaking out and closing while a producer writes to the topic loses no acknowledged message, dead-letters nothing unseen, and the process exits', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders-load');
      const acked = new Set<number>();
      let acknowledgedCount = 0;
      for (let run = 1; run <= 2; run++) {
        const output = new OutputLog(`load${run}`, path.join(cluster.dataRoot, 'logs', `load-${run}.out`));
        const proc = NodeProcess.spawn({ args: [LOAD_CHILD, CLIENT, cluster.brokers().join(','), 'orders-load', 'load-g', '20'], output, runTag: `#${run}`, cwd: REPO_ROOT });
        try {
          const exit = await withTimeout(proc.exited, 60_000, `run ${run} to exit by itself`);
          expect(exit, output.render()).toMatchObject({ code: 0 });
        } finally {
          await proc.stop(2_000);
        }
        const lines = output.tail(TAIL_ALL);
        expect(lines.filter((l) => /unhandled|failed/.test(l)), output.render()).toEqual([]);
        // The producer was still writing when the consumer broke out (64 more after its close).
        const took = lines.flatMap((l) => /\] took (\d+) (\d+)$/.exec(l)?.slice(1) ?? []).map(Number);
        const taken = took.filter((_, k) => k % 2 === 0);
        // Whatever the application saw was a first delivery: nothing a close released was counted.
        expect(took.filter((_, k) => k % 2 === 1).every((d) => d === 1), output.render()).toBe(true);
        expect(taken).toHaveLength(20);
        for (const offset of taken) acked.add(offset);
        const summary = lines.map((l) => /\] acknowledged (\d+) (\d+) (\d+) distinct (\d+)$/.exec(l)).find((m) => m !== null);
        expect(summary, output.render()).toBeDefined();
        const [count, first, last, distinct] = (summary ?? []).slice(1).map(Number);
        // Offsets are dense per topic and this run's producer was the only writer.
        expect({ first, last, distinct }).toEqual({ first: acknowledgedCount, last: acknowledgedCount + (count ?? 0) - 1, distinct: count });
        acknowledgedCount += count ?? 0;
      }
      expect(await deadLettered(admin, 'load-g')).toBe(0);
      expect(await admin.describeGroup('load-g')).toMatchObject({ dead: 0 });

      // Every acknowledged message the runs did not ack is still delivered, as a first delivery.
      const expected = acknowledgedCount - acked.size;
      const drained = new Map<number, number>();
      const last = new Consumer({ brokers: cluster.brokers(), group: 'load-g', topic: 'orders-load', prefetch: 64 });
      try {
        await withTimeout(
          (async () => {
            for await (const m of last) {
              drained.set(m.offset, m.delivery);
              await m.ack();
              if (drained.size >= expected) break;
            }
          })(),
          60_000,
          `the group to deliver the ${expected} acknowledged messages the runs did not ack`,
        );
      } finally {
        await last.close({ timeoutMs: 5_000 });
      }
      const missing = Array.from({ length: acknowledgedCount }, (_, offset) => offset).filter((offset) => !acked.has(offset) && !drained.has(offset));
      expect(missing).toEqual([]);
      expect([...drained].filter(([, delivery]) => delivery !== 1)).toEqual([]);
      expect(await deadLettered(admin, 'load-g')).toBe(0);
      expect(await admin.describeGroup('load-g')).toMatchObject({ dead: 0, lag: 0 });
    } finally {
      await admin.close();
    }
  });

  it('with the whole cluster down for longer than any timeout, a process holding a Producer, a Consumer and a TransactionProducer stops on close() within its deadlines and exits', async () => {
    const cluster = await startClusterForTest({ label: 'clients-cluster-down' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('orders');
    await admin.close();
    const brokers = cluster.brokers();
    await cluster.stopAll({ keepData: true });
    const output = new OutputLog('down', path.join(cluster.dataRoot, 'logs', 'clients-down.out'));
    const proc = NodeProcess.spawn({ args: [DOWN_CHILD, CLIENT, brokers.join(',')], output, runTag: '#1', cwd: REPO_ROOT });
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
    expect(lines).toMatch(/transaction rejected UnavailableError: .*within 300 ms/);
    // Each close() kept to its 500 ms deadline, give or take closing the connections: none
    // waited for a retry loop or a timeout of its own.
    for (const name of ['producer', 'consumer', 'transaction producer']) {
      const ms = new RegExp(`\\] ${name} closed in (\\d+) ms`).exec(lines)?.[1];
      expect(ms, `${name}\n${lines}`).toBeDefined();
      expect(Number(ms), name).toBeLessThan(500 + CLOSE_ALLOWANCE_MS);
    }
    expect(lines).toMatch(/\] closed$/m);
    // The consumer never gave up on its own: it ended only because it was closed.
    expect(lines).not.toMatch(/consumer ended (?!cleanly)/);
    expect(lines).not.toMatch(/unhandled/);
  });
});
