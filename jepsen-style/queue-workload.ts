import * as path from 'node:path';

import { Admin, AlreadyExistsError, InvalidArgumentError, LogClient, NotFoundError, OutOfRangeError, Producer } from '../src/client/index.js';
import type { CheckerResult } from './checkers/checker-result.js';
import { checkAbortedRead, checkDuplicated, checkLost, checkOffsets, checkProducerOrder, checkRealtime, checkReplicaAgreement, mergeNodeLogs, type LogCheckInput, type LogEntry, type NodeLog } from './checkers/log-checkers.js';
import { checkConsumer, type FinalGroup } from './checkers/queue-checkers.js';
import { ConsumerPool } from './consumer-pool.js';
import { pairOps, type ConsumeEvent, type GroupEvent, type ReadEvent, type ReadGapEvent } from './history.js';
import { hashEntries } from './log-workload.js';
import { sleep, waitUntil } from '../src/process/index.js';
import { runPaced, skipDeleted, type Workload, type WorkloadContext, type WorkloadOptions } from './workload.js';

export const QUEUE_TOPIC = 'jepsen';
export const QUEUE_GROUP = 'jepsen-group';
/** Deliveries unacked this long go out again; retries wait 50 ms; a message dead-letters only after 1,000 retries (never, here). */
const GROUP_SETTINGS = { ackDeadlineMs: 5_000, retryDelaysMs: [50], retriesMax: 1_000 } as const;
const PREFETCH = 32;
const FETCH_MAX_BYTES = 256 * 1024;
const FETCH_CALLS_MAX = 100_000;
const POLL_INTERVAL_MS = 200;
const GROUP_POLL_INTERVAL_MS = 500;
const SETUP_TIMEOUT_MS = 30_000;
/** Once the cluster has recovered, the group must finish every message; it may take this long without progress, and this long in all. */
const DRAIN_STALL_MS = 30_000;
const DRAIN_MS_MAX = 600_000;
const DRAIN_POLL_MS = 250;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The broker as a queue: `concurrency` sequential producers (each a Producer, idempotent
 * with unlimited retries unless --no-idempotence) send unique values ("p3-000042") to one
 * topic at `rate` in total; `consumers` consumer processes of one group process each
 * message (taking `consumerWorkMs`) and ack it after; reader f1 polls the topic with fetch;
 * the group is described on every node twice a second. Consumers are killed -9 every few
 * seconds unless consumerKills is off. Once the cluster recovered, the group must finish
 * every message; then the topic and the group are read back from every node and checked.
 */
export class QueueWorkload implements Workload {
  readonly name = 'queue';
  readonly writeFunction = 'send';
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();
  #pool: ConsumerPool | null = null;
  readonly #stopMonitor = new AbortController();
  #monitor: Promise<void> = Promise.resolve();

  constructor(readonly options: WorkloadOptions) {}

  async run(ctx: WorkloadContext, signal: AbortSignal): Promise<void> {
    await this.#setUp(ctx);
    const pool = new ConsumerPool({
      slots: this.options.consumers,
      consumer: { brokers: ctx.cluster.brokers(), topic: QUEUE_TOPIC, group: QUEUE_GROUP, prefetch: PREFETCH, autoAck: this.options.autoAck, workMs: this.options.consumerWorkMs },
      scriptPath: path.resolve(path.dirname(ctx.cluster.config.cliPath), '..', '..', 'jepsen-style', 'consumer-process.js'),
      runDir: ctx.cluster.config.runDir,
      history: ctx.history,
      log: ctx.log,
    });
    this.#pool = pool;
    await pool.start();
    this.#monitor = this.#watchGroup(ctx, this.#stopMonitor.signal);
    const producers = Array.from({ length: this.options.concurrency }, (_, k) => this.#produce(ctx, `p${k + 1}`, k, signal));
    const killer = this.options.consumerKills ? pool.killUntil(signal, ctx.random.derive('consumer-kills')) : Promise.resolve();
    await Promise.all([...producers, this.#poll(ctx, 'f1', signal), killer]);
  }

  async probe(ctx: WorkloadContext): Promise<boolean> {
    // Idempotent whatever the run's setting: this one proves the cluster takes writes again.
    const producer = new Producer({ brokers: ctx.cluster.brokers(), deliveryTimeoutMs: PROBE_TIMEOUT_MS, lingerMs: 0 });
    try {
      return (await this.#sendOnce(ctx, producer, 'final', `final-${ctx.history.nextOpId()}`)) === 'ok';
    } finally {
      await producer.close();
    }
  }

  async check(ctx: WorkloadContext): Promise<readonly CheckerResult[]> {
    const drained = await this.#waitForGroupToFinish(ctx);
    ctx.log(`group: ${drained}`);
    await this.close();
    const nodeLogs = await Promise.all(ctx.cluster.ids.map((id) => this.#readTopic(ctx, id)));
    const finalGroups = await Promise.all(ctx.cluster.ids.map((id) => this.#describe(ctx, id)));
    const finalTopic = mergeNodeLogs(nodeLogs);
    ctx.log(`final topic: ${nodeLogs.map((n) => `${n.node} ${n.entries === null ? `unreadable (${n.error})` : `${n.entries.length} messages from offset ${n.firstIndex ?? 0}`}`).join('; ')}; group: ${finalGroups.map((g) => ('error' in g ? `${g.node} ${g.error}` : `${g.node} committed ${g.committedOffset} lag ${g.lag}`)).join('; ')}`);
    const events = ctx.history.events;
    const ops = pairOps(events);
    const consumes = events.filter((e): e is ConsumeEvent => e.type === 'consume');
    const committed = Math.max(-1, ...finalGroups.map((g) => ('committedOffset' in g ? g.committedOffset : -1)));
    const input: LogCheckInput = {
      ops,
      reads: events.filter((e): e is ReadEvent => e.type === 'read'),
      readerGaps: events.filter((e): e is ReadGapEvent => e.type === 'read-gap'),
      finalLog: finalTopic,
      nodeLogs,
      // keep-unconsumed deletes no message the group has not acked past.
      ...(this.options.retentionPolicy === 'keep-unconsumed' ? { deletionAllowedBelow: Math.max(0, committed) } : {}),
    };
    // What consumers were handed counts as reads for offsets and aborted reads, not for the
    // reader checks (redeliveries go back and repeat by design).
    const seenByConsumers: ReadEvent[] = consumes.map((c) => ({ type: 'read', timeMs: c.timeMs, process: c.process, index: c.offset, value: c.value }));
    const withConsumers: LogCheckInput = { ...input, reads: [...input.reads, ...seenByConsumers] };
    return [
      checkLost(input),
      checkDuplicated(input),
      checkProducerOrder(input),
      checkOffsets(withConsumers),
      checkAbortedRead(withConsumers),
      checkRealtime(input),
      checkReplicaAgreement(input, hashEntries),
      checkConsumer({
        sends: ops.filter((op) => op.f === 'send'),
        acks: ops.filter((op) => op.f === 'ack'),
        consumes,
        groupViews: events.filter((e): e is GroupEvent => e.type === 'group'),
        finalTopic,
        finalGroups,
      }),
    ];
  }

  /** Stops the group monitor and the consumers (gracefully); safe to call twice. */
  async close(): Promise<void> {
    this.#stopMonitor.abort();
    await this.#monitor;
    await this.#pool?.stop();
  }

  /** The topic and the group, created once a leader takes them (a retry after an unknown outcome finds them made). */
  async #setUp(ctx: WorkloadContext): Promise<void> {
    const admin = new Admin({ brokers: ctx.cluster.brokers(), timeoutMs: 5_000, connectTimeoutMs: 500 });
    const made = (error: unknown): boolean => error instanceof AlreadyExistsError;
    try {
      await waitUntil(() => admin.createTopic(QUEUE_TOPIC).then(() => true, (error: unknown) => (made(error) ? true : Promise.reject(error))), { timeoutMs: SETUP_TIMEOUT_MS, what: `topic ${QUEUE_TOPIC}` });
      await waitUntil(() => admin.createGroup(QUEUE_GROUP, QUEUE_TOPIC, { start: 'earliest', settings: GROUP_SETTINGS }).then(() => true, (error: unknown) => (made(error) ? true : Promise.reject(error))), { timeoutMs: SETUP_TIMEOUT_MS, what: `group ${QUEUE_GROUP}` });
    } finally {
      admin.close();
    }
  }

  /** One sequential producer, paced so all of them together make `rate`. */
  async #produce(ctx: WorkloadContext, process: string, slot: number, signal: AbortSignal): Promise<void> {
    const producer = new Producer({
      brokers: ctx.cluster.brokers(),
      idempotence: this.options.idempotence,
      requestTimeoutMs: this.options.opTimeoutMs,
      retryBackoff: { initialMs: 20, maxMs: 250 },
      lingerMs: 0,
      log: (line) => ctx.log(`${process}: ${line}`),
    });
    try {
      await runPaced(ctx, this.options, slot, signal, (seq) => this.#sendOnce(ctx, producer, process, `${process}-${String(seq).padStart(6, '0')}`));
    } finally {
      await producer.close();
    }
  }

  /** One send in the history: ok with its offset, fail when refused outright, info for anything else. */
  async #sendOnce(ctx: WorkloadContext, producer: Producer, process: string, value: string): Promise<'ok' | 'fail' | 'info'> {
    const opId = ctx.history.nextOpId();
    if (!ctx.history.add({ type: 'invoke', process, f: 'send', opId, value })) return 'fail';
    try {
      const result = await producer.send(QUEUE_TOPIC, { payload: this.#encoder.encode(value) });
      if (result.status !== 'acknowledged') {
        ctx.history.add({ type: 'info', process, f: 'send', opId, value, error: `resolved ${result.status}` });
        return 'info';
      }
      ctx.history.add({ type: 'ok', process, f: 'send', opId, value, index: result.offset });
      return 'ok';
    } catch (error) {
      // The Producer retries whatever may heal; what it gives up on was either refused (nothing
      // written) or timed out / lost its id with an attempt unanswered (unknown).
      const definite = error instanceof NotFoundError || error instanceof InvalidArgumentError;
      const type = definite ? 'fail' : 'info';
      ctx.history.add({ type, process, f: 'send', opId, value, error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error) });
      return type;
    }
  }

  /** Reader f1: polls fetch(next) from whichever node serves it. */
  async #poll(ctx: WorkloadContext, process: string, signal: AbortSignal): Promise<void> {
    const client = new LogClient({ brokers: ctx.cluster.brokers(), timeoutMs: 2_000, connectTimeoutMs: 500 });
    let next = 0;
    try {
      for (let polls = 0; polls < 10_000_000 && !signal.aborted && !ctx.history.full; polls++) {
        try {
          const result = await client.fetch(QUEUE_TOPIC, next, { bytesMax: FETCH_MAX_BYTES });
          for (const m of result.messages) ctx.history.add({ type: 'read', process, index: m.offset, value: this.#decoder.decode(m.payload) });
          next = Math.max(next, result.nextOffset);
        } catch (error) {
          // Deleted below the earliest offset kept: go on from there. Otherwise unavailable for now: poll again.
          if (error instanceof OutOfRangeError && error.earliestOffset > next) next = skipDeleted(ctx, process, next, error.earliestOffset);
        }
        await sleep(POLL_INTERVAL_MS, signal);
      }
    } finally {
      client.close();
    }
  }

  /** Describes the group on every node twice a second, each answer tagged with the node's start count. */
  async #watchGroup(ctx: WorkloadContext, signal: AbortSignal): Promise<void> {
    const { cluster, history } = ctx;
    const admins = cluster.ids.map((id) => ({ id, admin: new Admin({ brokers: cluster.brokers([id]), timeoutMs: 1_000, connectTimeoutMs: 500 }) }));
    try {
      for (let polls = 0; polls < 10_000_000 && !signal.aborted; polls++) {
        await Promise.all(admins.map(async ({ id, admin }) => {
          if (cluster.state(id) !== 'running') return;
          const incarnation = cluster.startsOf(id);
          const group = await admin.describeGroup(QUEUE_GROUP).catch(() => null);
          if (group === null || cluster.startsOf(id) !== incarnation) return;
          history.add({ type: 'group', node: id, incarnation, group: QUEUE_GROUP, committedOffset: group.committedOffset, lag: group.lag });
        }));
        await sleep(GROUP_POLL_INTERVAL_MS, signal);
      }
    } finally {
      for (const { admin } of admins) admin.close();
    }
  }

  /**
   * Waits until every node says the group has nothing left (lag 0) at the same committed
   * offset. A group still working through a backlog (consumers slower than the producers)
   * may take as long as it keeps moving: the wait gives up after DRAIN_STALL_MS without the
   * committed offset growing, or after DRAIN_MS_MAX in all.
   */
  async #waitForGroupToFinish(ctx: WorkloadContext): Promise<string> {
    const startedMs = Date.now();
    let best = -1;
    let movedMs = startedMs;
    let last = 'never described';
    for (let k = 0; k < DRAIN_MS_MAX / DRAIN_POLL_MS && Date.now() - startedMs < DRAIN_MS_MAX && Date.now() - movedMs < DRAIN_STALL_MS; k++) {
      const groups = await Promise.all(ctx.cluster.ids.map((id) => this.#describe(ctx, id)));
      const readable = groups.filter((g): g is Extract<FinalGroup, { committedOffset: number }> => 'committedOffset' in g);
      const committed = Math.max(-1, ...readable.map((g) => g.committedOffset));
      if (committed > best) {
        best = committed;
        movedMs = Date.now();
      }
      if (readable.length === groups.length && readable.every((g) => g.lag === 0) && new Set(readable.map((g) => g.committedOffset)).size === 1) {
        return `finished every message ${Date.now() - startedMs} ms after recovery`;
      }
      last = JSON.stringify(groups.find((g) => 'error' in g || g.lag !== 0) ?? groups);
      await sleep(DRAIN_POLL_MS);
    }
    return `did not finish in ${Date.now() - startedMs} ms (committed offset last grew ${Date.now() - movedMs} ms before): ${last}`;
  }

  async #describe(ctx: WorkloadContext, id: string): Promise<FinalGroup> {
    const admin = new Admin({ brokers: ctx.cluster.brokers([id]), timeoutMs: 5_000, connectTimeoutMs: 1_000 });
    try {
      const g = await admin.describeGroup(QUEUE_GROUP);
      return { node: id, committedOffset: g.committedOffset, lag: g.lag, dead: g.dead };
    } catch (error) {
      return { node: id, error: error instanceof Error ? error.message : String(error) };
    } finally {
      admin.close();
    }
  }

  /**
   * The topic as one node has applied it, read from that node (offsets as indexes, term 0),
   * from the earliest offset it keeps: a fetch below it answers OUT_OF_RANGE naming it, and
   * the read starts again from there.
   */
  async #readTopic(ctx: WorkloadContext, id: string): Promise<NodeLog> {
    const client = ctx.cluster.nodeClient(id, 10_000);
    const address = ctx.cluster.brokers([id])[0];
    try {
      const entries: LogEntry[] = [];
      let from = 0;
      let firstOffset = 0;
      let end = 0;
      for (let calls = 0; calls < FETCH_CALLS_MAX; calls++) {
        let result: Awaited<ReturnType<LogClient['fetch']>>;
        try {
          result = await client.fetch(QUEUE_TOPIC, from, { bytesMax: FETCH_MAX_BYTES, ...(address === undefined ? {} : { address }) });
        } catch (error) {
          if (!(error instanceof OutOfRangeError) || error.earliestOffset <= from) throw error;
          entries.length = 0;
          from = firstOffset = error.earliestOffset;
          continue;
        }
        for (const m of result.messages) entries.push({ index: m.offset, term: 0, value: this.#decoder.decode(m.payload) });
        end = result.endOffset;
        if (result.nextOffset <= from || result.nextOffset >= end) break;
        from = result.nextOffset;
      }
      return { node: id, entries, commitIndex: end, ...(firstOffset > 0 ? { firstIndex: firstOffset } : {}) };
    } catch (error) {
      return { node: id, entries: null, commitIndex: -1, error: error instanceof Error ? error.message : String(error) };
    } finally {
      client.close();
    }
  }
}
