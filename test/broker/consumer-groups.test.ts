import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GROUP_DEFAULTS, type GroupSettings } from '../../src/broker/consumer-groups.js';
import { decodeCommand, encodeCommand, type ApplyResult, type BrokerCommand } from '../../src/broker/index.js';
import type { GroupCommand } from '../../src/broker/commands.js';
import {
  expectRefusedWithoutChange,
  FAST_SETTINGS,
  GroupReplica,
  headerOf,
  message,
  ORIGINAL_OFFSET_HEADER,
  text,
} from './consumer-group-model.js';
import { offsetRuns } from './broker-scenario.js';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;

/** A replica with topic `orders` holding `count` messages m0.. and group `g` reading it from the start. */
function setUp(count: number, settings: GroupSettings = FAST_SETTINGS): GroupReplica {
  const r = new GroupReplica();
  r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 1000 });
  if (count > 0) r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: Array.from({ length: count }, (_, k) => message(`m${k}`)) });
  expect(r.apply({ kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings, ifAbsent: false })).toMatchObject({ kind: 'groupCreated', created: true });
  return r;
}

function delivered(result: ApplyResult): { offset: number; delivery: number; deadlineMs: number }[] {
  if (result.kind !== 'delivered') throw new Error(`expected a delivery, got ${JSON.stringify(result)}`);
  return result.messages.map((m) => ({ offset: m.offset, delivery: m.delivery, deadlineMs: m.deadlineMs }));
}

const rows = (r: GroupReplica) => r.state.consumerGroups.group('g')?.snapshot() ?? [];
const committed = (r: GroupReplica) => r.state.group('g')?.committedOffset;

describe('a poison message', () => {
  it('is delivered exactly retriesMax+1 times, then dead-lettered into <group>.dlq, readable at the deadLetter entry', () => {
    const r = setUp(1);
    const deliveries: number[] = [];
    let retryAtMs = 0;
    for (let k = 1; k <= FAST_SETTINGS.retriesMax + 1; k++) {
      // Not before its retry time ...
      r.tick(retryAtMs - 1 < r.timeMs ? r.timeMs : retryAtMs - 1);
      if (k > 1) expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 }))).toEqual([]);
      // ... and then at it.
      r.tick(Math.max(r.timeMs, retryAtMs));
      const got = delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 }));
      expect(got).toEqual([{ offset: 0, delivery: k, deadlineMs: r.timeMs + FAST_SETTINGS.ackDeadlineMs }]);
      deliveries.push(k);
      const nacked = r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: k, reason: `bad payload ${k}`, delayMs: -1 });
      const last = k === FAST_SETTINGS.retriesMax + 1;
      const levels = FAST_SETTINGS.retryDelaysMs;
      const levelDelayMs = levels[Math.min(k, levels.length) - 1] ?? -1;
      expect(nacked).toEqual({ kind: 'nacked', group: 'g', offset: 0, deadLettered: last, retryAtMs: last ? 0 : r.timeMs + levelDelayMs });
      if (nacked.kind === 'nacked') retryAtMs = nacked.retryAtMs;
    }
    expect(deliveries).toHaveLength(FAST_SETTINGS.retriesMax + 1);

    // Dead: never delivered again, listed for the leader, and still holding the committed offset.
    r.tick(r.timeMs + 10 * MINUTE_MS);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 }))).toEqual([]);
    expect(r.state.deadLetterCandidates(10)).toEqual([
      { group: 'g', topic: 'orders', deadLetterTopic: 'g.dlq', offset: 0, deliveries: FAST_SETTINGS.retriesMax + 1, lastError: `bad payload ${FAST_SETTINGS.retriesMax + 1}` },
    ]);
    expect(r.state.group('g')).toMatchObject({ committedOffset: 0, dead: 1, inflight: 0, lag: 1 });
    expect(r.state.topic('g.dlq')).toBeUndefined();

    const copy = r.deadLetterCopy('orders', 0);
    expect(r.apply({ kind: 'deadLetter', group: 'g', offset: 0, message: copy })).toEqual({ kind: 'deadLettered', group: 'g', topic: 'g.dlq', offset: 0 });
    const entryIndex = r.log.length;
    expect(r.state.locate('g.dlq', 0)).toEqual({ logIndex: entryIndex, position: 0 });
    const inDlq = r.read('g.dlq', 0);
    expect(inDlq === undefined ? undefined : text(inDlq.payload)).toBe('m0');
    expect(inDlq === undefined ? undefined : headerOf(inDlq, ORIGINAL_OFFSET_HEADER)).toBe('0');
    expect(r.state.topic('g.dlq')?.nextOffset).toBe(1);
    expect(r.state.deadLetterCandidates(10)).toEqual([]);
    expect(r.state.group('g')).toMatchObject({ committedOffset: 1, dead: 0, lag: 0 });
    // A second dead-letter entry for it (a leader retrying) is refused and writes nothing.
    expectRefusedWithoutChange(r, { kind: 'deadLetter', group: 'g', offset: 0, message: copy }, 'failedPrecondition');
    expect(r.state.topic('g.dlq')?.nextOffset).toBe(1);
    expect(r.replay().groupView()).toEqual(r.groupView());
  });

  it('dies from missed deadlines too, with the deadline as its last error; release past retriesMax kills it as well', () => {
    const r = setUp(2, { ackDeadlineMs: 1_000, retryDelaysMs: [0], retriesMax: 0 });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 }, 0))).toEqual([{ offset: 0, delivery: 1, deadlineMs: 1_000 }]);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'd', max: 1 }, 0))).toEqual([{ offset: 1, delivery: 1, deadlineMs: 1_000 }]);
    expect(r.apply({ kind: 'release', group: 'g', consumer: 'd' }, 10)).toEqual({ kind: 'released', group: 'g', count: 1 });
    r.tick(1_001);
    expect(r.state.deadLetterCandidates(10).map((c) => [c.offset, c.lastError])).toEqual([
      [0, 'the ack deadline passed'],
      [1, 'its consumer left'],
    ]);
  });
});

describe('retry delays', () => {
  it('default to 10s 30s 1m 2m ... 10m 20m 30m 1h 2h with 16 retries, and grow by level', () => {
    expect(GROUP_DEFAULTS.retryDelaysMs).toEqual([
      10 * SECOND_MS, 30 * SECOND_MS, 1 * MINUTE_MS, 2 * MINUTE_MS, 3 * MINUTE_MS, 4 * MINUTE_MS, 5 * MINUTE_MS, 6 * MINUTE_MS,
      7 * MINUTE_MS, 8 * MINUTE_MS, 9 * MINUTE_MS, 10 * MINUTE_MS, 20 * MINUTE_MS, 30 * MINUTE_MS, 60 * MINUTE_MS, 120 * MINUTE_MS,
    ]);
    expect(GROUP_DEFAULTS.retriesMax).toBe(16);
    const defaults: GroupSettings = { ackDeadlineMs: GROUP_DEFAULTS.ackDeadlineMs, retryDelaysMs: GROUP_DEFAULTS.retryDelaysMs, retriesMax: GROUP_DEFAULTS.retriesMax };
    const r = setUp(1, defaults);
    const waits: number[] = [];
    for (let k = 1; k <= 17; k++) {
      const got = delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 }));
      expect(got.map((m) => m.delivery)).toEqual([k]);
      const nacked = r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: k, reason: 'no', delayMs: -1 });
      if (nacked.kind !== 'nacked') throw new Error(JSON.stringify(nacked));
      if (nacked.deadLettered) break;
      waits.push(nacked.retryAtMs - r.timeMs);
      // A lower bound (an older deadline may still stand in it), never later than the retry.
      expect(r.state.nextDueMs()).toBeLessThanOrEqual(nacked.retryAtMs);
      // One millisecond early: still waiting.
      r.tick(nacked.retryAtMs - 1);
      expect(rows(r)).toMatchObject([{ offset: 0, state: 'waiting', deliveries: k }]);
      r.tick(nacked.retryAtMs);
      expect(rows(r)).toMatchObject([{ offset: 0, state: 'ready', deliveries: k }]);
    }
    expect(waits).toEqual(GROUP_DEFAULTS.retryDelaysMs);
    expect(rows(r)).toMatchObject([{ offset: 0, state: 'dead', deliveries: 17 }]);
  });

  it('past the last level, the last delay repeats; a nack may name its own delay', () => {
    const r = setUp(1, { ackDeadlineMs: 1_000, retryDelaysMs: [100, 200], retriesMax: 5 });
    const waits: number[] = [];
    for (let k = 1; k <= 4; k++) {
      r.tick(r.state.nextDueMs() === Infinity ? r.timeMs : r.state.nextDueMs());
      delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 }));
      const nacked = r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: k, reason: 'no', delayMs: k === 4 ? 7 : -1 });
      if (nacked.kind !== 'nacked') throw new Error(JSON.stringify(nacked));
      waits.push(nacked.retryAtMs - r.timeMs);
    }
    expect(waits).toEqual([100, 200, 200, 7]);
  });
});

describe('acks', () => {
  it('out of order advance the committed offset only over the contiguous acked prefix', () => {
    const r = setUp(5);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 5 })).map((m) => m.offset)).toEqual([0, 1, 2, 3, 4]);
    const steps: [number[], number][] = [
      [[3, 1], 0],
      [[4], 0],
      [[0], 2],
      [[2], 5],
    ];
    for (const [offsets, expected] of steps) {
      expect(r.apply({ kind: 'ack', group: 'g', offsets })).toEqual({ kind: 'acked', group: 'g', outcomes: offsets.map(() => 'acked') });
      expect(committed(r)).toBe(expected);
    }
    expect(r.state.group('g')).toMatchObject({ committedOffset: 5, nextOffset: 5, lag: 0, inflight: 0, consumers: new Map() });
  });

  it('of an already acked, an undelivered or a duplicated offset say so per offset and change nothing', () => {
    const r = setUp(4);
    delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 2 }));
    r.apply({ kind: 'ack', group: 'g', offsets: [1] });
    r.tick(r.timeMs);
    const before = r.groupView();
    expect(r.apply({ kind: 'ack', group: 'g', offsets: [1, 2, 3, 999] })).toEqual({ kind: 'acked', group: 'g', outcomes: ['alreadyAcked', 'notDelivered', 'notDelivered', 'notDelivered'] });
    expect(r.groupView()).toEqual(before);
    expect(r.apply({ kind: 'ack', group: 'g', offsets: [0, 0] })).toEqual({ kind: 'acked', group: 'g', outcomes: ['acked', 'alreadyAcked'] });
    expect(committed(r)).toBe(2);
  });
});

/** What the last applied entry handed out under leases, as consumer: offset/delivery@deadline. */
function leased(r: GroupReplica): string[] {
  return r.state.leaseDeliveries.flatMap((d) => d.messages.map((m) => `${d.consumer}: ${m.offset}/${m.delivery}@${m.deadlineMs}`));
}

function produce(r: GroupReplica, count: number, atMs: number): void {
  const messages = Array.from({ length: count }, (_, k) => message(`late${k}`));
  expect(r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages }, atMs)).toMatchObject({ kind: 'produced' });
}

describe('leases', () => {
  it('hand out what is there at once, then the new offsets as the entries making them visible apply, each with that entry\'s deadline, up to the room', () => {
    const r = setUp(2);
    const deadline = FAST_SETTINGS.ackDeadlineMs;
    expect(delivered(r.apply({ kind: 'lease', group: 'g', consumer: 'c', max: 5 }, 100))).toEqual([
      { offset: 0, delivery: 1, deadlineMs: 100 + deadline },
      { offset: 1, delivery: 1, deadlineMs: 100 + deadline },
    ]);
    expect(leased(r)).toEqual([`c: 0/1@${100 + deadline}`, `c: 1/1@${100 + deadline}`]);
    expect(r.state.consumerGroups.group('g')?.leaseOf('c', r.timeMs)).toBe(3);
    produce(r, 2, 300);
    expect(leased(r)).toEqual([`c: 2/1@${300 + deadline}`, `c: 3/1@${300 + deadline}`]);
    produce(r, 3, 400);
    // One left of the room: the rest waits for a deliver or the next lease.
    expect(leased(r)).toEqual([`c: 4/1@${400 + deadline}`]);
    expect(r.state.consumerGroups.group('g')?.leaseOf('c', r.timeMs)).toBe(0);
    expect(r.state.group('g')).toMatchObject({ nextOffset: 5, inflight: 5, consumers: new Map([['c', 5]]) });
    expect(r.state.consumerGroups.deliverableCount('g')).toBe(2);
    // Entries that make nothing visible hand nothing out.
    r.tick(450);
    expect(leased(r)).toEqual([]);
    // A missed deadline of a leased message is a failed delivery like any other.
    r.tick(300 + deadline);
    expect(rows(r).filter((d) => d.offset === 2 || d.offset === 3).map((d) => d.state)).toEqual(['waiting', 'waiting']);
  });

  it('go in the order granted, a renewal replacing the lease and moving it last; a release, a leave or a reset ends one', () => {
    const r = setUp(0);
    r.apply({ kind: 'lease', group: 'g', consumer: 'a', max: 2 });
    r.apply({ kind: 'lease', group: 'g', consumer: 'b', max: 2 });
    produce(r, 3, r.timeMs);
    expect(leased(r).map((l) => l.split('@')[0])).toEqual(['a: 0/1', 'a: 1/1', 'b: 2/1']);
    r.apply({ kind: 'lease', group: 'g', consumer: 'a', max: 4 });
    produce(r, 3, r.timeMs);
    expect(leased(r).map((l) => l.split('@')[0])).toEqual(['b: 3/1', 'a: 4/1', 'a: 5/1']);
    r.apply({ kind: 'release', group: 'g', consumer: 'a' });
    produce(r, 1, r.timeMs);
    expect(leased(r)).toEqual([]);
    r.apply({ kind: 'lease', group: 'g', consumer: 'a', max: 10 });
    r.apply({ kind: 'leave', group: 'g', consumer: 'a', seen: [] });
    produce(r, 1, r.timeMs);
    expect(leased(r)).toEqual([]);
    r.apply({ kind: 'lease', group: 'g', consumer: 'a', max: 10 });
    r.apply({ kind: 'resetGroup', group: 'g', to: { kind: 'latest' }, earliestOffset: 0, force: true });
    produce(r, 1, r.timeMs);
    expect(leased(r)).toEqual([]);
    expect(r.state.consumerGroups.group('g')?.leaseCount).toBe(0);
  });

  it('lapse after one ack deadline of log time, so a consumer gone without a release takes no more', () => {
    const r = setUp(0);
    r.apply({ kind: 'lease', group: 'g', consumer: 'c', max: 10 }, 1_000);
    const until = 1_000 + FAST_SETTINGS.ackDeadlineMs;
    produce(r, 1, until - 1);
    expect(leased(r)).toHaveLength(1);
    expect(r.state.consumerGroups.group('g')?.leaseOf('c', until)).toBe(0);
    produce(r, 1, until);
    expect(leased(r)).toEqual([]);
    expect(r.state.consumerGroups.group('g')?.leaseCount).toBe(0);
    expect(r.state.consumerGroups.deliverableCount('g')).toBe(1);
  });

  it('take only new offsets: retries ready again go out through a lease or deliver entry, first', () => {
    const r = setUp(1);
    r.apply({ kind: 'lease', group: 'g', consumer: 'c', max: 3 });
    r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: 1, reason: 'no', delayMs: 0 });
    r.tick(r.timeMs + 1);
    produce(r, 1, r.timeMs);
    expect(leased(r).map((l) => l.split('@')[0])).toEqual(['c: 1/1']);
    expect(r.state.consumerGroups.group('g')?.readyCount()).toBe(1);
    expect(delivered(r.apply({ kind: 'lease', group: 'g', consumer: 'c', max: 3 })).map((m) => `${m.offset}/${m.delivery}`)).toEqual(['0/2']);
    expect(r.state.consumerGroups.group('g')?.leaseOf('c', r.timeMs)).toBe(2);
  });

  it('are the same on a replica that replays the log, and survive a snapshot', () => {
    const r = setUp(1);
    r.apply({ kind: 'lease', group: 'g', consumer: 'c', max: 3 });
    produce(r, 1, r.timeMs + 5);
    const again = r.replay();
    expect(again.state.leaseDeliveries).toEqual(r.state.leaseDeliveries);
    expect(again.groupView()).toEqual(r.groupView());
    expect(again.state.consumerGroups.group('g')?.leaseOf('c', r.timeMs)).toBe(1);
  });
});

describe('acks as ranges', () => {
  it('do what an ack of the same offsets in order does: the same outcomes, the same state', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 10 }), fc.nat({ max: 10 }), (offsets, deliveredCount) => {
        const [plain, ranged] = [setUp(10), setUp(10)];
        for (const r of [plain, ranged]) {
          r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: deliveredCount });
          r.apply({ kind: 'ack', group: 'g', offsets: [1] });
        }
        const a = plain.apply({ kind: 'ack', group: 'g', offsets });
        const b = ranged.apply({ kind: 'ackRanges', group: 'g', ranges: offsetRuns(offsets) });
        expect(b).toEqual(a);
        expect(ranged.groupView()).toEqual(plain.groupView());
        expect(rows(ranged)).toEqual(rows(plain));
      }),
      { seed: 23, numRuns: 200 },
    );
  });

  it('refuse an empty range, one running past 2^53, or more offsets than one entry takes, acking none', () => {
    const r = setUp(4);
    r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 4 });
    expectRefusedWithoutChange(r, { kind: 'ackRanges', group: 'g', ranges: [{ offset: 0, count: 1 }, { offset: 1, count: 0 }] }, 'invalidArgument');
    expectRefusedWithoutChange(r, { kind: 'ackRanges', group: 'g', ranges: [{ offset: 0, count: 2 }, { offset: Number.MAX_SAFE_INTEGER, count: 2 }] }, 'invalidArgument');
    expectRefusedWithoutChange(r, { kind: 'ackRanges', group: 'g', ranges: [{ offset: 0, count: 2 }, { offset: 10, count: GROUP_DEFAULTS.ackOffsetsMax - 1 }] }, 'invalidArgument');
    expect(r.apply({ kind: 'ackRanges', group: 'g', ranges: [{ offset: 0, count: 2 }] })).toEqual({ kind: 'acked', group: 'g', outcomes: ['acked', 'acked'] });
  });
});

describe('ack deadlines', () => {
  it('expire into a redelivery with the delivery count one higher; the earlier delivery may still ack', () => {
    const r = setUp(1, { ackDeadlineMs: 1_000, retryDelaysMs: [500], retriesMax: 3 });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c1', max: 1 }, 0))).toEqual([{ offset: 0, delivery: 1, deadlineMs: 1_000 }]);
    r.tick(999);
    expect(rows(r)).toMatchObject([{ state: 'inflight', consumer: 'c1', deliveries: 1 }]);
    expect(r.state.nextDueMs()).toBe(1_000);
    // (Whether an entry at exactly the deadline expires it is left open here; one after it does.)
    r.tick(1_001);
    // The missed deadline counts as a nack at the time it was seen: retry after the level's delay.
    expect(rows(r)).toEqual([{ offset: 0, state: 'waiting', deliveries: 1, consumer: null, dueMs: 1_501 }]);
    expect(r.state.group('g')?.consumers).toEqual(new Map());
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 1 }, 1_500))).toEqual([]);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 1 }, 1_501))).toEqual([{ offset: 0, delivery: 2, deadlineMs: 2_501 }]);
    // The first consumer's late answer: a nack names a stale delivery (refused), an ack is taken.
    expectRefusedWithoutChange(r, { kind: 'nack', group: 'g', offset: 0, delivery: 1, reason: 'late', delayMs: -1 }, 'failedPrecondition');
    expect(r.apply({ kind: 'ack', group: 'g', offsets: [0] })).toMatchObject({ outcomes: ['acked'] });
    expect(r.state.group('g')).toMatchObject({ committedOffset: 1, consumers: new Map() });
  });

  it('move with extend, to later or earlier, and the new deadline is what expires', () => {
    const r = setUp(2, { ackDeadlineMs: 1_000, retryDelaysMs: [10_000], retriesMax: 3 });
    delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 2 }, 0));
    expect(r.apply({ kind: 'extend', group: 'g', offset: 0, delivery: 1, extendMs: 1_000 }, 900)).toEqual({ kind: 'extended', group: 'g', offset: 0, deadlineMs: 1_900 });
    // Offset 1 asks for less time than it had left: its deadline moves earlier.
    expect(r.apply({ kind: 'extend', group: 'g', offset: 1, delivery: 1, extendMs: 50 }, 900)).toEqual({ kind: 'extended', group: 'g', offset: 1, deadlineMs: 950 });
    // The leader proposes a clock entry by nextDueMs: it must not promise the old, later deadline.
    expect(r.state.nextDueMs()).toBeLessThanOrEqual(950);
    r.tick(960);
    expect(rows(r).map((x) => [x.offset, x.state])).toEqual([
      [0, 'inflight'],
      [1, 'waiting'],
    ]);
    r.tick(1_899);
    expect(rows(r)[0]).toMatchObject({ offset: 0, state: 'inflight', dueMs: 1_900 });
    r.tick(1_901);
    expect(rows(r)[0]).toMatchObject({ offset: 0, state: 'waiting' });
  });
});

describe('release', () => {
  it("makes the leaving consumer's messages ready at once, retries first, and leaves other consumers' alone", () => {
    const r = setUp(5, { ackDeadlineMs: 1_000, retryDelaysMs: [10_000], retriesMax: 3 });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c1', max: 3 })).map((m) => m.offset)).toEqual([0, 1, 2]);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 1 })).map((m) => m.offset)).toEqual([3]);
    expect(r.state.group('g')?.consumers).toEqual(new Map([['c1', 3], ['c2', 1]]));
    expect(r.apply({ kind: 'release', group: 'g', consumer: 'c1' }, 10)).toEqual({ kind: 'released', group: 'g', count: 3 });
    expect(r.state.group('g')?.consumers).toEqual(new Map([['c2', 1]]));
    // No retry delay: delivered again in the same millisecond, before the new offset 4.
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 10 }, 10))).toEqual([
      { offset: 0, delivery: 2, deadlineMs: 1_010 },
      { offset: 1, delivery: 2, deadlineMs: 1_010 },
      { offset: 2, delivery: 2, deadlineMs: 1_010 },
      { offset: 4, delivery: 1, deadlineMs: 1_010 },
    ]);
    expect(r.state.group('g')?.consumers).toEqual(new Map([['c2', 5]]));
    expect(r.apply({ kind: 'release', group: 'g', consumer: 'nobody' })).toEqual({ kind: 'released', group: 'g', count: 0 });
  });
});

describe('leave', () => {
  it('returns what the consumer never handed to its application without counting a delivery: five clean closes dead-letter nothing', () => {
    const r = setUp(40, { ackDeadlineMs: 60_000, retryDelaysMs: [10_000], retriesMax: 2 });
    for (let round = 0; round < 5; round++) {
      const consumer = `c${round}`;
      const got = delivered(r.apply({ kind: 'deliver', group: 'g', consumer, max: 16 }, 10));
      const first = got[0];
      if (first === undefined) throw new Error('nothing delivered');
      // Its application took one message and acked it; the other 15 it never saw.
      r.apply({ kind: 'ack', group: 'g', offsets: [first.offset] }, 10);
      expect(r.apply({ kind: 'leave', group: 'g', consumer, seen: [] }, 10)).toEqual({ kind: 'left', group: 'g', counted: 0, returned: 15 });
    }
    expect(r.state.group('g')).toMatchObject({ dead: 0, inflight: 0 });
    // Never seen, never counted: the next delivery of each is its first.
    const next = delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'last', max: 100 }, 10));
    expect(next).toHaveLength(35);
    expect(next.every((m) => m.delivery === 1)).toBe(true);
  });

  it('counts the deliveries its application saw and did not finish, as a release does; other consumers keep theirs', () => {
    const r = setUp(4, { ackDeadlineMs: 60_000, retryDelaysMs: [10_000], retriesMax: 0 });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c1', max: 3 })).map((m) => m.offset)).toEqual([0, 1, 2]);
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 1 })).map((m) => m.offset)).toEqual([3]);
    // Offset 0 was seen; a stale pair (offset 1 at another delivery) does not make offset 1 seen.
    const seen = [{ offset: 0, delivery: 1 }, { offset: 1, delivery: 7 }];
    expect(r.apply({ kind: 'leave', group: 'g', consumer: 'c1', seen }, 10)).toEqual({ kind: 'left', group: 'g', counted: 1, returned: 2 });
    // retriesMax 0: the seen one has had its one delivery and is dead; the unseen ones go out again as first deliveries.
    expect(r.state.group('g')).toMatchObject({ dead: 1, consumers: new Map([['c2', 1]]) });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c2', max: 10 }, 10))).toEqual([
      { offset: 1, delivery: 1, deadlineMs: 60_010 },
      { offset: 2, delivery: 1, deadlineMs: 60_010 },
    ]);
  });

  it('refuses more seen deliveries than any prefetch allows, changing nothing', () => {
    const r = setUp(1);
    const seen = Array.from({ length: 10_001 }, (_, k) => ({ offset: k, delivery: 1 }));
    expectRefusedWithoutChange(r, { kind: 'leave', group: 'g', consumer: 'c', seen }, 'invalidArgument');
  });
});

describe('refusals change nothing', () => {
  it('for each bad request: a clear code, and the groups exactly as before', () => {
    const r = setUp(3);
    r.apply({ kind: 'createTopic', name: 'other', messageBytesMax: 1000 });
    delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 2 }, 100));
    r.apply({ kind: 'ack', group: 'g', offsets: [0] });
    const bad: [string, BrokerCommand, string][] = [
      ['ack, unknown group', { kind: 'ack', group: 'nope', offsets: [0] }, 'notFound'],
      ['nack, unknown group', { kind: 'nack', group: 'nope', offset: 1, delivery: 1, reason: 'x', delayMs: -1 }, 'notFound'],
      ['extend, unknown group', { kind: 'extend', group: 'nope', offset: 1, delivery: 1, extendMs: 10 }, 'notFound'],
      ['deliver, unknown group', { kind: 'deliver', group: 'nope', consumer: 'c', max: 1 }, 'notFound'],
      ['release, unknown group', { kind: 'release', group: 'nope', consumer: 'c' }, 'notFound'],
      ['deleteGroup, unknown group', { kind: 'deleteGroup', group: 'nope' }, 'notFound'],
      ['nack, stale delivery', { kind: 'nack', group: 'g', offset: 1, delivery: 2, reason: 'x', delayMs: -1 }, 'failedPrecondition'],
      ['extend, stale delivery', { kind: 'extend', group: 'g', offset: 1, delivery: 0, extendMs: 10 }, 'failedPrecondition'],
      ['nack, already acked', { kind: 'nack', group: 'g', offset: 0, delivery: 1, reason: 'x', delayMs: -1 }, 'failedPrecondition'],
      ['extend, already acked', { kind: 'extend', group: 'g', offset: 0, delivery: 1, extendMs: 10 }, 'failedPrecondition'],
      ['nack, never delivered', { kind: 'nack', group: 'g', offset: 2, delivery: 1, reason: 'x', delayMs: -1 }, 'notFound'],
      ['extend, never delivered', { kind: 'extend', group: 'g', offset: 2, delivery: 1, extendMs: 10 }, 'notFound'],
      ['nack, negative delay', { kind: 'nack', group: 'g', offset: 1, delivery: 1, reason: 'x', delayMs: -2 }, 'invalidArgument'],
      ['nack, fractional delay', { kind: 'nack', group: 'g', offset: 1, delivery: 1, reason: 'x', delayMs: 1.5 }, 'invalidArgument'],
      ['nack, delay too large', { kind: 'nack', group: 'g', offset: 1, delivery: 1, reason: 'x', delayMs: GROUP_DEFAULTS.delayMsMax + 1 }, 'invalidArgument'],
      ['extend, zero', { kind: 'extend', group: 'g', offset: 1, delivery: 1, extendMs: 0 }, 'invalidArgument'],
      ['extend, negative', { kind: 'extend', group: 'g', offset: 1, delivery: 1, extendMs: -5 }, 'invalidArgument'],
      ['extend, too large', { kind: 'extend', group: 'g', offset: 1, delivery: 1, extendMs: GROUP_DEFAULTS.delayMsMax + 1 }, 'invalidArgument'],
      ['deliver, empty consumer id', { kind: 'deliver', group: 'g', consumer: '', max: 1 }, 'invalidArgument'],
      ['deliver, consumer id too long', { kind: 'deliver', group: 'g', consumer: 'c'.repeat(129), max: 1 }, 'invalidArgument'],
      ['deadLetter, not dead', { kind: 'deadLetter', group: 'g', offset: 1, message: message('m1') }, 'failedPrecondition'],
      ['deadLetter, never delivered', { kind: 'deadLetter', group: 'g', offset: 2, message: message('m2') }, 'failedPrecondition'],
      ['createGroup, unknown topic', { kind: 'createGroup', group: 'h', topic: 'nope', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false }, 'notFound'],
      ['createGroup, other topic with ifAbsent', { kind: 'createGroup', group: 'g', topic: 'other', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: true }, 'failedPrecondition'],
      ['createGroup, exists', { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false }, 'alreadyExists'],
      ['createGroup, bad name', { kind: 'createGroup', group: 'a b', topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false }, 'invalidArgument'],
      ['createGroup, name too long for its dlq', { kind: 'createGroup', group: 'x'.repeat(201), topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false }, 'invalidArgument'],
      ['createGroup, no retry levels', { kind: 'createGroup', group: 'h', topic: 'orders', start: { kind: 'earliest' }, settings: { ...FAST_SETTINGS, retryDelaysMs: [] }, ifAbsent: false }, 'invalidArgument'],
      ['createGroup, zero ack deadline', { kind: 'createGroup', group: 'h', topic: 'orders', start: { kind: 'earliest' }, settings: { ...FAST_SETTINGS, ackDeadlineMs: 0 }, ifAbsent: false }, 'invalidArgument'],
      ['createGroup, start past the end', { kind: 'createGroup', group: 'h', topic: 'orders', start: { kind: 'offset', offset: 4 }, settings: FAST_SETTINGS, ifAbsent: false }, 'invalidArgument'],
      ['createGroup, negative start', { kind: 'createGroup', group: 'h', topic: 'orders', start: { kind: 'offset', offset: -1 }, settings: FAST_SETTINGS, ifAbsent: false }, 'invalidArgument'],
    ];
    for (const [what, command, code] of bad) {
      try {
        expectRefusedWithoutChange(r, command, code);
      } catch (error) {
        throw new Error(`${what}: ${(error as Error).message}`, { cause: error });
      }
    }
    // The same group on its own topic with ifAbsent is fine, and changes nothing either.
    const before = r.groupView();
    expect(r.apply({ kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'latest' }, settings: FAST_SETTINGS, ifAbsent: true })).toEqual({ kind: 'groupCreated', group: 'g', created: false });
    expect(r.groupView()).toEqual(before);
  });

  it('a group whose topic was deleted and re-created is not moved to the new topic', () => {
    const r = setUp(1);
    r.apply({ kind: 'deleteTopic', name: 'orders' });
    expectRefusedWithoutChange(r, { kind: 'deliver', group: 'g', consumer: 'c', max: 1 }, 'notFound');
    r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 1000 });
    expectRefusedWithoutChange(r, { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: true }, 'failedPrecondition');
    expectRefusedWithoutChange(r, { kind: 'deliver', group: 'g', consumer: 'c', max: 1 }, 'notFound');
  });
});

describe('where a group starts', () => {
  it('earliest, latest, an offset, or the first message made visible at or after a time', () => {
    const r = new GroupReplica();
    r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 1000 }, 0);
    r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('a0'), message('a1'), message('a2')] }, 100);
    r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('b3'), message('b4')] }, 200);
    const cases: [string, GroupStartCase, number][] = [
      ['e', { kind: 'earliest' }, 0],
      ['l', { kind: 'latest' }, 5],
      ['o2', { kind: 'offset', offset: 2 }, 2],
      ['o5', { kind: 'offset', offset: 5 }, 5],
      ['t0', { kind: 'time', timeMs: 0 }, 0],
      ['t100', { kind: 'time', timeMs: 100 }, 0],
      ['t101', { kind: 'time', timeMs: 101 }, 3],
      ['t200', { kind: 'time', timeMs: 200 }, 3],
      ['t201', { kind: 'time', timeMs: 201 }, 5],
    ];
    for (const [group, start, expected] of cases) {
      expect(r.apply({ kind: 'createGroup', group, topic: 'orders', start, settings: FAST_SETTINGS, ifAbsent: false })).toMatchObject({ kind: 'groupCreated', created: true });
      expect(r.state.group(group), group).toMatchObject({ committedOffset: expected, nextOffset: expected, lag: 5 - expected });
    }
    r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('c5')] }, 300);
    for (const [group, , expected] of cases) {
      const got = r.apply({ kind: 'deliver', group, consumer: 'c', max: 10 });
      expect(delivered(got).map((m) => m.offset), group).toEqual(Array.from({ length: 6 - expected }, (_, k) => expected + k));
    }
  });
});

type GroupStartCase = Extract<GroupCommand, { kind: 'createGroup' }>['start'];

describe('delayed delivery', () => {
  const produceAt = (r: GroupReplica, payload: string, deliverAtMs: number | undefined, atMs: number): ApplyResult =>
    r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message(payload, deliverAtMs)] }, atMs);

  it('is invisible before its time, gets offsets in due order when the log clock reaches it, and survives replay', () => {
    const r = setUp(0);
    expect(produceAt(r, 'late', 5_000, 1_000)).toMatchObject({ kind: 'produced', firstOffset: -1, deliverAtMs: 5_000 });
    expect(produceAt(r, 'early', 3_000, 1_001)).toMatchObject({ kind: 'produced', firstOffset: -1, deliverAtMs: 3_000 });
    expect(produceAt(r, 'now', undefined, 1_002)).toMatchObject({ kind: 'produced', firstOffset: 0 });
    expect(produceAt(r, 'past', 10, 1_003)).toMatchObject({ kind: 'produced', firstOffset: 1 });
    expect(produceAt(r, 'middle', 4_000, 1_004)).toMatchObject({ kind: 'produced', firstOffset: -1 });
    expect(r.state.nextDueMs()).toBe(3_000);
    expect(r.state.topic('orders')).toMatchObject({ nextOffset: 2, scheduledMessages: 3 });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 }, 2_999)).map((m) => m.offset)).toEqual([0, 1]);
    r.apply({ kind: 'ack', group: 'g', offsets: [0, 1] });
    expect(delivered(r.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 }, 2_999))).toEqual([]);
    expect(r.state.topic('orders')?.nextOffset).toBe(2);

    r.tick(3_000);
    expect(r.state.topic('orders')).toMatchObject({ nextOffset: 3, scheduledMessages: 2 });
    // Failover before the rest falls due: the new leader holds the same schedule.
    const replayed = r.replay();
    expect(replayed.groupView()).toEqual(r.groupView());
    expect(replayed.state.nextDueMs()).toBe(r.state.nextDueMs());
    // Two batches fall due at once: offsets in due order, not log order.
    for (const x of [r, replayed]) {
      x.tick(9_000);
      expect(x.readAll('orders').map((m) => text(m.payload))).toEqual(['now', 'past', 'early', 'middle', 'late']);
      expect(delivered(x.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 })).map((m) => m.offset)).toEqual([2, 3, 4]);
    }
    expect(replayed.groupView()).toEqual(r.groupView());
    // A group starting at a time finds the delayed messages by when they became visible.
    r.apply({ kind: 'createGroup', group: 'from3000', topic: 'orders', start: { kind: 'time', timeMs: 2_000 }, settings: FAST_SETTINGS, ifAbsent: false });
    expect(r.state.group('from3000')?.nextOffset).toBe(2);
  });

  it('refuses a malformed time, mixed times in one batch, or a time too far ahead', () => {
    const r = setUp(0);
    const bad = (messages: ReturnType<typeof message>[]): void => {
      expect(r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages })).toMatchObject({ kind: 'rejected', error: { code: 'invalidArgument' } });
    };
    bad([{ ...message('x'), headers: [{ name: 'quorumlog-deliver-at-ms', value: new TextEncoder().encode('soon') }] }]);
    bad([message('x', 100), message('y', 200)]);
    bad([message('x', 31 * 24 * 60 * MINUTE_MS)]);
    expect(r.state.topic('orders')?.nextOffset).toBe(0);
    expect(r.state.nextDueMs()).toBe(Infinity);
  });
});

describe('group commands on the wire', () => {
  const settings = fc.record({
    ackDeadlineMs: fc.maxSafeNat(),
    retryDelaysMs: fc.array(fc.maxSafeNat(), { maxLength: 5 }),
    retriesMax: fc.nat({ max: 2 ** 32 - 1 }),
  });
  const start = fc.oneof(
    fc.constant({ kind: 'earliest' as const }),
    fc.constant({ kind: 'latest' as const }),
    fc.record({ kind: fc.constant('offset' as const), offset: fc.maxSafeNat() }),
    fc.record({ kind: fc.constant('time' as const), timeMs: fc.maxSafeNat() }),
  );
  const name = fc.string({ maxLength: 12 });
  const u32 = fc.nat({ max: 2 ** 32 - 1 });
  const msg = fc.record({
    key: fc.uint8Array({ maxLength: 8 }),
    headers: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), value: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 3 }),
    payload: fc.uint8Array({ maxLength: 32 }),
    timestampMs: fc.maxSafeNat(),
  });
  const groupCommand: fc.Arbitrary<BrokerCommand> = fc.oneof(
    fc.record({ kind: fc.constant('createGroup' as const), group: name, topic: name, start, settings, ifAbsent: fc.boolean() }),
    fc.record({ kind: fc.constant('deleteGroup' as const), group: name }),
    fc.record({ kind: fc.constant('deliver' as const), group: name, consumer: name, max: u32 }),
    fc.record({ kind: fc.constant('lease' as const), group: name, consumer: name, max: u32 }),
    fc.record({ kind: fc.constant('ack' as const), group: name, offsets: fc.array(fc.maxSafeNat(), { maxLength: 6 }) }),
    fc.record({ kind: fc.constant('ackRanges' as const), group: name, ranges: fc.array(fc.record({ offset: fc.maxSafeNat(), count: u32 }), { maxLength: 4 }) }),
    fc.record({
      kind: fc.constant('nack' as const),
      group: name,
      offset: fc.maxSafeNat(),
      delivery: u32,
      reason: fc.string({ maxLength: 20 }),
      delayMs: fc.oneof(fc.constant(-1), fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 })),
    }),
    fc.record({ kind: fc.constant('extend' as const), group: name, offset: fc.maxSafeNat(), delivery: u32, extendMs: fc.maxSafeNat() }),
    fc.record({ kind: fc.constant('release' as const), group: name, consumer: name }),
    fc.record({ kind: fc.constant('leave' as const), group: name, consumer: name, seen: fc.array(fc.record({ offset: fc.maxSafeNat(), delivery: u32 }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant('deadLetter' as const), group: name, offset: fc.maxSafeNat(), message: msg }),
    fc.record({
      kind: fc.constant('resetGroup' as const),
      group: name,
      to: fc.oneof(
        fc.constant({ kind: 'latest' as const }),
        fc.record({ kind: fc.constant('offset' as const), offset: fc.maxSafeNat() }),
        fc.record({ kind: fc.constant('time' as const), timeMs: fc.maxSafeNat() }),
      ),
      earliestOffset: fc.maxSafeNat(),
      force: fc.boolean(),
    }),
    fc.constant({ kind: 'clock' as const }),
  );

  it('every group command and the clock survive encode/decode unchanged', () => {
    const examples: BrokerCommand[] = [
      { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false },
      { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'latest' }, settings: FAST_SETTINGS, ifAbsent: true },
      { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'offset', offset: 42 }, settings: FAST_SETTINGS, ifAbsent: false },
      { kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'time', timeMs: 1_700_000_000_000 }, settings: FAST_SETTINGS, ifAbsent: false },
      { kind: 'deleteGroup', group: 'g' },
      { kind: 'lease', group: 'g', consumer: 'c', max: 4000 },
      { kind: 'ackRanges', group: 'g', ranges: [{ offset: 7, count: 3 }, { offset: 2, count: 1 }] },
      { kind: 'deliver', group: 'g', consumer: 'c-1', max: 1000 },
      { kind: 'ack', group: 'g', offsets: [] },
      { kind: 'ack', group: 'g', offsets: [0, 5, Number.MAX_SAFE_INTEGER] },
      { kind: 'nack', group: 'g', offset: 3, delivery: 2, reason: 'bad', delayMs: -1 },
      { kind: 'nack', group: 'g', offset: 3, delivery: 2, reason: '', delayMs: 0 },
      { kind: 'nack', group: 'g', offset: 3, delivery: 2, reason: 'ü', delayMs: 86_400_000 },
      { kind: 'extend', group: 'g', offset: 3, delivery: 2, extendMs: 30_000 },
      { kind: 'release', group: 'g', consumer: 'c-1' },
      { kind: 'leave', group: 'g', consumer: 'c-1', seen: [] },
      { kind: 'leave', group: 'g', consumer: 'c-1', seen: [{ offset: 3, delivery: 2 }, { offset: Number.MAX_SAFE_INTEGER, delivery: 1 }] },
      { kind: 'deadLetter', group: 'g', offset: 7, message: message('dead', 5) },
      { kind: 'resetGroup', group: 'g', to: { kind: 'offset', offset: 12 }, earliestOffset: 10, force: false },
      { kind: 'resetGroup', group: 'g', to: { kind: 'latest' }, earliestOffset: 0, force: true },
      { kind: 'resetGroup', group: 'g', to: { kind: 'time', timeMs: 1_700_000_000_000 }, earliestOffset: Number.MAX_SAFE_INTEGER, force: false },
      { kind: 'clock' },
    ];
    const kinds = new Set(examples.map((c) => c.kind));
    expect([...kinds].sort()).toEqual(['ack', 'ackRanges', 'clock', 'createGroup', 'deadLetter', 'deleteGroup', 'deliver', 'extend', 'lease', 'leave', 'nack', 'release', 'resetGroup']);
    for (const command of examples) expect(decodeCommand(encodeCommand({ leaderTimeMs: 123, command }))).toEqual({ leaderTimeMs: 123, command });
  });

  it('a reset to "earliest" or with a force flag other than 0 or 1 is not a command', () => {
    const bytes = encodeCommand({ leaderTimeMs: 1, command: { kind: 'resetGroup', group: 'g', to: { kind: 'latest' }, earliestOffset: 0, force: true } });
    const earliest = Uint8Array.from(bytes);
    // version, kind, time (8), group (u32 length + 1 byte), then the target's kind.
    const targetAt = 1 + 1 + 8 + 4 + 1;
    expect(earliest[targetAt]).toBe(1);
    earliest[targetAt] = 0;
    expect(() => decodeCommand(earliest)).toThrow(/concrete offset/);
    const badForce = Uint8Array.from(bytes);
    badForce[badForce.length - 1] = 2;
    expect(() => decodeCommand(badForce)).toThrow(/force flag is 2/);
  });

  it('decode(encode(c)) is c for random group commands; every truncation is refused', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), groupCommand, (leaderTimeMs, command) => {
        const encoded = encodeCommand({ leaderTimeMs, command });
        expect(decodeCommand(encoded)).toEqual({ leaderTimeMs, command });
        for (let cut = 0; cut < encoded.length; cut++) expect(() => decodeCommand(encoded.subarray(0, cut))).toThrow();
      }),
      { seed: 6_2024, numRuns: 300 },
    );
  });
});
