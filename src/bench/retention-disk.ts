import { Consumer, LogClient, Producer } from '../client/index.js';
import { sleep } from '../process/index.js';
import { dataDirBytes } from './data-dir-bytes.js';
import type { LocalCluster } from './local-cluster.js';
import { nowMs } from './payload.js';
import { slope } from './stats.js';

export interface RetentionOptions {
  readonly cluster: LocalCluster;
  readonly durationMs: number;
  /** How often each data directory is measured. */
  readonly sampleMs: number;
  /** Messages produced per second, each its own Produce request (one log entry). */
  readonly ratePerSecond: number;
  readonly messageBytes: number;
  /** The nodes' --segment-bytes: the flat verdict allows two segments of noise. */
  readonly segmentBytes: number;
  readonly onProgress?: (text: string) => void;
  readonly signal?: AbortSignal;
}

/** One measurement of every node's data directory, `atMs` after the start. */
export interface DiskSample {
  readonly atMs: number;
  readonly bytes: readonly number[];
}

export interface NodeDiskTrend {
  readonly id: string;
  readonly firstBytes: number;
  readonly maxBytes: number;
  readonly lastBytes: number;
  /** Least-squares slope of the second half's samples. */
  readonly secondHalfBytesPerMinute: number;
  /**
   * The slope held over the second half is within max(2 segments, 10% of the second half's
   * mean): the directory stopped growing once retention deleted as fast as the load wrote.
   */
  readonly flat: boolean;
}

export interface RetentionResult {
  readonly durationMs: number;
  readonly produced: number;
  readonly produceErrors: number;
  readonly firstProduceError: string | null;
  /** Messages the group took (each acked). */
  readonly consumed: number;
  /** The leader's first and last log index at the end: entries below firstIndex were deleted. */
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly samples: readonly DiskSample[];
  readonly nodes: readonly NodeDiskTrend[];
}

/** Ticks of the fixed-rate producer per second. */
const TICKS_PER_SECOND = 10;

/**
 * A steady load at a fixed rate on a running cluster: a Producer sends `ratePerSecond`
 * messages a second (one request each, so one log entry each), a consumer group takes and
 * acks every one, and every data directory is measured (du-like) every `sampleMs`.
 */
export async function runRetentionDisk(options: RetentionOptions): Promise<RetentionResult> {
  const brokers = options.cluster.clientAddresses;
  const topic = `retention-${Date.now()}`;
  const client = new LogClient({ brokers });
  await client.createTopic(topic);
  // One message a request, so the log grows by one entry a message (snapshots every N entries
  // then come at a known pace); not idempotent, since idempotence allows only 5 requests in flight.
  const producer = new Producer({ brokers, idempotence: false, lingerMs: 0, batchMessagesMax: 1, inFlightPerTopicMax: 32, log: () => {} });
  const consumer = new Consumer({ brokers, group: `${topic}-group`, topic, from: 'earliest', prefetch: 1_000, onError: () => undefined });
  const payload = new Uint8Array(options.messageBytes).fill(0x64);
  let produced = 0;
  let produceErrors = 0;
  let firstProduceError: string | null = null;
  let outstanding = 0;
  let consumed = 0;
  const consuming = (async () => {
    try {
      // Ends when close() below ends the iteration.
      for await (const m of consumer) {
        consumed++;
        void m.ack().catch(() => undefined);
      }
    } catch {
      // Counted as fewer consumed.
    }
  })();
  const samples: DiskSample[] = [];
  const ids = options.cluster.ids;
  const startMs = nowMs();
  const measure = (): void => {
    samples.push({ atMs: nowMs() - startMs, bytes: ids.map((id) => dataDirBytes(options.cluster.dataDirOf(id))) });
  };
  try {
    measure();
    let nextSampleMs = startMs + options.sampleMs;
    const perTick = options.ratePerSecond / TICKS_PER_SECOND;
    let owed = 0;
    const ticks = Math.ceil((options.durationMs / 1000) * TICKS_PER_SECOND);
    // Bounded by the run's length in ticks.
    for (let tick = 1; tick <= ticks && options.signal?.aborted !== true; tick++) {
      owed += perTick;
      // At most a second's worth unanswered: a cluster that falls behind gets no backlog.
      while (owed >= 1 && outstanding < options.ratePerSecond) {
        owed--;
        outstanding++;
        producer.send(topic, { payload }).then(
          () => {
            outstanding--;
            produced++;
          },
          (error: unknown) => {
            outstanding--;
            produceErrors++;
            firstProduceError ??= error instanceof Error ? error.message : String(error);
          },
        );
      }
      owed = Math.min(owed, perTick);
      if (nowMs() >= nextSampleMs) {
        measure();
        nextSampleMs += options.sampleMs;
        options.onProgress?.(`${((nowMs() - startMs) / 1000).toFixed(0)}/${(options.durationMs / 1000).toFixed(0)} s, ${produced.toLocaleString('en-US')} produced, ${consumed.toLocaleString('en-US')} consumed, n1 ${((samples.at(-1)?.bytes[0] ?? 0) / 1e6).toFixed(1)} MB`);
      }
      await sleep(startMs + (tick * 1000) / TICKS_PER_SECOND - nowMs(), options.signal);
    }
    measure();
    const status = await client.statusAll();
    const leader = status.find((s) => 'role' in s && s.role === 'leader');
    return {
      durationMs: nowMs() - startMs,
      produced,
      produceErrors,
      firstProduceError,
      consumed,
      firstIndex: leader !== undefined && 'firstIndex' in leader ? leader.firstIndex : 0,
      lastIndex: leader !== undefined && 'lastIndex' in leader ? leader.lastIndex : 0,
      samples,
      nodes: ids.map((id, k) => diskTrend(id, samples.map((s) => ({ atMs: s.atMs, bytes: s.bytes[k] ?? 0 })), options.segmentBytes)),
    };
  } finally {
    await producer.close();
    await consumer.close();
    await consuming;
    await client.close();
  }
}

/** First, max and last of one node's samples, and the slope of their second half. */
export function diskTrend(id: string, samples: readonly { readonly atMs: number; readonly bytes: number }[], segmentBytes: number): NodeDiskTrend {
  const bytes = samples.map((s) => s.bytes);
  const endMs = samples.at(-1)?.atMs ?? 0;
  const half = samples.filter((s) => s.atMs >= endMs / 2);
  const perMs = slope(half.map((s) => ({ x: s.atMs, y: s.bytes })));
  const halfMs = endMs - (half[0]?.atMs ?? endMs);
  const halfMean = half.reduce((sum, s) => sum + s.bytes, 0) / Math.max(1, half.length);
  return {
    id,
    firstBytes: bytes[0] ?? 0,
    maxBytes: Math.max(0, ...bytes),
    lastBytes: bytes.at(-1) ?? 0,
    secondHalfBytesPerMinute: perMs * 60_000,
    flat: half.length >= 2 && Math.abs(perMs * halfMs) <= Math.max(2 * segmentBytes, 0.1 * halfMean),
  };
}
