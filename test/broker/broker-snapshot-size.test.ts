import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { BrokerState, decodeBrokerSnapshot, encodeBrokerSnapshot, type ApplyResult, type BrokerCommand, type MessageRecord } from '../../src/broker/index.js';
import { LONG_RUN } from '../harness/long-run.js';

/**
 * A snapshot of a large state: how long encoding and decoding stall a node, and that the
 * state round-trips at that size. `npm test` builds a tenth of it and checks the round trip;
 * under `npm run test:long` (QUORUMLOG_TEST_LONG=1) the full size, and both print timings:
 *   QUORUMLOG_TEST_LONG=1 npx vitest run test/broker/broker-snapshot-size.test.ts
 * Timings are printed, not asserted: the machine is shared.
 */

interface Size {
  readonly topics: number;
  /** Produce entries per topic: one offset run each. */
  readonly runsPerTopic: number;
  readonly messagesPerRun: number;
  readonly producers: number;
  readonly groups: number;
  /** Messages handed out and not acked, per group (one in ten nacked: waiting for a retry). */
  readonly unfinishedPerGroup: number;
  readonly consumersPerGroup: number;
  readonly transactions: number;
}

const FULL: Size = { topics: 100, runsPerTopic: 1_000, messagesPerRun: 10, producers: 10_000, groups: 100, unfinishedPerGroup: 100, consumersPerGroup: 10, transactions: 1_000 };
/** As FULL, but 10k unfinished deliveries in every group: 1M in all. */
const FULL_DEEP: Size = { ...FULL, messagesPerRun: 20, unfinishedPerGroup: 10_000 };
const SMALL: Size = { topics: 10, runsPerTopic: 1_000, messagesPerRun: 10, producers: 1_000, groups: 10, unfinishedPerGroup: 1_000, consumersPerGroup: 5, transactions: 100 };

const DAY_MS = 86_400_000;

/** Applies entries 1, 2, 3 ... one ms of leader time apart, expecting none refused. */
class Builder {
  readonly state = new BrokerState();
  private index = 0;

  apply(command: BrokerCommand): ApplyResult {
    this.index++;
    const result = this.state.apply(this.index, 1_000_000 + this.index, command);
    if (result.kind === 'rejected') throw result.error;
    return result;
  }
}

function build(size: Size): BrokerState {
  const b = new Builder();
  const batch: MessageRecord[] = Array.from({ length: size.messagesPerRun }, () => ({ key: new Uint8Array(0), headers: [], payload: new Uint8Array(100), timestampMs: 1 }));
  const topic = (k: number): string => `topic-${k % size.topics}`;
  for (let k = 0; k < size.topics; k++) b.apply({ kind: 'createTopic', name: topic(k), messageBytesMax: 1_000 });
  const producers: number[] = [];
  for (let k = 0; k < size.producers; k++) {
    const r = b.apply({ kind: 'initProducer', idleExpiryMs: DAY_MS });
    if (r.kind === 'producerGranted') producers.push(r.producerId);
  }
  const sequences = new Map<number, number>();
  for (let j = 0; j < size.topics * size.runsPerTopic; j++) {
    const producerId = producers[j % producers.length] ?? 0;
    const firstSequence = sequences.get(producerId) ?? 0;
    b.apply({ kind: 'produce', topic: topic(j), producerId, firstSequence, messages: batch });
    sequences.set(producerId, firstSequence + batch.length);
  }
  const settings = { ackDeadlineMs: DAY_MS, retryDelaysMs: [10_000, 30_000, 60_000], retriesMax: 16 };
  for (let g = 0; g < size.groups; g++) {
    const group = `group-${g}`;
    b.apply({ kind: 'createGroup', group, topic: topic(g), start: { kind: 'earliest' }, settings, ifAbsent: false });
    let handedOut = 0;
    // Bounded: each deliver hands out at least one (the topic holds more than unfinishedPerGroup).
    for (let c = 0; handedOut < size.unfinishedPerGroup; c++) {
      const max = Math.min(4_000, size.unfinishedPerGroup - handedOut);
      const r = b.apply({ kind: 'deliver', group, consumer: `consumer-${c % size.consumersPerGroup}`, max });
      if (r.kind !== 'delivered' || r.messages.length === 0) throw new Error('nothing delivered');
      handedOut += r.messages.length;
      for (const m of r.messages) if (m.offset % 10 === 0) b.apply({ kind: 'nack', group, offset: m.offset, delivery: m.delivery, reason: 'handler threw', delayMs: -1 });
    }
  }
  for (let k = 0; k < size.transactions; k++) {
    const txId = `tx-${k}`;
    b.apply({ kind: 'halfMessage', txId, producerGroup: 'pg', topic: topic(k), checkDelayMs: DAY_MS, checkIntervalMs: DAY_MS, checkMax: 15, messages: batch.slice(0, 1) });
    if (k % 2 === 0) b.apply({ kind: 'endTransaction', txId, outcome: 'commit', source: 'producer' });
  }
  return b.state;
}

function medianMs(runs: number, f: () => void): number {
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const start = performance.now();
    f();
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)] ?? NaN;
}

function measure(label: string, size: Size): void {
  const state = build(size);
  const bytes = encodeBrokerSnapshot(state);
  const decoded = decodeBrokerSnapshot(bytes);
  // Buffer.equals: toEqual walks tens of MiB element by element and runs out of heap.
  expect(Buffer.from(encodeBrokerSnapshot(decoded)).equals(bytes)).toBe(true);
  expect(decoded.groupList()).toEqual(state.groupList());
  expect(decoded.lowestOwedLogIndex()).toBe(state.lowestOwedLogIndex());
  const encodeMs = medianMs(5, () => encodeBrokerSnapshot(state));
  const decodeMs = medianMs(5, () => decodeBrokerSnapshot(bytes));
  const owedMs = medianMs(5, () => state.lowestOwedLogIndex());
  const unconsumedMs = medianMs(5, () => state.lowestUnconsumedLogIndex());
  const runs = size.topics * size.runsPerTopic;
  const deliveries = size.groups * size.unfinishedPerGroup;
  console.log(
    `${label}: ${runs} runs / ${size.topics} topics, ${size.producers} producers, ${deliveries} unfinished deliveries / ${size.groups} groups, ${size.transactions} transactions: ` +
      `${(bytes.length / 1_048_576).toFixed(1)} MiB, encode ${encodeMs.toFixed(1)} ms, decode ${decodeMs.toFixed(1)} ms (median of 5), ` +
      `lowestOwedLogIndex ${owedMs.toFixed(2)} ms, lowestUnconsumedLogIndex ${unconsumedMs.toFixed(3)} ms`,
  );
}

describe('broker snapshot of a large state', () => {
  it(LONG_RUN ? 'round-trips 100k runs, 10k producers, 100 groups with 10k and with 1M unfinished deliveries, and prints timings' : 'round-trips a tenth of the long size, and prints timings', () => {
    if (LONG_RUN) {
      measure('full', FULL);
      measure('full, 10k unfinished per group', FULL_DEEP);
    } else {
      measure('small', SMALL);
    }
  }, 600_000);
});
