import type { CheckerResult } from './checkers/checker-result.js';
import type { Cluster } from './cluster.js';
import type { RetentionPolicyName } from './compaction.js';
import type { History } from './history.js';
import type { Prng } from './prng.js';
import { sleep } from '../src/process/index.js';

/** What every workload gets: the cluster (addresses, per-node clients), the history, its own random source. */
export interface WorkloadContext {
  readonly cluster: Cluster;
  readonly history: History;
  readonly random: Prng;
  readonly log: (line: string) => void;
}

export interface WorkloadOptions {
  /** Operations per second the clients aim at, all together. */
  readonly rate: number;
  /** Client processes issuing operations, each one at a time (sequential). */
  readonly concurrency: number;
  /** One operation's budget, retries included. */
  readonly opTimeoutMs: number;
  /**
   * false: the client blindly retries an operation whose outcome was unknown, as a producer
   * without idempotence would (for the plain log: an append after OutcomeUnknownError). A run
   * that must be flagged with duplicates.
   */
  readonly idempotence: boolean;
  /**
   * The nodes' retention policy: under keep-unconsumed a topic message may be deleted only
   * once the group acked past it, which the checkers hold deleted messages to.
   */
  readonly retentionPolicy: RetentionPolicyName;
  /** Queue: consumer processes in the group. */
  readonly consumers: number;
  /** Queue: consumers ack on arrival, before processing (auto-commit): a run that must be flagged by the consumer checker. */
  readonly autoAck: boolean;
  /** Queue: kill -9 a random consumer every 2-6 s while the workload runs. */
  readonly consumerKills: boolean;
  /** Queue: how long processing one message takes, ms. */
  readonly consumerWorkMs: number;
}

/**
 * The seam between the run and what the clients do. A workload issues operations into the
 * history while faults run, then, once the cluster has recovered, reads the final state back
 * and checks the history against it. The plain log is one (log-workload.ts), the broker's
 * queue (queue-workload.ts: producers, a consumer group, the consumer checker) another;
 * a new one implements this and is registered in WORKLOADS (run.ts).
 */
export interface Workload {
  readonly name: string;
  /** The `f` of the operations that write (availability and the report's plots count these). */
  readonly writeFunction: string;
  /** Issues operations until `signal` aborts; resolves once every operation in flight has completed. */
  run(ctx: WorkloadContext, signal: AbortSignal): Promise<void>;
  /** One write after recovery, recorded in the history like any other (proves the cluster takes writes). */
  probe(ctx: WorkloadContext): Promise<boolean>;
  /** Reads the final state back from every node and runs this workload's checkers. */
  check(ctx: WorkloadContext, span: { readonly startMs: number; readonly endMs: number }): Promise<readonly CheckerResult[]>;
  /** Stops whatever the workload still runs (client processes); the run calls it last, whatever happened. */
  close?(): Promise<void>;
}

/** How far a paced client may fall behind before it stops trying to catch up. */
const CATCH_UP_MS_MAX = 1_000;

/**
 * One sequential client's loop, paced so `concurrency` of them together make `rate` (client
 * `slot` starts slot/rate seconds in): calls `step(1)`, `step(2)`, ... one at a time until
 * `signal` aborts or the history is full.
 */
export async function runPaced(ctx: WorkloadContext, options: WorkloadOptions, slot: number, signal: AbortSignal, step: (seq: number) => Promise<unknown>): Promise<void> {
  const intervalMs = (1000 * options.concurrency) / options.rate;
  let nextMs = Date.now() + (slot * 1000) / options.rate;
  for (let seq = 1; !signal.aborted && !ctx.history.full; seq++) {
    await sleep(nextMs - Date.now(), signal);
    if (signal.aborted) break;
    nextMs = Math.max(nextMs + intervalMs, Date.now() - CATCH_UP_MS_MAX);
    await step(seq);
  }
}

/**
 * A reader asked for `fromIndex` and was told everything below `toIndex` was deleted: the gap
 * goes in the history (the realtime checker does not count it as a skip); returns where to go on.
 */
export function skipDeleted(ctx: WorkloadContext, process: string, fromIndex: number, toIndex: number): number {
  ctx.history.add({ type: 'read-gap', process, fromIndex, toIndex });
  return toIndex;
}
