import { afterEach, describe, expect, it } from 'vitest';

import { InvalidArgumentError, LogClient, Producer } from '../../src/client/index.js';
import type { ClientServer } from '../../src/transport/index.js';
import { InProcessBroker, serve } from '../broker/in-process-broker.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

function producer(address: string, options: { readonly lingerMs?: number } = {}): Producer {
  const p = new Producer({ brokers: [address], lingerMs: options.lingerMs ?? 0, retryBackoff: { initialMs: 1, maxMs: 20 }, requestTimeoutMs: 2_000 });
  producers.push(p);
  return p;
}

/** The outcome of a send as a word, so a test can compare several at once. */
const outcome = (send: Promise<unknown>): Promise<string> =>
  send.then(
    () => 'acknowledged',
    (error: unknown) => (error instanceof Error ? error.name : String(error)),
  );

describe('Producer: messages that cannot be sent (in process)', () => {
  it("a message over the client's gRPC limit is refused at once with InvalidArgumentError, and the topic's later sends go through", async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const p = producer(address);
    const huge = p.send('t', { payload: 'x'.repeat(20 << 20) });
    await expect(huge).rejects.toThrow(InvalidArgumentError);
    await expect(huge).rejects.toThrow(/bytes/);
    await expect(p.send('t', { payload: 'after' })).resolves.toMatchObject({ status: 'acknowledged', offset: 0 });
    expect(broker.written.get('t')).toEqual(['after']);
  });

  it("a message over the node's gRPC limit (below the client's) fails alone; the sends around it are acknowledged", async () => {
    const broker = new InProcessBroker();
    // serve() gives the node a 1 MiB gRPC limit; the client's is 16 MiB.
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const p = producer(address, { lingerMs: 5 });
    const sends = [p.send('t', { payload: 'a' }), p.send('t', { payload: 'y'.repeat(2 << 20) }), p.send('t', { payload: 'b' })];
    expect(await Promise.all(sends.map(outcome))).toEqual(['acknowledged', 'InvalidArgumentError', 'acknowledged']);
    await expect(p.send('t', { payload: 'c' })).resolves.toMatchObject({ status: 'acknowledged' });
    expect(broker.written.get('t')).toEqual(['a', 'b', 'c']);
  });

  it("a message over the topic's own limit fails alone (the broker's refusal is final for it); the others are acknowledged", async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const p = producer(address, { lingerMs: 5 });
    const sends = [p.send('t', { payload: 'a' }), p.send('t', { payload: 'z'.repeat(2000) }), p.send('t', { payload: 'b' })];
    expect(await Promise.all(sends.map(outcome))).toEqual(['acknowledged', 'InvalidArgumentError', 'acknowledged']);
    expect(broker.written.get('t')).toEqual(['a', 'b']);
  });

  it("a produce request over the client's gRPC limit fails alone, without breaking the stream the others share", async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    const client = new LogClient({ brokers: [address], timeoutMs: 2_000 });
    try {
      const message = (payload: string) => ({ key: new Uint8Array(0), headers: [], payload: new TextEncoder().encode(payload), timestampMs: 1 });
      const small = (text: string) => client.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: [message(text)] });
      const results = await Promise.all([small('a'), client.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: [message('x'.repeat(17 << 20))] }), small('b')].map(outcome));
      expect(results).toEqual(['acknowledged', 'InvalidArgumentError', 'acknowledged']);
    } finally {
      client.close();
    }
  });
});
