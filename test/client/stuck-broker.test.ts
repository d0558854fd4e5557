import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';
import { nodeId } from '../../raft/index.js';
import { LogClient, OutcomeUnknownError } from '../../src/client/index.js';
import * as nodeErrors from '../../src/transport/node-errors.js';
import { startClientServer, type ClientServer } from '../../src/transport/index.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

/**
 * A broker that is alive but answers nothing, as a SIGSTOPped process or a half-open
 * network looks from the client: a TCP proxy in front of a real server that, once frozen,
 * stops passing bytes either way and accepts new connections without ever serving them.
 */
class FreezableProxy {
  readonly address: string;
  #frozen = false;
  readonly #sockets = new Set<net.Socket>();
  readonly #pairs: [net.Socket, net.Socket][] = [];

  private constructor(private readonly server: net.Server, port: number, private readonly target: { host: string; port: number }) {
    this.address = `127.0.0.1:${port}`;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async start(targetAddress: string): Promise<FreezableProxy> {
    const [host = '', port = ''] = targetAddress.split(':');
    const listenPort = await ephemeralPort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', resolve);
    });
    return new FreezableProxy(server, listenPort, { host, port: Number(port) });
  }

  freeze(): void {
    this.#frozen = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.#sockets.add(client);
    client.on('error', () => undefined);
    if (this.#frozen) {
      client.pause();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    this.#sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    this.#pairs.push([client, upstream]);
  }
}

const servers: ClientServer[] = [];
const proxies: FreezableProxy[] = [];
const clients: LogClient[] = [];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

async function serve(service: FakeClientService): Promise<string> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service, messageBytesMax: 1024 * 1024 }));
  return address;
}

describe('a broker that stops answering', () => {
  it('fails what is in flight on it by keepalive, then writes go to the others without waiting on it or following redirects to it', async () => {
    const oldLeader = new FakeClientService('n1');
    const proxy = await FreezableProxy.start(await serve(oldLeader));
    proxies.push(proxy);
    const follower = new FakeClientService('n2');
    // Until it is elected, the follower names the old leader, as followers do until their election timeout.
    follower.failWith = new nodeErrors.NotLeaderError({ id: nodeId('n1'), clientAddress: proxy.address });
    const followerAddress = await serve(follower);
    // A call budget and a connect timeout far beyond the test's waits: only giving up on the
    // stuck broker by keepalive, and not going back to it, lets the appends below finish.
    const client = new LogClient({
      brokers: [proxy.address, followerAddress],
      timeoutMs: 60_000,
      connectTimeoutMs: 60_000,
      retryBackoff: { initialMs: 10, maxMs: 50 },
      keepalive: { intervalMs: 100, timeoutMs: 300 },
    });
    clients.push(client);
    expect(await client.append(bytes('a'))).toEqual({ firstIndex: 1, lastIndex: 1 });

    proxy.freeze();
    const inFlight = client.append(bytes('b')).then(
      () => 'acknowledged',
      (error: unknown) => error,
    );
    let outcome: unknown = null;
    void inFlight.then((o) => (outcome = o));
    await waitFor(() => outcome !== null, { what: 'the append sent to the stopped broker to end', timeoutMs: 5_000, intervalMs: 5 });
    expect(outcome).toBeInstanceOf(OutcomeUnknownError);

    // The next append asks the follower, is redirected to the stopped broker, does not go
    // there, and asks again until the follower leads.
    const next = client.append(bytes('c'));
    await waitFor(() => follower.appendCalls.length >= 3, { what: 'the follower to be asked again after naming the stopped leader', timeoutMs: 5_000, intervalMs: 5 });
    follower.failWith = null;
    let acknowledged: unknown = null;
    void next.then((r) => (acknowledged = r), (error: unknown) => (acknowledged = error));
    await waitFor(() => acknowledged !== null, { what: 'the append to be acknowledged by the new leader', timeoutMs: 5_000, intervalMs: 5 });
    expect(acknowledged).toEqual({ firstIndex: 1, lastIndex: 1 });
    expect(follower.records.map((r) => text(r.payload))).toEqual(['c']);
    expect(oldLeader.records.map((r) => text(r.payload))).toEqual(['a']);
    // Reads go elsewhere too while the stopped broker stays stopped.
    expect((await client.read(1)).records.map((r) => text(r.payload))).toEqual(['c']);
  });

  it('refuses keepalive settings that are not whole positive milliseconds', () => {
    expect(() => new LogClient({ brokers: ['127.0.0.1:1'], keepalive: { intervalMs: 0, timeoutMs: 1_000 } })).toThrow(/keepalive intervalMs and timeoutMs must be whole numbers/);
  });
});
