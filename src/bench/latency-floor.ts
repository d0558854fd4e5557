import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type * as grpc from '@grpc/grpc-js';

import { NODE_V8_FLAGS } from '../node/index.js';
import { trackChild } from '../process/index.js';
import { procUsage } from './local-cluster.js';
import { dialRelay, type FloorFsyncs, type FloorListening, type FloorRoleOptions } from './latency-floor-roles.js';
import { LatencyRecorder } from './stats.js';

/**
 * The floor under a one-in-flight acks=all round: what it costs on this machine with nothing
 * of quorumlog in it. This process sends each record on a gRPC stream to a "leader" process,
 * which forwards it to two "follower" processes and persists it itself; each node writes the
 * record and makes it durable with the configured fdatasyncs (latency-floor-roles.ts), and
 * the leader answers once two of the three have. One record in flight, as
 * `quorumlog bench --inflight 1` runs.
 */
export interface LatencyFloorOptions {
  /** Measured time; a warm-up of at most 300 rounds (and a quarter of this, 1 s at most) goes before it. */
  readonly durationMs: number;
  readonly fsyncsPerNode: FloorFsyncs;
  readonly recordBytes: number;
  /** The run's files go in a temp directory made under this one, removed at the end. */
  readonly dir: string;
  /** Aborting stops the run: the result rejects with the signal's reason, every child stopped. */
  readonly signal?: AbortSignal;
}

export interface LatencyFloorResult {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** Measured rounds (warm-up excluded). */
  readonly rounds: number;
  /**
   * CPU (user + system, all threads, from /proc) the three node processes spent per measured
   * round, together; null where /proc is not there. Steadier than latency on a shared machine.
   */
  readonly nodesCpuMicrosPerRound: number | null;
}

export type { FloorFsyncs } from './latency-floor-roles.js';

const CHILD_ENTRY = fileURLToPath(new URL('./latency-floor-child.js', import.meta.url));
const WARMUP_ROUNDS = 300;
const WARMUP_MS_MAX = 1_000;
/** Bounds the measured loop besides its time. */
const ROUNDS_MAX = 2_000_000;
/** A round unanswered this long means a child is stuck: the run fails. */
const ROUND_TIMEOUT_MS = 10_000;
const LISTEN_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const FOLLOWERS = ['f1', 'f2'] as const;

/**
 * Measures the floor (see LatencyFloorOptions). Starts three child processes on loopback
 * ports; every one is stopped and the temp directory removed before it settles, on error
 * and abort too.
 */
export async function measureLatencyFloor(options: LatencyFloorOptions): Promise<LatencyFloorResult> {
  if (!(options.durationMs > 0)) throw new RangeError(`latency floor: durationMs must be positive, not ${options.durationMs}`);
  const floor = await openLatencyFloor(options);
  try {
    return await floor.measure(options.durationMs);
  } finally {
    await floor.close();
  }
}

/** The floor's processes, kept up between measures (a bench that alternates them with its own windows). */
export interface LatencyFloor {
  /** A warm-up, then `durationMs` of rounds (see LatencyFloorOptions). */
  measure(durationMs: number): Promise<LatencyFloorResult>;
  /** Stops every child and removes the temp directory. */
  close(): Promise<void>;
}

/**
 * Starts the floor's three processes and connects to its leader. The caller closes it; an
 * abort of `options.signal` fails the measure under way and every later one.
 */
export async function openLatencyFloor(options: Omit<LatencyFloorOptions, 'durationMs'>): Promise<LatencyFloor> {
  if (!(Number.isSafeInteger(options.recordBytes) && options.recordBytes > 0)) throw new RangeError(`latency floor: recordBytes must be a positive whole number, not ${options.recordBytes}`);
  const dir = fs.mkdtempSync(path.join(options.dir, 'quorumlog-floor-'));
  const children = new FloorChildren();
  let link: ReturnType<typeof dialRelay> | null = null;
  let tripper: RoundTripper | null = null;
  let watchdog: NodeJS.Timeout | null = null;
  const abort = (): void => tripper?.fail(abortReason(options.signal));
  options.signal?.addEventListener('abort', abort, { once: true });
  const close = async (): Promise<void> => {
    options.signal?.removeEventListener('abort', abort);
    if (watchdog !== null) clearInterval(watchdog);
    link?.stream.cancel();
    link?.client.close();
    await children.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    options.signal?.throwIfAborted();
    const common = { dir, fsyncsPerNode: options.fsyncsPerNode, recordBytes: options.recordBytes };
    const followerPorts = await Promise.all(FOLLOWERS.map((name) => children.start({ role: 'follower', name, ...common })));
    const leaderPort = await children.start({ role: 'leader', followerPorts, ...common });
    options.signal?.throwIfAborted();
    link = dialRelay(leaderPort);
    const rounds = new RoundTripper(link.stream);
    tripper = rounds;
    children.onUnexpectedExit = (error) => rounds.fail(error);
    watchdog = setInterval(() => rounds.failIfStuck(ROUND_TIMEOUT_MS), 1_000);
    return {
      measure: (durationMs) => {
        if (!(durationMs > 0)) return Promise.reject(new RangeError(`latency floor: durationMs must be positive, not ${durationMs}`));
        return measureRounds(rounds, () => children.cpuSeconds(), options.recordBytes, durationMs);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Warm-up, then one round after another until the time or the round bound is reached. */
async function measureRounds(tripper: RoundTripper, nodesCpuSeconds: () => number | null, recordBytes: number, durationMs: number): Promise<LatencyFloorResult> {
  const record = Buffer.alloc(recordBytes, 7);
  const warmupEndMs = performance.now() + Math.min(WARMUP_MS_MAX, durationMs / 4);
  for (let k = 0; k < WARMUP_ROUNDS && performance.now() < warmupEndMs; k++) await tripper.trip(record);
  const latencies = new LatencyRecorder({ initialCapacity: 16_384 });
  const cpuFrom = nodesCpuSeconds();
  const endMs = performance.now() + durationMs;
  let now = performance.now();
  // Bounded by the deadline and by ROUNDS_MAX.
  while (now < endMs && latencies.count < ROUNDS_MAX) {
    const began = now;
    await tripper.trip(record);
    now = performance.now();
    latencies.record(now - began);
  }
  const cpuTo = nodesCpuSeconds();
  const summary = latencies.summary();
  const nodesCpuMicrosPerRound = cpuFrom === null || cpuTo === null || summary.count === 0 ? null : ((cpuTo - cpuFrom) * 1e6) / summary.count;
  return { p50Ms: summary.p50Ms, p90Ms: summary.p90Ms, p99Ms: summary.p99Ms, rounds: summary.count, nodesCpuMicrosPerRound };
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('latency floor: aborted');
}

/**
 * One record in flight on the stream to the leader: trip() sends it and settles with its
 * answer. No timer per round (its cost would count in the floor): a watchdog calls
 * failIfStuck() now and then instead.
 */
class RoundTripper {
  #waiting: { readonly resolve: () => void; readonly reject: (error: Error) => void; readonly sentMs: number } | null = null;
  #failure: Error | null = null;
  readonly #stream: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(stream: grpc.ClientDuplexStream<Buffer, Buffer>) {
    this.#stream = stream;
    stream.on('data', () => {
      const waiting = this.#waiting;
      this.#waiting = null;
      waiting?.resolve();
    });
    stream.on('error', (error: Error) => this.fail(error));
  }

  trip(record: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== null) return reject(this.#failure);
      this.#waiting = { resolve, reject, sentMs: performance.now() };
      this.#stream.write(record);
    });
  }

  /** The first failure rejects the round waiting and every later one. */
  fail(error: Error): void {
    this.#failure ??= error;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.reject(this.#failure);
  }

  failIfStuck(timeoutMs: number): void {
    if (this.#waiting !== null && performance.now() - this.#waiting.sentMs > timeoutMs) {
      this.fail(new Error(`latency floor: a round went unanswered for ${timeoutMs} ms`));
    }
  }
}

/** The run's child processes: started one role each, stopped together. */
class FloorChildren {
  readonly #children: ChildProcess[] = [];
  #stopping = false;
  /** Told when a child exits while the run still needs it. */
  onUnexpectedExit: (error: Error) => void = () => {};

  /** Forks a child for `options.role`; resolves with its port once it listens. */
  start(options: FloorRoleOptions): Promise<number> {
    const child = fork(CHILD_ENTRY, [JSON.stringify(options)], { execArgv: [...NODE_V8_FLAGS], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    trackChild(child);
    this.#children.push(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
    const exitError = (code: number | null, signal: NodeJS.Signals | null): Error =>
      new Error(`latency floor: the ${options.role} process exited (${code ?? signal}): ${stderr.trim().split('\n').at(-1) ?? ''}`);
    child.once('exit', (code, signal) => {
      if (!this.#stopping) this.onUnexpectedExit(exitError(code, signal));
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`latency floor: the ${options.role} process did not listen within ${LISTEN_TIMEOUT_MS} ms`)), LISTEN_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(exitError(code, signal));
      });
      child.once('message', (message: FloorListening) => {
        clearTimeout(timer);
        if (Number.isSafeInteger(message.port) && message.port > 0) resolve(message.port);
        else reject(new Error(`latency floor: the ${options.role} process sent no port`));
      });
    });
  }

  /** CPU seconds the children have spent so far, together; null when any cannot be read. */
  cpuSeconds(): number | null {
    let sum = 0;
    for (const child of this.#children) {
      const cpu = procUsage(child.pid).cpuSeconds;
      if (cpu === null) return null;
      sum += cpu;
    }
    return sum;
  }

  /** SIGTERM to each child still running, SIGKILL after STOP_TIMEOUT_MS; resolves once all have exited. */
  async stopAll(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#children.map(stopChild));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
