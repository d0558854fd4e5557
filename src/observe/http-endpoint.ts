import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { NodeInspection } from '../node/index.js';
import type { NodeMetrics } from './node-metrics.js';
import { readiness } from './readiness.js';
import { StatusPage, type StatusPageOptions } from './status-page.js';

export interface HttpEndpointOptions {
  readonly host: string;
  /** A TCP port; 0 asks the system for a free one (the caller reads `address`). */
  readonly port: number;
  readonly metrics: NodeMetrics;
  readonly node: NodeInspection;
  /** /readyz answers 503 when applied trails the known commit index by more entries than this. */
  readonly appliedLagEntriesMax: number;
  /** Serve the live status page at / (with /status.json and /node.json); absent, / is 404. */
  readonly page?: Pick<StatusPageOptions, 'scheduler' | 'httpMembers' | 'memberIds' | 'history' | 'memberTimeoutMs'>;
}

export interface HttpEndpoint {
  /** host:port it listens on. */
  readonly address: string;
  close(): Promise<void>;
}

/** The default bound on applied behind commit for /readyz. */
export const READY_APPLIED_LAG_ENTRIES_MAX = 1000;

/**
 * What the page may load: its own script and style and its own JSON, nothing from elsewhere,
 * no inline script, no frames around it. Sent with every answer (it costs nothing on text).
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The node's HTTP endpoint: GET /metrics (Prometheus text format), /healthz (200 while the
 * process serves) and /readyz (200 when ready to serve, else 503; the body is one line
 * saying why); with `page`, the status page at / with /status.json (the cluster as this node
 * sees it) and /node.json (this node alone, what other members' pages read). Anything else
 * is 404; methods other than GET and HEAD are 405.
 */
export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<HttpEndpoint> {
  let page: StatusPage | null = null;
  const server = http.createServer((request, response) => {
    void answer(options, page, request, response);
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
  const address = `${host}:${bound.port}`;
  if (options.page !== undefined) {
    page = new StatusPage({ ...options.page, node: options.node, writeLatency: options.metrics.writeLatency, appliedLagEntriesMax: options.appliedLagEntriesMax }, address);
    page.start();
  }
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        page?.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(options: HttpEndpointOptions, page: StatusPage | null, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
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
      case '/node.json':
        if (page === null) break;
        return reply(response, 200, JSON_TYPE, JSON.stringify(page.nodeView()));
      case '/status.json':
        if (page === null) break;
        return reply(response, 200, JSON_TYPE, JSON.stringify(await page.clusterView()));
      case '/favicon.ico':
        // Browsers ask for it; the page has none, and an empty answer keeps their console quiet.
        if (page === null) break;
        response.writeHead(204, { 'Cache-Control': 'max-age=86400' });
        return void response.end();
      default: {
        const asset = page?.asset(route ?? '/');
        if (typeof asset === 'string') return reply(response, 500, 'text/plain', `${asset}\n`);
        if (asset !== undefined) return reply(response, 200, asset.contentType, asset.body);
      }
    }
    return reply(response, 404, 'text/plain', `not found: try ${page === null ? '' : '/ (the status page), /status.json, '}/metrics, /healthz or /readyz\n`);
  } catch (error) {
    return reply(response, 500, 'text/plain', `${error instanceof Error ? error.message : String(error)}\n`);
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

function reply(response: http.ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  response.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(body);
}
