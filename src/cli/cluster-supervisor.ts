import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

import { ErrorCode } from '../../errors/index.js';
import { LogClient, type BrokerStatus } from '../client/index.js';
import { LogEvent, parseLogLine, renderLogText, type LogLine } from '../log/index.js';
import type { MemberConfig } from '../node/index.js';
import { formatSeconds, RestartPolicy, type NodeExit, type RestartPolicyOptions } from './restart-policy.js';
import type { ClientTlsOptions } from '../transport/index.js';

/**
 * One node under the cluster's supervision:
 *   running  its process is alive (starting or serving)
 *   paused   alive but stopped with SIGSTOP (quorumlog cluster pause)
 *   waiting  exited; a restart is due after the delay
 *   down     exited and left down (policy, or it keeps failing); `restart` starts it
 *   stopped  the cluster is stopping or stopped; final
 */
export type NodeState = 'running' | 'paused' | 'waiting' | 'down' | 'stopped';

const TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = {
  running: ['paused', 'waiting', 'down', 'stopped'],
  paused: ['running', 'waiting', 'down', 'stopped'],
  waiting: ['running', 'stopped'],
  down: ['running', 'stopped'],
  stopped: [],
};

type AnsweredStatus = Exclude<BrokerStatus, { readonly error: string }>;

/** What `quorumlog cluster ps` shows of one node. */
export interface NodeInfo {
  readonly id: string;
  readonly state: NodeState;
  readonly pid: number | null;
  readonly restarts: number;
  readonly clientAddress: string;
}

/** Why a control request was refused: no such node, a node in the wrong state, or a cluster that is stopping. */
export type NodeControlErrorCode = typeof ErrorCode.notFound | typeof ErrorCode.failedPrecondition | typeof ErrorCode.unavailable;

/** A control request that cannot be carried out: an unknown node, or one in the wrong state. */
export class NodeControlError extends Error {
  override readonly name = 'NodeControlError';
  constructor(
    readonly code: NodeControlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface SupervisorOptions {
  readonly members: readonly MemberConfig[];
  /** The node process's arguments after the node executable, for member `id`. */
  readonly nodeArgs: (id: string) => readonly string[];
  readonly restart: RestartPolicyOptions;
  /** Prints one line of the cluster's output. */
  readonly print: (line: string) => void;
  /** Called whenever a node's state or pid changes (the state file follows it). */
  readonly onChange: () => void;
  /** How the supervisor's own client reaches the nodes (its catch-up watch): `{ tls }` or nothing. */
  readonly clientTls?: { readonly tls?: ClientTlsOptions };
}

interface SupervisedNode {
  readonly member: MemberConfig;
  readonly prefix: string;
  readonly policy: RestartPolicy;
  state: NodeState;
  child: ChildProcess | null;
  /** Resolves when the current process has exited (at once when there is none). */
  exited: Promise<void>;
  /** Resolves true once the current process serves clients, false if it exits first. */
  serving: Promise<boolean>;
  restartTimer: NodeJS.Timeout | null;
  restarts: number;
  /** Set by a `restart` of a live node: its exit is followed by an immediate start. */
  restartOnExit: boolean;
  /** Set by a `kill`: the exit was asked for, so it does not count as a crash. */
  killRequested: boolean;
  /** Show the node catching up once it serves (after a restart or a resume). */
  watchCatchUpWhenServing: boolean;
  catchUp: AbortController | null;
}

const STOP_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const SERVING_WAIT_MS = 30_000;
const CATCH_UP_WAIT_MS = 120_000;
const CATCH_UP_POLL_MS = 250;

/**
 * Runs the node processes of a local cluster and keeps them running: a node that exits is
 * restarted per the restart policy while the others keep serving; one node at a time can be
 * killed, paused, resumed or restarted on request; stop() ends them all (resuming paused
 * ones first, so nothing is left stopped behind).
 */
export class ClusterSupervisor {
  readonly #options: SupervisorOptions;
  readonly #nodes = new Map<string, SupervisedNode>();
  #stopping: Promise<void> | null = null;
  #leader: { readonly id: string; readonly term: number } | null = null;
  #stoppedNow: () => void = () => undefined;
  /** Resolves once stop() has ended every node. */
  readonly stopped = new Promise<void>((resolve) => (this.#stoppedNow = resolve));

  constructor(options: SupervisorOptions) {
    this.#options = options;
    const width = Math.max(...options.members.map((m) => m.id.length));
    for (const member of options.members) {
      this.#nodes.set(member.id, {
        member,
        prefix: `${member.id.padEnd(width)} | `,
        policy: new RestartPolicy(options.restart),
        state: 'down',
        child: null,
        exited: Promise.resolve(),
        serving: Promise.resolve(false),
        restartTimer: null,
        restarts: 0,
        restartOnExit: false,
        killRequested: false,
        watchCatchUpWhenServing: false,
        catchUp: null,
      });
    }
  }

  start(): void {
    for (const node of this.#nodes.values()) this.#spawn(node);
  }

  list(): NodeInfo[] {
    return [...this.#nodes.values()].map((n) => ({ id: n.member.id, state: n.state, pid: n.child?.pid ?? null, restarts: n.restarts, clientAddress: n.member.clientAddress }));
  }

  /** SIGKILL, as a crash would; the restart policy then applies (a kill never counts as a crash loop). */
  async kill(id: string): Promise<string> {
    const node = this.#live(id, 'kill');
    const pid = node.child?.pid;
    node.killRequested = true;
    node.child?.kill('SIGKILL');
    await withDeadline(node.exited, KILL_WAIT_MS);
    return `${id} (pid ${pid ?? '?'}) killed with SIGKILL`;
  }

  async pause(id: string): Promise<string> {
    const node = this.#node(id);
    if (node.state !== 'running') throw new NodeControlError(ErrorCode.failedPrecondition, `${id} is ${node.state}, not running: nothing to pause`);
    node.child?.kill('SIGSTOP');
    this.#transition(node, 'paused');
    this.#options.print(`quorumlog: ${id} paused (SIGSTOP); quorumlog cluster resume ${id} continues it`);
    return `${id} (pid ${node.child?.pid ?? '?'}) paused with SIGSTOP`;
  }

  async resume(id: string): Promise<string> {
    const node = this.#node(id);
    if (node.state !== 'paused') throw new NodeControlError(ErrorCode.failedPrecondition, `${id} is ${node.state}, not paused: nothing to resume`);
    node.child?.kill('SIGCONT');
    this.#transition(node, 'running');
    this.#options.print(`quorumlog: ${id} resumed (SIGCONT)`);
    this.#watchCatchUp(node);
    return `${id} (pid ${node.child?.pid ?? '?'}) resumed with SIGCONT`;
  }

  /** Starts the node again now, whatever its state (a live one is stopped first); resolves once it serves. */
  async restart(id: string): Promise<string> {
    const node = this.#node(id);
    if (this.#stopping !== null) throw new NodeControlError(ErrorCode.unavailable, 'the cluster is stopping');
    node.policy.reset();
    if (node.state === 'running' || node.state === 'paused') {
      node.restartOnExit = true;
      node.child?.kill('SIGCONT');
      node.child?.kill('SIGTERM');
      const timer = setTimeout(() => node.child?.kill('SIGKILL'), STOP_GRACE_MS);
      await node.exited;
      clearTimeout(timer);
    } else {
      this.#restartNow(node);
    }
    const serving = await withDeadline(node.serving, SERVING_WAIT_MS);
    const pid = node.child?.pid ?? '?';
    if (serving === true) return `${id} restarted (pid ${pid}) and serving clients`;
    return serving === false ? `${id} restarted but exited again (see the cluster's output)` : `${id} restarted (pid ${pid}), not serving yet`;
  }

  /** Stops every node: paused ones are resumed first; SIGTERM, then SIGKILL after a grace. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const node of this.#nodes.values()) {
        if (node.restartTimer !== null) clearTimeout(node.restartTimer);
        node.restartTimer = null;
        node.catchUp?.abort();
        // SIGCONT first: a stopped process would not act on SIGTERM until continued.
        node.child?.kill('SIGCONT');
        node.child?.kill('SIGTERM');
        if (node.child === null) this.#transition(node, 'stopped');
      }
      const timer = setTimeout(() => {
        for (const node of this.#nodes.values()) node.child?.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await Promise.all([...this.#nodes.values()].map((n) => n.exited));
      clearTimeout(timer);
      this.#stoppedNow();
    })();
    return this.#stopping;
  }

  #node(id: string): SupervisedNode {
    const node = this.#nodes.get(id);
    if (node === undefined) throw new NodeControlError(ErrorCode.notFound, `no node ${id} in this cluster (nodes: ${[...this.#nodes.keys()].join(', ')})`);
    if (this.#stopping !== null) throw new NodeControlError(ErrorCode.unavailable, 'the cluster is stopping');
    return node;
  }

  #live(id: string, action: string): SupervisedNode {
    const node = this.#node(id);
    if (node.state !== 'running' && node.state !== 'paused') throw new NodeControlError(ErrorCode.failedPrecondition, `${id} is ${node.state}: no process to ${action}`);
    return node;
  }

  #transition(node: SupervisedNode, to: NodeState): void {
    if (!TRANSITIONS[node.state].includes(to)) throw new Error(`assertion: node ${node.member.id} cannot go from ${node.state} to ${to}`);
    node.state = to;
    this.#options.onChange();
  }

  #spawn(node: SupervisedNode): void {
    // Own process group: a Ctrl-C reaches the nodes only through us, so they stop in order.
    const child = spawn(process.execPath, [...this.#options.nodeArgs(node.member.id)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    node.child = child;
    let servingNow: (serving: boolean) => void = () => undefined;
    node.serving = new Promise<boolean>((resolve) => (servingNow = resolve));
    let exitedNow: () => void = () => undefined;
    node.exited = new Promise<void>((resolve) => (exitedNow = resolve));
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (printed) => {
        // The node writes JSON lines (its stdout is a pipe): shown as text under the node's
        // prefix; anything else (a stack trace on stderr) as it is.
        const line = parseLogLine(printed);
        this.#options.print(node.prefix + (line === null ? printed : renderLogText(line, { node: false, clock: true })));
        if (line !== null) this.#onNodeLine(node, line, servingNow);
      });
    }
    let ended = false;
    const onEnd = (exit: NodeExit): void => {
      if (ended) return;
      ended = true;
      servingNow(false);
      this.#onExit(node, exit);
      exitedNow();
    };
    child.once('exit', (code, signal) => onEnd({ code, signal }));
    // A process that could not be started at all sends 'error' and no 'exit'.
    child.once('error', (error) => {
      if (child.pid === undefined) {
        this.#options.print(`quorumlog: cannot start ${node.member.id}: ${error.message}`);
        onEnd({ code: 1, signal: null });
      }
    });
    this.#transition(node, 'running');
  }

  /** Acts on the node's own announcements: winning an election, serving clients (src/node/node.ts). */
  #onNodeLine(node: SupervisedNode, line: LogLine, servingNow: (serving: boolean) => void): void {
    const event = line.fields['event'];
    if (event === LogEvent.roleChanged && line.role === 'leader' && line.term !== null) this.#leaderElected(node, line.term);
    if (event === LogEvent.serving) {
      servingNow(true);
      if (node.watchCatchUpWhenServing) this.#watchCatchUp(node);
    }
  }

  #onExit(node: SupervisedNode, exit: NodeExit): void {
    const id = node.member.id;
    node.child = null;
    node.catchUp?.abort();
    const requested = node.killRequested;
    node.killRequested = false;
    if (this.#stopping !== null) {
      this.#transition(node, 'stopped');
      return;
    }
    const how = exit.signal ?? `status ${exit.code ?? '?'}`;
    const led = this.#leader?.id === id ? `; it led term ${this.#leader.term}, the others elect a new leader` : '';
    if (node.restartOnExit) {
      node.restartOnExit = false;
      this.#options.print(`quorumlog: ${id} exited (${how}) to be restarted${led}`);
      this.#transition(node, 'waiting');
      this.#restartNow(node);
      return;
    }
    const decision = node.policy.decide(exit, Date.now(), { requested });
    if (decision.action === 'restart') {
      this.#options.print(`quorumlog: ${id} exited (${how}); restarting it in ${formatSeconds(decision.delayMs)}${led}`);
      this.#transition(node, 'waiting');
      node.restartTimer = setTimeout(() => this.#restartNow(node), decision.delayMs);
      return;
    }
    this.#options.print(`quorumlog: ${id} exited (${how}); leaving it down: ${decision.reason}; the others keep serving, and quorumlog cluster restart ${id} starts it${led}`);
    this.#transition(node, 'down');
  }

  #restartNow(node: SupervisedNode): void {
    if (node.restartTimer !== null) clearTimeout(node.restartTimer);
    node.restartTimer = null;
    if (this.#stopping !== null) return;
    node.restarts++;
    node.watchCatchUpWhenServing = true;
    this.#spawn(node);
    this.#options.print(`quorumlog: ${node.member.id} restarted (pid ${node.child?.pid ?? '?'}, restart ${node.restarts})`);
  }

  #leaderElected(node: SupervisedNode, term: number): void {
    const was = this.#leader;
    this.#leader = { id: node.member.id, term };
    const change = was !== null && was.id !== node.member.id ? ` (was ${was.id})` : '';
    this.#options.print(`quorumlog: ${node.member.id} is the leader (term ${term}), clients at ${node.member.clientAddress}${change}`);
  }

  /**
   * Polls the cluster until `node` has applied what the leader had committed when the watch
   * began, printing one line when it is behind and one when it has caught up. Bounded by
   * CATCH_UP_WAIT_MS; ends early when the node exits or the cluster stops.
   */
  #watchCatchUp(node: SupervisedNode): void {
    node.watchCatchUpWhenServing = false;
    node.catchUp?.abort();
    const abort = new AbortController();
    node.catchUp = abort;
    const id = node.member.id;
    const client = new LogClient({ brokers: this.#options.members.map((m) => m.clientAddress), timeoutMs: 2_000, connectTimeoutMs: 500, ...this.#options.clientTls });
    const watch = async (): Promise<void> => {
      let target: number | null = null;
      let reportedBehind = false;
      const deadlineMs = Date.now() + CATCH_UP_WAIT_MS;
      while (!abort.signal.aborted && Date.now() < deadlineMs) {
        const statuses = await client.statusAll();
        const leader = statuses.find((s): s is AnsweredStatus => !('error' in s) && s.role === 'leader');
        const self = statuses.find((s): s is AnsweredStatus => !('error' in s) && s.address === node.member.clientAddress);
        if (abort.signal.aborted) return;
        if (leader !== undefined && self !== undefined) {
          target ??= leader.commitIndex;
          if (self.appliedIndex >= target) {
            this.#options.print(`quorumlog: ${id} caught up (applied ${self.appliedIndex}, leader commit ${leader.commitIndex})`);
            return;
          }
          if (!reportedBehind) this.#options.print(`quorumlog: ${id} is catching up: applied ${self.appliedIndex} of leader ${leader.id}'s commit ${target}`);
          reportedBehind = true;
        }
        await sleep(CATCH_UP_POLL_MS, abort.signal);
      }
      if (!abort.signal.aborted) this.#options.print(`quorumlog: ${id} has not caught up within ${formatSeconds(CATCH_UP_WAIT_MS)}; see quorumlog status`);
    };
    void watch()
      .catch((error: unknown) => this.#options.print(`quorumlog: watching ${id} catch up failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => client.close());
  }
}

/** The promise's value, or undefined once `ms` have passed. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
