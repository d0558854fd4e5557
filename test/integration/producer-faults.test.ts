import { describe, expect, it } from 'vitest';

import { Admin, Producer } from '../../src/client/index.js';
import { startClusterForTest, type TestCluster } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

/**
 * Enough that both kills land mid-stream with batches in flight (at a fifth and at half of
 * the run) and the cluster serves a while after each restart; the count itself is not what is
 * tested (10,000 took twice as long and checked the same).
 */
const TOTAL = 5_000;
const IN_FLIGHT = 64;

/** Sends m-0 .. m-(TOTAL-1) in order with at most IN_FLIGHT unanswered; records each offset. */
class Sender {
  readonly offsets = new Map<number, number | null>();
  readonly failures: string[] = [];
  acked = 0;

  constructor(private readonly producer: Producer) {}

  async run(): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      // Each worker takes the next number when its previous send is answered: at most IN_FLIGHT at once.
      while (next < TOTAL) {
        const k = next++;
        try {
          const { offset } = await this.producer.send('faults', { payload: `m-${k}` });
          this.offsets.set(k, offset);
          this.acked++;
        } catch (error) {
          this.failures.push(`m-${k}: ${String(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  }
}

async function killLeaderWhen(cluster: TestCluster, sender: Sender, ackedAtLeast: number): Promise<string> {
  await cluster.waitFor(() => sender.acked >= ackedAtLeast, { timeoutMs: 30_000, what: `${ackedAtLeast} acknowledgements (${sender.acked} so far)`, intervalMs: 10 });
  const leader = await cluster.leader();
  await cluster.kill(leader);
  return leader;
}

describe('idempotent producer under leader crashes (real processes)', () => {
  it(`${TOTAL} messages, ${IN_FLIGHT} in flight, the leader killed -9 twice: every message acknowledged, once each, in send order, on every node`, async () => {
    const cluster = await startClusterForTest({ label: 'producer-faults' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('faults');
    admin.close();
    // Batches of 8: the 64 waiting sends make several batches, so a kill finds batches in
    // flight (with one batch of 64 it often fell between two, and nothing was resent).
    const producer = new Producer({ brokers: cluster.brokers(), batchMessagesMax: 8, retryBackoff: { initialMs: 20, maxMs: 300 }, requestTimeoutMs: 3_000 });
    const sender = new Sender(producer);
    const sending = sender.run();
    try {
      const first = await killLeaderWhen(cluster, sender, TOTAL * 0.2);
      await cluster.leader({ exclude: [first] });
      const second = await killLeaderWhen(cluster, sender, TOTAL * 0.5);
      await cluster.restart(first);
      await cluster.leader({ exclude: [second] });
      await cluster.waitFor(() => sender.acked >= TOTAL * 0.7, { timeoutMs: 30_000, what: `${TOTAL * 0.7} acknowledgements (${sender.acked})`, intervalMs: 20 });
      await cluster.restart(second);
      await sending;
      await producer.close();
    } finally {
      await producer.close();
    }
    const stats = producer.stats();
    console.log(`[producer-faults] ${JSON.stringify(stats)}`);
    // The kills did hit batches in flight: some were resent.
    expect(stats.retries).toBeGreaterThan(0);
    expect(sender.failures).toEqual([]);
    expect(sender.acked).toBe(TOTAL);
    // Send order is offset order, and each acknowledgement names where its message is.
    expect([...Array(TOTAL).keys()].map((k) => sender.offsets.get(k))).toEqual([...Array(TOTAL).keys()]);
    await cluster.converged();
    const expected = [...Array(TOTAL).keys()].map((k) => `m-${k}`);
    for (const id of cluster.ids) expect(await fetchPayloads(cluster, id, 'faults'), id).toEqual(expected);
  }, 90_000);
});
