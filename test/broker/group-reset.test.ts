import { describe, expect, it } from 'vitest';
import type { ApplyResult, ResetTarget } from '../../src/broker/index.js';
import { expectRefusedWithoutChange, FAST_SETTINGS, GroupReplica, message, text } from './consumer-group-model.js';

/**
 * The resetGroup command: an operator moves a group's committed and next offset (Kafka's
 * --reset-offsets), forgetting its unfinished deliveries, refused while consumers hold
 * messages unless forced.
 */

/** Topic `orders` with `count` messages m0.. produced at log time 1000 + 1000·k, and group `g` from the start. */
function setUp(count: number): GroupReplica {
  const r = new GroupReplica();
  r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 1000 }, 1_000);
  for (let k = 0; k < count; k++) r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message(`m${k}`)] }, 1_000 + 1_000 * k);
  r.apply({ kind: 'createGroup', group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings: FAST_SETTINGS, ifAbsent: false });
  return r;
}

function reset(r: GroupReplica, to: ResetTarget, options: { readonly earliestOffset?: number; readonly force?: boolean } = {}): ApplyResult {
  return r.apply({ kind: 'resetGroup', group: 'g', to, earliestOffset: options.earliestOffset ?? 0, force: options.force ?? false });
}

/** Delivers up to `max` to consumer `c`: the offsets and delivery numbers handed out. */
function deliver(r: GroupReplica, max: number, consumer = 'c'): { offset: number; delivery: number }[] {
  const result = r.apply({ kind: 'deliver', group: 'g', consumer, max });
  if (result.kind !== 'delivered') throw new Error(`expected a delivery, got ${JSON.stringify(result)}`);
  return result.messages.map((m) => ({ offset: m.offset, delivery: m.delivery }));
}

const offsets = (ds: readonly { offset: number }[]): number[] => ds.map((d) => d.offset);

describe('resetGroup', () => {
  it('to an offset: committed and next offset move there, forwards or backwards, and delivery resumes there as first deliveries', () => {
    const r = setUp(8);
    expect(offsets(deliver(r, 3))).toEqual([0, 1, 2]);
    r.apply({ kind: 'ack', group: 'g', offsets: [0, 1, 2] });
    expect(reset(r, { kind: 'offset', offset: 6 })).toEqual({ kind: 'groupReset', group: 'g', committedOffset: 6, previousCommittedOffset: 3, forgotten: 0 });
    expect(r.state.group('g')).toMatchObject({ committedOffset: 6, nextOffset: 6, lag: 2 });
    expect(deliver(r, 10)).toEqual([{ offset: 6, delivery: 1 }, { offset: 7, delivery: 1 }]);
    r.apply({ kind: 'ack', group: 'g', offsets: [6, 7] });
    // Backwards: messages already acked go out again (a replay), each as a first delivery.
    expect(reset(r, { kind: 'offset', offset: 1 })).toMatchObject({ committedOffset: 1, previousCommittedOffset: 8 });
    expect(deliver(r, 3)).toEqual([{ offset: 1, delivery: 1 }, { offset: 2, delivery: 1 }, { offset: 3, delivery: 1 }]);
    expect(r.state.group('g')).toMatchObject({ committedOffset: 1, nextOffset: 4, inflight: 3, lag: 7 });
  });

  it('to latest: the topic end at apply time; only messages produced after it are delivered', () => {
    const r = setUp(5);
    expect(reset(r, { kind: 'latest' })).toMatchObject({ committedOffset: 5, previousCommittedOffset: 0 });
    expect(deliver(r, 10)).toEqual([]);
    r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('late')] });
    const got = deliver(r, 10);
    expect(got).toEqual([{ offset: 5, delivery: 1 }]);
    expect(text(r.read('orders', 5)?.payload ?? new Uint8Array())).toBe('late');
  });

  it('to a time: the first offset made visible at or after it; past the end, the end', () => {
    const r = setUp(5); // m_k made visible at 1000 + 1000·k
    expect(reset(r, { kind: 'time', timeMs: 3_000 })).toMatchObject({ committedOffset: 2 });
    expect(reset(r, { kind: 'time', timeMs: 2_500 })).toMatchObject({ committedOffset: 2 });
    expect(reset(r, { kind: 'time', timeMs: 0 })).toMatchObject({ committedOffset: 0 });
    expect(reset(r, { kind: 'time', timeMs: 60_000 })).toMatchObject({ committedOffset: 5 });
  });

  it('a time before what the leader keeps resolves to the earliest offset kept, not to a deleted one', () => {
    const r = setUp(5);
    expect(reset(r, { kind: 'time', timeMs: 0 }, { earliestOffset: 3 })).toMatchObject({ committedOffset: 3 });
    expect(reset(r, { kind: 'time', timeMs: 5_000 }, { earliestOffset: 3 })).toMatchObject({ committedOffset: 4 });
  });

  it('an offset below what the leader keeps or past the topic end is refused and changes nothing', () => {
    const r = setUp(5);
    expectRefusedWithoutChange(r, { kind: 'resetGroup', group: 'g', to: { kind: 'offset', offset: 6 }, earliestOffset: 0, force: false }, 'invalidArgument');
    expectRefusedWithoutChange(r, { kind: 'resetGroup', group: 'g', to: { kind: 'offset', offset: 2 }, earliestOffset: 3, force: true }, 'invalidArgument');
    // The end itself is a position (nothing left to read), as "latest" is.
    expect(reset(r, { kind: 'offset', offset: 5 })).toMatchObject({ committedOffset: 5 });
  });

  it('is refused while messages are in flight, naming the consumers; forced, it forgets them and a stale ack changes nothing', () => {
    const r = setUp(6);
    deliver(r, 2, 'alice');
    deliver(r, 1, 'bob');
    r.tick(r.timeMs);
    const before = r.groupView();
    const refused = reset(r, { kind: 'offset', offset: 4 });
    expect(refused).toMatchObject({ kind: 'rejected', error: { code: 'failedPrecondition' } });
    const why = refused.kind === 'rejected' ? refused.error.message : '';
    expect(why).toContain('3 message(s) in flight to consumer(s) alice, bob');
    expect(why).toContain('force');
    expect(r.groupView()).toEqual(before);

    expect(reset(r, { kind: 'offset', offset: 4 }, { force: true })).toEqual({ kind: 'groupReset', group: 'g', committedOffset: 4, previousCommittedOffset: 0, forgotten: 3 });
    expect(r.state.group('g')).toMatchObject({ committedOffset: 4, nextOffset: 4, inflight: 0, waiting: 0, dead: 0, consumers: new Map() });
    expect(r.state.nextDueMs()).toBe(Infinity); // no deadline of a forgotten delivery remains
    // alice's ack of offset 1 (delivered before the reset) finds nothing to finish.
    expect(r.apply({ kind: 'ack', group: 'g', offsets: [1] })).toMatchObject({ kind: 'acked', outcomes: ['alreadyAcked'] });
    expect(deliver(r, 10, 'carol')).toEqual([{ offset: 4, delivery: 1 }, { offset: 5, delivery: 1 }]);
  });

  it('forgets waiting retries without force, and the retry budget starts again', () => {
    const r = setUp(3);
    deliver(r, 1);
    r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: 1, reason: 'boom', delayMs: 500 });
    expect(r.state.group('g')).toMatchObject({ waiting: 1, inflight: 0 });
    expect(reset(r, { kind: 'offset', offset: 0 })).toMatchObject({ committedOffset: 0, forgotten: 1 });
    expect(r.state.group('g')).toMatchObject({ waiting: 0 });
    // Not after the retry delay, and as delivery 1: the reset forgot the failure.
    expect(deliver(r, 1)).toEqual([{ offset: 0, delivery: 1 }]);
  });

  it('is refused while a dead message waits for its dead-letter copy; forced, the copy is refused afterwards', () => {
    const r = setUp(2);
    for (let k = 1; k <= FAST_SETTINGS.retriesMax + 1; k++) {
      r.tick(r.timeMs + 10_000);
      expect(deliver(r, 1)).toEqual([{ offset: 0, delivery: k }]);
      r.apply({ kind: 'nack', group: 'g', offset: 0, delivery: k, reason: 'poison', delayMs: 0 });
    }
    expect(r.state.group('g')).toMatchObject({ dead: 1, inflight: 0 });
    const refused = reset(r, { kind: 'latest' });
    expect(refused).toMatchObject({ kind: 'rejected', error: { code: 'failedPrecondition' } });
    expect(refused.kind === 'rejected' ? refused.error.message : '').toContain('1 dead message(s) waiting for their copy in g.dlq');
    expect(reset(r, { kind: 'latest' }, { force: true })).toMatchObject({ committedOffset: 2, forgotten: 1 });
    expect(r.state.deadLetterCandidates(10)).toEqual([]);
    expect(r.apply({ kind: 'deadLetter', group: 'g', offset: 0, message: r.deadLetterCopy('orders', 0) })).toMatchObject({ kind: 'rejected', error: { code: 'failedPrecondition' } });
  });

  it('an unknown group, or a group whose topic was deleted, is NOT_FOUND', () => {
    const r = setUp(1);
    expect(r.apply({ kind: 'resetGroup', group: 'nope', to: { kind: 'latest' }, earliestOffset: 0, force: false })).toMatchObject({ kind: 'rejected', error: { code: 'notFound' } });
    r.apply({ kind: 'deleteTopic', name: 'orders' });
    expect(reset(r, { kind: 'latest' })).toMatchObject({ kind: 'rejected', error: { code: 'notFound', message: expect.stringContaining('was deleted') } });
  });

  it('a replica replaying the log, resets included, reaches the same state', () => {
    const r = setUp(6);
    deliver(r, 3);
    r.apply({ kind: 'ack', group: 'g', offsets: [1] });
    reset(r, { kind: 'offset', offset: 2 }, { force: true });
    deliver(r, 2);
    reset(r, { kind: 'time', timeMs: 1_500 }, { force: true });
    deliver(r, 1);
    expect(r.replay().groupView()).toEqual(r.groupView());
  });
});
