import { describe, expect, it } from 'vitest';

import { Admin, Producer } from '../../src/client/index.js';
import { startClusterForTest } from '../harness/index.js';

describe('LogClient.read on a real cluster', () => {
  it('a small bytesMax still returns at least one record when one exists, across broker entries it must skip', async () => {
    const cluster = await startClusterForTest({ label: 'read-small-pages' });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    const producer = new Producer({ brokers: cluster.brokers(), lingerMs: 0 });
    const client = cluster.client();
    try {
      // Broker entries (a topic, a producer id, produce batches) that read() skips.
      await admin.createTopic('orders');
      for (let k = 0; k < 20; k++) await producer.send('orders', { payload: 'x'.repeat(100) });
      const appended = await client.append(new TextEncoder().encode('the record'));
      const page = await client.read(1, { bytesMax: 200 });
      expect(page.records.map((r) => r.index)).toEqual([appended.firstIndex]);
      expect(new TextDecoder().decode(page.records[0]?.payload)).toBe('the record');
      expect(page.nextIndex).toBe(appended.firstIndex + 1);
      // Past the last record: nothing, and no error.
      expect((await client.read(page.nextIndex, { bytesMax: 200 })).records).toEqual([]);
    } finally {
      await producer.close();
      admin.close();
      client.close();
    }
  });
});
