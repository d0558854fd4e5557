import { describe, expect, it } from 'vitest';
import type { OffsetRange } from '../../src/broker/index.js';
import { GROUP_ACKS_DEFAULTS, GroupAcks, rangesOf } from '../../src/node/group-acks.js';
import { ResourceExhaustedError, type AckOutcomeView } from '../../src/transport/index.js';

/** A proposer whose entries the test settles by hand, in order. */
class FakeLog {
  readonly entries: { group: string; ranges: readonly OffsetRange[]; timeoutMs: number; settle: (outcomes: readonly AckOutcomeView[] | Error) => void }[] = [];

  readonly propose = (group: string, ranges: readonly OffsetRange[], timeoutMs: number): Promise<readonly AckOutcomeView[]> =>
    new Promise((resolve, reject) => {
      this.entries.push({ group, ranges, timeoutMs, settle: (o) => (o instanceof Error ? reject(o) : resolve(o)) });
    });
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Outcomes of `count` offsets: 'acked', except those at `already` positions. */
const outcomes = (count: number, already: readonly number[] = []): AckOutcomeView[] => Array.from({ length: count }, (_, k) => (already.includes(k) ? 'alreadyAcked' : 'acked'));

describe("the leader's group commit of acks", () => {
  it('sends the first ack at once; those arriving while it is in flight, from any consumer, go together in the next entry, as ranges, each answered with its own outcomes only then', async () => {
    const log = new FakeLog();
    const acks = new GroupAcks(log.propose);
    const answered: string[] = [];
    const first = acks.ack('g', [0, 1, 2], 5_000).then((o) => answered.push(`first ${o.join(',')}`));
    expect(log.entries.map((e) => e.ranges)).toEqual([[{ offset: 0, count: 3 }]]);
    const second = acks.ack('g', [3, 4, 9], 4_000).then((o) => answered.push(`second ${o.join(',')}`));
    const third = acks.ack('g', [10, 4], 5_000).then((o) => answered.push(`third ${o.join(',')}`));
    const other = acks.ack('h', [7], 5_000).then((o) => answered.push(`other ${o.join(',')}`));
    // Another group has its own entry at once; g's wait for the one in flight.
    expect(log.entries.map((e) => e.group)).toEqual(['g', 'h']);
    await flush();
    expect(answered).toEqual([]);

    log.entries[0]?.settle(outcomes(3));
    await first;
    expect(answered).toEqual(['first acked,acked,acked']);
    await flush();
    expect(log.entries[2]).toMatchObject({ group: 'g', ranges: [{ offset: 3, count: 2 }, { offset: 9, count: 2 }, { offset: 4, count: 1 }], timeoutMs: 4_000 });
    await flush();
    expect(answered).toHaveLength(1);
    log.entries[2]?.settle(outcomes(5, [4]));
    log.entries[1]?.settle(outcomes(1));
    await Promise.all([second, third, other]);
    expect(answered.slice(1).sort()).toEqual(['other acked', 'second acked,acked,acked', 'third acked,alreadyAcked']);
  });

  it('fails every request of an entry that failed; the next requests get an entry of their own', async () => {
    const log = new FakeLog();
    const acks = new GroupAcks(log.propose);
    const a = acks.ack('g', [0], 5_000);
    const b = acks.ack('g', [1], 5_000);
    const c = acks.ack('g', [2], 5_000);
    log.entries[0]?.settle(new Error('not the leader'));
    await expect(a).rejects.toThrow('not the leader');
    await flush();
    expect(log.entries[1]?.ranges).toEqual([{ offset: 1, count: 2 }]);
    log.entries[1]?.settle(new Error('timed out'));
    await expect(b).rejects.toThrow('timed out');
    await expect(c).rejects.toThrow('timed out');
    const d = acks.ack('g', [1, 2], 5_000);
    expect(log.entries[2]?.ranges).toEqual([{ offset: 1, count: 2 }]);
    log.entries[2]?.settle(outcomes(2));
    await expect(d).resolves.toEqual(outcomes(2));
  });

  it('refuses an ack past the queue bound (RESOURCE_EXHAUSTED) and queues no part of it', async () => {
    const log = new FakeLog();
    const acks = new GroupAcks(log.propose);
    void acks.ack('g', [0], 5_000);
    const many = Array.from({ length: 100_000 }, (_, k) => k + 1);
    const queued = Array.from({ length: GROUP_ACKS_DEFAULTS.queuedOffsetsMax / many.length }, () => acks.ack('g', many, 5_000));
    await expect(acks.ack('g', [5], 5_000)).rejects.toBeInstanceOf(ResourceExhaustedError);
    log.entries[0]?.settle(outcomes(1));
    await flush();
    // At most ackOffsetsMax offsets an entry: one queued request each.
    expect(log.entries[1]?.ranges).toEqual([{ offset: 1, count: 100_000 }]);
    for (let k = 1; k <= queued.length; k++) {
      log.entries[k]?.settle(outcomes(many.length));
      await flush();
    }
    await Promise.all(queued);
    expect(log.entries).toHaveLength(1 + queued.length);
  });

  it('answers an empty ack at once, with no entry', async () => {
    const log = new FakeLog();
    await expect(new GroupAcks(log.propose).ack('g', [], 5_000)).resolves.toEqual([]);
    expect(log.entries).toEqual([]);
  });

  it('turns offsets into runs of consecutive offsets, in order', () => {
    expect(rangesOf([{ offsets: [] }])).toEqual([]);
    expect(rangesOf([{ offsets: [5, 6, 7] }, { offsets: [8, 1, 2, 2] }])).toEqual([
      { offset: 5, count: 4 },
      { offset: 1, count: 2 },
      { offset: 2, count: 1 },
    ]);
  });
});
