import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  AuditHeader,
  BrokerState,
  decodeCommand,
  encodeCommand,
  messagesHeld,
  TRANSACTION_DEFAULTS,
  type ApplyResult,
  type BrokerCommand,
  type CommandEnvelope,
  type HalfMessage,
  type MessageRecord,
} from '../../src/broker/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const message = (payload: string): MessageRecord => ({ key: new Uint8Array(0), headers: [], payload: bytes(payload), timestampMs: 1 });
const AUDIT = TRANSACTION_DEFAULTS.auditTopic;

/** A replica: the commands through the wire format into a log, and the state applying it. */
class Replica {
  readonly state = new BrokerState();
  readonly log: CommandEnvelope[] = [];

  apply(command: BrokerCommand, leaderTimeMs: number): ApplyResult {
    const envelope = decodeCommand(encodeCommand({ leaderTimeMs, command }));
    this.log.push(envelope);
    return this.state.apply(this.log.length, envelope.leaderTimeMs, envelope.command);
  }

  /** A topic's messages in offset order, read as the fetch path does: locate, then the entry's held messages. */
  read(topic: string): MessageRecord[] {
    const out: MessageRecord[] = [];
    const next = this.state.topic(topic)?.nextOffset ?? 0;
    for (let offset = 0; offset < next; offset++) {
      const at = this.state.locate(topic, offset);
      const entry = at === undefined ? undefined : this.log[at.logIndex - 1];
      const m = entry === undefined || at === undefined ? undefined : messagesHeld(entry.command)[at.position];
      if (m === undefined) throw new Error(`offset ${offset} of ${topic} has no message`);
      out.push(m);
    }
    return out;
  }

  payloads(topic: string): string[] {
    return this.read(topic).map((m) => text(m.payload));
  }

  replay(): Replica {
    const fresh = new Replica();
    for (const e of this.log) fresh.apply(e.command, e.leaderTimeMs);
    return fresh;
  }

  /** Everything a client could observe, for comparing replicas. */
  snapshot(): unknown {
    const topics = this.state.topics();
    return {
      topics,
      contents: topics.map((t) => this.read(t.name).map((m) => [text(m.payload), m.headers.map((h) => `${h.name}=${text(h.value)}`)])),
      transactions: this.state.transactions(),
      nextDueMs: this.state.nextDueMs(),
    };
  }
}

function half(txId: string, topic: string, payloads: readonly string[], schedule: Partial<HalfMessage> = {}): HalfMessage {
  return { kind: 'halfMessage', txId, producerGroup: 'g', topic, checkDelayMs: 1000, checkIntervalMs: 500, checkMax: 2, messages: payloads.map(message), ...schedule };
}

function rejected(result: ApplyResult): string {
  if (result.kind !== 'rejected') throw new Error(`expected a refusal, got ${result.kind}`);
  return result.error.code;
}

describe('transactions in the broker state machine', () => {
  it('a half is invisible; commit makes all its messages visible at consecutive offsets; a retried commit is not a second message', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 }, 0);
    r.apply({ kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [message('p0')] }, 1);
    expect(r.apply(half('tx1', 't', ['a', 'b', 'c']), 2)).toMatchObject({ kind: 'halfPrepared', duplicate: false, state: 'prepared' });
    expect(r.apply(half('tx1', 't', ['a', 'b', 'c']), 3)).toMatchObject({ kind: 'halfPrepared', duplicate: true });
    r.apply({ kind: 'produce', topic: 't', producerId: 0, firstSequence: 0, messages: [message('p1')] }, 4);
    expect(r.payloads('t')).toEqual(['p0', 'p1']);
    expect(r.state.undecidedTransactions().map((t) => t.txId)).toEqual(['tx1']);
    const commit: BrokerCommand = { kind: 'endTransaction', txId: 'tx1', outcome: 'commit', source: 'producer' };
    expect(r.apply(commit, 5)).toEqual({ kind: 'transactionEnded', txId: 'tx1', state: 'committed', topic: 't', firstOffset: 2, count: 3, duplicate: false });
    expect(r.apply(commit, 6)).toEqual({ kind: 'transactionEnded', txId: 'tx1', state: 'committed', topic: 't', firstOffset: 2, count: 3, duplicate: true });
    expect(r.payloads('t')).toEqual(['p0', 'p1', 'a', 'b', 'c']);
    expect(r.state.undecidedTransactions()).toEqual([]);
    // A retried half after the decision is answered, not written again.
    expect(r.apply(half('tx1', 't', ['a', 'b', 'c']), 7)).toMatchObject({ kind: 'halfPrepared', duplicate: true, state: 'committed' });
    expect(r.replay().snapshot()).toEqual(r.snapshot());
  });

  it('bad input: unknown id, commit after rollback, rollback after commit, a reused id: refused, nothing changes', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 }, 0);
    r.apply(half('c', 't', ['x']), 1);
    r.apply(half('r', 't', ['y']), 1);
    r.apply({ kind: 'endTransaction', txId: 'c', outcome: 'commit', source: 'producer' }, 2);
    r.apply({ kind: 'endTransaction', txId: 'r', outcome: 'rollback', source: 'producer' }, 2);
    const before = JSON.stringify(r.snapshot());
    expect(rejected(r.apply({ kind: 'endTransaction', txId: 'nope', outcome: 'commit', source: 'producer' }, 2))).toBe('notFound');
    expect(rejected(r.apply({ kind: 'endTransaction', txId: 'r', outcome: 'commit', source: 'producer' }, 2))).toBe('transactionDecided');
    expect(rejected(r.apply({ kind: 'endTransaction', txId: 'c', outcome: 'rollback', source: 'admin' }, 2))).toBe('transactionDecided');
    expect(rejected(r.apply(half('c', 't', ['x', 'z']), 2))).toBe('invalidArgument');
    expect(rejected(r.apply(half('new', 'missing', ['x']), 2))).toBe('notFound');
    expect(rejected(r.apply(half('bad id!', 't', ['x']), 2))).toBe('invalidArgument');
    expect(rejected(r.apply(half('n', 't', ['x'], { checkMax: 0 }), 2))).toBe('invalidArgument');
    expect(rejected(r.apply(half('n', 't', ['x'.repeat(101)]), 2))).toBe('invalidArgument');
    expect(JSON.stringify(r.snapshot())).toBe(before);
  });

  it('check-backs count in log time; after the last the transaction rolls back into the audit topic with its origin', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 }, 0);
    r.apply(half('tx', 't', ['a', 'b'], { checkDelayMs: 1000, checkIntervalMs: 500, checkMax: 2 }), 100);
    expect(r.state.nextDueMs()).toBe(1100);
    r.apply({ kind: 'clock' }, 1099);
    expect(r.state.transaction('tx')?.checkCount).toBe(0);
    r.apply({ kind: 'clock' }, 1100);
    expect(r.state.transaction('tx')).toMatchObject({ checkCount: 1, nextCheckMs: 1600, state: 'prepared' });
    r.apply({ kind: 'clock' }, 1700);
    expect(r.state.transaction('tx')).toMatchObject({ checkCount: 2, nextCheckMs: 2200 });
    expect(r.state.topic(AUDIT)).toBeUndefined();
    r.apply({ kind: 'clock' }, 2200);
    expect(r.state.transaction('tx')).toMatchObject({ state: 'rolledBack', decidedBy: 'checkExhausted', nextCheckMs: Infinity });
    expect(r.state.nextDueMs()).toBe(Infinity);
    expect(r.payloads('t')).toEqual([]);
    const audited = r.read(AUDIT);
    expect(audited.map((m) => text(m.payload))).toEqual(['a', 'b']);
    const headers = Object.fromEntries((audited[0]?.headers ?? []).map((h) => [h.name, text(h.value)]));
    expect(headers).toEqual({ [AuditHeader.topic]: 't', [AuditHeader.txId]: 'tx', [AuditHeader.producerGroup]: 'g', [AuditHeader.checkCount]: '2' });
    expect(rejected(r.apply({ kind: 'endTransaction', txId: 'tx', outcome: 'commit', source: 'checkBack' }, 2300))).toBe('transactionDecided');
    expect(r.replay().snapshot()).toEqual(r.snapshot());
  });

  it('deleting a topic rolls back its undecided transactions; a later commit is refused clearly', () => {
    const r = new Replica();
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 }, 0);
    r.apply(half('tx', 't', ['a']), 1);
    r.apply({ kind: 'deleteTopic', name: 't' }, 2);
    r.apply({ kind: 'createTopic', name: 't', messageBytesMax: 100 }, 3);
    const refused = r.apply({ kind: 'endTransaction', txId: 'tx', outcome: 'commit', source: 'producer' }, 4);
    expect(refused.kind === 'rejected' && refused.error.message).toMatch(/already rolled back \(by topicDeleted\)/);
    expect(r.payloads('t')).toEqual([]);
  });
});

type Op =
  | { readonly op: 'half'; readonly tx: number; readonly topic: number }
  | { readonly op: 'end'; readonly tx: number; readonly commit: boolean; readonly source: 'producer' | 'checkBack' | 'admin' }
  | { readonly op: 'produce'; readonly topic: number; readonly count: number }
  | { readonly op: 'clock'; readonly advanceMs: number }
  | { readonly op: 'deleteTopic'; readonly topic: number }
  | { readonly op: 'createTopic'; readonly topic: number };

const TOPICS = ['t0', 't1'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('half' as const), tx: fc.nat(7), topic: fc.nat(1) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('end' as const), tx: fc.nat(7), commit: fc.boolean(), source: fc.constantFrom('producer' as const, 'checkBack' as const, 'admin' as const) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('produce' as const), topic: fc.nat(1), count: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('clock' as const), advanceMs: fc.nat(1500) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('deleteTopic' as const), topic: fc.nat(1) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('createTopic' as const), topic: fc.nat(1) }), weight: 1 },
);

/** Tx n always carries the same messages (n % 3 + 1 of them), so a repeated half is a retry. */
const txPayloads = (tx: number): string[] => Array.from({ length: (tx % 3) + 1 }, (_, k) => `tx${tx}-${k}`);

function runOps(ops: readonly Op[]): void {
  const r = new Replica();
  for (const name of TOPICS) r.apply({ kind: 'createTopic', name, messageBytesMax: 100 }, 0);
  let nowMs = 0;
  let produced = 0;
  const firstCommit = new Map<string, { firstOffset: number; count: number }>();
  for (const op of ops) {
    const before = JSON.stringify(r.snapshot());
    const timeBefore = nowMs;
    let result: ApplyResult;
    switch (op.op) {
      case 'half':
        result = r.apply(half(`tx${op.tx}`, TOPICS[op.topic] ?? 't0', txPayloads(op.tx)), nowMs);
        break;
      case 'end':
        result = r.apply({ kind: 'endTransaction', txId: `tx${op.tx}`, outcome: op.commit ? 'commit' : 'rollback', source: op.source }, nowMs);
        break;
      case 'produce':
        result = r.apply({ kind: 'produce', topic: TOPICS[op.topic] ?? 't0', producerId: 0, firstSequence: 0, messages: Array.from({ length: op.count }, () => message(`p${produced++}`)) }, nowMs);
        break;
      case 'clock':
        nowMs += op.advanceMs;
        result = r.apply({ kind: 'clock' }, nowMs);
        break;
      case 'deleteTopic':
        result = r.apply({ kind: 'deleteTopic', name: TOPICS[op.topic] ?? 't0' }, nowMs);
        break;
      case 'createTopic':
        result = r.apply({ kind: 'createTopic', name: TOPICS[op.topic] ?? 't0', messageBytesMax: 100 }, nowMs);
        break;
    }
    // A refusal at an unchanged time (so no due work ran) changes nothing.
    if (result.kind === 'rejected' && nowMs === timeBefore) expect(JSON.stringify(r.snapshot())).toBe(before);
    if (result.kind === 'transactionEnded' && result.state === 'committed') {
      const first = firstCommit.get(result.txId);
      if (first === undefined) firstCommit.set(result.txId, { firstOffset: result.firstOffset, count: result.count });
      else expect({ firstOffset: result.firstOffset, count: result.count }).toEqual(first);
    }
    checkVisibility(r);
  }
  expect(r.replay().snapshot()).toEqual(r.snapshot());
}

/** No consumer-visible offset holds a half or rolled-back message; each committed one is there once, together. */
function checkVisibility(r: Replica): void {
  const txs = new Map(r.state.transactions().map((t) => [t.txId, t]));
  for (const topic of r.state.topics()) {
    const payloads = r.payloads(topic.name);
    const txMessages = payloads.map((p, offset) => ({ p, offset })).filter(({ p }) => p.startsWith('tx'));
    for (const { p, offset } of txMessages) {
      const tx = txs.get(p.slice(0, p.indexOf('-')));
      if (topic.name === AUDIT) expect(tx?.decidedBy, `${p} in the audit topic`).toBe('checkExhausted');
      else expect(tx?.state, `${p} at offset ${offset} of ${topic.name}`).toBe('committed');
    }
    for (const tx of txs.values()) {
      const visibleHere = payloads.flatMap((p, offset) => (p.startsWith(`${tx.txId}-`) ? [offset] : []));
      const sameIncarnation = topic.id < tx.logIndex && topic.name === tx.topic;
      if (topic.name === AUDIT) {
        expect(visibleHere.length, `${tx.txId} in the audit topic`).toBe(tx.decidedBy === 'checkExhausted' ? tx.messageCount : 0);
      } else if (tx.state === 'committed' && sameIncarnation) {
        expect(visibleHere).toEqual(Array.from({ length: tx.messageCount }, (_, k) => tx.firstOffset + k));
        expect(visibleHere.map((o) => payloads[o])).toEqual(txPayloads(Number(tx.txId.slice(2))));
      } else {
        expect(visibleHere, `${tx.txId} (${tx.state}) in ${topic.name}`).toEqual([]);
      }
    }
  }
}

const SEED = Number(process.env['TX_SEED'] ?? 20_260_701);
const RUNS = Number(process.env['TX_RUNS'] ?? 300);

describe('transactions: random interleavings (property)', () => {
  it(`never shows a half or rolled-back message, shows each committed one once and together, and replays identically (seed ${SEED}, TX_SEED to change)`, () => {
    console.log(`[transactions] property seed ${SEED}, ${RUNS} runs`);
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => runOps(ops)),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
