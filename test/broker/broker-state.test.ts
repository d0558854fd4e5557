import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BrokerState,
  decodeAppliedCommand,
  decodeCommand,
  DELIVER_AT_HEADER,
  encodeBrokerSnapshot,
  encodeCommand,
  MalformedCommandError,
  type ApplyResult,
  type BrokerCommand,
  type CommandEnvelope,
  type MessageRecord,
} from '../../src/broker/index.js';
import { summarizeProduce, type Produce } from '../../src/broker/commands.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const message = (payload: string): MessageRecord => ({ key: new Uint8Array(0), headers: [], payload: bytes(payload), timestampMs: 1 });

/** A log of broker commands and the state applying it, as one replica would hold them. */
class Replica {
  readonly state = new BrokerState();
  readonly log: CommandEnvelope[] = [];

  apply(command: BrokerCommand, leaderTimeMs = 0): ApplyResult {
    // Each command goes through the wire format, as it would through the Raft log.
    const envelope = decodeCommand(encodeCommand({ leaderTimeMs, command }));
    this.log.push(envelope);
    return this.state.apply(this.log.length, envelope.leaderTimeMs, envelope.command);
  }

  /** The payloads of a topic, in offset order, read through the offset index. */
  read(topic: string): string[] {
    const out: string[] = [];
    const next = this.state.topic(topic)?.nextOffset ?? 0;
    for (let offset = 0; offset < next; offset++) {
      const at = this.state.locate(topic, offset);
      const entry = at === undefined ? undefined : this.log[at.logIndex - 1];
      if (at === undefined || entry?.command.kind !== 'produce') throw new Error(`offset ${offset} has no message`);
      const m = entry.command.messages[at.position];
      if (m === undefined) throw new Error(`offset ${offset} points past its batch`);
      out.push(text(m.payload));
    }
    return out;
  }

  /** A new leader's state: the same log applied from the start. */
  replay(): Replica {
    const fresh = new Replica();
    for (const e of this.log) fresh.apply(e.command, e.leaderTimeMs);
    return fresh;
  }
}

describe('broker commands on the wire', () => {
  const arbMessage = fc.record({
    key: fc.uint8Array({ maxLength: 16 }),
    headers: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), value: fc.uint8Array({ maxLength: 8 }) }), { maxLength: 3 }),
    payload: fc.uint8Array({ maxLength: 64 }),
    timestampMs: fc.nat(),
  });
  const arbCommand: fc.Arbitrary<BrokerCommand> = fc.oneof(
    fc.record({ kind: fc.constant('createTopic' as const), name: fc.string({ maxLength: 20 }), messageBytesMax: fc.nat({ max: 2 ** 32 - 1 }) }),
    fc.record({ kind: fc.constant('deleteTopic' as const), name: fc.string({ maxLength: 20 }) }),
    fc.record({ kind: fc.constant('initProducer' as const), idleExpiryMs: fc.maxSafeNat() }),
    fc.record({
      kind: fc.constant('produce' as const),
      topic: fc.string({ maxLength: 20 }),
      producerId: fc.maxSafeNat(),
      firstSequence: fc.maxSafeNat(),
      messages: fc.array(arbMessage, { maxLength: 5 }),
    }),
  );

  it('decode(encode(c)) is c for every command', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), arbCommand, (leaderTimeMs, command) => {
        expect(decodeCommand(encodeCommand({ leaderTimeMs, command }))).toEqual({ leaderTimeMs, command });
      }),
    );
  });

  /** Messages as produce entries carry them: now and then a delivery header (well formed or not), names beyond ASCII. */
  const arbDeliverAt = fc.oneof(fc.constant('0'), fc.nat({ max: 2_000 }).map(String), fc.constant('soon'), fc.constant(String(40 * 86_400_000)));
  const arbHeader = fc.oneof(
    fc.record({ name: fc.string({ maxLength: 8, unit: 'binary' }), value: fc.uint8Array({ maxLength: 8 }) }),
    arbDeliverAt.map((at) => ({ name: DELIVER_AT_HEADER, value: bytes(at) })),
  );
  const arbProduceMessage = fc.record({ key: fc.uint8Array({ maxLength: 16 }), headers: fc.array(arbHeader, { maxLength: 3 }), payload: fc.uint8Array({ maxLength: 64 }), timestampMs: fc.maxSafeNat() });
  const arbProduce: fc.Arbitrary<Produce> = fc.record({
    kind: fc.constant('produce' as const),
    topic: fc.constantFrom('t', 'u', 'tö'),
    producerId: fc.constantFrom(0, 1, 99),
    firstSequence: fc.nat({ max: 12 }),
    messages: fc.array(arbProduceMessage, { maxLength: 5 }),
  });

  it('a produce read for its apply is the summary of the produce it encodes', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), arbProduce, (leaderTimeMs, command) => {
        expect(decodeAppliedCommand(encodeCommand({ leaderTimeMs, command }))).toEqual({ leaderTimeMs, command: summarizeProduce(command) });
      }),
    );
  });

  it('a produce read for its apply refuses exactly the bytes the full decoder refuses, with the same message', () => {
    const outcome = (decode: () => unknown): string => {
      try {
        decode();
        return 'decoded';
      } catch (error) {
        if (!(error instanceof MalformedCommandError)) throw error;
        return error.message;
      }
    };
    // A cut, a byte overwritten (a length, a count, the top of a u53, a UTF-8 byte of a name) or bytes added at the end.
    const arbDamage = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xc3, 0xff) }),
      fc.record({ kind: fc.constant('add' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
    );
    fc.assert(
      fc.property(arbProduce, fc.array(arbDamage, { minLength: 1, maxLength: 3 }), (command, damage) => {
        let encoded = Uint8Array.from(encodeCommand({ leaderTimeMs: 5, command }));
        for (const d of damage) {
          if (d.kind === 'cut') encoded = encoded.subarray(0, d.at % (encoded.length + 1));
          else if (d.kind === 'add') encoded = Uint8Array.from([...encoded, d.value]);
          else if (encoded.length > 0) encoded[d.at % encoded.length] = d.value;
        }
        const full = outcome(() => decodeCommand(encoded));
        expect(outcome(() => decodeAppliedCommand(encoded))).toBe(full);
        if (full === 'decoded') {
          const { leaderTimeMs, command: decoded } = decodeCommand(encoded);
          expect(decodeAppliedCommand(encoded)).toEqual({ leaderTimeMs, command: decoded.kind === 'produce' ? summarizeProduce(decoded) : decoded });
        }
      }),
    );
  });

  it('a state applying produce entries as summaries ends exactly as one applying the produces: results, offsets, snapshot', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(arbProduce, fc.nat({ max: 500 })), { maxLength: 12 }), (produces) => {
        const whole = new BrokerState();
        const summarized = new BrokerState();
        // A small limit, so some messages are refused for their size; a producer granted at index 1.
        const setup: BrokerCommand[] = [{ kind: 'initProducer', idleExpiryMs: 60_000 }, { kind: 'createTopic', name: 't', messageBytesMax: 60 }, { kind: 'createTopic', name: 'tö', messageBytesMax: 1000 }];
        const log: { leaderTimeMs: number; command: BrokerCommand }[] = [...setup.map((command) => ({ leaderTimeMs: 0, command })), ...produces.map(([command, leaderTimeMs]) => ({ leaderTimeMs, command }))];
        for (const [k, envelope] of log.entries()) {
          const encoded = encodeCommand(envelope);
          const expected = whole.apply(k + 1, envelope.leaderTimeMs, decodeCommand(encoded).command);
          const read = decodeAppliedCommand(encoded);
          expect(summarized.apply(k + 1, read.leaderTimeMs, read.command)).toEqual(expected);
        }
        expect(encodeBrokerSnapshot(summarized)).toEqual(encodeBrokerSnapshot(whole));
      }),
    );
  });

  it('refuses every truncation and an unknown version or kind', () => {
    const encoded = encodeCommand({ leaderTimeMs: 5, command: { kind: 'produce', topic: 't', producerId: 3, firstSequence: 0, messages: [message('hello')] } });
    for (let cut = 0; cut < encoded.length; cut++) expect(() => decodeCommand(encoded.subarray(0, cut))).toThrow(MalformedCommandError);
    const badVersion = Uint8Array.from(encoded);
    badVersion[0] = 9;
    expect(() => decodeCommand(badVersion)).toThrow(/format 9/);
    const badKind = Uint8Array.from(encoded);
    badKind[1] = 77;
    expect(() => decodeCommand(badKind)).toThrow(/kind 77/);
  });
});

describe('topics', () => {
  it('are created, described, listed and deleted; names and sizes are checked', () => {
    const r = new Replica();
    expect(r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 100 })).toEqual({ kind: 'topicCreated', name: 'orders' });
    expect(r.apply({ kind: 'createTopic', name: 'orders', messageBytesMax: 100 })).toMatchObject({ kind: 'rejected', error: { code: 'alreadyExists' } });
    for (const bad of ['', '.', '..', 'a b', 'ü', 'x'.repeat(250)]) {
      expect(r.apply({ kind: 'createTopic', name: bad, messageBytesMax: 100 })).toMatchObject({ kind: 'rejected', error: { code: 'invalidArgument' } });
    }
    expect(r.apply({ kind: 'createTopic', name: 'big', messageBytesMax: 0 })).toMatchObject({ kind: 'rejected', error: { code: 'invalidArgument' } });
    expect(r.state.topics().map((t) => t.name)).toEqual(['orders']);
    expect(r.apply({ kind: 'produce', topic: 'orders', producerId: 0, firstSequence: 0, messages: [message('x'.repeat(101))] })).toMatchObject({
      kind: 'rejected',
      error: { code: 'invalidArgument' },
    });
    expect(r.apply({ kind: 'produce', topic: 'nope', producerId: 0, firstSequence: 0, messages: [message('a')] })).toMatchObject({ kind: 'rejected', error: { code: 'notFound' } });
    expect(r.apply({ kind: 'deleteTopic', name: 'orders' })).toEqual({ kind: 'topicDeleted', name: 'orders' });
    expect(r.apply({ kind: 'deleteTopic', name: 'orders' })).toMatchObject({ kind: 'rejected', error: { code: 'notFound' } });
    expect(r.state.topics()).toEqual([]);
  });

  it('give each message a dense offset, mapped to the entry that holds it', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 'a', messageBytesMax: 100 });
    r.apply({ kind: 'createTopic', name: 'b', messageBytesMax: 100 });
    r.apply({ kind: 'produce', topic: 'a', producerId: 0, firstSequence: 0, messages: [message('a0'), message('a1')] });
    r.apply({ kind: 'produce', topic: 'b', producerId: 0, firstSequence: 0, messages: [message('b0')] });
    expect(r.apply({ kind: 'produce', topic: 'a', producerId: 0, firstSequence: 0, messages: [message('a2')] })).toMatchObject({ firstOffset: 2, count: 1 });
    expect(r.read('a')).toEqual(['a0', 'a1', 'a2']);
    expect(r.read('b')).toEqual(['b0']);
    expect(r.state.locate('a', 3)).toBeUndefined();
  });
});

describe('the idempotent producer', () => {
  /**
   * One producer sends `total` messages in batches to one topic, with up to `window` batches
   * in flight. The generated schedule delivers batches in any order, delivers retries of
   * batches already written, and fails over (the state is rebuilt from the log). The client
   * behaves like ours: a batch refused as out of order is sent again later; one answered
   * (new or duplicate) is done.
   */
  function run(schedule: readonly { pick: number; failover: boolean }[], batchSizes: readonly number[], idempotent: boolean): { contents: string[]; acked: Map<number, number> } {
    let r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 });
    const granted = r.apply({ kind: 'initProducer', idleExpiryMs: 60_000 });
    if (granted.kind !== 'producerGranted') throw new Error('no producer id');
    const producerId = idempotent ? granted.producerId : 0;
    const batches: { firstSequence: number; messages: MessageRecord[] }[] = [];
    let sequence = 0;
    for (const size of batchSizes) {
      batches.push({ firstSequence: sequence, messages: Array.from({ length: size }, (_, k) => message(`m${sequence + k}`)) });
      sequence += size;
    }
    const acked = new Map<number, number>(); // batch -> first offset the broker answered
    const send = (b: number): void => {
      const batch = batches[b];
      if (batch === undefined) return;
      const result = r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: batch.firstSequence, messages: batch.messages });
      if (result.kind === 'produced') {
        const earlier = acked.get(b);
        if (earlier !== undefined && idempotent) expect(result.firstOffset).toBe(earlier);
        acked.set(b, result.firstOffset);
      } else {
        expect(result.kind === 'rejected' && result.error.code).toBe('outOfOrderSequence');
      }
    };
    const window = 5;
    for (const step of schedule) {
      if (step.failover) r = r.replay();
      // In flight: from the oldest unacknowledged batch, `window` batches; retries of any of
      // those already acknowledged are possible too (the answer was lost).
      let oldest = 0;
      while (acked.has(oldest)) oldest++;
      const low = Math.max(0, oldest - window + 1);
      send(low + (step.pick % (oldest + window - low)));
    }
    // The client drains what is left, in order.
    for (let b = 0; b < batches.length; b++) if (!acked.has(b)) send(b);
    return { contents: r.read('t'), acked };
  }

  const arbRun = fc.record({
    batchSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 30 }),
    schedule: fc.array(fc.record({ pick: fc.nat({ max: 100 }), failover: fc.integer({ min: 0, max: 99 }).map((n) => n < 8) }), { maxLength: 200 }),
  });

  it('writes every message once, in send order, and answers retries with the original offsets', () => {
    fc.assert(
      fc.property(arbRun, ({ batchSizes, schedule }) => {
        const total = batchSizes.reduce((a, b) => a + b, 0);
        const { contents, acked } = run(schedule, batchSizes, true);
        expect(contents).toEqual(Array.from({ length: total }, (_, k) => `m${k}`));
        expect(acked.size).toBe(batchSizes.length);
      }),
      { numRuns: 300 },
    );
  });

  it('without idempotence, the same schedules write duplicates (so the property has teeth)', () => {
    const found = fc.sample(arbRun, { numRuns: 200, seed: 7 }).some(({ batchSizes, schedule }) => {
      const total = batchSizes.reduce((a, b) => a + b, 0);
      return run(schedule, batchSizes, false).contents.length > total;
    });
    expect(found).toBe(true);
  });

  it('replicas applying the same log agree, whatever the producers did', () => {
    fc.assert(
      fc.property(arbRun, ({ batchSizes, schedule }) => {
        const r = new Replica();
        r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 });
        const { producerId } = r.apply({ kind: 'initProducer', idleExpiryMs: 60_000 }) as { producerId: number };
        let sequence = 0;
        const results: ApplyResult[] = [];
        for (const [k, size] of batchSizes.entries()) {
          const pick = schedule[k]?.pick ?? 0;
          const first = pick % 3 === 0 && sequence > 0 ? Math.max(0, sequence - size) : sequence; // some retries
          results.push(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: first, messages: Array.from({ length: size }, () => message('x')) }, k * 10));
          if (first === sequence) sequence += size;
        }
        const other = r.replay();
        expect(other.state.topics()).toEqual(r.state.topics());
        expect(other.read('t')).toEqual(r.read('t'));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a gap, a producer id never granted, and an expired one', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 });
    const { producerId } = r.apply({ kind: 'initProducer', idleExpiryMs: 60_000 }, 1_000) as { producerId: number };
    expect(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: 1, messages: [message('a')] }, 1_000)).toMatchObject({
      kind: 'rejected',
      error: { code: 'outOfOrderSequence', message: expect.stringContaining('expected sequence 0') },
    });
    expect(r.apply({ kind: 'produce', topic: 't', producerId: 999, firstSequence: 0, messages: [message('a')] }, 1_000)).toMatchObject({
      kind: 'rejected',
      error: { code: 'unknownProducer' },
    });
    expect(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: 0, messages: [message('a')] }, 30_000)).toMatchObject({ kind: 'produced', firstOffset: 0 });
    // Idle for longer than the expiry (60 s of leader time in the log): forgotten.
    r.apply({ kind: 'createTopic', name: 'tick', messageBytesMax: 1 }, 100_000);
    expect(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: 1, messages: [message('b')] }, 100_000)).toMatchObject({
      kind: 'rejected',
      error: { code: 'unknownProducer' },
    });
    expect(r.state.producerCount).toBe(0);
    // Each id expires by the idle time in the entry that granted it, whatever a replica's own settings.
    const { producerId: patient } = r.apply({ kind: 'initProducer', idleExpiryMs: 600_000 }, 100_000) as { producerId: number };
    r.apply({ kind: 'createTopic', name: 'tock', messageBytesMax: 1 }, 300_000);
    expect(r.apply({ kind: 'produce', topic: 't', producerId: patient, firstSequence: 0, messages: [message('c')] }, 300_000)).toMatchObject({ kind: 'produced' });
  });

  it('starts sequences afresh on a re-created topic, and a retry from long ago is refused, not rewritten', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 });
    const { producerId } = r.apply({ kind: 'initProducer', idleExpiryMs: 60_000 }) as { producerId: number };
    for (let s = 0; s < 8; s++) r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: s, messages: [message(`m${s}`)] });
    expect(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: 0, messages: [message('m0')] })).toMatchObject({
      kind: 'rejected',
      error: { code: 'duplicateTooOld' },
    });
    expect(r.read('t')).toHaveLength(8);
    r.apply({ kind: 'deleteTopic', name: 't' });
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 });
    expect(r.apply({ kind: 'produce', topic: 't', producerId, firstSequence: 0, messages: [message('again')] })).toMatchObject({ kind: 'produced', firstOffset: 0 });
  });
});
