/**
 * One consumer of the queue workload, in its own process so that kill -9 of a consumer
 * means what it means in production. Run by consumer-pool.ts from dist/:
 *   node dist/jepsen-style/consumer-process.js '<ConsumerProcessConfig as JSON>'
 * It prints one JSON object per line (ConsumerLine): each message when received, again
 * once processed (written to the pipe before its ack is sent), and each ack's answer. With
 * autoAck the Consumer acks each message as it is handed out and this process buffers up to
 * `prefetch` of them before working through them (the loss this workload must detect), so no
 * ack lines.
 * SIGTERM closes it gracefully (acks in flight are answered, what it holds is released).
 */
import { Consumer, InvalidArgumentError, NotFoundError, type ConsumedMessage } from '../src/client/index.js';

export interface ConsumerProcessConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly group: string;
  readonly consumerId: string;
  readonly prefetch: number;
  readonly autoAck: boolean;
  /** Time each message's "work" takes, ms. */
  readonly workMs: number;
}

/** What the process prints, one per line. o: offset, d: delivery, v: value. */
export type ConsumerLine =
  | { readonly t: 'started' }
  | { readonly t: 'received' | 'processed'; readonly o: number; readonly d: number; readonly v: string }
  | { readonly t: 'acked'; readonly o: number; readonly d: number; readonly r: string }
  | { readonly t: 'ack-failed'; readonly o: number; readonly d: number; readonly e: string; readonly unknown: boolean }
  | { readonly t: 'error'; readonly e: string }
  | { readonly t: 'closed' };

/** The Consumer gives up on a stream no broker serves for this long (then this process exits and is restarted). */
const STREAM_TIMEOUT_MS = 60_000;

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ConsumerProcessConfig;
  const decoder = new TextDecoder();
  const consumer = new Consumer({
    brokers: config.brokers,
    topic: config.topic,
    group: config.group,
    consumerId: config.consumerId,
    prefetch: config.prefetch,
    autoAck: config.autoAck,
    timeoutMs: STREAM_TIMEOUT_MS,
    connectTimeoutMs: 500,
    retryBackoff: { initialMs: 20, maxMs: 250 },
  });
  const say = (line: ConsumerLine): Promise<void> => new Promise((resolve) => process.stdout.write(`${JSON.stringify(line)}\n`, () => resolve()));
  process.once('SIGTERM', () => void consumer.close());
  await say({ t: 'started' });
  try {
    const work = async (m: ConsumedMessage): Promise<void> => {
      const base = { o: m.offset, d: m.delivery, v: decoder.decode(m.payload) };
      if (config.workMs > 0) await new Promise((resolve) => setTimeout(resolve, config.workMs));
      // In the pipe before the ack leaves: a kill between the two leaves it processed and unacked.
      await say({ t: 'processed', ...base });
    };
    if (config.autoAck) {
      // The seed's loss: handed-out messages (each auto-acked as it is handed out) wait in an
      // in-memory buffer of up to `prefetch` before they are worked through.
      const messages = consumer[Symbol.asyncIterator]();
      // Bounded: each round takes at most `prefetch`, and the stream ends on close.
      for (;;) {
        const buffer: ConsumedMessage[] = [];
        while (buffer.length < config.prefetch) {
          const next = await messages.next();
          if (next.done === true) break;
          buffer.push(next.value);
          void say({ t: 'received', o: next.value.offset, d: next.value.delivery, v: decoder.decode(next.value.payload) });
        }
        if (buffer.length === 0) break;
        for (const m of buffer) await work(m);
      }
    } else {
      for await (const m of consumer) {
        void say({ t: 'received', o: m.offset, d: m.delivery, v: decoder.decode(m.payload) });
        await work(m);
        // Not awaited: acks made while one is in flight go together in the next request.
        m.ack().then(
          (r) => say({ t: 'acked', o: m.offset, d: m.delivery, r }),
          (error: unknown) => say({ t: 'ack-failed', o: m.offset, d: m.delivery, e: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error), unknown: !isDefinite(error) }),
        );
      }
    }
  } catch (error) {
    await say({ t: 'error', e: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error) });
    process.exitCode = 1;
  }
  await consumer.close();
  await say({ t: 'closed' });
}

/** An ack refused outright (bad argument, unknown group) certainly changed nothing; anything else may have. */
function isDefinite(error: unknown): boolean {
  return error instanceof InvalidArgumentError || error instanceof NotFoundError;
}

await main();
