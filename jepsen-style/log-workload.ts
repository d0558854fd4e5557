import { createHash } from 'node:crypto';

import { ErrorCode, LogClient, OutcomeUnknownError, OutOfRangeError, QuorumlogClientError } from '../src/client/index.js';
import type { CheckerResult } from './checkers/checker-result.js';
import { checkAbortedRead, checkDuplicated, checkLost, checkOffsets, checkProducerOrder, checkRealtime, checkReplicaAgreement, mergeNodeLogs, type LogEntry, type NodeLog } from './checkers/log-checkers.js';
import { pairOps, type ReadEvent, type ReadGapEvent } from './history.js';
import { sleep } from '../src/process/index.js';
import { runPaced, skipDeleted, type Workload, type WorkloadContext, type WorkloadOptions } from './workload.js';

const READ_MAX_BYTES = 256 * 1024;
const READ_CALLS_MAX = 100_000;
/** Blind retries of one append after an unknown outcome (idempotence off). */
const BLIND_RETRIES_MAX = 5;
const POLL_INTERVAL_MS = 200;

/**
 * The final reads: every 200 ms, at most 10 times, until every node read reports the same
 * commit index. After recovery a leader still appends on its own (a clock entry every 10 s
 * while plain records arrive), and a follower learns a commit with the next append or tick:
 * reads made while one is on its way see the leader a commit ahead. A difference that lasts
 * through every read is the checker's to report (replica agreement).
 */
const FINAL_READS = { attemptsMax: 10, waitMs: 200 } as const;

/** Reads until the readable nodes' commit indexes agree (or a node is unreadable), at most `attemptsMax` times; the last read. */
export async function readAgreedNodeLogs(read: () => Promise<NodeLog[]>, options: { readonly attemptsMax: number; readonly waitMs: number }): Promise<NodeLog[]> {
  let logs = await read();
  // Bounded by attemptsMax.
  for (let attempt = 1; attempt < options.attemptsMax; attempt++) {
    if (logs.some((n) => n.entries === null) || new Set(logs.map((n) => n.commitIndex)).size <= 1) return logs;
    await sleep(options.waitMs);
    logs = await read();
  }
  return logs;
}

/**
 * The plain log: `concurrency` sequential producers append unique values ("p3-000042") at
 * `rate` in total; reader r1 follows the log from index 1 and reader r2 polls it with read().
 * Every append is an invoke and an ok (with its index) / fail / info in the history.
 */
export class LogWorkload implements Workload {
  readonly name = 'log';
  readonly writeFunction = 'append';
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  constructor(readonly options: WorkloadOptions) {}

  async run(ctx: WorkloadContext, signal: AbortSignal): Promise<void> {
    const producers = Array.from({ length: this.options.concurrency }, (_, k) => this.#produce(ctx, `p${k + 1}`, k, signal));
    await Promise.all([...producers, this.#follow(ctx, 'r1', signal), this.#poll(ctx, 'r2', signal)]);
  }

  async probe(ctx: WorkloadContext): Promise<boolean> {
    const client = new LogClient({ brokers: ctx.cluster.brokers(), timeoutMs: 10_000 });
    try {
      const outcome = await this.#appendOnce(ctx, client, 'final', `final-${ctx.history.nextOpId()}`);
      return outcome === 'ok';
    } finally {
      client.close();
    }
  }

  async check(ctx: WorkloadContext): Promise<readonly CheckerResult[]> {
    const nodeLogs = await readAgreedNodeLogs(() => Promise.all(ctx.cluster.ids.map((id) => this.#readNodeLog(ctx, id))), FINAL_READS);
    const events = ctx.history.events;
    const input = {
      ops: pairOps(events),
      reads: events.filter((e): e is ReadEvent => e.type === 'read'),
      readerGaps: events.filter((e): e is ReadGapEvent => e.type === 'read-gap'),
      finalLog: mergeNodeLogs(nodeLogs),
      nodeLogs,
    };
    ctx.log(`final logs: ${nodeLogs.map((n) => `${n.node} ${n.entries === null ? `unreadable (${n.error})` : `${n.entries.length} records from ${n.firstIndex ?? 1}, commit ${n.commitIndex}`}`).join('; ')}`);
    return [checkLost(input), checkDuplicated(input), checkProducerOrder(input), checkOffsets(input), checkAbortedRead(input), checkRealtime(input), checkReplicaAgreement(input, hashEntries)];
  }

  /** One sequential producer, paced so all of them together make `rate`. */
  async #produce(ctx: WorkloadContext, process: string, slot: number, signal: AbortSignal): Promise<void> {
    const client = new LogClient({ brokers: ctx.cluster.brokers(), timeoutMs: this.options.opTimeoutMs, connectTimeoutMs: 500, retryBackoff: { initialMs: 20, maxMs: 250 } });
    try {
      await runPaced(ctx, this.options, slot, signal, (seq) => this.#appendOnce(ctx, client, process, `${process}-${String(seq).padStart(6, '0')}`));
    } finally {
      client.close();
    }
  }

  /** One append op in the history (with blind retries when idempotence is off). */
  async #appendOnce(ctx: WorkloadContext, client: LogClient, process: string, value: string): Promise<'ok' | 'fail' | 'info'> {
    const opId = ctx.history.nextOpId();
    if (!ctx.history.add({ type: 'invoke', process, f: 'append', opId, value })) return 'fail';
    let unknown: string | null = null;
    for (let attempt = 0; attempt <= BLIND_RETRIES_MAX; attempt++) {
      try {
        const result = await client.append(this.#encoder.encode(value));
        ctx.history.add({ type: 'ok', process, f: 'append', opId, value, index: result.firstIndex, ...(attempt > 0 ? { error: `ok after ${attempt} blind retries` } : {}) });
        return 'ok';
      } catch (error) {
        const definite = error instanceof QuorumlogClientError && DEFINITE_FAILURES.has(error.code);
        const message = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error);
        if (error instanceof OutcomeUnknownError) unknown = message;
        const retry = !this.options.idempotence && error instanceof OutcomeUnknownError && attempt < BLIND_RETRIES_MAX;
        if (retry) continue;
        // After an unknown attempt, a later definite failure still leaves the first attempt's fate open.
        const type = definite && unknown === null ? 'fail' : 'info';
        ctx.history.add({ type, process, f: 'append', opId, value, error: unknown ?? message });
        return type;
      }
    }
    return 'info';
  }

  /** Reader r1: follow from index 1; a broken follow resumes after the last record seen. */
  async #follow(ctx: WorkloadContext, process: string, signal: AbortSignal): Promise<void> {
    const client = new LogClient({ brokers: ctx.cluster.brokers(), timeoutMs: 5_000, connectTimeoutMs: 500 });
    let next = 1;
    try {
      for (let restarts = 0; restarts < 100_000 && !signal.aborted && !ctx.history.full; restarts++) {
        try {
          for await (const record of client.follow(next, { signal })) {
            if (record.index < next) continue;
            next = record.index + 1;
            ctx.history.add({ type: 'read', process, index: record.index, value: this.#decoder.decode(record.payload) });
            if (ctx.history.full) break;
          }
        } catch (error) {
          if (error instanceof OutOfRangeError && error.earliestOffset > next) next = skipDeleted(ctx, process, next, error.earliestOffset);
          else await sleep(100, signal);
        }
      }
    } finally {
      client.close();
    }
  }

  /** Reader r2: polls read(next) at a steady interval, from whichever node serves it. */
  async #poll(ctx: WorkloadContext, process: string, signal: AbortSignal): Promise<void> {
    const client = new LogClient({ brokers: ctx.cluster.brokers(), timeoutMs: 2_000, connectTimeoutMs: 500 });
    let next = 1;
    try {
      for (let polls = 0; polls < 10_000_000 && !signal.aborted && !ctx.history.full; polls++) {
        try {
          const result = await client.read(next, { bytesMax: READ_MAX_BYTES });
          for (const record of result.records) ctx.history.add({ type: 'read', process, index: record.index, value: this.#decoder.decode(record.payload) });
          next = Math.max(next, result.nextIndex);
        } catch (error) {
          // Deleted below the earliest index kept: go on from there. Otherwise unavailable for now: poll again.
          if (error instanceof OutOfRangeError && error.earliestOffset > next) next = skipDeleted(ctx, process, next, error.earliestOffset);
        }
        await sleep(POLL_INTERVAL_MS, signal);
      }
    } finally {
      client.close();
    }
  }

  /**
   * One node's committed records, read from that node itself, from its first index (what it
   * has not compacted away) up to its commit index. A compaction during the read answers
   * OUT_OF_RANGE: the read starts again from the earliest index the node names.
   */
  async #readNodeLog(ctx: WorkloadContext, id: string): Promise<NodeLog> {
    const client = ctx.cluster.nodeClient(id, 10_000);
    try {
      const status = await client.status(ctx.cluster.brokers([id])[0]);
      const entries: LogEntry[] = [];
      let from = Math.max(1, status.firstIndex);
      let firstIndex = from;
      for (let calls = 0; calls < READ_CALLS_MAX && from <= status.commitIndex; calls++) {
        let result: Awaited<ReturnType<LogClient['read']>>;
        try {
          result = await client.read(from, { bytesMax: READ_MAX_BYTES });
        } catch (error) {
          if (!(error instanceof OutOfRangeError) || error.earliestOffset <= from) throw error;
          // Compacted under the read: start again from the earliest index kept, so the entries read have no hole.
          entries.length = 0;
          from = firstIndex = error.earliestOffset;
          continue;
        }
        for (const r of result.records) if (r.index <= status.commitIndex) entries.push({ index: r.index, term: r.term, value: this.#decoder.decode(r.payload) });
        if (result.nextIndex <= from) break;
        from = result.nextIndex;
      }
      return { node: id, entries, commitIndex: status.commitIndex, ...(firstIndex > 1 ? { firstIndex } : {}) };
    } catch (error) {
      return { node: id, entries: null, commitIndex: -1, error: error instanceof Error ? error.message : String(error) };
    } finally {
      client.close();
    }
  }
}

/** Errors after which the client guarantees nothing was written. */
const DEFINITE_FAILURES = new Set<string>([ErrorCode.unavailable, ErrorCode.invalidArgument, ErrorCode.resourceExhausted, ErrorCode.notFound]);

/** sha256 over (index, term, value) of each entry, in order. */
export function hashEntries(entries: readonly LogEntry[]): string {
  const hash = createHash('sha256');
  for (const e of entries) hash.update(`${e.index}\t${e.term}\t${e.value}\n`);
  return hash.digest('hex').slice(0, 16);
}
