import { Admin, Consumer, LogClient, type BrokerMessage } from '../client/index.js';
import { connection, type BenchTarget } from './bench-target.js';
import { nowMs } from './payload.js';
import { perSecond } from './stats.js';

export interface GroupDrainResult {
  readonly messages: number;
  readonly bytes: number;
  readonly prefetch: number;
  /** From the consumer's start to the group's committed offset covering every message. */
  readonly elapsedMs: number;
  readonly messagesPerSecond: number;
  readonly megabytesPerSecond: number;
  /** Acks that failed (each is redelivered, so the drain still ends). */
  readonly ackErrors: number;
}

export const GROUP_DRAIN_DEFAULTS = {
  prefetch: 4_000,
  fillBatch: 256,
  fillInFlight: 8,
  pollMs: 5,
} as const;

export interface GroupDrainOptions extends BenchTarget {
  /** Messages to drain: those the phase writes to a fresh topic, or the first ones of `topic`. */
  readonly messages: number;
  readonly sizeBytes: number;
  readonly timeoutMs: number;
  readonly prefetch?: number;
  /** A topic already written (at least `messages` long): drained as it is, nothing filled. */
  readonly topic?: string;
}

/**
 * The consumer-group drain: fills a fresh topic with `messages` messages of `sizeBytes`
 * (not measured), or takes `topic` as it is, then one Consumer of a new group drains the
 * first `messages`, acking every message, and the time runs until the group's committed
 * offset covers them all: every ack durable in the replicated group state, as the drain
 * row of the reference table measures.
 */
export async function runGroupDrain(options: GroupDrainOptions): Promise<GroupDrainResult> {
  const topic = options.topic ?? `bench-drain-${Date.now()}`;
  const group = `bench-drain-${Date.now()}`;
  const messages = options.messages;
  const prefetch = options.prefetch ?? GROUP_DRAIN_DEFAULTS.prefetch;
  const client = new LogClient(connection(options));
  const admin = new Admin(connection(options));
  // Ack failures are counted (ackErrors), not logged one by one.
  const consumer = new Consumer({ ...connection(options), group, topic, prefetch, from: 'earliest', onError: () => undefined });
  const deadlineMs = Date.now() + options.timeoutMs;
  try {
    if (options.topic === undefined) {
      await client.createTopic(topic);
      await fill(client, topic, messages, options.sizeBytes);
    }
    let taken = 0;
    let bytes = 0;
    let ackErrors = 0;
    const startMs = nowMs();
    // Bounded by `messages`: the loop breaks once every message has been taken.
    for await (const m of consumer) {
      bytes += m.payload.length;
      m.ack().catch(() => ackErrors++);
      if (++taken >= messages) break;
      if (Date.now() > deadlineMs) throw new Error(`group drain: ${taken} of ${messages} taken within ${options.timeoutMs} ms`);
    }
    // Bounded by the deadline: the acks made above commit in a few batches.
    while ((await admin.describeGroup(group)).committedOffset < messages) {
      if (Date.now() > deadlineMs) throw new Error(`group drain: acks not committed within ${options.timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, GROUP_DRAIN_DEFAULTS.pollMs));
    }
    const elapsedMs = nowMs() - startMs;
    return { messages: taken, bytes, prefetch, elapsedMs, messagesPerSecond: perSecond(taken, elapsedMs), megabytesPerSecond: perSecond(bytes, elapsedMs) / 1e6, ackErrors };
  } finally {
    await consumer.close();
    // Leave a cluster given with --brokers as it was: the group, and the topic if filled here.
    await admin.deleteGroup(group).catch(() => undefined);
    if (options.topic === undefined) await client.deleteTopic(topic).catch(() => undefined);
    admin.close();
    client.close();
  }
}

async function fill(client: LogClient, topic: string, messages: number, sizeBytes: number): Promise<void> {
  const payload = new Uint8Array(sizeBytes).fill(0x61);
  const batch = (count: number): BrokerMessage[] => Array.from({ length: count }, () => ({ key: new Uint8Array(), headers: [], payload, timestampMs: Date.now() }));
  let inFlight: Promise<unknown>[] = [];
  for (let k = 0; k < messages; k += GROUP_DRAIN_DEFAULTS.fillBatch) {
    inFlight.push(client.produce({ topic, producerId: 0, firstSequence: 0, messages: batch(Math.min(GROUP_DRAIN_DEFAULTS.fillBatch, messages - k)) }));
    if (inFlight.length >= GROUP_DRAIN_DEFAULTS.fillInFlight) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
}
