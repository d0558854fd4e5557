import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { LogClient, type BrokerStatus, type NodeStatus } from '../src/client/index.js';
import { LinkProxy, type LinkMode } from './link-proxy.js';
import { NodeProcess, type ProcessExit } from './node-process.js';
import { withTimeout } from './wait.js';

export interface ClusterConfig {
  readonly nodes: number;
  /** The run folder: nodes/ID/data and logs/ID.log go under it. */
  readonly runDir: string;
  /** The built `quorumlog` entry point (dist/src/cli/main.js). */
  readonly cliPath: string;
  readonly clusterId: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly flush: { readonly mode: 'sync'; readonly mark?: 'ordered' | 'lagging' } | { readonly mode: 'async'; readonly intervalMs: number };
  /** Start every node with --power-loss, so kill -9 loses what was not fsynced. */
  readonly powerLoss: boolean;
  readonly readyTimeoutMs: number;
}

export interface Member {
  readonly id: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

export type NodeState = 'running' | 'paused' | 'down';

/** How a start went: serving clients, or exited first (with its last lines). */
export type StartOutcome = { readonly ok: true } | { readonly ok: false; readonly exit: ProcessExit | null; readonly reason: string; readonly lastLines: readonly string[] };

const READY_LINE = 'serving clients on';
const STOP_GRACE_MS = 10_000;
const PORT_LOW = 20_000;
const PORT_HIGH = 32_000;
const PORT_ATTEMPTS_MAX = 50;
const START_ATTEMPTS_MAX = 3;

/**
 * N real node processes on 127.0.0.1, each peer link n_i -> n_j through its own LinkProxy
 * (the node is told to dial the proxy with --dial), client ports direct. The harness acts
 * on nodes only through OS signals, the data files, the client library and the CLI.
 */
export class Cluster {
  readonly members: readonly Member[];
  readonly #processes = new Map<string, NodeProcess>();
  readonly #proxies = new Map<string, LinkProxy>();
  readonly #statusClient: LogClient;
  readonly #starts = new Map<string, number>();

  private constructor(readonly config: ClusterConfig, ports: readonly number[]) {
    this.members = Array.from({ length: config.nodes }, (_, k) => ({ id: `n${k + 1}`, peerPort: at(ports, 2 * k), clientPort: at(ports, 2 * k + 1) }));
    this.#statusClient = new LogClient({ brokers: this.brokers(), timeoutMs: 1_500, connectTimeoutMs: 800 });
    fs.mkdirSync(path.join(config.runDir, 'logs'), { recursive: true });
  }

  /**
   * Picks ports, starts the proxies, then every node; resolves once all serve clients. A port
   * someone else took between the check and the bind fails the start; then it is retried on
   * other ports with fresh data directories.
   */
  static async start(config: ClusterConfig): Promise<Cluster> {
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
      fs.rmSync(path.join(config.runDir, 'nodes'), { recursive: true, force: true });
      try {
        return await Cluster.#startOnce(config);
      } catch (error) {
        lastError = error;
        if (!/EADDRINUSE|address already in use/i.test((error as Error).message)) throw error;
      }
    }
    throw new Error(`the cluster did not start after ${START_ATTEMPTS_MAX} tries on fresh ports`, { cause: lastError });
  }

  static async #startOnce(config: ClusterConfig): Promise<Cluster> {
    const n = config.nodes;
    const ports = await freePorts(2 * n + n * (n - 1));
    const cluster = new Cluster(config, ports);
    let next = 2 * n;
    try {
      for (const from of cluster.members) {
        for (const to of cluster.members) {
          if (from.id === to.id) continue;
          const proxy = await LinkProxy.start({ from: from.id, to: to.id, listenPort: at(ports, next++), targetPort: to.peerPort });
          cluster.#proxies.set(proxy.label, proxy);
        }
      }
      const outcomes = await Promise.all(cluster.ids.map((id) => cluster.startNode(id)));
      const failed = outcomes.find((o): o is Extract<StartOutcome, { ok: false }> => !o.ok);
      if (failed !== undefined) throw new Error(`a node did not start: ${failed.reason}\n${failed.lastLines.join('\n')}`);
      return cluster;
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
  }

  get ids(): string[] {
    return this.members.map((m) => m.id);
  }

  brokers(ids: readonly string[] = this.ids): string[] {
    return ids.map((id) => `127.0.0.1:${this.member(id).clientPort}`);
  }

  member(id: string): Member {
    const found = this.members.find((m) => m.id === id);
    if (found === undefined) throw new Error(`no member ${id}`);
    return found;
  }

  dataDir(id: string): string {
    return path.join(this.config.runDir, 'nodes', id);
  }

  logFile(id: string): string {
    return path.join(this.config.runDir, 'logs', `${id}.log`);
  }

  state(id: string): NodeState {
    const proc = this.#processes.get(id);
    if (proc === undefined || !proc.running) return 'down';
    return proc.paused ? 'paused' : 'running';
  }

  process(id: string): NodeProcess | undefined {
    return this.#processes.get(id);
  }

  /** Starts a node that is down; resolves when it serves clients or has exited (never throws for that). */
  async startNode(id: string): Promise<StartOutcome> {
    if (this.state(id) !== 'down') return { ok: true };
    const m = this.member(id);
    const membersSpec = this.members.map((x) => `${x.id}=127.0.0.1:${x.peerPort}/127.0.0.1:${x.clientPort}`).join(',');
    const dial = this.members.filter((x) => x.id !== id).map((x) => `${x.id}=127.0.0.1:${this.#proxy(id, x.id).listenPort}`).join(',');
    const c = this.config;
    const args = [
      c.cliPath, 'node', '--id', m.id, '--members', membersSpec, '--data-dir', this.dataDir(id), '--cluster-id', c.clusterId,
      '--dial', dial, '--tick-ms', String(c.tickMs), '--election-ticks', String(c.electionTicks), '--heartbeat-ticks', String(c.heartbeatTicks),
      '--flush', c.flush.mode, ...(c.flush.mode === 'async' ? ['--flush-interval-ms', String(c.flush.intervalMs)] : []),
      ...(c.flush.mode === 'sync' && c.flush.mark === 'lagging' ? ['--durable-mark', 'lagging'] : []),
      ...(c.powerLoss ? ['--power-loss'] : []),
    ];
    this.#starts.set(id, (this.#starts.get(id) ?? 0) + 1);
    const proc = NodeProcess.spawn({ id, args, logFile: this.logFile(id), cwd: c.runDir });
    this.#processes.set(id, proc);
    try {
      await proc.waitForLine(READY_LINE, c.readyTimeoutMs);
      return { ok: true };
    } catch (error) {
      if (proc.running) await proc.kill();
      return { ok: false, exit: proc.exitStatus, reason: (error as Error).message, lastLines: proc.lines().slice(-8) };
    }
  }

  /** kill -9; with --power-loss that is a power failure of this node. */
  async kill(id: string): Promise<void> {
    await this.#processes.get(id)?.kill();
  }

  pause(id: string): void {
    this.#processes.get(id)?.pause();
  }

  resume(id: string): void {
    this.#processes.get(id)?.resume();
  }

  setLink(from: string, to: string, mode: LinkMode): void {
    this.#proxy(from, to).setMode(mode);
  }

  /** Cuts every link between nodes of different groups (a node in two groups, a bridge, keeps both sides). */
  partition(groups: readonly (readonly string[])[]): void {
    for (const from of this.ids) {
      for (const to of this.ids) {
        if (from === to) continue;
        const together = groups.some((g) => g.includes(from) && g.includes(to));
        this.setLink(from, to, together ? { kind: 'pass' } : { kind: 'cut' });
      }
    }
  }

  healLinks(): void {
    for (const proxy of this.#proxies.values()) proxy.setMode({ kind: 'pass' });
  }

  linkModes(): Record<string, string> {
    return Object.fromEntries([...this.#proxies.values()].map((p) => [p.label, p.mode.kind]));
  }

  /** Every node's status, or why it gave none; a paused node costs up to the client's short timeout. */
  async statuses(): Promise<readonly BrokerStatus[]> {
    return this.#statusClient.statusAll();
  }

  /** The leader with the highest term among the nodes that answer and are not paused, or null. */
  async leader(): Promise<string | null> {
    const live = (await this.statuses()).filter((s): s is NodeStatus & { address: string } => !('error' in s));
    const leaders = live.filter((s) => s.role === 'leader' && this.state(s.id) === 'running').sort((a, b) => b.term - a.term);
    return leaders[0]?.id ?? null;
  }

  /** A client for one node only (reads are served from that node's own applied log). */
  nodeClient(id: string, timeoutMs = 5_000): LogClient {
    return new LogClient({ brokers: this.brokers([id]), timeoutMs, connectTimeoutMs: 1_000 });
  }

  startsOf(id: string): number {
    return this.#starts.get(id) ?? 0;
  }

  /** Stops every node (resuming paused ones first), closes the proxies and the status client. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#processes.values()].map((p) => p.stop(STOP_GRACE_MS).catch(() => p.kill())));
    await Promise.all([...this.#proxies.values()].map((p) => withTimeout(p.close(), 5_000, 'proxy close').catch(() => undefined)));
    this.#statusClient.close();
  }

  #proxy(from: string, to: string): LinkProxy {
    const proxy = this.#proxies.get(`${from}->${to}`);
    if (proxy === undefined) throw new Error(`no link ${from}->${to}`);
    return proxy;
  }
}

function at(ports: readonly number[], k: number): number {
  const port = ports[k];
  if (port === undefined) throw new Error(`port ${k} was not allocated`);
  return port;
}

/**
 * Free loopback ports below the kernel's ephemeral range (32768+), so no outgoing connection
 * can sit on a port a restarted node must listen on again; each is checked by binding it.
 */
async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    const ports = Array.from({ length: count }, (_, k) => base + k);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return ports;
  }
  throw new Error(`no run of ${count} free loopback ports in ${PORT_LOW}..${PORT_HIGH}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
