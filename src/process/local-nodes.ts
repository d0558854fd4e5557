import { NodeProcess, type OutputLog } from './node-process.js';

/** What `quorumlog node` prints once it serves clients: a start is done when this appears. */
export const NODE_READY_LINE = 'serving clients on';

/** One member of a cluster on 127.0.0.1, addresses as host:port. */
export interface LoopbackMember {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
}

/** n1..nN on 127.0.0.1: member k listens for peers on ports[2k] and for clients on ports[2k+1]. */
export function loopbackMembers(count: number, ports: readonly number[]): LoopbackMember[] {
  return Array.from({ length: count }, (_, k) => ({ id: `n${k + 1}`, peerAddress: `127.0.0.1:${portAt(ports, 2 * k)}`, clientAddress: `127.0.0.1:${portAt(ports, 2 * k + 1)}` }));
}

/** The value of `quorumlog node --members`: id=peer/client,... */
export function membersFlag(members: readonly LoopbackMember[]): string {
  return members.map((m) => `${m.id}=${m.peerAddress}/${m.clientAddress}`).join(',');
}

/** The port of a member's address. */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

function portAt(ports: readonly number[], k: number): number {
  const port = ports[k];
  if (port === undefined) throw new Error(`port ${k} was not allocated (${ports.length} ports for ${Math.floor(ports.length / 2)} members)`);
  return port;
}

export interface LocalNodesOptions {
  readonly members: readonly LoopbackMember[];
  /** The `node` arguments of one start of a member: V8 flags, the CLI script, `node`, its flags. */
  readonly argsOf: (id: string) => readonly string[];
  /** Where a member's output goes, across its restarts. */
  readonly outputOf: (id: string) => OutputLog;
  readonly cwd: string;
}

/**
 * The node processes of one cluster on 127.0.0.1, at most one run per member at a time:
 * what the test harness, the jepsen-style harness and the bench each build their cluster
 * on. It starts, finds and stops processes; signals and status stay with its users.
 */
export class LocalNodes {
  readonly members: readonly LoopbackMember[];
  readonly #processes = new Map<string, NodeProcess>();
  readonly #starts = new Map<string, number>();

  constructor(private readonly options: LocalNodesOptions) {
    this.members = options.members;
  }

  get ids(): string[] {
    return this.members.map((m) => m.id);
  }

  member(id: string): LoopbackMember {
    const found = this.members.find((m) => m.id === id);
    if (found === undefined) throw new Error(`no member ${id} (members: ${this.ids.join(', ')})`);
    return found;
  }

  /** The latest run of a member (running or not), or undefined before its first start. */
  process(id: string): NodeProcess | undefined {
    return this.#processes.get(id);
  }

  running(id: string): boolean {
    return this.#processes.get(id)?.running ?? false;
  }

  /** How often a member was started. */
  startsOf(id: string): number {
    return this.#starts.get(id) ?? 0;
  }

  /**
   * Spawns a member that is not running and resolves once it prints NODE_READY_LINE.
   * Rejects when it exits first or takes longer than `readyTimeoutMs`; the process is then
   * left as it is (the caller may read its lines, then kill it).
   */
  async start(id: string, readyTimeoutMs: number): Promise<NodeProcess> {
    this.member(id);
    if (this.running(id)) throw new Error(`${id} is already running`);
    const run = this.startsOf(id) + 1;
    this.#starts.set(id, run);
    const proc = NodeProcess.spawn({ args: this.options.argsOf(id), output: this.options.outputOf(id), runTag: `#${run}`, cwd: this.options.cwd });
    this.#processes.set(id, proc);
    await proc.waitForLine(NODE_READY_LINE, readyTimeoutMs);
    return proc;
  }

  /** Stops every run still going (SIGCONT, SIGTERM, SIGKILL after `graceMs`); never throws. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all([...this.#processes.values()].map((p) => p.stop(graceMs).catch(() => p.kill().catch(() => undefined))));
  }
}
