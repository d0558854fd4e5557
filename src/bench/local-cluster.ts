import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { DurableMarkPolicy } from '../../storage/index.js';
import { LogClient } from '../client/index.js';
import { NODE_V8_FLAGS } from '../node/v8-flags.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const PORT_LOW = 20_000;
const PORT_HIGH = 32_000;
const PORT_ATTEMPTS_MAX = 50;
const OUTPUT_LINES_KEPT = 40;
const STOP_GRACE_MS = 5_000;
const LEADER_WAIT_MS = 30_000;
const READY_LINE = 'serving clients on';

export interface LocalClusterOptions {
  readonly nodes: number;
  /** Root of the nodes' data directories (removed by the caller). */
  readonly dataRoot: string;
  readonly flush: 'sync' | 'async';
  readonly flushIntervalMs?: number;
  /** Passed to the nodes with sync flush only (default ordered); async flush has no mark to wait for. */
  readonly durableMark?: DurableMarkPolicy;
  /** When set, each node runs under `node --cpu-prof` and writes its profile here on exit. */
  readonly cpuProfileDir?: string;
}

/** CPU and memory of one node process, from /proc (Linux); null fields where unavailable. */
export interface ProcessUsage {
  readonly id: string;
  readonly pid: number;
  readonly cpuSeconds: number | null;
  readonly peakRssBytes: number | null;
}

interface NodeProcess {
  readonly id: string;
  readonly clientAddress: string;
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<void>;
  exitedAlready: boolean;
}

/**
 * Node processes on 127.0.0.1 started the way `quorumlog cluster` starts them, on free ports,
 * for the length of one benchmark. stop() ends every one (SIGTERM, then SIGKILL after a grace)
 * and is safe to call more than once, also from a signal handler.
 */
export class LocalCluster {
  readonly #nodes: NodeProcess[];
  #stopping: Promise<void> | null = null;
  /** Set when a node exits before stop(): the run cannot be trusted any more. */
  failure: string | null = null;

  private constructor(nodes: NodeProcess[]) {
    this.#nodes = nodes;
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const ports = await freePorts(options.nodes * 2);
    const ids = Array.from({ length: options.nodes }, (_, k) => `n${k + 1}`);
    const members = ids.map((id, k) => ({ id, peer: `127.0.0.1:${ports[k] ?? 0}`, client: `127.0.0.1:${ports[options.nodes + k] ?? 0}` }));
    const spec = members.map((m) => `${m.id}=${m.peer}/${m.client}`).join(',');
    const nodes: NodeProcess[] = [];
    const cluster = new LocalCluster(nodes);
    for (const m of members) {
      const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${m.id}.cpuprofile`];
      const nodeFlags = [...NODE_V8_FLAGS, ...profile];
      const args = [...nodeFlags, MAIN, 'node', '--id', m.id, '--members', spec, '--data-dir', path.join(options.dataRoot, m.id), '--flush', options.flush];
      if (options.flushIntervalMs !== undefined) args.push('--flush-interval-ms', String(options.flushIntervalMs));
      if (options.flush === 'sync' && options.durableMark !== undefined) args.push('--durable-mark', options.durableMark);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const node: NodeProcess = { id: m.id, clientAddress: m.client, child, output: [], exited: Promise.resolve(), exitedAlready: false };
      const keep = (chunk: Buffer): void => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line === '') continue;
          node.output.push(line);
          if (node.output.length > OUTPUT_LINES_KEPT) node.output.shift();
        }
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      (node as { exited: Promise<void> }).exited = new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          node.exitedAlready = true;
          if (cluster.#stopping === null) cluster.failure ??= `node ${m.id} exited (${signal ?? `status ${code}`}): ${node.output.slice(-3).join(' | ')}`;
          resolve();
        });
      });
      nodes.push(node);
    }
    try {
      await cluster.#waitForLeader();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get clientAddresses(): string[] {
    return this.#nodes.map((n) => n.clientAddress);
  }

  /** CPU seconds so far (user + system) and peak RSS of each node, read from /proc. */
  usage(): ProcessUsage[] {
    return this.#nodes.map((n) => ({ id: n.id, pid: n.child.pid ?? -1, ...procUsage(n.child.pid) }));
  }

  /** The last lines each node printed, for an error report. */
  outputTails(): string {
    return this.#nodes.map((n) => `${n.id}: ${n.output.slice(-5).join('\n    ')}`).join('\n');
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const n of this.#nodes) if (!n.exitedAlready) n.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const n of this.#nodes) if (!n.exitedAlready) n.child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await Promise.all(this.#nodes.map((n) => n.exited));
      clearTimeout(timer);
    })();
    return this.#stopping;
  }

  async #waitForLeader(): Promise<void> {
    const client = new LogClient({ brokers: this.clientAddresses, timeoutMs: 2_000, connectTimeoutMs: 500 });
    const deadlineMs = Date.now() + LEADER_WAIT_MS;
    try {
      // Bounded by the deadline; polls every 100 ms.
      while (Date.now() < deadlineMs) {
        if (this.failure !== null) throw new Error(`the local cluster did not start: ${this.failure}`);
        const statuses = await client.statusAll();
        const leaders = statuses.map((s) => ('leaderId' in s ? s.leaderId : null));
        const agreed = leaders.filter((l) => l !== null && l === leaders.find((x) => x !== null)).length;
        if (agreed * 2 > this.#nodes.length) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`no leader within ${LEADER_WAIT_MS / 1000} s; last output:\n${this.outputTails()}`);
    } finally {
      client.close();
    }
  }
}

/** `count` free loopback ports below the ephemeral range (so no outgoing connection holds one). */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    const ports = Array.from({ length: count }, (_, k) => base + k);
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`found no run of ${count} free loopback ports in ${PORT_LOW}..${PORT_HIGH}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux we run on. */
const CLOCK_TICKS_PER_SECOND = 100;

function procUsage(pid: number | undefined): { cpuSeconds: number | null; peakRssBytes: number | null } {
  if (pid === undefined) return { cpuSeconds: null, peakRssBytes: null };
  let cpuSeconds: number | null = null;
  let peakRssBytes: number | null = null;
  try {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (Number.isFinite(utime) && Number.isFinite(stime)) cpuSeconds = (utime + stime) / CLOCK_TICKS_PER_SECOND;
  } catch {
    // Not Linux, or the process is gone.
  }
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (hwm !== null) peakRssBytes = Number(hwm[1]) * 1024;
  } catch {
    // As above.
  }
  return { cpuSeconds, peakRssBytes };
}
