import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { NodeInspection } from '../node/index.js';
import type { NodeMetrics } from './node-metrics.js';
import { readiness } from './readiness.js';

export interface HttpEndpointOptions {
  readonly host: string;
  /** A TCP port; 0 asks the system for a free one (the caller reads `address`). */
  readonly port: number;
  readonly metrics: NodeMetrics;
  readonly node: NodeInspection;
  /** /readyz answers 503 when applied trails the known commit index by more entries than this. */
  readonly appliedLagEntriesMax: number;
}

export interface HttpEndpoint {
  /** host:port it listens on. */
  readonly address: string;
  close(): Promise<void>;
}

/** The default bound on applied behind commit for /readyz. */
export const READY_APPLIED_LAG_ENTRIES_MAX = 1000;

/**
 * The node's HTTP endpoint: GET /metrics (Prometheus text format), /healthz (200 while the
 * process serves) and /readyz (200 when ready to serve, else 503; the body is one line
 * saying why). Anything else is 404; methods other than GET and HEAD are 405.
 */
export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<HttpEndpoint> {
  const server = http.createServer((request, response) => {
    void answer(options, request, response);
  });
  // A scrape is short: a connection left open by a client must not hold shutdown up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: `${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(options: HttpEndpointOptions, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const route = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'text/plain', 'only GET and HEAD\n');
  try {
    switch (route) {
      case '/metrics':
        return reply(response, 200, options.metrics.registry.contentType, await options.metrics.metrics());
      case '/healthz':
        return reply(response, 200, 'text/plain', 'ok\n');
      case '/readyz': {
        const state = readiness(options.node.status(), options.appliedLagEntriesMax);
        return reply(response, state.ready ? 200 : 503, 'text/plain', `${state.reason}\n`);
      }
      default:
        return reply(response, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    }
  } catch (error) {
    return reply(response, 500, 'text/plain', `${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function reply(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  response.end(body);
}
