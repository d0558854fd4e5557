import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { AbortedError, Admin, ClientClosedError, Consumer, LogClient, Producer, TransactionProducer } from '../../src/client/index.js';
import { ephemeralPort, withTimeout } from '../harness/index.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((close) => close()));
});

/** An address where nothing listens: every call waits for a broker that never comes. */
async function nowhere(): Promise<string> {
  return `127.0.0.1:${await ephemeralPort()}`;
}

/**
 * An address that takes connections and never answers, as a stopped (SIGSTOP) broker looks
 * from the client: calls wait for their connect timeout and deadlines instead of failing fast.
 */
async function silent(): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pause();
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `127.0.0.1:${address.port}`;
}

/** A listener for transaction producers whose local work always commits. */
const COMMIT = { executeLocal: () => 'commit' as const, check: () => 'commit' as const };

/** The error a promise rejects with, within a deadline (a hang fails the test with a clear line). */
async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  return withTimeout(
    promise.then(
      () => 'resolved',
      (error: unknown) => error,
    ),
    5_000,
    what,
  );
}

describe('calls that wait can be aborted, and every client can be stopped', () => {
  it('a producer pointed at a wrong address is stopped by close({ timeoutMs }): the pending send rejects with ClientClosedError', async () => {
    const p = new Producer({ brokers: [await nowhere()] });
    closers.push(() => p.close({ timeoutMs: 0 }));
    const pending = p.send('t', { payload: 'never' });
    await withTimeout(p.close({ timeoutMs: 200 }), 5_000, 'close() with a deadline');
    const error = await rejection(pending, 'the pending send');
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(String(error)).toMatch(/closed before it was acknowledged/);
  });

  it('send(..., { signal }) rejects with AbortedError when aborted, and a message not yet sent is taken out', async () => {
    const p = new Producer({ brokers: [await nowhere()] });
    closers.push(() => p.close({ timeoutMs: 0 }));
    const abort = new AbortController();
    const pending = p.send('t', { payload: 'x' }, { signal: abort.signal });
    abort.abort();
    const error = await rejection(pending, 'the aborted send');
    expect(error).toBeInstanceOf(AbortedError);
    // Nothing is left to wait for: close() without a deadline returns at once.
    await withTimeout(p.close(), 5_000, 'close() after the abort');
    // An already aborted signal refuses at once.
    const q = new Producer({ brokers: [await nowhere()] });
    closers.push(() => q.close({ timeoutMs: 0 }));
    expect(await rejection(q.send('t', { payload: 'x' }, { signal: AbortSignal.abort() }), 'a send with an aborted signal')).toBeInstanceOf(AbortedError);
  });

  it('append, read and Admin calls take a signal and reject with AbortedError when it aborts', async () => {
    const address = await nowhere();
    const client = new LogClient({ brokers: [address], timeoutMs: 60_000 });
    const admin = new Admin({ brokers: [address], timeoutMs: 60_000 });
    closers.push(() => client.close(), () => admin.close());
    const abort = new AbortController();
    const calls = [
      client.append(new Uint8Array([1]), { signal: abort.signal }),
      client.read(1, { signal: abort.signal }),
      admin.listTopics({ signal: abort.signal }),
      admin.createTopic('t', { signal: abort.signal }),
      admin.describeGroup('g', { signal: abort.signal }),
    ];
    abort.abort();
    for (const [k, call] of calls.entries()) {
      const error = await rejection(call, `call ${k}`);
      expect(error, `call ${k}`).toBeInstanceOf(AbortedError);
    }
  });

  it('status, statusAll and transfer take a signal and reject with AbortedError when it aborts', async () => {
    const address = await silent();
    const client = new LogClient({ brokers: [address], timeoutMs: 60_000 });
    closers.push(() => client.close());
    const abort = new AbortController();
    const calls = [client.status({ signal: abort.signal }), client.status(address, { signal: abort.signal }), client.statusAll({ signal: abort.signal }), client.transfer('n2', { signal: abort.signal })];
    abort.abort();
    for (const [k, call] of calls.entries()) {
      const error = await rejection(call, `call ${k}`);
      expect(error, `call ${k}`).toBeInstanceOf(AbortedError);
    }
    expect(await rejection(client.statusAll({ signal: AbortSignal.abort() }), 'statusAll with an aborted signal')).toBeInstanceOf(AbortedError);
  });

  it('LogClient.close() ends every call still waiting to connect, not only the first, with ClientClosedError', async () => {
    // Connect attempts that would outlast the test: only close() can end these waits.
    const client = new LogClient({ brokers: [await silent()], timeoutMs: 60_000, connectTimeoutMs: 60_000 });
    closers.push(() => client.close());
    const waiting = [client.status(), client.listTopics(), client.read(1)].map((call, k) => rejection(call, `call ${k}`));
    // Every call is waiting on the connection before close() (a call first checks the client is open).
    await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    for (const [k, error] of (await Promise.all(waiting)).entries()) expect(error, `call ${k}`).toBeInstanceOf(ClientClosedError);
  });

  it('TransactionProducer.sendInTransaction(..., { signal }) rejects with AbortedError while the half waits for a broker', async () => {
    const executed: string[] = [];
    const producer = new TransactionProducer({
      brokers: [await silent()],
      producerGroup: 'g',
      listener: { ...COMMIT, executeLocal: (m) => (executed.push(m.txId), 'commit') },
      requestTimeoutMs: 60_000,
    });
    closers.push(() => producer.close({ timeoutMs: 0 }));
    const abort = new AbortController();
    const pending = producer.sendInTransaction('t', { payload: 'x' }, { signal: abort.signal });
    abort.abort();
    const error = await rejection(pending, 'the aborted transaction');
    expect(error).toBeInstanceOf(AbortedError);
    // The half was never written, so the local transaction never ran.
    expect(executed).toEqual([]);
  });

  it('TransactionProducer.close({ timeoutMs }) fails what is still pending with ClientClosedError by its deadline; later sends are refused', async () => {
    const producer = new TransactionProducer({ brokers: [await silent()], producerGroup: 'g', listener: COMMIT, requestTimeoutMs: 60_000 });
    closers.push(() => producer.close({ timeoutMs: 0 }));
    const pending = rejection(producer.sendInTransaction('t', { payload: 'never' }), 'the pending transaction');
    await withTimeout(producer.close({ timeoutMs: 200 }), 5_000, 'close() with a deadline');
    const error = await pending;
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(String(error)).toMatch(/transaction producer was closed/);
    expect(await rejection(producer.sendInTransaction('t', { payload: 'late' }), 'a send after close')).toBeInstanceOf(ClientClosedError);
    await expect(producer.close({ timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
  });

  it('close() is async everywhere and every client is AsyncDisposable', async () => {
    const address = await nowhere();
    const clients = [
      new LogClient({ brokers: [address] }),
      new Admin({ brokers: [address] }),
      new Producer({ brokers: [address] }),
      new Consumer({ brokers: [address], group: 'g', topic: 't' }),
      new TransactionProducer({ brokers: [address], producerGroup: 'g', listener: COMMIT }),
    ];
    for (const client of clients) {
      expect(client.close()).toBeInstanceOf(Promise);
      await withTimeout(client[Symbol.asyncDispose](), 5_000, `${client.constructor.name} dispose`);
    }
  });
});
