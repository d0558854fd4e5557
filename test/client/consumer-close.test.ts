import { afterEach, describe, expect, it } from 'vitest';

import { Consumer } from '../../src/client/index.js';
import { startClientServer, type ClientServer, type GroupService } from '../../src/transport/index.js';
import { ephemeralPort, waitFor, withTimeout } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

const servers: ClientServer[] = [];

afterEach(async () => {
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

/** A group service whose Consume stream stays open and quiet until the client cancels it. */
function quietGroups(streams: { opened: number; ended: number }): GroupService {
  const unused = (): never => {
    throw new Error('not used');
  };
  return {
    createGroup: unused,
    deleteGroup: unused,
    listGroups: unused,
    describeGroup: unused,
    ack: unused,
    nack: unused,
    extend: unused,
    resetGroup: unused,
    leave: () => Promise.resolve({ counted: 0, returned: 0 }),
    consume: (_input, _send, signal) =>
      new Promise<void>((resolve) => {
        streams.opened++;
        signal.addEventListener('abort', () => {
          streams.ended++;
          resolve();
        });
      }),
  };
}

describe('Consumer.close()', () => {
  it('ends even when it lands while the stream is being opened (no new stream left running)', async () => {
    const streams = { opened: 0, ended: 0 };
    const address = `127.0.0.1:${await ephemeralPort()}`;
    servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), groups: quietGroups(streams), messageBytesMax: 4 * 1024 * 1024 }));
    // Each round closes a consumer at a different point of its start: before, during and
    // after the connection and the stream are made. Every close must end.
    for (let round = 0; round < 20; round++) {
      const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', connectTimeoutMs: 500, retryBackoff: { initialMs: 5, maxMs: 20 } });
      const next = consumer[Symbol.asyncIterator]().next();
      // Not synchronisation: a different delay each round lands close() at a different
      // point of the start (connecting, opening the stream, waiting on it).
      await new Promise((resolve) => setTimeout(resolve, round % 5));
      await withTimeout(consumer.close(), 3_000, `round ${round}: close()`);
      expect(await next).toEqual({ done: true, value: undefined });
    }
    // Every stream the server saw is cancelled by its consumer (the cancellation reaches the
    // server after close() has returned).
    await waitFor(() => streams.ended === streams.opened, { what: `the server to see all ${streams.opened} streams cancelled (${streams.ended} so far)`, timeoutMs: 5_000, intervalMs: 10 });
  });
});
