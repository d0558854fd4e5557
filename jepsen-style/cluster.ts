import * as fs from 'node:fs';
import * as path from 'node:path';

import { LogClient, type BrokerStatus, type NodeStatus } from '../src/client/index.js';
import { freePorts, LocalNodes, loopbackMembers, membersFlag, OutputLog, portOf, withTimeout, type NodeProcess, type ProcessExit } from '../src/process/index.js';
import { compactionArgs, type CompactionFlags } from './compaction.js';
import { LinkProxy, type LinkMode } from './link-proxy.js';

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
  /** Snapshot, segment and retention flags every node is started with. */
  readonly compaction: CompactionFlags;
  readonly readyTimeoutMs: number;
}

export interface Member {
  readonly id: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Where the node serves /metrics (--http-port), the same across its restarts. */
  readonly httpPort: number;
}

export type NodeState = 'running' | 'paused' | 'down';

/** How a start went: serving clients, or exited first (with its last lines). */
export type StartOutcome = { readonly ok: true } | { readonly ok: false; readonly exit: ProcessExit | null; readonly reason: string; readonly lastLines: readonly string[] };

const STOP_GRACE_MS = 10_000;
const START_ATTEMPTS_MAX = 3;

/**
 * N real node processes on 127.0.0.1, each peer link n_i -> n_j through its own LinkProxy
 * (the node is told to dial the proxy with --dial), client ports direct. The harness acts
 * on nodes only through OS signals, the data files, the client library and the CLI.
 */
export class Cluster {
  readonly members: readonly Member[];
  readonly #nodes: LocalNodes;
  readonly #proxies = new Map<string, LinkProxy>();
  readonly #statusClient: LogClient;

  private constructor(readonly config: ClusterConfig, ports: readonly number[]) {
    const members = loopbackMembers(config.nodes, ports);
    const httpPortsFrom = 2 * config.nodes + config.nodes * (config.nodes - 1);
    this.members = members.map((m, k) => ({ id: m.id, peerPort: portOf(m.peerAddress), clientPort: portOf(m.clientAddress), httpPort: portAt(ports, httpPortsFrom + k) }));
    fs.mkdirSync(path.join(config.runDir, 'logs'), { recursive: true });
    const outputs = new Map(members.map((m) => [m.id, new OutputLog(m.id, this.logFile(m.id))]));
    const outputOf = (id: string): OutputLog => outputs.get(id) ?? new OutputLog(id, this.logFile(id));
    this.#nodes = new LocalNodes({ members, argsOf: (id) => this.#nodeArgs(id, membersFlag(members)), outputOf, cwd: config.runDir });
    this.#statusClient = new LogClient({ brokers: this.brokers(), timeoutMs: 1_500, connectTimeoutMs: 800 });
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
    // Client and peer ports, one per directed link's proxy, then one HTTP port per node.
    const ports = await freePorts(2 * n + n * (n - 1) + n);
    const cluster = new Cluster(config, ports);
    let next = 2 * n;
    try {
      for (const from of cluster.members) {
        for (const to of cluster.members) {
          if (from.id === to.id) continue;
          const proxy = await LinkProxy.start({ from: from.id, to: to.id, listenPort: portAt(ports, next++), targetPort: to.peerPort });
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
    const proc = this.#nodes.process(id);
    if (proc === undefined || !proc.running) return 'down';
    return proc.paused ? 'paused' : 'running';
  }

  process(id: string): NodeProcess | undefined {
    return this.#nodes.process(id);
  }

  /** Starts a node that is down; resolves when it serves clients or has exited (never throws for that). */
  async startNode(id: string): Promise<StartOutcome> {
    if (this.state(id) !== 'down') return { ok: true };
    try {
      await this.#nodes.start(id, this.config.readyTimeoutMs);
      return { ok: true };
    } catch (error) {
      const proc = this.#nodes.process(id);
      if (proc === undefined) throw error;
      if (proc.running) await proc.kill();
      return { ok: false, exit: proc.exitStatus, reason: (error as Error).message, lastLines: proc.lines().slice(-8) };
    }
  }

  /** kill -9; with --power-loss that is a power failure of this node. */
  async kill(id: string): Promise<void> {
    await this.#nodes.process(id)?.kill();
  }

  pause(id: string): void {
    this.#nodes.process(id)?.pause();
  }

  resume(id: string): void {
    this.#nodes.process(id)?.resume();
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

  /** The node's Prometheus text (GET /metrics); throws when it does not answer within timeoutMs. */
  async metricsText(id: string, timeoutMs = 1_500): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.member(id).httpPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`${id} /metrics answered HTTP ${response.status}`);
    return response.text();
  }

  /** A client for one node only (reads are served from that node's own applied log). */
  nodeClient(id: string, timeoutMs = 5_000): LogClient {
    // This node's own log: the broker list must not follow the membership to another node.
    return new LogClient({ brokers: this.brokers([id]), timeoutMs, connectTimeoutMs: 1_000, brokerRefreshIntervalMs: 0 });
  }

  startsOf(id: string): number {
    return this.#nodes.startsOf(id);
  }

  /** Stops every node (resuming paused ones first), closes the proxies and the status client. */
  async stopAll(): Promise<void> {
    await this.#nodes.stopAll(STOP_GRACE_MS);
    await Promise.all([...this.#proxies.values()].map((p) => withTimeout(p.close(), 5_000, 'proxy close').catch(() => undefined)));
    this.#statusClient.close();
  }

  /** `node` arguments of one start: peer links dialled through this node's proxies. */
  #nodeArgs(id: string, members: string): string[] {
    const dial = this.members.filter((x) => x.id !== id).map((x) => `${x.id}=127.0.0.1:${this.#proxy(id, x.id).listenPort}`).join(',');
    const c = this.config;
    return [
      c.cliPath, 'node', '--id', id, '--members', members, '--data-dir', this.dataDir(id), '--cluster-id', c.clusterId,
      '--dial', dial, '--tick-ms', String(c.tickMs), '--election-ticks', String(c.electionTicks), '--heartbeat-ticks', String(c.heartbeatTicks),
      '--flush', c.flush.mode, ...(c.flush.mode === 'async' ? ['--flush-interval-ms', String(c.flush.intervalMs)] : []),
      ...(c.flush.mode === 'sync' && c.flush.mark === 'lagging' ? ['--durable-mark', 'lagging'] : []),
      ...(c.powerLoss ? ['--power-loss'] : []),
      ...compactionArgs(c.compaction),
      '--http-port', String(this.member(id).httpPort),
    ];
  }

  #proxy(from: string, to: string): LinkProxy {
    const proxy = this.#proxies.get(`${from}->${to}`);
    if (proxy === undefined) throw new Error(`no link ${from}->${to}`);
    return proxy;
  }
}

function portAt(ports: readonly number[], k: number): number {
  const port = ports[k];
  if (port === undefined) throw new Error(`port ${k} was not allocated`);
  return port;
}
