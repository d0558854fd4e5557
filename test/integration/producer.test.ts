import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Admin, InvalidArgumentError, NotFoundError, Producer, type ProducerOptions, type SendResult } from '../../src/client/index.js';
import { TestCluster, testFailed } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

describe('Producer on a real cluster', () => {
  let cluster: TestCluster;
  let failed = false;
  const producers: Producer[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ label: 'producer' });
    await cluster.leader();
  });
  afterEach((context) => {
    if (testFailed(context.task)) failed = true;
  });
  afterAll(async () => {
    await Promise.allSettled(producers.map((p) => p.close()));
    await cluster?.stopAll({ keepData: failed });
    if (failed && cluster !== undefined) console.log(`[harness] data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
  });

  function producer(options: Partial<ProducerOptions> = {}): Producer {
    const p = new Producer({ brokers: cluster.brokers(), retryBackoff: { initialMs: 20, maxMs: 500 }, ...options });
    producers.push(p);
    return p;
  }

  it('batches concurrent sends; each message gets its offset, in send order per topic, on every node', async () => {
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('basic-a');
    await admin.createTopic('basic-b');
    const p = producer({ lingerMs: 2, batchBytesMax: 4096 });
    const sends: Promise<SendResult>[] = [];
    for (let k = 0; k < 1000; k++) {
      sends.push(p.send('basic-a', { payload: `a-${k}`, key: `k${k % 7}` }));
      sends.push(p.send('basic-b', { payload: `b-${k}`, headers: [{ name: 'n', value: String(k) }] }));
    }
    const offsets = await Promise.all(sends);
    expect(offsets.filter((_, i) => i % 2 === 0).map((o) => o.offset)).toEqual([...Array(1000).keys()]);
    expect(offsets.filter((_, i) => i % 2 === 1).map((o) => o.offset)).toEqual([...Array(1000).keys()]);
    await p.flush();
    expect(p.producerId).toBeGreaterThan(0);
    expect((await admin.describeTopic('basic-a')).nextOffset).toBe(1000);
    await cluster.converged();
    for (const id of cluster.ids) {
      expect(await fetchPayloads(cluster, id, 'basic-a')).toEqual([...Array(1000).keys()].map((k) => `a-${k}`));
      expect(await fetchPayloads(cluster, id, 'basic-b')).toEqual([...Array(1000).keys()].map((k) => `b-${k}`));
    }
    admin.close();
  }, 30_000);

  it('bad input fails the message clearly and leaves the rest alone; idempotent acks leader is refused', async () => {
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('bad-in', { messageBytesMax: 100 });
    const p = producer();
    const good1 = p.send('bad-in', { payload: 'ok-1' });
    // Handlers attached at once: the refusals may come before the test looks at them.
    const big = p.send('bad-in', { payload: 'x'.repeat(101) }).catch((error: unknown) => error);
    const nowhere = p.send('no-such-topic', { payload: 'lost' }).catch((error: unknown) => error);
    const good2 = p.send('bad-in', { payload: 'ok-2' });
    expect(await big).toBeInstanceOf(InvalidArgumentError);
    expect(String(await big)).toMatch(/at most 100/);
    expect(await nowhere).toBeInstanceOf(NotFoundError);
    expect(String(await nowhere)).toMatch(/topic no-such-topic does not exist/);
    // Whether the good ones shared the bad one's batch or not, they are written exactly once.
    const offsets = [(await good1).offset, (await good2).offset];
    await p.flush();
    const payloads = await fetchPayloads(cluster, await cluster.leader(), 'bad-in');
    expect(payloads.filter((x) => x.startsWith('ok-')).sort()).toEqual(['ok-1', 'ok-2']);
    expect(offsets.map((o) => payloads[o ?? -1])).toEqual(['ok-1', 'ok-2']);
    expect(() => new Producer({ brokers: cluster.brokers(), acks: 'leader', idempotence: true })).toThrow(/cannot be idempotent/);
    expect(() => new Producer({ brokers: cluster.brokers(), inFlightPerTopicMax: 6 })).toThrow(/at most 5/);
    admin.close();
  }, 30_000);

  it('a lost answer is retried: with idempotence the retry is answered with the original offsets; without it, the message is written twice', async () => {
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('retry-idem');
    await admin.createTopic('retry-plain');
    // Drop the first answer of every batch: the broker wrote it, the producer must retry.
    const dropFirst = { dropAnswer: ({ attempt }: { attempt: number }) => attempt === 1 };
    const idem = producer({ testHooks: dropFirst, lingerMs: 1, batchBytesMax: 64 });
    const plain = producer({ testHooks: dropFirst, lingerMs: 1, batchBytesMax: 64, idempotence: false });
    const count = 50;
    const idemOffsets = await Promise.all([...Array(count).keys()].map((k) => idem.send('retry-idem', { payload: `m-${k}` })));
    await Promise.all([...Array(count).keys()].map((k) => plain.send('retry-plain', { payload: `m-${k}` })));
    const leader = await cluster.leader();
    const idemPayloads = await fetchPayloads(cluster, leader, 'retry-idem');
    expect(idemPayloads).toEqual([...Array(count).keys()].map((k) => `m-${k}`));
    expect(idemOffsets.map((o) => o.offset)).toEqual([...Array(count).keys()]);
    const plainPayloads = await fetchPayloads(cluster, leader, 'retry-plain');
    // Every batch was written once per attempt: each message is there twice.
    expect(plainPayloads.length).toBe(2 * count);
    expect(new Set(plainPayloads).size).toBe(count);
    admin.close();
  }, 30_000);
});
