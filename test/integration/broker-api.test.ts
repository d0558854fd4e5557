import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  OutOfOrderSequenceError,
  UnknownProducerError,
  type BrokerMessage,
  type LogClient,
} from '../../src/client/index.js';
import { rejectionOf, startClusterForTest, type TestCluster } from '../harness/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const message = (payload: string, key = ''): BrokerMessage => ({ key: bytes(key), headers: [{ name: 'h', value: bytes('v') }], payload: bytes(payload), timestampMs: 1_700_000_000_000 });

/** Every payload of `topic` as the node `id` has applied it, in offset order. */
async function fetchAll(cluster: TestCluster, id: string, topic: string): Promise<string[]> {
  const client = cluster.nodeClient(id);
  const payloads: string[] = [];
  let offset = 0;
  for (let round = 0; round < 10_000; round++) {
    const result = await client.fetch(topic, offset, { bytesMax: 64 * 1024 });
    for (const m of result.messages) {
      expect(m.offset).toBe(payloads.length);
      payloads.push(text(m.payload));
    }
    if (result.messages.length === 0) return payloads;
    offset = result.nextOffset;
  }
  throw new Error('fetchAll did not finish');
}

function grpcCode(error: unknown): number | undefined {
  return ((error as { cause?: ServiceError }).cause)?.code;
}

describe('broker API on a real cluster', () => {
  it('topics, produce and fetch; every refusal is a clear typed error; plain records read as before', async () => {
    const cluster = await startClusterForTest({ label: 'broker-api' });
    await cluster.leader();
    const client: LogClient = cluster.client();
    await client.append([bytes('plain-1')]);

    await client.createTopic('orders');
    await client.createTopic('small', { messageBytesMax: 10 });
    expect((await client.listTopics()).map((t) => t.name)).toEqual(['orders', 'small']);
    expect(await client.describeTopic('small')).toEqual({ name: 'small', messageBytesMax: 10, nextOffset: 0 });

    const first = await client.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('a', 'k1'), message('b')] });
    expect(first).toEqual({ firstOffset: 0, count: 2, duplicate: false, logIndex: expect.any(Number), deliverAtMs: 0 });
    await client.append([bytes('plain-2')]);

    const producerId = await client.initProducer();
    expect(producerId).toBeGreaterThan(0);
    const batch = { topic: 'orders', producerId, firstSequence: 0, messages: [message('c'), message('d')] };
    expect(await client.produce(batch)).toEqual({ firstOffset: 2, count: 2, duplicate: false, logIndex: expect.any(Number), deliverAtMs: 0 });
    // The retry of a batch already written: its original offsets, nothing written twice.
    expect(await client.produce(batch)).toEqual({ firstOffset: 2, count: 2, duplicate: true, logIndex: 0, deliverAtMs: 0 });

    const gap = await rejectionOf(client.produce({ ...batch, firstSequence: 5 }));
    expect(gap).toBeInstanceOf(OutOfOrderSequenceError);
    expect(grpcCode(gap)).toBe(grpcStatus.FAILED_PRECONDITION);
    const never = await rejectionOf(client.produce({ ...batch, producerId: 999_999 }));
    expect(never).toBeInstanceOf(UnknownProducerError);
    expect((never as Error).message).toMatch(/never granted/);
    const exists = await rejectionOf(client.createTopic('orders'));
    expect(exists).toBeInstanceOf(AlreadyExistsError);
    expect(grpcCode(exists)).toBe(grpcStatus.ALREADY_EXISTS);
    for (const name of ['', 'has space', '..', 'x'.repeat(250), 'sl/ash']) {
      const bad = await rejectionOf(client.createTopic(name));
      expect(bad, name).toBeInstanceOf(InvalidArgumentError);
      expect(grpcCode(bad)).toBe(grpcStatus.INVALID_ARGUMENT);
    }
    const unknownTopic = await rejectionOf(client.produce({ topic: 'nope', producerId: 0, firstSequence: 0, messages: [message('x')] }));
    expect(unknownTopic).toBeInstanceOf(NotFoundError);
    expect((unknownTopic as Error).message).toMatch(/topic nope does not exist/);
    expect(await rejectionOf(client.describeTopic('nope'))).toBeInstanceOf(NotFoundError);
    expect(await rejectionOf(client.fetch('nope', 0))).toBeInstanceOf(NotFoundError);
    const oversize = await rejectionOf(client.produce({ topic: 'small', producerId: 0, firstSequence: 0, messages: [message('0123456789abc')] }));
    expect(oversize).toBeInstanceOf(InvalidArgumentError);
    expect((oversize as Error).message).toMatch(/at most 10/);

    // Nothing acknowledged was affected, on any node, and the plain log reads as before.
    await cluster.converged();
    for (const id of cluster.ids) {
      expect(await fetchAll(cluster, id, 'orders')).toEqual(['a', 'b', 'c', 'd']);
      const read = await cluster.nodeClient(id).read(1);
      expect(read.records.map((r) => text(r.payload))).toEqual(['plain-1', 'plain-2']);
    }
    const fetched = await client.fetch('orders', 0, { bytesMax: 1 });
    expect(fetched.messages.length).toBe(1);
    expect(fetched.messages[0]).toMatchObject({ offset: 0, timestampMs: 1_700_000_000_000 });
    expect(text(fetched.messages[0]?.key ?? new Uint8Array(0))).toBe('k1');
    expect(fetched.messages[0]?.headers.map((h) => [h.name, text(h.value)])).toEqual([['h', 'v']]);
    expect(fetched).toMatchObject({ nextOffset: 1, endOffset: 4 });

    await client.deleteTopic('small');
    expect(await rejectionOf(client.deleteTopic('small'))).toBeInstanceOf(NotFoundError);

    // Restart everything: the broker state is rebuilt from the log, dedupe included.
    for (const id of cluster.ids) await cluster.kill(id);
    for (const id of cluster.ids) await cluster.restart(id);
    await cluster.leader();
    expect(await client.produce(batch)).toEqual({ firstOffset: 2, count: 2, duplicate: true, logIndex: 0, deliverAtMs: 0 });
    expect(await client.produce({ ...batch, firstSequence: 2, messages: [message('e')] })).toEqual({ firstOffset: 4, count: 1, duplicate: false, logIndex: expect.any(Number), deliverAtMs: 0 });
    await cluster.converged();
    for (const id of cluster.ids) {
      expect(await fetchAll(cluster, id, 'orders')).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect((await cluster.nodeClient(id).listTopics()).map((t) => t.name)).toEqual(['orders']);
    }
  }, 60_000);
});
