import * as http2 from 'node:http2';

import { Server, ServerCredentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { bindServer, SERVER_RECEIVE_WINDOW_BYTES, shutdownServer } from '../../src/transport/grpc-server.js';

describe('bindServer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('lets a client send a whole megabyte on a connection and on each stream before any window update', async () => {
    const server = new Server();
    const port = await bindServer(server, '127.0.0.1:0', ServerCredentials.createInsecure());
    cleanups.push(() => shutdownServer(server, 1_000));
    const client = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));

    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      client.once('remoteSettings', resolve);
      client.once('error', reject);
    });
    // Per stream: HTTP/2's default is 65,535 bytes, less than a 64 x 1 KiB append.
    expect(settings.initialWindowSize).toBe(SERVER_RECEIVE_WINDOW_BYTES);
    // Per connection: granted by a WINDOW_UPDATE right after the handshake.
    const deadline = Date.now() + 5_000;
    // Bounded by the deadline.
    while ((client.state.remoteWindowSize ?? 0) < SERVER_RECEIVE_WINDOW_BYTES && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(client.state.remoteWindowSize).toBeGreaterThanOrEqual(SERVER_RECEIVE_WINDOW_BYTES);
  });
});
