import { describe, expect, it } from 'vitest';

import { Admin, Consumer, FailedPreconditionError, Producer, InvalidArgumentError, NotFoundError, type BrokerMessage, type ConsumedMessage } from '../../src/client/index.js';
import { sharedClusterForTests, startClusterForTest, type TestCluster, waitFor } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const message = (payload: string, headers: { name: string; value: string }[] = []): BrokerMessage => ({
  key: new Uint8Array(),
  headers: headers.map((h) => ({ name: h.name, value: bytes(h.value) })),
  payload: bytes(payload),
  timestampMs: Date.now(),
});
const header = (m: { headers: readonly { name: string; value: Uint8Array }[] }, name: string): string | undefined => {
  const h = m.headers.find((x) => x.name === name);
  return h === undefined ? undefined : text(h.value);
};

async function produce(cluster: TestCluster, topic: string, payloads: readonly string[]): Promise<void> {
  const client = cluster.client();
  for (let k = 0; k < payloads.length; k += 100) {
    await client.produce({ topic, producerId: 0, firstSequence: 0, messages: payloads.slice(k, k + 100).map((p) => message(p)) });
  }
}

/**
 * Takes `count` messages from the consumer (bounded by the test's timeout), leaving it
 * open for more: next() by hand, since leaving a for-await loop closes the consumer.
 */
async function take(consumer: Consumer, count: number): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  const messages = consumer[Symbol.asyncIterator]();
  while (out.length < count) {
    const next = await messages.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

describe('consumer groups on a real cluster', () => {
  /**
   * One cluster for the tests that neither kill a node nor count every group: each uses
   * topics and groups of its own names, so none sees another's, and a cluster start (three
   * node processes and an election) is paid once, not four times. Started by the first test
   * that asks; stopped after the last, its data kept and output printed if any test failed.
   */
  const sharedCluster = sharedClusterForTests({ label: 'groups-shared' });

  it('each group sees every message; within a group each goes to one consumer; acks move the committed offset', async () => {
    const cluster = await startClusterForTest({ label: 'groups-basic' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('orders');
    const payloads = Array.from({ length: 200 }, (_, k) => `o-${k}`);
    await produce(cluster, 'orders', payloads);

    const a1 = new Consumer({ brokers: cluster.brokers(), group: 'billing', topic: 'orders', prefetch: 16 });
    const a2 = new Consumer({ brokers: cluster.brokers(), group: 'billing', topic: 'orders', prefetch: 16 });
    const b = new Consumer({ brokers: cluster.brokers(), group: 'audit', topic: 'orders' });
    const seenA = new Map<string, number>();
    const seenB: string[] = [];
    const runA = (c: Consumer): Promise<void> =>
      c.run(async (m) => {
        seenA.set(text(m.payload), (seenA.get(text(m.payload)) ?? 0) + 1);
      }, { concurrency: 4 });
    const running = [runA(a1), runA(a2), b.run(async (m) => void seenB.push(text(m.payload)))];
    await waitFor(async () => (await admin.describeGroup('billing')).committedOffset === 200 && (await admin.describeGroup('audit')).committedOffset === 200, { timeoutMs: 20_000, what: 'both groups to ack everything' });
    await Promise.all([a1.close(), a2.close(), b.close()]);
    await Promise.all(running);

    expect([...seenA.keys()].sort()).toEqual([...payloads].sort());
    expect([...seenA.values()].every((n) => n === 1)).toBe(true);
    expect(seenB).toEqual(payloads); // one consumer, concurrency 1: in offset order
    const billing = await admin.describeGroup('billing');
    expect(billing).toMatchObject({ topic: 'orders', committedOffset: 200, nextOffset: 200, lag: 0, inflight: 0, deadLetterTopic: 'billing.dlq' });
    expect((await admin.listGroups()).map((g) => g.name)).toEqual(['audit', 'billing']);
    admin.close();
  });

  it('a message not acked within its deadline is redelivered with its delivery count; a late ack of the first delivery still counts', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('slow-jobs');
    await produce(cluster, 'slow-jobs', ['slow']);
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'w', topic: 'slow-jobs', groupSettings: { ackDeadlineMs: 500, retryDelaysMs: [100], retriesMax: 5 } });
    const [first] = await take(consumer, 1);
    expect(first?.delivery).toBe(1);
    const [second] = await take(consumer, 1);
    expect(second?.offset).toBe(first?.offset);
    expect(second?.id).toBe(first?.id);
    expect(second?.delivery).toBe(2);
    expect(second?.deadlineMs).toBeGreaterThan(first?.deadlineMs ?? Infinity);
    expect(await first?.ack()).toBe('acked');
    expect(await second?.ack()).toBe('alreadyAcked');
    // The same handle twice: the first ack's answer again; a nack after it is refused here.
    expect(await second?.ack()).toBe('alreadyAcked');
    await expect(second?.nack('too late')).rejects.toThrow(InvalidArgumentError);
    expect(await admin.describeGroup('w')).toMatchObject({ committedOffset: 1, lag: 0, inflight: 0, waiting: 0 });
    await consumer.close();
    admin.close();
  });

  it('a poison message reaches the dead-letter topic after exactly retriesMax + 1 deliveries, with its history in headers', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('jobs');
    await produce(cluster, 'jobs', ['fine', 'poison']);
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'workers', topic: 'jobs', groupSettings: { ackDeadlineMs: 5_000, retryDelaysMs: [100, 200], retriesMax: 3 } });
    const poisonDeliveries: number[] = [];
    const running = consumer.run(async (m) => {
      if (text(m.payload) !== 'poison') return;
      poisonDeliveries.push(m.delivery);
      throw new Error(`cannot parse it (try ${m.delivery})`);
    });
    const dlq = await waitFor(async () => {
      const topics = await admin.listTopics();
      return topics.find((t) => t.name === 'workers.dlq' && t.nextOffset === 1);
    }, { timeoutMs: 20_000, what: 'the poison message in workers.dlq' });
    expect(dlq.name).toBe('workers.dlq');
    await consumer.close();
    await running;
    expect(poisonDeliveries).toEqual([1, 2, 3, 4]);
    // The fetch may go to a follower, which serves what it has applied.
    await cluster.converged();
    const [copy] = (await cluster.client().fetch('workers.dlq', 0)).messages;
    expect(copy === undefined ? null : text(copy.payload)).toBe('poison');
    expect(copy && header(copy, 'quorumlog-dlq-group')).toBe('workers');
    expect(copy && header(copy, 'quorumlog-dlq-topic')).toBe('jobs');
    expect(copy && header(copy, 'quorumlog-dlq-offset')).toBe('1');
    expect(copy && header(copy, 'quorumlog-dlq-deliveries')).toBe('4');
    expect(copy && header(copy, 'quorumlog-dlq-last-error')).toBe('cannot parse it (try 4)');
    expect(await admin.describeGroup('workers')).toMatchObject({ committedOffset: 2, lag: 0, dead: 0, waiting: 0, inflight: 0 });
    admin.close();
  });

  it('a delayed message is invisible until its delivery time, then gets its offset', async () => {
    const cluster = await sharedCluster();
    const client = cluster.client();
    await client.createTopic('later');
    const deliverAtMs = Date.now() + 1_500;
    const result = await client.produce({ topic: 'later', producerId: 0, firstSequence: 0, messages: [message('tick', [{ name: 'quorumlog-deliver-at-ms', value: String(deliverAtMs) }])] });
    expect(result.deliverAtMs).toBe(deliverAtMs);
    expect((await client.fetch('later', 0)).messages).toEqual([]);
    expect((await client.describeTopic('later')).nextOffset).toBe(0);
    await waitFor(async () => (await client.describeTopic('later')).nextOffset === 1, { timeoutMs: 10_000, what: 'the delayed message to become visible' });
    expect(Date.now()).toBeGreaterThanOrEqual(deliverAtMs - 50); // the leader's clock is this host's
    // n1 may be a follower: it serves what it has applied, and learns the new commit index
    // with the leader's next append or tick, so it is given a moment.
    await waitFor(async () => (await fetchPayloads(cluster, 'n1', 'later')).length > 0, { timeoutMs: 5_000, what: 'n1 to apply the delayed message' });
    expect(await fetchPayloads(cluster, 'n1', 'later')).toEqual(['tick']);

    // Through the Producer, mixed with immediate messages, and seen by a consumer group only when due.
    const producer = new Producer({ brokers: cluster.brokers() });
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'due', topic: 'later' });
    const dueMs = Date.now() + 1_200;
    const sent = await Promise.all([
      producer.send('later', { payload: 'now-1' }),
      producer.send('later', { payload: 'later-1', deliverAtMs: dueMs }),
      producer.send('later', { payload: 'now-2' }),
    ]);
    expect(sent.map((r) => r.status)).toEqual(['acknowledged', 'scheduled', 'acknowledged']);
    const got = await take(consumer, 4);
    expect(got.map((m) => text(m.payload))).toEqual(['tick', 'now-1', 'now-2', 'later-1']);
    expect(Date.now()).toBeGreaterThanOrEqual(dueMs - 50);
    await Promise.all(got.map((m) => m.ack()));
    await consumer.close();
    await producer.close();
  });

  it('a delayed message and a scheduled redelivery survive the leader being killed -9: the new leader delivers both when due', async () => {
    const cluster = await startClusterForTest({ label: 'groups-failover' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('t');
    const producer = new Producer({ brokers: cluster.brokers() });
    expect((await producer.send('t', { payload: 'first' })).status).toBe('acknowledged');
    const dueMs = Date.now() + 3_000;
    expect((await producer.send('t', { payload: 'delayed', deliverAtMs: dueMs })).status).toBe('scheduled');
    await producer.close();
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'g', topic: 't', retryBackoff: { initialMs: 20, maxMs: 200 } });
    const [first] = await take(consumer, 1);
    expect(first === undefined ? null : text(first.payload)).toBe('first');
    await first?.nack('try later', { delayMs: 1_500 });
    const nackedAt = Date.now();
    const leader = await cluster.leader();
    await cluster.kill(leader);
    await cluster.leader({ exclude: [leader], timeoutMs: 20_000 });
    const got = await take(consumer, 2);
    expect(got.map((m) => `${text(m.payload)}#${m.delivery}`)).toEqual(['first#2', 'delayed#1']);
    expect(Date.now()).toBeGreaterThanOrEqual(Math.min(nackedAt + 1_450, dueMs - 50));
    await Promise.all(got.map((m) => m.ack()));
    await cluster.waitFor(async () => (await admin.describeGroup('g')).committedOffset === 2, { timeoutMs: 10_000, what: 'both acked' });
    await consumer.close();
    admin.close();
  });

  it('bad input gets clear errors and changes nothing', async () => {
    const cluster = await sharedCluster();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('t');
    await admin.createTopic('other');
    await produce(cluster, 't', ['a', 'b']);
    await expect(admin.createGroup('g', 'missing')).rejects.toThrow(NotFoundError);
    await admin.createGroup('g', 't');
    await expect(admin.createGroup('g', 't')).rejects.toThrow(/already exists/);
    const consumer = new Consumer({ brokers: cluster.brokers(), group: 'g', topic: 't' });
    const [m] = await take(consumer, 1);
    const before = await admin.describeGroup('g');
    const calls = admin.groupCalls;
    expect(await calls.ack('g', [99])).toEqual(['notDelivered']);
    await expect(calls.ack('nope', [0])).rejects.toThrow(NotFoundError);
    await expect(calls.nack('nope', 0, 1, 'x')).rejects.toThrow(NotFoundError);
    await expect(calls.nack('g', m?.offset ?? 0, 7, 'stale')).rejects.toThrow(FailedPreconditionError);
    await expect(calls.nack('g', m?.offset ?? 0, 1, 'x', -5)).rejects.toThrow(InvalidArgumentError);
    await expect(calls.extend('g', m?.offset ?? 0, 1, 0)).rejects.toThrow(InvalidArgumentError);
    // The server's own check, past the client library's.
    const c = cluster.client();
    const nack = { operation: 'nack', delivery: 'once', path: '/quorumlog.client.Client/Nack', serialize: c.codec.groups.nackRequest.serialize, deserialize: c.codec.groups.nackResponse.deserialize } as const;
    await expect(c.unaryCall(nack, { group: 'g', offset: m?.offset ?? 0, delivery: 1, reason: 'x', delayMs: -5 })).rejects.toThrow(/nack delay must be/);
    const wrongTopic = new Consumer({ brokers: cluster.brokers(), group: 'g', topic: 'other' });
    await expect(take(wrongTopic, 1)).rejects.toThrow(FailedPreconditionError);
    await wrongTopic.close();
    expect(await admin.describeGroup('g')).toEqual(before);
    expect(await m?.ack()).toBe('acked');
    expect(await calls.ack('g', [m?.offset ?? 0])).toEqual(['alreadyAcked']);
    await consumer.close();
    admin.close();
  });
});
