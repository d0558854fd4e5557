import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { ErrorCode } from '../../errors/index.js';
import { NodeControlError, type ClusterSupervisor, type NodeInfo } from './cluster-supervisor.js';

/**
 * How `quorumlog cluster kill|pause|resume|restart|ps` reach a running `quorumlog cluster`:
 * the cluster writes DATA_ROOT/cluster.json (its pid, a loopback control address, a random
 * token, and its nodes' pids) and serves a small HTTP API on 127.0.0.1; the subcommands read
 * the file and ask. The cluster process does the signalling itself, so it always knows what
 * it did (a paused node is resumed before the cluster stops; a killed one is restarted per
 * policy) and no pid is ever signalled after it was reused.
 */

export const STATE_FILE_NAME = 'cluster.json';
export const CONTROL_ACTIONS = ['kill', 'pause', 'resume', 'restart'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

const STATE_FILE_VERSION = 1;
const REQUEST_TIMEOUT_MS = 60_000;
const BODY_BYTES_MAX = 64 * 1024;

export interface ClusterStateFile {
  readonly version: number;
  /** The `quorumlog cluster` process. */
  readonly pid: number;
  /** 127.0.0.1:PORT of the control API. */
  readonly controlAddress: string;
  /** Sent with every request, so only who can read this file (mode 0600) can control the nodes. */
  readonly token: string;
  readonly nodes: readonly NodeInfo[];
}

/** No cluster is running under that data root (no file, or a stale one). Exit status 1. */
export class NoRunningClusterError extends Error {
  override readonly name = 'NoRunningClusterError';
}

/** A control request the cluster refused or could not carry out. */
export class ControlRequestError extends Error {
  override readonly name = 'ControlRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function stateFilePath(dataRoot: string): string {
  return path.join(dataRoot, STATE_FILE_NAME);
}

export function newControlToken(): string {
  return randomBytes(16).toString('hex');
}

/** Replaces the state file crash-atomically (write a temporary file, then rename). */
export function writeStateFile(dataRoot: string, state: ClusterStateFile): void {
  fs.mkdirSync(dataRoot, { recursive: true });
  const file = stateFilePath(dataRoot);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** Removes the state file if it is still this cluster's (another may have replaced a stale one). */
export function removeStateFile(dataRoot: string, token: string): void {
  const state = readStateFile(dataRoot);
  if (state?.token === token) fs.rmSync(stateFilePath(dataRoot), { force: true });
}

function readStateFile(dataRoot: string): ClusterStateFile | null {
  let text: string;
  try {
    text = fs.readFileSync(stateFilePath(dataRoot), 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ClusterStateFile>;
    if (parsed.version !== STATE_FILE_VERSION || typeof parsed.pid !== 'number' || typeof parsed.controlAddress !== 'string' || typeof parsed.token !== 'string' || !Array.isArray(parsed.nodes)) return null;
    return parsed as ClusterStateFile;
  } catch {
    return null;
  }
}

/**
 * The state of the cluster running under `dataRoot`, or null when there is none: no file, an
 * unreadable one, or a stale one (its process is gone, or is not a quorumlog cluster).
 */
export function liveClusterState(dataRoot: string): ClusterStateFile | null {
  const state = readStateFile(dataRoot);
  if (state === null || !isClusterProcess(state.pid)) return null;
  return state;
}

/** Alive, and (where /proc tells) running `quorumlog cluster`: a reused pid is not taken for ours. */
function isClusterProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true; // no /proc: the liveness check is all we have
  }
  const args = cmdline.split('\0');
  return args.includes('cluster') && args.some((a) => a.endsWith('main.js') || a.endsWith('quorumlog'));
}

/** Serves the control API on 127.0.0.1 (an ephemeral port) until close(). */
export async function startControlServer(supervisor: ClusterSupervisor, token: string): Promise<{ readonly address: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    void handle(supervisor, token, request).then(({ status, body }) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(body)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(supervisor: ClusterSupervisor, token: string, request: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
  if (request.headers.authorization !== `Bearer ${token}`) return { status: 403, body: { error: 'wrong or missing control token (read it from the cluster state file)' } };
  const url = request.url ?? '';
  if (request.method === 'GET' && url === '/nodes') return { status: 200, body: { nodes: supervisor.list() } };
  const match = /^\/nodes\/([^/]+)\/([a-z]+)$/.exec(url);
  const action = match?.[2] as ControlAction | undefined;
  if (request.method !== 'POST' || match === null || action === undefined || !CONTROL_ACTIONS.includes(action)) return { status: 404, body: { error: `no such request: ${request.method ?? '?'} ${url}` } };
  const id = decodeURIComponent(match[1] ?? '');
  try {
    const message = await supervisor[action](id);
    return { status: 200, body: { message } };
  } catch (error) {
    if (error instanceof NodeControlError) return { status: error.code === ErrorCode.notFound ? 404 : 409, body: { error: error.message } };
    return { status: 500, body: { error: error instanceof Error ? error.message : String(error) } };
  }
}

/** Asks the cluster under `dataRoot` to act on node `id`; resolves with its answer. */
export function requestNodeAction(dataRoot: string, action: ControlAction, id: string): Promise<string> {
  return request(dataRoot, 'POST', `/nodes/${encodeURIComponent(id)}/${action}`).then((body) => String((body as { message?: unknown }).message ?? ''));
}

export function requestNodeList(dataRoot: string): Promise<NodeInfo[]> {
  return request(dataRoot, 'GET', '/nodes').then((body) => (body as { nodes: NodeInfo[] }).nodes);
}

async function request(dataRoot: string, method: 'GET' | 'POST', urlPath: string): Promise<unknown> {
  const state = liveClusterState(dataRoot);
  if (state === null) throw new NoRunningClusterError(`no quorumlog cluster is running under ${path.resolve(dataRoot)} (no live ${STATE_FILE_NAME}; start one with quorumlog cluster, or pass its --data-dir)`);
  const [host, port] = state.controlAddress.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path: urlPath, headers: { authorization: `Bearer ${state.token}` }, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (text.length < BODY_BYTES_MAX) text += chunk;
      });
      response.on('end', () => {
        let body: { error?: unknown } = {};
        try {
          body = JSON.parse(text) as { error?: unknown };
        } catch {
          // reported below as a bad answer
        }
        const status = response.statusCode ?? 0;
        if (status === 200) resolve(body);
        else reject(new ControlRequestError(status, typeof body.error === 'string' ? body.error : `the cluster answered ${status}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`the cluster did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error) => reject(new NoRunningClusterError(`cannot reach the cluster's control address ${state.controlAddress} (pid ${state.pid}): ${error.message}`)));
    req.end();
  });
}
