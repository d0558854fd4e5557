import { describe, expect, it } from 'vitest';
import { BinaryWriter } from '../../src/encoding/index.js';
import { BROKER_SNAPSHOT_FORMAT, BrokerState, decodeBrokerSnapshot, encodeBrokerSnapshot, type ApplyResult, type BrokerCommand, type GroupSettings } from '../../src/broker/index.js';
import { writeGroups } from '../../src/broker/groups-snapshot.js';
import { writeTransactions } from '../../src/broker/transactions-snapshot.js';
import { StepCounter } from '../../src/broker/snapshot-steps.js';
import { message } from './consumer-group-model.js';
import { stateView } from './broker-scenario.js';

/**
 * The trimLog command: the broker state forgets what only describes log entries below a
 * point (offset runs, time samples), so it stops growing with history, and never what it
 * still owes.
 */

const SETTINGS: GroupSettings = { ackDeadlineMs: 60_000, retryDelaysMs: [5_000], retriesMax: 3 };

/** A state applying entries 1, 2, 3 ... one log-second apart unless told otherwise. */
class Log {
  readonly state = new BrokerState();
  private index = 0;

  apply(command: BrokerCommand, atMs = this.state.nowMs + 1_000): ApplyResult {
    return this.state.apply(++this.index, atMs, command);
  }

  ok(command: BrokerCommand, atMs?: number): ApplyResult {
    const result = this.apply(command, atMs);
    if (result.kind === 'rejected') throw result.error;
    return result;
  }

  get lastIndex(): number {
    return this.index;
  }

  /** Topic t (entry 1) and `count` messages, one entry each (entries 2 .. count+1: offset k at entry k+2). */
  static withMessages(count: number): Log {
    const log = new Log();
    log.ok({ kind: 'createTopic', name: 't', messageBytesMax: 1_000 });
    for (let k = 0; k < count; k++) log.produce(`m${k}`);
    return log;
  }

  produce(payload: string, deliverAtMs?: number): number {
    this.ok({ kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [message(payload, deliverAtMs)] });
    return this.index;
  }

  trim(beforeLogIndex: number, atMs?: number): ApplyResult {
    return this.apply({ kind: 'trimLog', beforeLogIndex }, atMs);
  }
}

describe('trimLog', () => {
  it('drops the offset runs of entries below the point: the earliest offset moves up, offsets below are not located', () => {
    const log = Log.withMessages(10); // offsets 0..9 at entries 2..11
    expect(log.state.topic('t')?.earliestOffset).toBe(0);
    expect(log.trim(7)).toEqual({ kind: 'logTrimmed', trimmedBelow: 7, runsDropped: 5 });
    expect(log.state.trimmedBelowLogIndex).toBe(7);
    expect(log.state.topic('t')).toMatchObject({ earliestOffset: 5, nextOffset: 10 });
    expect(log.state.earliestOffset('t')).toBe(5);
    for (let o = 0; o < 5; o++) expect(log.state.locate('t', o), `offset ${o}`).toBeUndefined();
    for (let o = 5; o < 10; o++) expect(log.state.locate('t', o)).toEqual({ logIndex: o + 2, position: 0 });
    // Offsets go on from where they were.
    log.produce('m10');
    expect(log.state.locate('t', 10)).toEqual({ logIndex: log.lastIndex, position: 0 });
    expect(log.state.earliestOffsetAtOrAfter('t', 9)).toBe(7);
  });

  it('is idempotent: a trim at or below the point already trimmed changes nothing', () => {
    const log = Log.withMessages(6);
    log.trim(5);
    const bytes = encodeBrokerSnapshot(log.state);
    const view = stateView(log.state);
    const again = log.trim(5, log.state.nowMs);
    const lower = log.trim(3, log.state.nowMs);
    expect(again).toEqual({ kind: 'logTrimmed', trimmedBelow: 5, runsDropped: 0 });
    expect(lower).toEqual({ kind: 'logTrimmed', trimmedBelow: 5, runsDropped: 0 });
    // Only the applied index and the clock moved.
    expect({ ...(stateView(log.state) as object), lastApplied: 0, nowMs: 0, nextDueMs: 0 }).toEqual({ ...(view as object), lastApplied: 0, nowMs: 0, nextDueMs: 0 });
    expect(encodeBrokerSnapshot(log.state).length).toBe(bytes.length);
  });

  it('refuses to trim past its own entry', () => {
    const log = Log.withMessages(3);
    const result = log.trim(log.lastIndex + 2);
    expect(result).toMatchObject({ kind: 'rejected', error: { code: 'invalidArgument' } });
    expect(log.state.trimmedBelowLogIndex).toBe(0);
    expect(log.state.topic('t')?.earliestOffset).toBe(0);
  });

  it('never drops a message a group has in flight: it trims only below the lowest entry owed', () => {
    const log = Log.withMessages(8); // offsets 0..7 at entries 2..9
    log.ok({ kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false });
    const delivered = log.ok({ kind: 'deliver', group: 'g', consumer: 'c', max: 4 }); // offsets 0..3
    expect(delivered.kind === 'delivered' && delivered.messages.length).toBe(4);
    log.ok({ kind: 'ack', group: 'g', offsets: [0, 1] }); // 2 (entry 4) and 3 stay in flight
    expect(log.trim(9)).toEqual({ kind: 'logTrimmed', trimmedBelow: 4, runsDropped: 2 });
    expect(log.state.locate('t', 2)).toEqual({ logIndex: 4, position: 0 });
    // The consumer's nack and the redelivery still find it.
    log.ok({ kind: 'nack', group: 'g', offset: 2, delivery: 1, reason: 'later', delayMs: 0 });
    const again = log.ok({ kind: 'deliver', group: 'g', consumer: 'c', max: 1 });
    expect(again.kind === 'delivered' && again.messages.map((m) => [m.offset, m.delivery, m.logIndex])).toEqual([[2, 2, 4]]);
  });

  it('never drops a delayed batch not yet due, nor an undecided half message', () => {
    const log = Log.withMessages(3); // entries 2..4
    const delayed = log.produce('later', 60_000); // entry 5, no offset yet
    log.produce('now'); // offset 3, entry 6
    log.ok({ kind: 'halfMessage', txId: 'x', producerGroup: 'pg', topic: 't', checkDelayMs: 600_000, checkIntervalMs: 60_000, checkMax: 3, messages: [message('tx')] });
    const half = log.lastIndex; // entry 7
    expect(log.trim(log.lastIndex + 1)).toMatchObject({ trimmedBelow: delayed });
    log.ok({ kind: 'clock' }, 61_000); // the delayed batch gets offset 4, pointing back at entry 5
    expect(log.state.locate('t', 4)).toEqual({ logIndex: delayed, position: 0 });
    expect(log.trim(log.lastIndex)).toMatchObject({ trimmedBelow: half });
    log.ok({ kind: 'endTransaction', txId: 'x', outcome: 'commit', source: 'producer' });
    expect(log.state.locate('t', 5)).toEqual({ logIndex: half, position: 0 });
  });

  it('stops at a run held at or after the point, keeping later runs that point back below it', () => {
    const log = Log.withMessages(2); // offsets 0, 1 at entries 2, 3
    const delayed = log.produce('later', 20_000); // entry 4
    log.produce('a'); // offset 2, entry 5
    log.ok({ kind: 'clock' }, 30_000); // offset 3 -> entry 4
    log.produce('b'); // offset 4, entry 7
    log.trim(5);
    // Runs at entries 2, 3 go; the run at entry 5 stays and so does the later one at entry 4.
    expect(log.state.locate('t', 1)).toBeUndefined();
    expect(log.state.locate('t', 2)).toEqual({ logIndex: 5, position: 0 });
    expect(log.state.locate('t', 3)).toEqual({ logIndex: delayed, position: 0 });
    // Every message from offset 4 on is held at or after entry 5: that is what reads start from.
    expect(log.state.earliestOffset('t')).toBe(4);
    expect(log.state.topic('t')?.earliestOffset).toBe(4);
    expect(log.state.earliestOffsetAtOrAfter('t', 1)).toBe(2);
  });

  it('keeps the time samples that answer for the entries kept', () => {
    const log = Log.withMessages(20); // entry k applied at k seconds of log time
    const before = [5_000, 12_000, 15_500, 21_000].map((t) => log.state.logIndexBefore(t));
    log.trim(12);
    expect([12_000, 15_500, 21_000].map((t) => log.state.logIndexBefore(t))).toEqual(before.slice(1));
    // An older time answers no later an entry than before.
    expect(log.state.logIndexBefore(5_000)).toBeLessThanOrEqual(before[0] as number);
    expect((log.state.snapshotSource().timeIndex.indexes as readonly number[]).filter((i) => i < 12)).toHaveLength(1);
  });

  it('a group created at earliest after a trim starts at the earliest offset; a reset never goes below it', () => {
    const log = Log.withMessages(6);
    log.trim(5); // offsets 0..2 gone
    log.ok({ kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false });
    expect(log.state.group('g')).toMatchObject({ committedOffset: 3, nextOffset: 3 });
    const refused = log.apply({ kind: 'resetGroup', group: 'g', to: { kind: 'offset', offset: 1 }, earliestOffset: 0, force: false });
    expect(refused).toMatchObject({ kind: 'rejected', error: { code: 'invalidArgument' } });
    const byTime = log.ok({ kind: 'resetGroup', group: 'g', to: { kind: 'time', timeMs: 0 }, earliestOffset: 0, force: false });
    expect(byTime).toMatchObject({ committedOffset: 3 });
  });

  it('a group left below the earliest offset (delete policy) is handed nothing new, and goes on after a reset', () => {
    const log = Log.withMessages(6);
    log.ok({ kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false });
    log.trim(6); // offsets 0..3 gone; the group owes nothing (it took none), so the trim goes through
    expect(log.state.group('g')?.nextOffset).toBe(0);
    const nothing = log.ok({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 });
    expect(nothing.kind === 'delivered' && nothing.messages).toEqual([]);
    log.ok({ kind: 'resetGroup', group: 'g', to: { kind: 'offset', offset: 4 }, earliestOffset: 4, force: false });
    const after = log.ok({ kind: 'deliver', group: 'g', consumer: 'c', max: 10 });
    expect(after.kind === 'delivered' && after.messages.map((m) => m.offset)).toEqual([4, 5]);
  });
});

describe('trimLog in a snapshot', () => {
  it('a snapshot carries the trim point and each topic\'s earliest offset; the decoded state answers and applies alike', () => {
    const log = Log.withMessages(12);
    log.ok({ kind: 'createGroup', group: 'g', topic: 't', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false });
    log.ok({ kind: 'deliver', group: 'g', consumer: 'c', max: 9 });
    log.ok({ kind: 'ack', group: 'g', offsets: [0, 1, 2, 3, 4, 5] });
    log.trim(11);
    const bytes = encodeBrokerSnapshot(log.state);
    const copy = decodeBrokerSnapshot(bytes);
    expect(copy.trimmedBelowLogIndex).toBe(log.state.trimmedBelowLogIndex);
    expect(copy.topic('t')?.earliestOffset).toBe(6);
    expect(stateView(copy)).toEqual(stateView(log.state));
    expect(encodeBrokerSnapshot(copy)).toEqual(bytes);
    const next = log.lastIndex + 1;
    const atMs = log.state.nowMs + 1_000;
    for (const s of [log.state, copy]) s.apply(next, atMs, { kind: 'trimLog', beforeLogIndex: next });
    expect(encodeBrokerSnapshot(copy)).toEqual(encodeBrokerSnapshot(log.state));
  });

  it('a trimmed state\'s snapshot is smaller than the untrimmed one by its runs', () => {
    const log = Log.withMessages(1_000);
    const untrimmed = encodeBrokerSnapshot(log.state).length;
    log.trim(log.lastIndex - 9);
    const trimmed = encodeBrokerSnapshot(log.state).length;
    expect(untrimmed - trimmed).toBeGreaterThanOrEqual(990 * 24);
  });

  it('a format-1 snapshot (before trims) is still read: earliest offset 0, never trimmed', () => {
    const w = new BinaryWriter();
    w.u32(1).u53(3).u53(2_000).u53(0).f64(Infinity);
    // One topic created by entry 1 with offsets 0, 1 at entries 2, 3.
    w.u32(1).u53(1).string('t').u32(1_000).u53(2).u32(2);
    w.u53(2).u32(0).u32(1).u53(1_000);
    w.u53(3).u32(0).u32(1).u53(2_000);
    w.u32(0); // scheduled
    w.u32(0); // producers
    const steps = new StepCounter(1_000);
    for (const _ of writeGroups(w, [], steps));
    for (const _ of writeTransactions(w, { prepared: new Map(), decided: new Map(), earliestDueMs: Infinity }, steps));
    w.u32(1).u53(3).u53(1_000);
    const state = decodeBrokerSnapshot(w.finish());
    expect(state.trimmedBelowLogIndex).toBe(0);
    expect(state.topic('t')).toMatchObject({ earliestOffset: 0, nextOffset: 2 });
    expect(state.locate('t', 0)).toEqual({ logIndex: 2, position: 0 });
    expect(state.apply(4, 3_000, { kind: 'trimLog', beforeLogIndex: 3 })).toEqual({ kind: 'logTrimmed', trimmedBelow: 3, runsDropped: 1 });
    // Written again in the current format.
    expect(encodeBrokerSnapshot(state)[0]).toBe(BROKER_SNAPSHOT_FORMAT);
  });
});
