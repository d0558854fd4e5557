import { AppendBatcher, LogClient, type BrokerMessage } from '../client/index.js';

/** Records or produce requests kept unacknowledged while filling. */
const FILL_INFLIGHT = 512;
/** Produce requests in flight while filling a topic: PRODUCE_FILL_CLIENTS clients of PRODUCE_FILL_PER_CLIENT each. */
const PRODUCE_FILL_CLIENTS = 8;
const PRODUCE_FILL_PER_CLIENT = 8;

/**
 * Appends `records` plain records of `sizeBytes` (one log entry each) through one batching
 * client, `FILL_INFLIGHT` at a time, and resolves once every one is acknowledged. Fails on
 * the first error or after `timeoutMs`.
 */
export async function fillLog(options: { readonly brokers: readonly string[]; readonly records: number; readonly sizeBytes: number; readonly timeoutMs: number }): Promise<void> {
  const client = new LogClient({ brokers: options.brokers });
  const batcher = new AppendBatcher(client);
  const record = new Uint8Array(options.sizeBytes).fill(0x61);
  try {
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      let acked = 0;
      let failed = false;
      const timer = setTimeout(() => fail(new Error(`filling the log: ${acked} of ${options.records} records acknowledged within ${options.timeoutMs} ms`)), options.timeoutMs);
      function fail(error: unknown): void {
        if (failed) return;
        failed = true;
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
      // Closed loop: every acknowledgement sends the next record, until `records` were sent.
      function sendNext(): void {
        if (failed || sent >= options.records) return;
        sent++;
        batcher.sendWith(record, (error) => {
          if (error !== null) return fail(error);
          acked++;
          if (acked === options.records) {
            clearTimeout(timer);
            resolve();
          } else sendNext();
        });
      }
      if (options.records === 0) {
        clearTimeout(timer);
        return resolve();
      }
      for (let k = 0; k < Math.min(FILL_INFLIGHT, options.records); k++) sendNext();
    });
  } finally {
    await client.close();
  }
}

/**
 * Sends `requests` Produce requests of one message each to `topic`, 64 at a time over 8
 * connections, each from its own idempotent producer (an InitProducer entry, then the
 * Produce entry). What stays in the broker's state is one producer per request: state that
 * is not history, so the replicated trim after a compaction does not drop it (it drops the
 * offset runs), and a snapshot sent to a follower carries it. Fails on the first error or
 * after `timeoutMs`.
 */
export async function fillTopic(options: { readonly brokers: readonly string[]; readonly topic: string; readonly requests: number; readonly sizeBytes: number; readonly timeoutMs: number }): Promise<void> {
  const clients = Array.from({ length: PRODUCE_FILL_CLIENTS }, () => new LogClient({ brokers: options.brokers }));
  const payload = new Uint8Array(options.sizeBytes).fill(0x62);
  const deadlineMs = Date.now() + options.timeoutMs;
  let next = 0;
  const worker = async (client: LogClient): Promise<void> => {
    // Bounded by `requests` in all and by the deadline.
    while (next < options.requests) {
      if (Date.now() > deadlineMs) throw new Error(`filling topic ${options.topic}: ${next} of ${options.requests} requests sent within ${options.timeoutMs} ms`);
      next++;
      const producerId = await client.initProducer();
      const message: BrokerMessage = { key: new Uint8Array(), headers: [], payload, timestampMs: Date.now() };
      await client.produce({ topic: options.topic, producerId, firstSequence: 0, messages: [message] });
    }
  };
  try {
    await Promise.all(clients.flatMap((client) => Array.from({ length: PRODUCE_FILL_PER_CLIENT }, () => worker(client))));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}
