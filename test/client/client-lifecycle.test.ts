import { afterEach, describe, expect, it } from 'vitest';

import { AbortedError, Admin, ClientClosedError, Consumer, LogClient, Producer } from '../../src/client/index.js';
import { withTimeout } from '../harness/index.js';
import { freePort } from '../transport/free-port.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((close) => close()));
});

/** An address where nothing listens: every call waits for a broker that never comes. */
async function nowhere(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

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

  it('close() is async everywhere and every client is AsyncDisposable', async () => {
    const address = await nowhere();
    const clients = [
      new LogClient({ brokers: [address] }),
      new Admin({ brokers: [address] }),
      new Producer({ brokers: [address] }),
      new Consumer({ brokers: [address], group: 'g', topic: 't' }),
    ];
    for (const client of clients) {
      expect(client.close()).toBeInstanceOf(Promise);
      await withTimeout(client[Symbol.asyncDispose](), 5_000, `${client.constructor.name} dispose`);
    }
  });
});
