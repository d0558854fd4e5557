import { afterEach, describe, expect, it } from 'vitest';

import { Producer, ProducerIdChangedError } from '../../src/client/index.js';
import type { ClientServer } from '../../src/transport/index.js';
import { InProcessBroker, serve as serveOn } from '../broker/in-process-broker.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

const serve = (broker: InProcessBroker): Promise<string> => serveOn(broker, servers);

function producer(address: string): Producer {
  const p = new Producer({ brokers: [address], lingerMs: 0, batchMessagesMax: 4, retryBackoff: { initialMs: 1, maxMs: 5 }, requestTimeoutMs: 2_000 });
  producers.push(p);
  return p;
}

const texts = (n: number, prefix = 'm'): string[] => [...Array(n).keys()].map((k) => `${prefix}-${k}`);

describe('Producer recovery against the real broker state machine (in process)', () => {
  it('a batch lost before its write makes the later ones out of order; they are resent in order, each written once', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const lost = new Set<number>();
    broker.fault = (request) => {
      // The first attempt of the second batch never reaches the state machine.
      if (request.firstSequence === 4 && !lost.has(4)) {
        lost.add(4);
        return 'failBeforeWrite';
      }
      return 'none';
    };
    const p = producer(address);
    const offsets = await Promise.all(texts(40).map((payload) => p.send('t', { payload })));
    expect(offsets.map((o) => o.offset)).toEqual([...Array(40).keys()]);
    expect(broker.state.topic('t')?.nextOffset).toBe(40);
    expect(p.stats().retries).toBeGreaterThan(0);
  });

  it('answers lost after the write are retried and answered as duplicates: nothing twice', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const seen = new Set<number>();
    broker.fault = (request) => {
      if (seen.has(request.firstSequence)) return 'none';
      seen.add(request.firstSequence);
      return request.firstSequence % 8 === 0 ? 'dropAfterWrite' : 'none';
    };
    const p = producer(address);
    const offsets = await Promise.all(texts(40).map((payload) => p.send('t', { payload })));
    expect(offsets.map((o) => o.offset)).toEqual([...Array(40).keys()]);
    expect(broker.state.topic('t')?.nextOffset).toBe(40);
    expect(p.stats().duplicateAnswers).toBeGreaterThan(0);
  });

  it('an expired producer id: batches never written go again under a new id; one that may have been written fails with ProducerIdChangedError', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const p = producer(address);
    await Promise.all(texts(8, 'a').map((payload) => p.send('t', { payload })));
    const firstId = p.producerId;
    // Idle past the expiry (by the leaders' clock in the log): the id is forgotten.
    broker.nowMs += 61_000;
    const afterExpiry = await Promise.all(texts(8, 'b').map((payload) => p.send('t', { payload })));
    expect(afterExpiry.map((o) => o.offset)).toEqual([...Array(8).keys()].map((k) => 8 + k));
    expect(p.producerId).not.toBe(firstId);
    expect(p.stats().producerIdChanges).toBe(1);

    // Now a batch whose answer was lost (it was written) when the id expires: it cannot be resent safely.
    let dropped = false;
    broker.fault = () => {
      if (dropped) return 'none';
      dropped = true;
      // Written now, answer lost, and then the id expires before the retry.
      queueMicrotask(() => (broker.nowMs += 61_000));
      return 'dropAfterWrite';
    };
    const results = await Promise.allSettled(texts(4, 'c').map((payload) => p.send('t', { payload })));
    for (const r of results) expect(r.status === 'rejected' ? r.reason : r.value).toBeInstanceOf(ProducerIdChangedError);
    expect(broker.state.topic('t')?.nextOffset).toBe(20);
    // And the producer goes on under yet another id.
    expect((await p.send('t', { payload: 'd' })).offset).toBe(20);
  });
});
