import { afterEach, describe, expect, it } from 'vitest';

import { DeliveryTimeoutError, InvalidArgumentError, Producer } from '../../src/client/index.js';
import type { ClientServer } from '../../src/transport/index.js';
import { waitFor } from '../harness/index.js';
import { InProcessBroker, serve } from '../broker/in-process-broker.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

describe('Producer acks leader / none (in process)', () => {
  it("acks 'none' resolves at once even with the cluster down; the failures are counted and logged, not retried", async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    broker.down = true;
    const lines: string[] = [];
    const p = new Producer({ brokers: [address], acks: 'none', lingerMs: 0, requestTimeoutMs: 200, retryBackoff: { initialMs: 1, maxMs: 5 }, log: (line) => lines.push(line) });
    producers.push(p);
    const results = await Promise.all([...Array(10).keys()].map((k) => p.send('t', { payload: `m-${k}` })));
    expect(results.every((r) => r.status === 'sent')).toBe(true);
    await waitFor(() => p.stats().unconfirmedFailedMessages === 10, { timeoutMs: 5_000, what: 'the failures counted' });
    expect(p.stats().retries).toBe(0);
    expect(lines.join('\n')).toMatch(/acks 'none' failed and is not retried/);
  });

  it("acks 'leader' retries like 'all' and fails at the delivery timeout; idempotence is refused with it", async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker, servers);
    await broker.createTopic('t', 1000);
    broker.down = true;
    const p = new Producer({ brokers: [address], acks: 'leader', lingerMs: 0, requestTimeoutMs: 100, deliveryTimeoutMs: 300, retryBackoff: { initialMs: 1, maxMs: 20 } });
    producers.push(p);
    await expect(p.send('t', { payload: 'x' })).rejects.toThrow(DeliveryTimeoutError);
    expect(() => new Producer({ brokers: [address], acks: 'none', idempotence: true })).toThrow(InvalidArgumentError);
    expect(() => new Producer({ brokers: [address], acks: 'leader', spool: { dir: '/nonexistent', afterMs: 1 } })).toThrow(/spool needs idempotence/);
  });
});
