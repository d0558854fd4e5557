import { describe, expect, it } from 'vitest';

import { Admin, DeliveryTimeoutError, NotFoundError, Producer } from '../../src/client/index.js';
import { startClusterForTest } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

const texts = (n: number, prefix: string): string[] => [...Array(n).keys()].map((k) => `${prefix}-${k}`);

describe('producer acks leader and none on a real cluster', () => {
  it("acks 'leader' resolves with the entry's log index (no offset); acks 'none' resolves when sent; with no faults every message arrives once, in order, on every node", async () => {
    // A 2 s election timeout: "no faults" must hold on a loaded machine too, where a 500 ms
    // timeout can depose a leader that merely paused, and acks 'none' or 'leader' may then
    // lose messages by design.
    const cluster = await startClusterForTest({ label: 'acks', electionTicks: 40 });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('acks-leader');
    await admin.createTopic('acks-none');
    const leader = new Producer({ brokers: cluster.brokers(), acks: 'leader', lingerMs: 1, batchBytesMax: 512 });
    const none = new Producer({ brokers: cluster.brokers(), acks: 'none', lingerMs: 1, batchBytesMax: 512 });
    try {
      const results = await Promise.all(texts(300, 'l').map((payload) => leader.send('acks-leader', { payload })));
      expect(results.every((r) => r.status === 'leaderDurable' && r.offset === null)).toBe(true);
      const indexes = results.map((r) => (r.status === 'leaderDurable' ? r.logIndex : -1));
      expect(Math.min(...indexes)).toBeGreaterThan(0);
      // Batches in send order: log indexes never go back.
      for (let k = 1; k < indexes.length; k++) expect(indexes[k]!).toBeGreaterThanOrEqual(indexes[k - 1]!);
      expect(leader.producerId).toBe(0);
      await expect(leader.send('no-such-topic', { payload: 'x' })).rejects.toThrow(NotFoundError);

      const sent = await Promise.all(texts(300, 'n').map((payload) => none.send('acks-none', { payload })));
      expect(sent.every((r) => r.status === 'sent')).toBe(true);
      await none.flush();
      expect(none.stats().unconfirmedFailedMessages).toBe(0);
      await cluster.waitFor(async () => (await admin.describeTopic('acks-none')).nextOffset === 300 && (await admin.describeTopic('acks-leader')).nextOffset === 300, {
        timeoutMs: 10_000,
        what: 'both topics committed',
      });
    } finally {
      await leader.close();
      await none.close();
      admin.close();
    }
    await cluster.converged();
    for (const id of cluster.ids) {
      expect(await fetchPayloads(cluster, id, 'acks-leader'), id).toEqual(texts(300, 'l'));
      expect(await fetchPayloads(cluster, id, 'acks-none'), id).toEqual(texts(300, 'n'));
    }
  }, 60_000);

  it("acks 'leader' is answered by a leader whose followers are all dead (nothing committed); acks 'all' is not", async () => {
    // A 3 s election timeout: the lone leader keeps its role (check-quorum) long enough to show it.
    const cluster = await startClusterForTest({ label: 'acks-alone', electionTicks: 60 });
    const leaderId = await cluster.leader({ timeoutMs: 20_000 });
    const admin = new Admin({ brokers: cluster.brokers() });
    await admin.createTopic('alone');
    admin.close();
    const toLeader = cluster.brokers([leaderId]);
    const leader = new Producer({ brokers: toLeader, acks: 'leader', lingerMs: 0, requestTimeoutMs: 1_000 });
    const all = new Producer({ brokers: toLeader, lingerMs: 0, requestTimeoutMs: 800, deliveryTimeoutMs: 800 });
    try {
      const warm = await leader.send('alone', { payload: 'warm' });
      expect((await all.send('alone', { payload: 'warm-all' })).status).toBe('acknowledged');
      await Promise.all(cluster.ids.filter((id) => id !== leaderId).map((id) => cluster.kill(id)));
      const alone = await leader.send('alone', { payload: 'only-on-the-leader' });
      expect(alone.status).toBe('leaderDurable');
      expect(alone.status === 'leaderDurable' && warm.status === 'leaderDurable' && alone.logIndex > warm.logIndex).toBe(true);
      await expect(all.send('alone', { payload: 'needs-a-majority' })).rejects.toThrow(DeliveryTimeoutError);
    } finally {
      await leader.close();
      await all.close().catch(() => undefined);
    }
  }, 60_000);
});
