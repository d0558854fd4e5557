import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicLog } from '../../src/broker/topic-log.js';
import { BrokerState, type ApplyResult, type BrokerCommand, type GroupSettings } from '../../src/broker/index.js';
import { message } from './consumer-group-model.js';
import { scenarioArb, ScenarioDriver } from './broker-scenario.js';

/**
 * The queries retention asks before deleting log below an index: what the broker owes
 * whatever the policy, what consumer groups have yet to finish, and from which offset a
 * topic is still whole.
 */

const SETTINGS: GroupSettings = { ackDeadlineMs: 1_000, retryDelaysMs: [5_000], retriesMax: 3 };

/** A state applying entries 1, 2, 3 ... at the times given. */
class Log {
  readonly state = new BrokerState();
  private index = 0;

  apply(command: BrokerCommand, atMs = this.state.nowMs): ApplyResult {
    const result = this.state.apply(++this.index, atMs, command);
    if (result.kind === 'rejected') throw result.error;
    return result;
  }

  get lastIndex(): number {
    return this.index;
  }

  /** Topic t, five filler messages at entries 2..6 and group g on it from the start. */
  static withTopic(): Log {
    const log = new Log();
    log.apply({ kind: 'createTopic', name: 't', messageBytesMax: 1_000 }, 1_000);
    for (let k = 0; k < 5; k++) log.produce(`m${k}`);
    log.apply({ kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false });
    return log;
  }

  produce(payload: string, deliverAtMs?: number): number {
    this.apply({ kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [message(payload, deliverAtMs)] });
    return this.index;
  }

  /** Delivers up to `max` and acks them all: the group has finished them. */
  consume(max: number): void {
    const result = this.apply({ kind: 'deliver', group: 'g', consumer: 'c', max });
    if (result.kind !== 'delivered') throw new Error(result.kind);
    this.apply({ kind: 'ack', group: 'g', offsets: result.messages.map((m) => m.offset) });
  }
}

describe('lowestOwedLogIndex', () => {
  it('is Infinity when nothing is owed, even with messages no group has read', () => {
    const log = Log.withTopic();
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });

  it('holds a delayed batch not yet due, and lets it go once it is visible and finished', () => {
    const log = Log.withTopic();
    log.consume(5);
    const at = log.produce('later', 5_000);
    log.produce('now');
    expect(log.state.lowestOwedLogIndex()).toBe(at);
    log.apply({ kind: 'clock' }, 6_000);
    log.consume(5);
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });

  it('holds a message delivered and not acked', () => {
    const log = Log.withTopic();
    log.consume(2); // m0, m1 finished
    log.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 }); // m2, entry 4, in flight
    expect(log.state.lowestOwedLogIndex()).toBe(4);
    log.apply({ kind: 'ack', group: 'g', offsets: [2] });
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });

  it('holds a message waiting for its retry, and a dead one until its dead-letter copy is written', () => {
    const log = Log.withTopic();
    log.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 }); // m0, entry 2
    log.apply({ kind: 'nack', group: 'g', offset: 0, delivery: 1, reason: 'no', delayMs: -1 });
    expect(log.state.consumerGroups.group('g')?.snapshot()[0]?.state).toBe('waiting');
    expect(log.state.lowestOwedLogIndex()).toBe(2);
    log.apply({ kind: 'createGroup', group: 'once', topic: 't', start: { kind: 'offset', offset: 3 }, settings: { ...SETTINGS, retriesMax: 0 }, ifAbsent: false });
    log.apply({ kind: 'deliver', group: 'once', consumer: 'c', max: 1 }); // m3, entry 5
    log.apply({ kind: 'nack', group: 'once', offset: 3, delivery: 1, reason: 'no', delayMs: -1 });
    expect(log.state.deadLetterCandidates(10).map((c) => c.offset)).toEqual([3]);
    log.apply({ kind: 'ack', group: 'g', offsets: [0] });
    expect(log.state.lowestOwedLogIndex()).toBe(5);
    log.apply({ kind: 'deadLetter', group: 'once', offset: 3, message: message('copy') });
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });

  it('holds an undecided half message, and lets it go once decided', () => {
    const log = Log.withTopic();
    log.apply({ kind: 'halfMessage', txId: 'x', producerGroup: 'pg', topic: 't', checkDelayMs: 60_000, checkIntervalMs: 60_000, checkMax: 3, messages: [message('tx')] });
    const half = log.lastIndex;
    expect(log.state.lowestOwedLogIndex()).toBe(half);
    log.apply({ kind: 'endTransaction', txId: 'x', outcome: 'rollback', source: 'producer' });
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });

  it("owes nothing for a group whose topic was deleted: its messages can never go out again", () => {
    const log = Log.withTopic();
    log.apply({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 });
    log.apply({ kind: 'deleteTopic', name: 't' });
    expect(log.state.lowestOwedLogIndex()).toBe(Infinity);
  });
});

describe('lowestUnconsumedLogIndex', () => {
  it("is the lowest entry at or after each group's committed offset, and Infinity for a group at the topic's end", () => {
    const log = Log.withTopic(); // m0..m4 at entries 2..6
    expect(log.state.lowestUnconsumedLogIndex()).toBe(2);
    log.consume(3);
    expect(log.state.lowestUnconsumedLogIndex()).toBe(5);
    log.consume(2);
    expect(log.state.group('g')?.committedOffset).toBe(5);
    expect(log.state.lowestUnconsumedLogIndex()).toBe(Infinity);
  });

  it('counts a later offset held by an older entry: a delayed batch made visible after newer messages', () => {
    const log = Log.withTopic();
    log.consume(5);
    const delayed = log.produce('later', 5_000); // offset 6 once due
    const now = log.produce('now'); // offset 5
    log.apply({ kind: 'clock' }, 6_000);
    expect(log.state.group('g')?.committedOffset).toBe(5);
    expect(log.state.locate('t', 5)?.logIndex).toBe(now);
    expect(log.state.locate('t', 6)?.logIndex).toBe(delayed);
    // Not the committed offset's entry: the one after it is older.
    expect(log.state.lowestUnconsumedLogIndex()).toBe(delayed);
  });

  it('takes the slowest group', () => {
    const log = Log.withTopic();
    log.apply({ kind: 'createGroup', group: 'slow', topic: 't', start: { kind: 'offset', offset: 1 }, settings: SETTINGS, ifAbsent: false });
    log.consume(5);
    expect(log.state.lowestUnconsumedLogIndex()).toBe(3);
  });
});

describe('earliestOffsetAtOrAfter', () => {
  it('is the first offset from which every message is at or after the index', () => {
    const log = Log.withTopic(); // m0..m4 at entries 2..6
    expect(log.state.earliestOffsetAtOrAfter('t', 1)).toBe(0);
    expect(log.state.earliestOffsetAtOrAfter('t', 4)).toBe(2);
    expect(log.state.earliestOffsetAtOrAfter('t', 7)).toBe(5);
    expect(log.state.earliestOffsetAtOrAfter('nope', 1)).toBeUndefined();
  });

  it('TopicLog: a run pointing back at an older entry cuts the whole prefix before it', () => {
    const t = new TopicLog(1, 't', 100);
    t.append(10, 2, 0); // offsets 0, 1
    t.append(12, 2, 0); // 2, 3
    t.append(5, 1, 0); // 4: an old entry (a delayed batch)
    t.append(13, 1, 0); // 5
    expect(t.firstOffsetAtOrAfter(5)).toBe(0);
    expect(t.firstOffsetAtOrAfter(6)).toBe(5);
    expect(t.firstOffsetAtOrAfter(14)).toBe(6);
    expect(t.lowestLogIndexFrom(0)).toBe(5);
    expect(t.lowestLogIndexFrom(5)).toBe(13);
    expect(t.lowestLogIndexFrom(6)).toBe(Infinity);
    expect(t.lowestLogIndexOf([0, 1, 3])).toBe(10);
  });
});

/** The answers by brute force over the public queries: one locate per offset. */
function bruteForce(s: BrokerState): { unconsumed: number; owedByGroupsAndTxs: number; earliest: (topic: string, floor: number) => number } {
  const logIndexAt = (topic: string, offset: number): number => s.locate(topic, offset)?.logIndex ?? Infinity;
  let unconsumed = Infinity;
  let owed = Infinity;
  for (const g of s.groupList()) {
    const group = s.consumerGroups.group(g.name);
    if (group === undefined || s.topic(g.topic)?.id !== group.topicId) continue;
    const end = s.topic(g.topic)?.nextOffset ?? 0;
    for (let o = g.committedOffset; o < end; o++) unconsumed = Math.min(unconsumed, logIndexAt(g.topic, o));
    for (const row of group.snapshot()) owed = Math.min(owed, logIndexAt(g.topic, row.offset));
  }
  for (const tx of s.undecidedTransactions()) owed = Math.min(owed, tx.logIndex);
  const earliest = (topic: string, floor: number): number => {
    const end = s.topic(topic)?.nextOffset ?? 0;
    // What a trim left: the first offset located (the end if none is).
    let start = 0;
    while (start < end && s.locate(topic, start) === undefined) start++;
    let o = end;
    while (o > start && logIndexAt(topic, o - 1) >= floor) o--;
    return o;
  };
  return { unconsumed, owedByGroupsAndTxs: owed, earliest };
}

const seed = Number(process.env['RETENTION_SEED'] ?? 20_261_207);

describe('retention queries against brute force', () => {
  it(`agree after every entry of random scenarios (seed ${seed})`, () => {
    fc.assert(
      fc.property(scenarioArb, (steps) => {
        const driver = new ScenarioDriver();
        const s = new BrokerState();
        for (const step of steps) {
          const entry = driver.next(step, s);
          driver.learn(entry.command, s.apply(entry.logIndex, entry.leaderTimeMs, entry.command));
          const brute = bruteForce(s);
          expect(s.lowestUnconsumedLogIndex()).toBe(brute.unconsumed);
          // Delayed batches are owed too, and have no offset to locate: the brute force sees only the rest.
          const scheduled = s.topics().some((t) => t.scheduledMessages > 0);
          if (scheduled) expect(s.lowestOwedLogIndex()).toBeLessThanOrEqual(brute.owedByGroupsAndTxs);
          else expect(s.lowestOwedLogIndex()).toBe(brute.owedByGroupsAndTxs);
          for (const t of s.topics()) {
            for (const floor of [1, Math.ceil(s.lastApplied / 3), Math.ceil(s.lastApplied / 2), s.lastApplied]) {
              expect(s.earliestOffsetAtOrAfter(t.name, floor), `${t.name} from ${floor}`).toBe(brute.earliest(t.name, floor));
            }
          }
        }
      }),
      { seed, numRuns: 60 },
    );
  });
});
