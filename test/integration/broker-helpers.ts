import type { TestCluster } from '../harness/index.js';

const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Every payload of `topic` as node `id` has applied it, in offset order (offsets checked dense). */
export async function fetchPayloads(cluster: TestCluster, id: string, topic: string): Promise<string[]> {
  const client = cluster.nodeClient(id);
  const payloads: string[] = [];
  // Bounded: each round returns at least one message or ends.
  for (let round = 0; round < 100_000; round++) {
    const result = await client.fetch(topic, payloads.length, { bytesMax: 256 * 1024 });
    for (const m of result.messages) {
      if (m.offset !== payloads.length) throw new Error(`${id}: offset ${m.offset} where ${payloads.length} was expected`);
      payloads.push(text(m.payload));
    }
    if (result.messages.length === 0) return payloads;
  }
  throw new Error('fetchPayloads did not finish');
}
