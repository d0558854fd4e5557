import { Admin, AppendBatcher, Consumer, LogClient, Producer, type AppendAcks, type LogRecord } from '../client/index.js';
import { sleep, waitUntil, WaitTimeoutError } from '../process/index.js';
import { connection, type BenchTarget } from './bench-target.js';
import { GROUP_DRAIN_DEFAULTS } from './group-drain.js';
import { nowMs, PayloadFactory, sentMsOf } from './payload.js';
import { LatencyRecorder, perSecond, RateSeries, type LatencySummary } from './stats.js';

export interface ProduceOptions extends BenchTarget {
  readonly producers: number;
  /** Records each producer keeps unacknowledged. */
  readonly inflight: number;
  readonly sizeBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Let the client batch a producer's pending records into one Append request. */
  readonly clientBatching: boolean;
  /** Run the produce-to-consume follower (it reads every record back from the leader while producing). */
  readonly endToEnd: boolean;
  /** When a record counts as acknowledged (default 'all': committed). */
  readonly acks?: AppendAcks;
  /** Records per Append request at most, when batching (default: the batcher's). */
  readonly batchRecordsMax?: number;
  /**
   * Produce through the broker: a `Producer` per producer sending to this topic (which must
   * exist), and the end-to-end reader is a consumer group on it. Default: the plain log
   * (`LogClient.append`), read back with a follow stream.
   */
  readonly topic?: string;
  /** Called about once a second with what happened in that second. */
  readonly onProgress?: (progress: ProduceProgress) => void;
  readonly signal?: AbortSignal;
}

export interface ProduceProgress {
  readonly phase: 'warmup' | 'measure';
  readonly elapsedMs: number;
  readonly ackedInLastSecond: number;
  readonly errors: number;
}

/** One second of the measured window. */
export interface SecondSample {
  readonly second: number;
  readonly messages: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ProduceResult {
  readonly messages: number;
  readonly elapsedMs: number;
  readonly messagesPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly latency: LatencySummary;
  readonly endToEnd: LatencySummary;
  readonly errors: number;
  readonly firstError: string | null;
  readonly timeline: readonly SecondSample[];
  /** Log indexes the measured run wrote, for the drain (topic offsets when producing to a topic). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Records acknowledged in the whole run, warm-up and the wait for the last ones included. */
  readonly acknowledgedTotal: number;
  readonly clientCpuSeconds: number;
}

/** Longest the end waits for records still unacknowledged after sending stopped. */
const SETTLE_WAIT_MS = 30_000;

/**
 * N producers, each a LogClient of its own keeping `inflight` records outstanding (closed
 * loop: every acknowledgement sends the next record). Latency is send() to acknowledgement,
 * recorded for records sent within the measured window; throughput counts acknowledgements
 * within it. A follower of the log, started first, timestamps every record it receives
 * (produce-to-consume latency).
 */
export async function runProduce(options: ProduceOptions): Promise<ProduceResult> {
  const factory = new PayloadFactory(options.sizeBytes);
  const latency = new LatencyRecorder();
  const endToEnd = new LatencyRecorder();
  const acks = options.acks ?? 'all';
  const senders = options.topic === undefined ? logSenders(options, acks) : topicSenders(options, options.topic, acks);
  const reader = new LogClient(connection(options));
  const stopReader = new AbortController();
  const cpuStart = process.cpuUsage();
  try {
    const startIndex = (await reader.status()).lastIndex + 1;
    // Find the leader before the clock starts, so the first second is not a redirect.
    await senders.ready();
    const startMs = nowMs();
    const measureFromMs = startMs + options.warmupMs;
    const measureToMs = measureFromMs + options.durationMs;
    let measureEndMs = measureToMs;
    const rate = new RateSeries(measureFromMs);
    let second = new LatencyRecorder({ initialCapacity: 4096 });
    const timeline: SecondSample[] = [];
    let acked = 0;
    let ackedThisSecond = 0;
    let errors = 0;
    let firstError: string | null = null;
    let outstanding = 0;
    let minIndex = Number.POSITIVE_INFINITY;
    let maxIndex = 0;
    let acknowledgedTotal = 0;
    let stopped = false;

    const onReceived = (sentMs: number, receivedMs: number): void => {
      if (sentMs >= measureFromMs && sentMs < measureToMs) endToEnd.record(receivedMs - sentMs);
    };
    const follower = !options.endToEnd
      ? Promise.resolve()
      : options.topic === undefined
        ? followEndToEnd(reader, startIndex, stopReader.signal, onReceived)
        : consumeEndToEnd(options, options.topic, stopReader.signal, onReceived);

    const sendOne = (producer: number, sequence: number): void => {
      const sentMs = nowMs();
      const record = factory.make(producer, sequence, sentMs);
      outstanding++;
      senders.send(producer, record, (error: unknown, at: number): void => {
        outstanding--;
        const ackMs = nowMs();
        if (error !== null) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        } else {
          acknowledgedTotal++;
          ackedThisSecond++;
          if (sentMs >= measureFromMs && ackMs <= measureToMs) {
            acked++;
            latency.record(ackMs - sentMs);
            second.record(ackMs - sentMs);
            rate.add(ackMs);
            if (at < minIndex) minIndex = at;
            if (at > maxIndex) maxIndex = at;
          }
        }
        if (!stopped) sendOne(producer, sequence + options.inflight);
      });
    };
    for (let p = 0; p < options.producers; p++) for (let k = 0; k < options.inflight; k++) sendOne(p, k);

    // One progress line a second; the loop is bounded by the run's length.
    const ticks = Math.ceil((options.warmupMs + options.durationMs) / 1000) + 1;
    for (let t = 1; t <= ticks && !stopped; t++) {
      const untilMs = Math.min(startMs + t * 1000, measureToMs);
      await sleep(untilMs - nowMs(), options.signal);
      const now = nowMs();
      if (now > measureFromMs && now - 1000 < measureToMs && untilMs > measureFromMs) {
        const s = second.summary();
        timeline.push({ second: timeline.length, messages: s.count, p50Ms: s.p50Ms, p99Ms: s.p99Ms });
        second = new LatencyRecorder({ initialCapacity: 4096 });
      } else {
        second = new LatencyRecorder({ initialCapacity: 4096 });
      }
      options.onProgress?.({ phase: now < measureFromMs ? 'warmup' : 'measure', elapsedMs: now - startMs, ackedInLastSecond: ackedThisSecond, errors });
      ackedThisSecond = 0;
      if (now >= measureToMs || options.signal?.aborted === true) {
        stopped = true;
        measureEndMs = Math.min(now, measureToMs);
      }
    }
    stopped = true;
    await settle(() => outstanding === 0, 'the last sends to be answered', SETTLE_WAIT_MS);
    // Give the follower the records acknowledged last (bounded).
    if (options.endToEnd && options.signal?.aborted !== true) await settle(() => endToEnd.count >= acked, 'the follower to read every acknowledged record', 5_000);
    stopReader.abort();
    await follower;
    const elapsedMs = measureEndMs - measureFromMs;
    const cpu = process.cpuUsage(cpuStart);
    return {
      messages: acked,
      elapsedMs,
      messagesPerSecond: perSecond(acked, elapsedMs),
      megabytesPerSecond: (perSecond(acked, elapsedMs) * options.sizeBytes) / 1e6,
      latency: latency.summary(),
      endToEnd: endToEnd.summary(),
      errors,
      firstError,
      timeline,
      firstIndex: Number.isFinite(minIndex) ? minIndex : 0,
      lastIndex: maxIndex,
      acknowledgedTotal,
      clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    stopReader.abort();
    reader.close();
    await senders.close();
  }
}

/** How one producer's records go out: `settle` gets null and the record's log index (or topic offset), or the error. */
type Settle = (error: unknown, at: number) => void;

interface Senders {
  ready(): Promise<void>;
  send(producer: number, record: Uint8Array, settle: Settle): void;
  close(): Promise<void>;
}

/** Plain log appends: a LogClient per producer, its pending records batched into Append requests unless told not to. */
function logSenders(options: ProduceOptions, acks: AppendAcks): Senders {
  const clients = Array.from({ length: options.producers }, () => new LogClient(connection(options)));
  const batchers = clients.map((c) => (options.clientBatching ? new AppendBatcher(c, { acks, ...(options.batchRecordsMax === undefined ? {} : { batchRecordsMax: options.batchRecordsMax }) }) : null));
  return {
    ready: async () => {
      await Promise.all(clients.map((c) => c.status()));
    },
    send: (producer, record, settle) => {
      const batcher = batchers[producer];
      if (batcher !== null && batcher !== undefined) batcher.sendWith(record, settle);
      else {
        clients[producer]?.append(record, { acks }).then(
          (r) => settle(null, r.firstIndex),
          (error: unknown) => settle(error, 0),
        );
      }
    },
    close: async () => {
      for (const c of clients) c.close();
    },
  };
}

/**
 * Through the broker: a Producer per producer (idempotent with acks all), sending at once
 * (no linger: like the log path, what piles up while its requests are in flight goes
 * together), at most `batchRecordsMax` messages a batch, one without client batching.
 */
function topicSenders(options: ProduceOptions, topic: string, acks: AppendAcks): Senders {
  const batchMessagesMax = options.clientBatching ? options.batchRecordsMax : 1;
  const producers = Array.from(
    { length: options.producers },
    () => new Producer({ ...connection(options), acks, lingerMs: 0, ...(batchMessagesMax === undefined ? {} : { batchMessagesMax }), log: () => {} }),
  );
  return {
    // The producers find the leader with their first batch, in the warm-up.
    ready: () => Promise.resolve(),
    send: (producer, record, settle) => {
      producers[producer]?.send(topic, { payload: record }).then(
        (r) => settle(null, r.offset ?? (r.status === 'leaderDurable' ? r.logIndex : 0)),
        (error: unknown) => settle(error, 0),
      );
    },
    close: async () => {
      await Promise.all(producers.map((p) => p.close()));
    },
  };
}

export interface DrainResult {
  readonly messages: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly messagesPerSecond: number;
  readonly megabytesPerSecond: number;
}

/**
 * Reads [from, through] with one follow stream and touches every record (decodes its send
 * time), as a consumer would before acknowledging it. There are no consumer-group acks
 * yet: they come with the broker.
 */
export async function runDrain(options: BenchTarget & { readonly from: number; readonly through: number; readonly timeoutMs: number }): Promise<DrainResult> {
  const client = new LogClient(connection(options));
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), options.timeoutMs);
  let messages = 0;
  let bytes = 0;
  let checksum = 0;
  const startMs = nowMs();
  let endMs = startMs;
  try {
    for await (const batch of client.followBatches(options.from, { signal: stop.signal })) {
      for (const record of batch) {
        messages++;
        bytes += record.payload.length;
        checksum += sentMsOf(record.payload) ?? 0;
      }
      const last = batch.at(-1);
      if (last !== undefined && last.index >= options.through) break;
    }
    endMs = nowMs();
  } finally {
    clearTimeout(timer);
    stop.abort();
    client.close();
  }
  if (checksum < 0) throw new Error('unreachable: send times are positive');
  const elapsedMs = endMs - startMs;
  return { messages, bytes, elapsedMs, messagesPerSecond: perSecond(messages, elapsedMs), megabytesPerSecond: perSecond(bytes, elapsedMs) / 1e6 };
}

async function followEndToEnd(client: LogClient, from: number, signal: AbortSignal, onRecord: (sentMs: number, receivedMs: number) => void): Promise<void> {
  try {
    for await (const batch of client.followBatches(from, { signal })) {
      const receivedMs = nowMs();
      for (const record of batch as readonly LogRecord[]) {
        const sent = sentMsOf(record.payload);
        if (sent !== null) onRecord(sent, receivedMs);
      }
    }
  } catch {
    // The follower is a measurement aid: a failure shows as missing end-to-end samples.
  }
}

/**
 * The end-to-end reader of a topic: a consumer group from its start, acking what it takes,
 * with the group drain's prefetch (4,000), so that what the consumer may hold unacked is
 * never what holds it back.
 */
async function consumeEndToEnd(target: BenchTarget, topic: string, signal: AbortSignal, onRecord: (sentMs: number, receivedMs: number) => void): Promise<void> {
  const group = `bench-e2e-${Date.now()}`;
  const consumer = new Consumer({ ...connection(target), group, topic, from: 'earliest', prefetch: GROUP_DRAIN_DEFAULTS.prefetch, onError: () => undefined });
  const stop = (): void => void consumer.close();
  signal.addEventListener('abort', stop, { once: true });
  try {
    // Bounded by the run: close() on the abort ends the iteration.
    for await (const m of consumer) {
      const sent = sentMsOf(m.payload);
      if (sent !== null) onRecord(sent, nowMs());
      void m.ack();
    }
  } catch {
    // A measurement aid, as followEndToEnd: a failure shows as missing end-to-end samples.
  } finally {
    signal.removeEventListener('abort', stop);
    await consumer.close();
    const admin = new Admin(connection(target));
    await admin.deleteGroup(group).catch(() => undefined);
    admin.close();
  }
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes; either way the run goes on. */
async function settle(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  await waitUntil(condition, { timeoutMs, intervalMs: 20, what }).catch((error: unknown) => {
    if (!(error instanceof WaitTimeoutError)) throw error;
  });
}
