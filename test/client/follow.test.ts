import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';
import { LogClient, type LogRecord } from '../../src/client/index.js';
import { CHANNEL_RECEIVE_WINDOW_BYTES } from '../../src/client/broker-channels.js';
import { startClientServer, type ClientServer } from '../../src/transport/index.js';
import { ephemeralPort, waitFor, withTimeout } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

const servers: ClientServer[] = [];
const clients: LogClient[] = [];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

async function serve(service: FakeClientService, address?: string): Promise<{ address: string; server: ClientServer }> {
  const listenAddress = address ?? `127.0.0.1:${await ephemeralPort()}`;
  const server = await startClientServer({ listenAddress, service, messageBytesMax: 1024 * 1024 });
  servers.push(server);
  return { address: listenAddress, server };
}

function logClient(brokers: string[]): LogClient {
  const client = new LogClient({ brokers, timeoutMs: 3000, connectTimeoutMs: 500, retryBackoff: { initialMs: 10, maxMs: 100 } });
  clients.push(client);
  return client;
}

/** Consumes a follow iteration in the background, collecting records. */
function collect(iteration: AsyncIterable<LogRecord>): { readonly records: LogRecord[]; readonly done: Promise<unknown> } {
  const records: LogRecord[] = [];
  const done = (async () => {
    for await (const record of iteration) records.push(record);
  })().then(
    () => 'ended',
    (error: unknown) => error,
  );
  return { records, done };
}

/**
 * Resolves once `sample` has returned the same value for several checks in a row: the
 * thing counted has stopped moving. Fails after a deadline if it never does.
 */
async function untilSteady(sample: () => number, what: string): Promise<void> {
  const checksInARow = 5;
  let last = -1;
  let same = 0;
  await waitFor(
    () => {
      const now = sample();
      same = now === last ? same + 1 : 0;
      last = now;
      return same >= checksInARow;
    },
    { what, timeoutMs: 10_000, intervalMs: 20 },
  );
}

/** Listens on `address`, destroying every connection as it comes: a broker that is down, seen connecting. */
async function dropConnections(address: string): Promise<{ readonly connections: number; close(): Promise<void> }> {
  const [host, port] = address.split(':');
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  return {
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('follow', () => {
  it('delivers what exists, then records appended later, and stops on abort', async () => {
    const service = new FakeClientService();
    service.commit([bytes('r1'), bytes('r2')]);
    const { address } = await serve(service);
    const abort = new AbortController();
    const followed = collect(logClient([address]).follow(2, { signal: abort.signal }));
    await waitFor(() => followed.records.length === 1, { what: 'the existing record', timeoutMs: 5_000, intervalMs: 5 });
    await waitFor(() => service.activeWaiters === 1, { what: 'the server to wait for more', timeoutMs: 5_000, intervalMs: 5 });
    service.commit([bytes('r3')]);
    service.commit([bytes('r4'), bytes('r5')]);
    await waitFor(() => followed.records.length === 4, { what: 'records appended later', timeoutMs: 5_000, intervalMs: 5 });
    expect(followed.records.map((r) => [r.index, text(r.payload)])).toEqual([[2, 'r2'], [3, 'r3'], [4, 'r4'], [5, 'r5']]);
    abort.abort();
    expect(await followed.done).toBe('ended');
    await waitFor(() => service.activeWaiters === 0, { what: 'the server to stop waiting for the cancelled stream', timeoutMs: 5_000, intervalMs: 5 });
  });

  it('keeps each response within bytesMax, and a slow consumer does not make the server buffer the log', async () => {
    const service = new FakeClientService();
    // 20 MB of log: far more than the channel's receive window lets the server send ahead.
    service.commit(Array.from({ length: 20_000 }, (_, k) => new Uint8Array(1000).fill(k % 256)));
    const { address } = await serve(service);
    const abort = new AbortController();
    const reads: number[] = [];
    const original = service.read.bind(service);
    service.read = (from, bytesMax) => {
      reads.push(from);
      return original(from, bytesMax);
    };
    const iterator = logClient([address]).follow(1, { signal: abort.signal, bytesMax: 2000 })[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.index).toBe(1);
    // Not consuming further: the server may read ahead only as far as the receive window
    // (plus a few responses buffered on each side), not the 10,000 responses of the log.
    // Wait until it has stopped reading (blocked by flow control, or at the log's end when
    // nothing holds it back), then see how far it got.
    await untilSteady(() => reads.length, 'the server to stop reading ahead');
    expect(reads.length * 2000).toBeLessThan(CHANNEL_RECEIVE_WINDOW_BYTES + 200 * 2000);
    abort.abort();
    await iterator.return?.();
  });

  it('ends when aborted while its stream is being opened, at any point of the start', async () => {
    const service = new FakeClientService(); // nothing committed: an open stream stays quiet
    const { address } = await serve(service);
    for (let round = 0; round < 20; round++) {
      const abort = new AbortController();
      const iteration = logClient([address]).follow(1, { signal: abort.signal })[Symbol.asyncIterator]();
      const next = iteration.next();
      // Not synchronisation: a different delay each round lands the abort at a different
      // point of the start (connecting, opening the stream, waiting on it).
      await new Promise((resolve) => setTimeout(resolve, round % 5));
      abort.abort();
      expect(await withTimeout(next, 3_000, `round ${round}: the aborted iteration to end`)).toEqual({ done: true, value: undefined });
    }
  });

  it('resumes on another broker when the serving one closes, with no gap and no repeat', async () => {
    const service = new FakeClientService(); // both brokers serve the same committed log
    service.commit([bytes('a')]);
    const first = await serve(service);
    const second = await serve(service);
    const abort = new AbortController();
    const followed = collect(logClient([first.address, second.address]).follow(1, { signal: abort.signal }));
    await waitFor(() => followed.records.length === 1, { what: 'the first record', timeoutMs: 5_000, intervalMs: 5 });
    await first.server.close();
    service.commit([bytes('b'), bytes('c')]);
    await waitFor(() => followed.records.length === 3, { what: 'records after failover', timeoutMs: 5_000, intervalMs: 5 });
    expect(followed.records.map((r) => text(r.payload))).toEqual(['a', 'b', 'c']);
    abort.abort();
    expect(await followed.done).toBe('ended');
  });

  it('reconnects to a broker that restarts on the same address', async () => {
    const service = new FakeClientService();
    const { address, server } = await serve(service);
    const client = logClient([address]);
    await client.append([bytes('one')]);
    await server.close();
    // While down, the address takes connections and drops them at once, so the test can see
    // the append tried there (no connection, so nothing sent: retried safely).
    const down = await dropConnections(address);
    const appended = client.append([bytes('two')]);
    await waitFor(() => down.connections > 0, { what: 'the append to try the broker while it is down', timeoutMs: 5_000, intervalMs: 5 });
    await down.close();
    await serve(service, address);
    expect(await appended).toEqual({ firstIndex: 2, lastIndex: 2 });
  });

  it('close() of the client ends a follow iteration', async () => {
    const service = new FakeClientService();
    const { address } = await serve(service);
    const client = logClient([address]);
    const followed = collect(client.follow(1));
    await waitFor(() => service.activeWaiters === 1, { what: 'the stream to wait', timeoutMs: 5_000, intervalMs: 5 });
    client.close();
    const outcome = await followed.done;
    expect(outcome === 'ended' || (outcome instanceof Error && outcome.name === 'ClientClosedError')).toBe(true);
  });
});
