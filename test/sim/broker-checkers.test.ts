import { describe, expect, it } from 'vitest';

import {
  BrokerInvariant,
  checkDeliveries,
  checkProduced,
  checkTransactions,
  type BrokerViolation,
  type ConsumerEvent,
  type DeliveryHistory,
  type ProducedMessage,
  type TransactionHistory,
  type TransactionRecord,
} from './broker-checkers.js';

/**
 * The broker workload's checkers (broker-checkers.ts), each fed a hand-made history or final
 * state that breaks it: it must report the violation, and stay quiet on the intact history,
 * so a green simulation means the property held, not that the checker cannot fail.
 */

function produced(producer: string, sequence: number, state: ProducedMessage['state'], offset: number | null, delayed = false): ProducedMessage {
  return { id: `${producer}-${sequence}`, producer, sequence, delayed, state, offset, refusal: null };
}

function invariants(violations: readonly BrokerViolation[]): string[] {
  return [...new Set(violations.map((v) => v.invariant))];
}

describe('checkProduced: every acknowledged message once, at its offset, in producer order', () => {
  const history = (): ProducedMessage[] => [produced('p1', 0, 'acked', 0), produced('p1', 1, 'acked', 1), produced('p2', 0, 'acked', 2), produced('p1', 2, 'unknown', null)];

  it('passes an intact topic, where a message of unknown outcome may be there once or not at all', () => {
    expect(checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0', 'p1-2'] }, { node: 'n2', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0'] }])).toEqual([]);
  });

  it('reports a producer duplicate: a retried batch written twice', () => {
    const violations = checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0', 'p1-1'] }]);
    expect(invariants(violations)).toEqual([BrokerInvariant.producedOnce]);
    expect(violations[0]?.message).toMatch(/p1-1 2 times/);
  });

  it('reports a duplicate of a message whose outcome the producer never learnt', () => {
    expect(invariants(checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0', 'p1-2', 'p1-2'] }]))).toEqual([BrokerInvariant.producedOnce]);
  });

  it('reports an acknowledged message missing on one node', () => {
    const violations = checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0'] }, { node: 'n3', firstOffset: 0, ids: ['p1-0', 'p1-1'] }]);
    expect(violations.map((v) => v.message)).toEqual([expect.stringMatching(/p2-0 was acknowledged to producer p2 at offset 2 but n3 does not hold it/)]);
  });

  it('reports a message at another offset than the one acknowledged', () => {
    expect(invariants(checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p2-0', 'p1-1'] }]))).toContain(BrokerInvariant.producedOnce);
  });

  it('reports a message no producer sent', () => {
    expect(checkProduced(history(), [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0', 'x-9'] }])[0]?.message).toMatch(/x-9 .* no producer sent/);
  });

  it('reports a retry the broker refused', () => {
    const refused = [...history(), { ...produced('p2', 1, 'refused', null), refusal: 'outOfOrderSequence' }];
    expect(invariants(checkProduced(refused, [{ node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p2-0'] }]))).toEqual([BrokerInvariant.producedOnce]);
  });

  it('reports a producer whose messages are out of sequence order, but not a delayed message placed later', () => {
    const reordered = [produced('p1', 0, 'unknown', null), produced('p1', 1, 'unknown', null)];
    expect(invariants(checkProduced(reordered, [{ node: 'n1', firstOffset: 0, ids: ['p1-1', 'p1-0'] }]))).toEqual([BrokerInvariant.producerOrder]);
    const delayed = [produced('p1', 0, 'acked', null, true), produced('p1', 1, 'acked', 0)];
    expect(checkProduced(delayed, [{ node: 'n1', firstOffset: 0, ids: ['p1-1', 'p1-0'] }])).toEqual([]);
  });
});

describe('checkDeliveries: every acknowledged message delivered until acked or dead-lettered', () => {
  const topic = { node: 'n1', firstOffset: 0, ids: ['p1-0', 'p1-1', 'p1-2!'] };
  const events: ConsumerEvent[] = [
    { kind: 'delivered', consumer: 'c1.0', offset: 0, delivery: 1, id: 'p1-0' },
    { kind: 'delivered', consumer: 'c1.0', offset: 1, delivery: 1, id: 'p1-1' },
    { kind: 'delivered', consumer: 'c1.0', offset: 2, delivery: 1, id: 'p1-2!' },
    { kind: 'acked', consumer: 'c1.0', offset: 0 },
    { kind: 'delivered', consumer: 'c2.0', offset: 1, delivery: 2, id: 'p1-1' },
    { kind: 'acked', consumer: 'c2.0', offset: 1 },
  ];
  const intact = (): DeliveryHistory => ({
    produced: [produced('p1', 0, 'acked', 0), produced('p1', 1, 'acked', 1), { ...produced('p1', 2, 'acked', 2), id: 'p1-2!' }],
    topics: [topic],
    events,
    deadLetters: [{ node: 'n1', offset: 2, id: 'p1-2!', deliveries: 3 }],
    groups: [{ node: 'n1', committedOffset: 3, topicEnd: 3, inflight: 0, waiting: 0, dead: 0 }],
    retriesMax: 2,
  });

  it('passes when each message was acked or dead-lettered after its retries and the group drained', () => {
    expect(checkDeliveries(intact())).toEqual([]);
  });

  it('reports a message lost: acknowledged to its producer, never acked by a consumer nor dead-lettered', () => {
    const lost = { ...intact(), events: events.filter((e) => !(e.kind === 'acked' && e.offset === 1)) };
    const violations = checkDeliveries(lost);
    expect(invariants(violations)).toEqual([BrokerInvariant.deliveredUntilAcked]);
    expect(violations[0]?.message).toMatch(/p1-1 \(offset 1\) .* never acked/);
  });

  it('reports a group that is not drained on some node', () => {
    const stuck = { ...intact(), groups: [...intact().groups, { node: 'n2', committedOffset: 1, topicEnd: 3, inflight: 1, waiting: 0, dead: 0 }] };
    expect(checkDeliveries(stuck)[0]?.message).toMatch(/group on n2 is not drained/);
  });

  it('reports a delivery of another message than the topic holds at the offset', () => {
    const wrong: ConsumerEvent[] = [...events, { kind: 'delivered', consumer: 'c2.1', offset: 0, delivery: 2, id: 'p1-1' }];
    expect(checkDeliveries({ ...intact(), events: wrong })[0]?.message).toMatch(/got p1-1 as offset 0/);
  });

  it('reports an offset dead-lettered twice, or before its retries were used up', () => {
    const twice = { ...intact(), deadLetters: [...intact().deadLetters, { node: 'n1', offset: 2, id: 'p1-2!', deliveries: 3 }] };
    expect(checkDeliveries(twice)[0]?.message).toMatch(/dead-lettered 2 times/);
    const early = { ...intact(), deadLetters: [{ node: 'n1', offset: 2, id: 'p1-2!', deliveries: 2 }] };
    expect(checkDeliveries(early)[0]?.message).toMatch(/after 2 deliveries/);
  });

  it('reports an ack of an offset the consumer was never given', () => {
    const phantom: ConsumerEvent[] = [...events, { kind: 'acked', consumer: 'c9.0', offset: 2 }];
    expect(checkDeliveries({ ...intact(), events: phantom })[0]?.message).toMatch(/without its delivery/);
  });
});

describe('checkTransactions: all or nothing, as told, and never visible before commit', () => {
  const tx = (txId: string, learnt: TransactionRecord['learnt'], commitSentAtMs: number | null, count = 2): TransactionRecord => ({
    txId,
    messageIds: Array.from({ length: count }, (_, k) => `${txId}.${k}`),
    halfAcked: true,
    learnt,
    commitSentAtMs,
  });
  const intact = (): TransactionHistory => ({
    transactions: [tx('t1-0', 'committed', 100), tx('t1-1', 'rolledBack', null), tx('t1-2', null, 300, 1)],
    observations: [
      { atMs: 150, node: 'n2', id: 't1-0.0' },
      { atMs: 320, node: 'n1', id: 't1-2.0' },
    ],
    topics: [{ node: 'n1', firstOffset: 0, ids: ['t1-0.0', 't1-0.1', 't1-2.0'] }],
    states: [{ node: 'n1', state: new Map([['t1-0', 'committed'], ['t1-1', 'rolledBack'], ['t1-2', 'committed']] as const) }],
  });

  it('passes committed transactions shown whole, a rolled-back one not at all, each seen only after its commit was sent', () => {
    expect(checkTransactions(intact())).toEqual([]);
  });

  it('reports a committed transaction shown in part', () => {
    const partial = { ...intact(), topics: [{ node: 'n1', firstOffset: 0, ids: ['t1-0.0', 't1-2.0'] }] };
    expect(invariants(checkTransactions(partial))).toEqual([BrokerInvariant.transactionAtomic]);
    expect(checkTransactions(partial)[0]?.message).toMatch(/shows 1 of 2 messages of t1-0/);
  });

  it('reports a rolled-back transaction whose messages are visible', () => {
    const leaked = { ...intact(), topics: [{ node: 'n1', firstOffset: 0, ids: ['t1-0.0', 't1-0.1', 't1-2.0', 't1-1.0', 't1-1.1'] }] };
    expect(checkTransactions(leaked).map((v) => v.message)).toEqual([
      expect.stringMatching(/t1-1 is rolledBack on n1 but its messages are visible/),
      expect.stringMatching(/t1-1's producer was told rolled back/),
    ]);
  });

  it('reports a transaction the producer was told committed that the node rolled back', () => {
    const states = [{ node: 'n1', state: new Map([['t1-0', 'rolledBack'], ['t1-1', 'rolledBack'], ['t1-2', 'committed']] as const) }];
    const told = { ...intact(), topics: [{ node: 'n1', firstOffset: 0, ids: ['t1-2.0'] }], states };
    expect(checkTransactions(told)[0]?.message).toMatch(/t1-0's producer was told committed/);
  });

  it('reports a transaction still undecided after healing, and committed messages kept apart', () => {
    const undecided = { ...intact(), states: [{ node: 'n1', state: new Map([['t1-0', 'committed'], ['t1-1', 'prepared'], ['t1-2', 'committed']] as const) }] };
    expect(checkTransactions(undecided)[0]?.message).toMatch(/t1-1 is still undecided/);
    const apart = { ...intact(), topics: [{ node: 'n1', firstOffset: 0, ids: ['t1-0.0', 't1-2.0', 't1-0.1'] }] };
    expect(checkTransactions(apart)[0]?.message).toMatch(/t1-0's messages apart/);
  });

  it('reports a half message seen visible before its commit was sent, or with no commit ever sent', () => {
    const early = { ...intact(), observations: [...intact().observations, { atMs: 90, node: 'n3', id: 't1-0.1' }] };
    const violations = checkTransactions(early);
    expect(invariants(violations)).toEqual([BrokerInvariant.halfInvisible]);
    expect(violations[0]?.message).toMatch(/n3 showed t1-0.1 of t1-0 at 90ms; its commit was sent at 100ms/);
    const never = { ...intact(), observations: [{ atMs: 500, node: 'n1', id: 't1-1.0' }] };
    expect(checkTransactions(never)[0]?.message).toMatch(/no commit was ever sent/);
  });
});
