import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LogClient } from '../../src/client/index.js';
import type { NodeStatusView } from '../../src/transport/client-service.js';
import { freePorts, LocalNodes, loopbackMembers, membersFlag, OutputLog, type LoopbackMember, type ProcessExit } from '../../src/process/index.js';
import { CLI_PATH, ensureBuilt, REPO_ROOT } from './build.js';
import { waitFor, type WaitOptions } from './wait-for.js';

export interface ClusterOptions {
  /** Number of nodes, n1..nN (default 3). */
  readonly size?: number;
  /** Names the data root in os.tmpdir(), to tell runs apart. */
  readonly label?: string;
  readonly clusterId?: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly flush?: 'sync' | 'async';
  readonly flushIntervalMs?: number;
  readonly preferredLeader?: string;
  readonly powerLoss?: boolean;
  /** More flags for every node. */
  readonly extraArgs?: readonly string[];
  /** How long a node may take to print its readiness line (default 20 s). */
  readonly readyTimeoutMs?: number;
  /** Give every node an HTTP port (metrics and health checks); see httpAddress(). */
  readonly http?: boolean;
  /**
   * TLS on: a directory as quorumlog certs init writes it (DIR/ca.pem, DIR/ID.pem,
   * DIR/ID-key.pem). Every node gets its own files; the harness's clients trust DIR/ca.pem,
   * and with `clientCertificate` present DIR/client.pem (for a cluster that authenticates
   * clients: --users-file or --require-client-auth in extraArgs).
   */
  readonly tls?: { readonly dir: string; readonly clientCertificate?: boolean };
}

export type ClusterMember = LoopbackMember;

const STOP_GRACE_MS = 10_000;
const START_ATTEMPTS_MAX = 3;
const STATUS_TIMEOUT_MS = 1_000;

/**
 * N real node processes on 127.0.0.1 with their own ports and a fresh data root. Every
 * process it starts is stopped by stopAll(), which tests call from onTestFinished/afterAll
 * (see useCluster); the process registry kills leftovers if even that is skipped.
 */
export class TestCluster {
  readonly members: readonly ClusterMember[];
  private readonly nodes: LocalNodes;
  private readonly outputs = new Map<string, OutputLog>();
  private readonly clients = new Set<LogClient>();
  /** Members stopped with SIGSTOP and not yet resumed. */
  private readonly paused = new Set<string>();
  private stopped = false;
  /** Each member's HTTP port, when started with `http`. */
  private readonly httpPorts = new Map<string, number>();

  private constructor(
    readonly options: ClusterOptions,
    /** Holds DATA_ROOT/n1 ... and DATA_ROOT/logs/n1.out ... */
    readonly dataRoot: string,
    ports: readonly number[],
  ) {
    this.members = loopbackMembers(options.size ?? 3, ports);
    // The HTTP ports follow the peer and client ports of every member.
    if (options.http === true) for (const [k, m] of this.members.entries()) this.httpPorts.set(m.id, ports[2 * this.members.length + k] ?? 0);
    fs.mkdirSync(path.join(dataRoot, 'logs'), { recursive: true });
    for (const m of this.members) this.outputs.set(m.id, new OutputLog(m.id, path.join(dataRoot, 'logs', `${m.id}.out`)));
    this.nodes = new LocalNodes({ members: this.members, argsOf: (id) => this.nodeArgs(id), outputOf: (id) => this.output(id), cwd: REPO_ROOT });
  }

  /**
   * Builds (once per worker), picks ports, starts every node and waits until each one serves
   * clients. A port someone else took meanwhile makes a node exit; then the whole start is
   * retried on other ports. On any other failure everything started is stopped and the
   * error carries the nodes' output.
   */
  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    await ensureBuilt();
    const size = options.size ?? 3;
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
      const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), `quorumlog-it-${options.label ?? 'cluster'}-`));
      const cluster = new TestCluster(options, dataRoot, await freePorts((options.http === true ? 3 : 2) * size));
      try {
        await Promise.all(cluster.ids.map((id) => cluster.startNode(id)));
        return cluster;
      } catch (error) {
        lastError = error;
        const portTaken = cluster.ids.some((id) => cluster.outputs.get(id)?.tail().some((line) => /EADDRINUSE|address already in use/i.test(line)));
        const output = cluster.renderOutput();
        await cluster.stopAll({ keepData: false });
        if (!portTaken) throw new Error(`cluster did not start: ${(error as Error).message}\n${output}`, { cause: error });
      }
    }
    throw new Error(`cluster did not start after ${START_ATTEMPTS_MAX} tries on fresh ports`, { cause: lastError });
  }

  get ids(): string[] {
    return this.nodes.ids;
  }

  member(id: string): ClusterMember {
    return this.nodes.member(id);
  }

  clientAddress(id: string): string {
    return this.member(id).clientAddress;
  }

  /** Every member's client address, in id order: the --brokers list. */
  brokers(ids: readonly string[] = this.ids): string[] {
    return ids.map((id) => this.clientAddress(id));
  }

  /** host:port of a member's HTTP endpoint (the cluster must be started with `http`). */
  httpAddress(id: string): string {
    const port = this.httpPorts.get(id);
    if (port === undefined) throw new Error(`${id} has no HTTP port: start the cluster with { http: true }`);
    return `127.0.0.1:${port}`;
  }

  dataDir(id: string): string {
    return path.join(this.dataRoot, this.member(id).id);
  }

  running(id: string): boolean {
    return this.nodes.running(id);
  }

  runningIds(): string[] {
    return this.ids.filter((id) => this.running(id));
  }

  pid(id: string): number | undefined {
    const p = this.nodes.process(id);
    return p?.running === true ? p.pid : undefined;
  }

  /** The arguments of `quorumlog node` for one member. */
  nodeArgs(id: string): string[] {
    const o = this.options;
    const args = [
      CLI_PATH, 'node',
      '--id', id,
      '--members', membersFlag(this.members),
      '--data-dir', this.dataDir(id),
      '--cluster-id', o.clusterId ?? 'it-cluster',
      '--tick-ms', String(o.tickMs ?? 50),
      '--election-ticks', String(o.electionTicks ?? 10),
      '--heartbeat-ticks', String(o.heartbeatTicks ?? 2),
      '--flush', o.flush ?? 'sync',
    ];
    if (o.flush === 'async') args.push('--flush-interval-ms', String(o.flushIntervalMs ?? 10));
    if (o.preferredLeader !== undefined) args.push('--preferred-leader', o.preferredLeader);
    if (o.powerLoss === true) args.push('--power-loss');
    if (o.tls !== undefined) {
      const dir = o.tls.dir;
      args.push('--tls-ca', path.join(dir, 'ca.pem'), '--tls-cert', path.join(dir, `${id}.pem`), '--tls-key', path.join(dir, `${id}-key.pem`));
    }
    const httpPort = this.httpPorts.get(id);
    if (httpPort !== undefined) {
      // Every member's HTTP address, so each one's status page can read the others.
      args.push('--http-port', String(httpPort), '--http-members', [...this.httpPorts].map(([member, port]) => `${member}=127.0.0.1:${port}`).join(','));
    }
    args.push(...(o.extraArgs ?? []));
    return args;
  }

  /** Starts a member that is not running and waits for its readiness line. */
  async startNode(id: string): Promise<void> {
    if (this.stopped) throw new Error('the cluster was stopped');
    await this.nodes.start(id, this.options.readyTimeoutMs ?? 20_000);
  }

  /** Same as startNode; reads better after kill/stop. */
  restart(id: string): Promise<void> {
    return this.startNode(id);
  }

  /** Sends `signal` (SIGKILL by default: kill -9) and waits for the exit. */
  async kill(id: string, signal: 'SIGKILL' | 'SIGTERM' | 'SIGINT' = 'SIGKILL'): Promise<ProcessExit> {
    const proc = this.nodes.process(id);
    if (proc === undefined || !proc.running) throw new Error(`${id} is not running`);
    // SIGKILL ends a stopped process too; any other signal would wait for SIGCONT.
    if (signal === 'SIGKILL') this.paused.delete(id);
    else this.resume(id);
    return proc.kill(signal);
  }

  /**
   * SIGSTOP: the process stays alive, its sockets open, and answers nothing (a long GC pause,
   * a stuck disk, a half-open network) until resume().
   */
  pause(id: string): void {
    const proc = this.nodes.process(id);
    if (proc === undefined || !proc.running) throw new Error(`${id} is not running`);
    proc.pause();
    this.paused.add(id);
  }

  /** SIGCONT after pause(). */
  resume(id: string): void {
    if (!this.paused.delete(id)) return;
    this.nodes.process(id)?.resume();
  }

  /** Clean stop: SIGTERM, wait for the exit (SIGKILL after a grace period). */
  async stop(id: string, graceMs = STOP_GRACE_MS): Promise<ProcessExit> {
    const proc = this.nodes.process(id);
    if (proc === undefined) throw new Error(`${id} was never started`);
    // A stopped process would hold SIGTERM pending until the grace ran out.
    this.resume(id);
    return proc.stop(graceMs);
  }

  /** How a member's last run ended, or null while it runs. */
  exitStatus(id: string): ProcessExit | null {
    return this.nodes.process(id)?.exitStatus ?? null;
  }

  /**
   * Stops everything: closes clients, SIGTERMs every node (SIGKILL after the grace period),
   * and removes the data root unless `keepData`. Safe to call twice; never throws.
   */
  async stopAll(options: { readonly keepData?: boolean; readonly graceMs?: number } = {}): Promise<void> {
    this.stopped = true;
    for (const client of this.clients) {
      try {
        client.close();
      } catch {
        // closing is best effort
      }
    }
    this.clients.clear();
    for (const id of [...this.paused]) this.resume(id);
    await this.nodes.stopAll(options.graceMs ?? STOP_GRACE_MS);
    if (options.keepData !== true) fs.rmSync(this.dataRoot, { recursive: true, force: true });
  }

  /** A client over the given members (all by default); closed by stopAll. */
  client(ids: readonly string[] = this.ids, options: { readonly timeoutMs?: number; readonly brokerRefreshIntervalMs?: number } = {}): LogClient {
    const refresh = options.brokerRefreshIntervalMs === undefined ? {} : { brokerRefreshIntervalMs: options.brokerRefreshIntervalMs };
    const client = new LogClient({ brokers: this.brokers(ids), timeoutMs: options.timeoutMs ?? 10_000, ...refresh, ...this.clientTls() });
    this.clients.add(client);
    return client;
  }

  /** A client that talks to one member only (reads are served from that node's applied log). */
  nodeClient(id: string, options: { readonly timeoutMs?: number } = {}): LogClient {
    // The broker list must not follow the membership to another node.
    return this.client([id], { ...options, brokerRefreshIntervalMs: 0 });
  }

  /** One member's status, asked of that member. */
  async status(id: string, timeoutMs = STATUS_TIMEOUT_MS): Promise<NodeStatusView> {
    const client = new LogClient({ brokers: [this.clientAddress(id)], timeoutMs, brokerRefreshIntervalMs: 0, ...this.clientTls() });
    try {
      return await client.status(this.clientAddress(id));
    } finally {
      client.close();
    }
  }

  /** Statuses of the running members that answered within the timeout. */
  async statuses(timeoutMs = STATUS_TIMEOUT_MS): Promise<NodeStatusView[]> {
    const answers = await Promise.all(this.runningIds().map((id) => this.status(id, timeoutMs).catch(() => null)));
    return answers.filter((s): s is NodeStatusView => s !== null);
  }

  /**
   * The member that leads, by its own word: among the running members that answer, the one
   * with role leader in the highest term, once a majority of the cluster answers and agrees
   * (their leaderId names it). Polls until the deadline.
   */
  async leader(options: { readonly timeoutMs?: number; readonly exclude?: readonly string[] } = {}): Promise<string> {
    const majority = Math.floor(this.members.length / 2) + 1;
    return waitFor(
      async () => {
        const statuses = await this.statuses();
        const leaders = statuses.filter((s) => s.role === 'leader' && !(options.exclude ?? []).includes(s.id)).sort((a, b) => b.term - a.term);
        const top = leaders[0];
        if (top === undefined) return undefined;
        const agreeing = statuses.filter((s) => s.term === top.term && s.leaderId === top.id).length;
        return agreeing >= majority ? top.id : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 20_000, what: `a leader agreed on by a majority${options.exclude?.length ? ` (not ${options.exclude.join(', ')})` : ''}`, intervalMs: 50 },
    );
  }

  /**
   * Waits until every running member answers, a leader is among them, all agree on the
   * commit index, every one has applied it, and the leader's log ends there (nothing in
   * flight). Call it with writes stopped. Returns the statuses it settled on.
   */
  async converged(options: { readonly timeoutMs?: number } = {}): Promise<NodeStatusView[]> {
    const running = this.runningIds();
    return waitFor(
      async () => {
        const statuses = await this.statuses();
        if (statuses.length !== running.length) return undefined;
        const leader = statuses.find((s) => s.role === 'leader');
        if (leader === undefined || leader.lastIndex !== leader.commitIndex) return undefined;
        const settled = statuses.every((s) => s.commitIndex === leader.commitIndex && s.appliedIndex === leader.commitIndex);
        return settled ? statuses : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 30_000, what: `${running.join(', ')} to agree on and apply one commit index`, intervalMs: 100 },
    );
  }

  /** The harness clients' TLS option: the cluster's CA when it runs TLS, and the client certificate when asked for. */
  clientTls(): { readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } } {
    const dir = this.options.tls?.dir;
    if (dir === undefined) return {};
    const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
    if (this.options.tls?.clientCertificate !== true) return { tls: { ca } };
    return { tls: { ca, cert: fs.readFileSync(path.join(dir, 'client.pem')), key: fs.readFileSync(path.join(dir, 'client-key.pem')) } };
  }

  waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
    return waitFor(check, options);
  }

  private output(id: string): OutputLog {
    const output = this.outputs.get(id);
    if (output === undefined) throw new Error(`no member ${id}`);
    return output;
  }

  /** Every member's output tail, for a failed test. */
  renderOutput(lines = 200): string {
    return this.ids.map((id) => this.outputs.get(id)?.render(lines) ?? '').join('\n');
  }

  outputTail(id: string, lines = 200): string[] {
    return this.outputs.get(id)?.tail(lines) ?? [];
  }

  /** What the member printed since its latest start (as far as the tail reaches). */
  currentRunOutput(id: string): string[] {
    const tag = `[${id}#${this.nodes.startsOf(id)}`;
    return this.outputTail(id).filter((line) => line.startsWith(`${tag}]`) || line.startsWith(`${tag} `));
  }
}
