import { describe, expect, it } from 'vitest';

import { AppendBatcher, OutcomeUnknownError, type LogClient } from '../../src/client/index.js';

/** A LogClient stand-in whose appends the test resolves by hand, in order. */
class FakeLog {
  readonly requests: { records: readonly Uint8Array[]; resolve: (first: number) => void; reject: (error: unknown) => void }[] = [];
  next = 1;

  append(records: readonly Uint8Array[]): Promise<{ firstIndex: number; lastIndex: number }> {
    return new Promise((resolve, reject) => {
      this.requests.push({ records, resolve: (first) => resolve({ firstIndex: first, lastIndex: first + records.length - 1 }), reject });
    });
  }

  commit(k: number): void {
    const request = this.requests[k];
    if (request === undefined) throw new Error(`no request ${k}`);
    request.resolve(this.next);
    this.next += request.records.length;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const record = (n: number): Uint8Array => Uint8Array.of(n);

describe('AppendBatcher', () => {
  it('sends records of one tick as one request and gives each its own index', async () => {
    const log = new FakeLog();
    const batcher = new AppendBatcher(log as unknown as LogClient);
    const sent = [1, 2, 3].map((n) => batcher.send(record(n)));
    await tick();
    expect(log.requests.map((r) => r.records.length)).toEqual([3]);
    log.commit(0);
    expect(await Promise.all(sent)).toEqual([1, 2, 3]);
  });

  it('queues records while every request slot is busy, then sends them together', async () => {
    const log = new FakeLog();
    const batcher = new AppendBatcher(log as unknown as LogClient, { requestsInFlightMax: 1 });
    const first = batcher.send(record(0));
    await tick();
    const later = [1, 2, 3, 4].map((n) => batcher.send(record(n)));
    await tick();
    expect(log.requests).toHaveLength(1);
    expect(batcher.waiting).toBe(4);
    log.commit(0);
    expect(await first).toBe(1);
    await tick();
    expect(log.requests.map((r) => r.records.length)).toEqual([1, 4]);
    log.commit(1);
    expect(await Promise.all(later)).toEqual([2, 3, 4, 5]);
  });

  it('caps a request by records and by bytes', async () => {
    const log = new FakeLog();
    const batcher = new AppendBatcher(log as unknown as LogClient, { batchRecordsMax: 2, batchBytesMax: 3, requestsInFlightMax: 8 });
    for (let n = 0; n < 5; n++) void batcher.send(new Uint8Array(n === 2 ? 3 : 1));
    await tick();
    expect(log.requests.map((r) => r.records.map((x) => x.length))).toEqual([[1, 1], [3], [1, 1]]);
  });

  it('fails every record of a failed request with its error', async () => {
    const log = new FakeLog();
    const batcher = new AppendBatcher(log as unknown as LogClient);
    const sent = [1, 2].map((n) => batcher.send(record(n)));
    await tick();
    const error = new OutcomeUnknownError('append: lost');
    log.requests[0]?.reject(error);
    for (const result of await Promise.allSettled(sent)) expect(result).toEqual({ status: 'rejected', reason: error });
  });
});
