import * as fs from 'node:fs';
import * as path from 'node:path';

import { Admin, LogClient, type BrokerStatus, type NodeStatus } from '../src/client/index.js';
import { freePorts, LocalNodes, loopbackMembers, membersFlag, OutputLog, portOf, withTimeout, type LoopbackMember, type NodeProcess } from '../src/process/index.js';
import { compactionArgs, type CompactionFlags } from './compaction.js';
import { LinkProxy, type LinkMode } from './link-proxy.js';
import type { MemberAdmin, MembershipCluster } from './membership-nemesis.js';
import { MemberSet, type KnownConfiguration } from './member-set.js';
import type { NodeState, StartOutcome } from './node-state.js';

export interface ClusterConfig {
  /** The members the cluster is bootstrapped with: n1..nN. */
  readonly nodes: number;
  /**
   * Ids beyond the first `nodes` (n(N+1)..) that the membership nemesis may add: each has its
   * ports and a proxy on every directed link to and from every other id from the start, and
   * every node is started with --dial for all of them (docs/jepsen.md "Membership"). 0: none.
   */
  readonly spareNodes: number;
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

export type { KnownConfiguration } from './member-set.js';
export type { NodeState, StartOutcome } from './node-state.js';

const STOP_GRACE_MS = 10_000;
/** One member change's budget (the leader retries a change it cannot make yet within it). */
const MEMBER_CALL_TIMEOUT_MS = 5_000;
const START_ATTEMPTS_MAX = 3;

/**
 * N real node processes on 127.0.0.1, each peer link n_i -> n_j through its own LinkProxy
 * (the node is told to dial the proxy with --dial), client ports direct. The harness acts
 * on nodes only through OS signals, the data files, the client library and the CLI.
 *
 * The member set may change (the membership nemesis): `pool` is every id the run may use
 * (the N bootstrapped and the spares), `ids` the members of the configuration the harness
 * last confirmed (voters and learners). Faults, recovery and the checkers act on `ids` only.
 */
export class Cluster implements MembershipCluster {
  /** Every id of the run, members or not, with its ports (fixed for the run). */
  readonly pool: readonly Member[];
  readonly #bootstrap: readonly LoopbackMember[];
  readonly #nodes: LocalNodes;
  readonly #proxies = new Map<string, LinkProxy>();
  readonly #statusClient: LogClient;
  readonly #members: MemberSet;

  private constructor(readonly config: ClusterConfig, ports: readonly number[]) {
    const size = config.nodes + config.spareNodes;
    const all = loopbackMembers(size, ports);
    const httpPortsFrom = 2 * size + size * (size - 1);
    this.pool = all.map((m, k) => ({ id: m.id, peerPort: portOf(m.peerAddress), clientPort: portOf(m.clientAddress), httpPort: portAt(ports, httpPortsFrom + k) }));
    this.#bootstrap = all.slice(0, config.nodes);
    this.#members = new MemberSet(this.pool.map((m) => m.id), this.#bootstrap.map((m) => m.id));
    fs.mkdirSync(path.join(config.runDir, 'logs'), { recursive: true });
    const outputs = new Map(all.map((m) => [m.id, new OutputLog(m.id, this.logFile(m.id))]));
    const outputOf = (id: string): OutputLog => outputs.get(id) ?? new OutputLog(id, this.logFile(id));
    this.#nodes = new LocalNodes({ members: all, argsOf: (id) => this.#nodeArgs(id), outputOf, cwd: config.runDir });
    // Every id's client port, never refreshed from the membership: statuses() keeps the members'.
    this.#statusClient = new LogClient({ brokers: this.brokers(this.pool.map((m) => m.id)), timeoutMs: 1_500, connectTimeoutMs: 800, brokerRefreshIntervalMs: 0 });
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
    const n = config.nodes + config.spareNodes;
    // Client and peer ports, one per directed link's proxy, then one HTTP port per node.
    const ports = await freePorts(2 * n + n * (n - 1) + n);
    const cluster = new Cluster(config, ports);
    let next = 2 * n;
    try {
      for (const from of cluster.pool) {
        for (const to of cluster.pool) {
          if (from.id === to.id) continue;
          const proxy = await LinkProxy.start({ from: from.id, to: to.id, listenPort: portAt(ports, next++), targetPort: to.peerPort });
          cluster.#proxies.set(proxy.label, proxy);
        }
      }
      const outcomes = await Promise.all(cluster.ids.map((id) => cluster.startNode(id)));
      // Spare ids stay down until the membership nemesis adds one.
      const failed = outcomes.find((o): o is Extract<StartOutcome, { ok: false }> => !o.ok);
      if (failed !== undefined) throw new Error(`a node did not start: ${failed.reason}\n${failed.lastLines.join('\n')}`);
      return cluster;
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
  }

  /** The members (voters, then learners, each in pool order) of the configuration last confirmed. */
  get ids(): string[] {
    return this.#members.ids;
  }

  get configuration(): KnownConfiguration {
    return this.#members.configuration;
  }

  /** Records the configuration a leader answered (Members); ids outside the pool are a harness error. */
  setConfiguration(configuration: KnownConfiguration): void {
    this.#members.set(configuration);
  }

  get votersWanted(): number {
    return this.config.nodes;
  }

  /** Member changes through Admin.members (what `quorumlog members` calls), over the members' client ports. */
  memberAdmin(): MemberAdmin {
    const admin = new Admin({ brokers: this.brokers(), timeoutMs: MEMBER_CALL_TIMEOUT_MS, connectTimeoutMs: 800, brokerRefreshIntervalMs: 0 });
    return {
      list: (options = {}) => admin.members.list(options),
      add: (id, addresses, options = {}) => admin.members.add(id, addresses, options),
      promote: (id, options = {}) => admin.members.promote(id, options),
      remove: (id, options = {}) => admin.members.remove(id, options),
      close: () => admin.close(),
    };
  }

  /** Pool ids that are not members now (a spare, or a removed member), in pool order. */
  get nonMembers(): string[] {
    return this.#members.nonMembers;
  }

  brokers(ids: readonly string[] = this.ids): string[] {
    return ids.map((id) => `127.0.0.1:${this.member(id).clientPort}`);
  }

  /** An id of the pool (member or not) with its ports. */
  member(id: string): Member {
    const found = this.pool.find((m) => m.id === id);
    if (found === undefined) throw new Error(`no node ${id} in the pool`);
    return found;
  }

  /** The addresses `quorumlog members add` is given for `id`: its own peer and client ports (peers dial it through their --dial proxies). */
  addressesOf(id: string): { readonly peerAddress: string; readonly clientAddress: string } {
    const m = this.member(id);
    return { peerAddress: `127.0.0.1:${m.peerPort}`, clientAddress: `127.0.0.1:${m.clientPort}` };
  }

  /**
   * Starts `id`, which is down and not a member, as a new node that joins (--join the
   * members' client ports) on an empty data directory: whatever an earlier run of this id
   * left there (a removed member's log) is deleted first.
   */
  async startJoining(id: string): Promise<StartOutcome> {
    if (this.state(id) !== 'down') throw new Error(`${id} is running: stop it before it joins afresh`);
    if (this.ids.includes(id)) throw new Error(`${id} is a member: it cannot join again`);
    this.wipe(id);
    this.#members.markJoining(id);
    return this.startNode(id);
  }

  /** Deletes the data directory of `id`, which must be down (a lost disk). */
  wipe(id: string): void {
    if (this.state(id) !== 'down') throw new Error(`${id} is running: kill it before its data directory is deleted`);
    fs.rmSync(this.dataDir(id), { recursive: true, force: true });
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

  /**
   * Cuts every link between nodes of different groups (a node in two groups, a bridge, keeps
   * both sides); links of pool ids in no group (not members) are left as they are.
   */
  partition(groups: readonly (readonly string[])[]): void {
    const named = [...new Set(groups.flat())];
    for (const from of named) {
      for (const to of named) {
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

  /** Every member's status, or why it gave none; a paused node costs up to the client's short timeout. */
  async statuses(): Promise<readonly BrokerStatus[]> {
    const members = new Set(this.brokers());
    return (await this.#statusClient.statusAll()).filter((s) => members.has(s.address));
  }

  /** The leader with the highest term among the members that answer and are not paused, or null. */
  async leader(): Promise<string | null> {
    const live = (await this.statuses()).filter((s): s is NodeStatus & { address: string } => !('error' in s));
    const leaders = live.filter((s) => s.role === 'leader' && this.state(s.id) === 'running' && this.ids.includes(s.id)).sort((a, b) => b.term - a.term);
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

  /**
   * `node` arguments of one start: peer links to every other id of the pool, member or not,
   * dialled through this node's proxies (a member added later is dialled there at once). A
   * bootstrapped node names the bootstrap members; a joining one names itself and --join
   * the members' client ports (on a restart its own log's configuration wins either way).
   */
  #nodeArgs(id: string): string[] {
    const dial = this.pool.filter((x) => x.id !== id).map((x) => `${x.id}=127.0.0.1:${this.#proxy(id, x.id).listenPort}`).join(',');
    const joining = this.#members.joins(id);
    const { peerAddress, clientAddress } = this.addressesOf(id);
    const members = joining ? membersFlag([{ id, peerAddress, clientAddress }]) : membersFlag(this.#bootstrap);
    // Members that run first: the node asks them in turn for the members, and a paused one holds it for a while.
    const others = this.ids.filter((x) => x !== id).sort((a, b) => Number(this.state(b) === 'running') - Number(this.state(a) === 'running'));
    const join = joining ? ['--join', this.brokers(others).join(',')] : [];
    const c = this.config;
    return [
      c.cliPath, 'node', '--id', id, '--members', members, ...join, '--data-dir', this.dataDir(id), '--cluster-id', c.clusterId,
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
