import { afterEach, describe, expect, it, vi } from 'vitest';

import { Producer } from '../../src/client/index.js';
import type { ClientServer } from '../../src/transport/index.js';
import { InProcessBroker, serve } from '../broker/in-process-broker.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

/** Resolves with the send's result, or 'waiting' if it has not settled once `turns` rounds of I/O have passed. */
async function settledWithin<T>(send: Promise<T>, turns: number): Promise<T | 'waiting'> {
  let result: T | 'waiting' = 'waiting';
  void send.then((value) => (result = value));
  // Bounded: `turns` passes of the event loop (I/O included), no timer involved.
  for (let k = 0; k < turns && result === 'waiting'; k++) await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe('Producer linger (in process)', () => {
  it('with the default linger, a send to an idle topic goes at once: it never waits for a linger timer', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const p = new Producer({ brokers: [address], retryBackoff: { initialMs: 1, maxMs: 5 } });
    producers.push(p);
    // Warm up with real timers: the connection, the producer id and the topic's limit.
    expect((await p.send('t', { payload: 'warm' })).status).toBe('acknowledged');
    // From here no timer fires: a send that waits for its linger time never goes.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (let k = 0; k < 3; k++) {
      expect(await settledWithin(p.send('t', { payload: `one-by-one ${k}` }), 10_000)).toMatchObject({ status: 'acknowledged', offset: k + 1 });
    }
    vi.useRealTimers();
  });

  it('an explicit lingerMs is kept: a lone send waits for it, and sends made meanwhile share its batch', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const p = new Producer({ brokers: [address], lingerMs: 5, retryBackoff: { initialMs: 1, maxMs: 5 } });
    producers.push(p);
    expect((await p.send('t', { payload: 'warm' })).status).toBe('acknowledged');
    const before = p.stats().batchesSent;
    // The clock too: the producer compares a batch's age with lingerMs.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const first = p.send('t', { payload: 'a' });
    expect(await settledWithin(first, 200)).toBe('waiting');
    const second = p.send('t', { payload: 'b' });
    vi.advanceTimersByTime(5);
    vi.useRealTimers();
    expect(await Promise.all([first, second])).toMatchObject([{ offset: 1 }, { offset: 2 }]);
    expect(p.stats().batchesSent - before).toBe(1);
  });
});
