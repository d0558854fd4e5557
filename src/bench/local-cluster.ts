import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { DurableMarkPolicy } from '../../storage/index.js';
import { issueDevelopmentCertificates, writeDevelopmentCertificates } from '../certs/index.js';
import { LogClient } from '../client/index.js';
import type { ClientTlsOptions } from '../transport/index.js';
import { NODE_V8_FLAGS } from '../node/index.js';
import {
  freePorts,
  LOOP_DELAY_INTERVAL_MS,
  LocalNodes,
  loopbackMembers,
  membersFlag,
  OutputLog,
  readLoopDelayLines,
  sleep,
  summarizeLoopDelay,
  waitUntil,
  WaitTimeoutError,
  type LoopDelaySummary,
  type NodeProcess,
} from '../process/index.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const STOP_GRACE_MS = 5_000;
const LEADER_WAIT_MS = 30_000;
/** How long each node may take to print that it serves clients: within the leader wait. */
const READY_TIMEOUT_MS = LEADER_WAIT_MS;

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
  /** Each node serves /metrics on a free port of its own (otherwise no HTTP at all). */
  readonly http?: boolean;
  /**
   * Each node records its event-loop delay (`--event-loop-file`, under dataRoot), which
   * loopDelay() reads.
   */
  readonly loopDelay?: boolean;
  /** More `quorumlog node` flags for every node (e.g. --snapshot-entries, --retention-hours). */
  readonly nodeFlags?: readonly string[];
  /**
   * TLS on the client port and mutual TLS between peers, with development certificates made
   * for this cluster (as `quorumlog certs init` makes them) under dataRoot/certs; clients
   * take `clientTls`.
   */
  readonly tls?: boolean;
}

/** CPU and memory of one node process, from /proc (Linux); null fields where unavailable. */
export interface ProcessUsage {
  readonly id: string;
  readonly pid: number;
  readonly cpuSeconds: number | null;
  readonly peakRssBytes: number | null;
}

/**
 * Node processes on 127.0.0.1 started the way `quorumlog cluster` starts them, on free ports,
 * for the length of one benchmark. stop() ends every one (SIGTERM, then SIGKILL after a grace)
 * and is safe to call more than once, also from a signal handler.
 */
export class LocalCluster {
  readonly #nodes: LocalNodes;
  readonly #outputs: ReadonlyMap<string, OutputLog>;
  #stopping: Promise<void> | null = null;
  /** Set when a node exits before stop(): the run cannot be trusted any more. */
  failure: string | null = null;

  /** Each node's HTTP address (/metrics), when started with `http`. */
  readonly httpAddresses: readonly string[];
  /** What a client needs to reach this cluster: the CA of its certificates when it runs TLS, else undefined. */
  readonly clientTls: ClientTlsOptions | undefined;

  readonly #dataRoot: string;
  /** Runs ended on purpose by stopNode(): their exit is no failure. */
  readonly #stoppedOnPurpose = new Set<NodeProcess>();

  private constructor(nodes: LocalNodes, outputs: ReadonlyMap<string, OutputLog>, httpAddresses: readonly string[], dataRoot: string, clientTls: ClientTlsOptions | undefined) {
    this.#nodes = nodes;
    this.clientTls = clientTls;
    this.#outputs = outputs;
    this.httpAddresses = httpAddresses;
    this.#dataRoot = dataRoot;
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const ports = await freePorts(options.nodes * (options.http === true ? 3 : 2));
    if (options.loopDelay === true) fs.mkdirSync(options.dataRoot, { recursive: true });
    const members = loopbackMembers(options.nodes, ports);
    const httpPorts = new Map(options.http === true ? members.map((m, k) => [m.id, ports[options.nodes * 2 + k] ?? 0]) : []);
    const outputs = new Map(members.map((m) => [m.id, new OutputLog(m.id, null)]));
    const certsDir = path.join(options.dataRoot, 'certs');
    let clientTls: ClientTlsOptions | undefined;
    if (options.tls === true) {
      const issued = await issueDevelopmentCertificates({ members: members.map((m) => m.id), clients: [], hosts: ['127.0.0.1'] });
      writeDevelopmentCertificates(certsDir, issued);
      clientTls = { ca: issued.ca.cert };
    }
    const tlsArgs = (id: string): string[] =>
      clientTls === undefined ? [] : ['--tls-cert', path.join(certsDir, `${id}.pem`), '--tls-key', path.join(certsDir, `${id}-key.pem`), '--tls-ca', path.join(certsDir, 'ca.pem')];
    const nodeArgs = (id: string): string[] => {
      const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${id}.cpuprofile`];
      const args = [...NODE_V8_FLAGS, ...profile, MAIN, 'node', '--id', id, '--members', membersFlag(members), '--data-dir', path.join(options.dataRoot, id), '--flush', options.flush];
      if (options.flushIntervalMs !== undefined) args.push('--flush-interval-ms', String(options.flushIntervalMs));
      if (options.flush === 'sync' && options.durableMark !== undefined) args.push('--durable-mark', options.durableMark);
      const httpPort = httpPorts.get(id);
      if (httpPort !== undefined) args.push('--http-port', String(httpPort));
      if (options.loopDelay === true) args.push('--event-loop-file', loopDelayFile(options.dataRoot, id));
      args.push(...tlsArgs(id), ...(options.nodeFlags ?? []));
      return args;
    };
    const nodes = new LocalNodes({ members, argsOf: nodeArgs, outputOf: (id) => outputs.get(id) ?? new OutputLog(id, null), cwd: process.cwd() });
    const cluster = new LocalCluster(nodes, outputs, [...httpPorts.values()].map((port) => `127.0.0.1:${port}`), options.dataRoot, clientTls);
    try {
      cluster.#startAll();
      await cluster.#waitForLeader();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get ids(): string[] {
    return this.#nodes.ids;
  }

  dataDirOf(id: string): string {
    this.#nodes.member(id);
    return path.join(this.#dataRoot, id);
  }

  /** The latest run of a node (running or not). */
  processOf(id: string): NodeProcess | undefined {
    return this.#nodes.process(id);
  }

  /**
   * Ends one node on purpose: SIGKILL (a crash: no shutdown snapshot) or SIGTERM (a clean
   * stop, SIGKILL after the grace). Its exit does not set `failure`.
   */
  async stopNode(id: string, how: 'kill' | 'term'): Promise<void> {
    const proc = this.#nodes.process(id);
    if (proc === undefined || !proc.running) return;
    this.#stoppedOnPurpose.add(proc);
    if (how === 'kill') await proc.kill('SIGKILL');
    else await proc.stop(STOP_GRACE_MS);
  }

  /**
   * Starts a stopped node again on its data directory; resolves with the run once it prints
   * that it serves clients (a failed start rejects; its exit then sets `failure`).
   */
  async startNode(id: string): Promise<NodeProcess> {
    const started = this.#nodes.start(id, READY_TIMEOUT_MS);
    this.#watchExit(id);
    return started;
  }

  get clientAddresses(): string[] {
    return this.#nodes.members.map((m) => m.clientAddress);
  }

  /** CPU seconds so far (user + system) and peak RSS of each node, read from /proc. */
  usage(): ProcessUsage[] {
    return this.#nodes.ids.map((id) => {
      const pid = this.#nodes.process(id)?.pid;
      return { id, pid: pid ?? -1, ...procUsage(pid) };
    });
  }

  /**
   * Each node's event-loop delay over [fromMs, toMs] (wall clock), from the files the nodes
   * write when started with `loopDelay`; null for a node with no sample there. Waits (a
   * bounded two intervals) for the lines that cover the window's end.
   */
  async loopDelay(fromMs: number, toMs: number): Promise<Map<string, LoopDelaySummary | null>> {
    const waitMs = toMs + LOOP_DELAY_INTERVAL_MS * 2 - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    return new Map(this.#nodes.ids.map((id) => [id, summarizeLoopDelay(readLoopDelayLines(loopDelayFile(this.#dataRoot, id)), fromMs, toMs)]));
  }

  /** The last lines each node printed, for an error report. */
  outputTails(): string {
    return this.#nodes.ids.map((id) => `${id}: ${(this.#outputs.get(id)?.tail(5) ?? []).join('\n    ')}`).join('\n');
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#nodes.stopAll(STOP_GRACE_MS);
    return this.#stopping;
  }

  /** Spawns every node; a node that exits before stop() sets `failure`. Readiness is the leader wait's business. */
  #startAll(): void {
    for (const id of this.#nodes.ids) {
      // A node that never gets ready shows as `failure` (it exited) or as no leader in time.
      this.#nodes.start(id, READY_TIMEOUT_MS).catch(() => undefined);
      this.#watchExit(id);
    }
  }

  #watchExit(id: string): void {
    const proc = this.#nodes.process(id);
    void proc?.exited.then((exit) => {
      if (this.#stopping === null && !this.#stoppedOnPurpose.has(proc)) this.failure ??= `node ${id} exited (${exit.signal ?? `status ${exit.code}`}): ${(this.#outputs.get(id)?.tail(3) ?? []).join(' | ')}`;
    });
  }

  /** Resolves once a majority of the running nodes' statuses name one leader (30 s at most). */
  waitForLeader(): Promise<void> {
    return this.#waitForLeader();
  }

  async #waitForLeader(): Promise<void> {
    const client = new LogClient({ brokers: this.clientAddresses, timeoutMs: 2_000, connectTimeoutMs: 500, ...(this.clientTls === undefined ? {} : { tls: this.clientTls }) });
    const majority = Math.floor(this.#nodes.members.length / 2) + 1;
    let outcome: { readonly failed: string | null };
    try {
      outcome = await waitUntil(
        async () => {
          if (this.failure !== null) return { failed: this.failure };
          const statuses = await client.statusAll();
          const leaders = statuses.map((s) => ('leaderId' in s ? s.leaderId : null));
          const agreed = leaders.filter((l) => l !== null && l === leaders.find((x) => x !== null)).length;
          return agreed >= majority ? { failed: null } : undefined;
        },
        { timeoutMs: LEADER_WAIT_MS, intervalMs: 100, what: 'a leader agreed on by a majority' },
      );
    } catch (error) {
      if (error instanceof WaitTimeoutError) throw new Error(`no leader within ${LEADER_WAIT_MS / 1000} s; last output:\n${this.outputTails()}`, { cause: error });
      throw error;
    } finally {
      client.close();
    }
    if (outcome.failed !== null) throw new Error(`the local cluster did not start: ${outcome.failed}`);
  }
}

/** Where node `id` writes its event-loop delay: beside the data directories, not in one. */
function loopDelayFile(dataRoot: string, id: string): string {
  return path.join(dataRoot, `${id}.event-loop.jsonl`);
}

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux we run on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds so far and peak RSS of a process, from /proc (Linux); null where unavailable. */
export function procUsage(pid: number | undefined): { cpuSeconds: number | null; peakRssBytes: number | null } {
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
