import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../raft/index.js';
import { RetentionPolicy, type RetentionConfig } from '../../src/node/config.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { OutOfRangeError, type DeliveryView } from '../../src/transport/index.js';
import { NodeCluster } from './node-cluster.js';

/**
 * A consumer group left behind by retention, on production nodes: under the delete policy
 * the log below a snapshot goes whatever the group has not read, its consume answers
 * OUT_OF_RANGE naming the earliest offset kept, and a reset to earliest lets it consume
 * again from there. Every check the simulator runs after each step holds throughout.
 */

/** Deletes everything below a snapshot at once, consumed or not. */
const DELETE_AT_ONCE: RetentionConfig = { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete };
const TIMEOUT_MS = 2_000;
const SETTINGS = { ackDeadlineMs: 5_000 };
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** A consumer of group g on the leader: what it was sent, and how its stream ended. */
function consume(node: AssembledNode, consumerId: string): { readonly received: DeliveryView[]; readonly ended: Promise<void>; readonly stop: () => void } {
  const received: DeliveryView[] = [];
  const controller = new AbortController();
  const input = { group: 'g', topic: 'orders', consumerId, prefetch: 100, start: { kind: 'earliest' as const }, settings: SETTINGS, bytesMax: 1024 * 1024 };
  const ended = node.groups.consume(
    input,
    (deliveries) => {
      received.push(...deliveries);
      return Promise.resolve();
    },
    controller.signal,
  );
  ended.catch(() => undefined);
  return { received, ended, stop: () => controller.abort() };
}

describe('a group behind retention, reset to earliest', () => {
  it('gets OUT_OF_RANGE naming the earliest offset kept; after resetGroup to earliest it consumes every kept message from there', async () => {
    const cluster = new NodeCluster({ seed: 31, size: 3, snapshotEntries: 10, segmentBytes: 512, retention: DELETE_AT_ONCE, clockOriginMs: 1_000_000 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leaderId = cluster.leader() as NodeId;
    const leader = cluster.node(leaderId).node as AssembledNode;
    await cluster.settle(leader.broker.createTopic('orders', 1024, { timeoutMs: TIMEOUT_MS }));
    await cluster.settle(leader.groups.createGroup({ group: 'g', topic: 'orders', start: { kind: 'earliest' }, settings: SETTINGS, ifAbsent: false }, { timeoutMs: TIMEOUT_MS }));
    const count = 60;
    // Bounded by `count`: one produce entry each, so the log rolls segments and snapshots.
    for (let k = 0; k < count; k++) {
      const payload = new TextEncoder().encode(`m${k}`);
      await cluster.settle(leader.broker.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [{ key: new Uint8Array(0), headers: [], payload, timestampMs: 1 }] }, { timeoutMs: TIMEOUT_MS }));
    }
    await cluster.runFor(500);
    expect(cluster.leader()).toBe(leaderId);
    const earliest = leader.broker.earliestOffset('orders');
    expect(earliest, 'retention deleted the topic\'s first messages').toBeGreaterThan(0);
    expect(earliest).toBeLessThan(count);
    expect(leader.groups.describeGroup('g')).toMatchObject({ committedOffset: 0, nextOffset: 0 });

    // The group's next message is gone: consuming says so, with the earliest offset kept.
    const behind = consume(leader, 'c1');
    const refused = await cluster.settle(behind.ended).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OutOfRangeError);
    expect((refused as OutOfRangeError).earliestOffset).toBe(earliest);
    expect(behind.received).toEqual([]);

    // An offset retention deleted is refused the same way, before anything is proposed.
    const deleted = await cluster.settle(leader.groups.resetGroup({ group: 'g', to: { kind: 'offset', offset: 0 }, force: false }, { timeoutMs: TIMEOUT_MS })).catch((error: unknown) => error);
    expect(deleted).toBeInstanceOf(OutOfRangeError);

    const reset = await cluster.settle(leader.groups.resetGroup({ group: 'g', to: { kind: 'earliest' }, force: false }, { timeoutMs: TIMEOUT_MS }));
    expect(reset).toEqual({ committedOffset: earliest, previousCommittedOffset: 0, forgotten: 0 });
    // Applied on every node alike (the command carried the leader's earliest, not each node's own).
    expect(await cluster.runUntil(() => cluster.ids.every((id) => cluster.node(id).node?.groups.describeGroup('g').committedOffset === earliest), 2_000)).toBe(true);

    const again = consume(leader, 'c2');
    expect(await cluster.runUntil(() => again.received.length >= count - earliest, 5_000), `${again.received.length} of ${count - earliest} delivered`).toBe(true);
    expect(again.received.map((d) => d.offset)).toEqual(Array.from({ length: count - earliest }, (_, k) => earliest + k));
    expect(again.received.map((d) => text(d.message.payload))).toEqual(Array.from({ length: count - earliest }, (_, k) => `m${earliest + k}`));
    expect(again.received.every((d) => d.delivery === 1)).toBe(true);

    // With those in flight a second reset is refused unless forced.
    const busy = await cluster.settle(leader.groups.resetGroup({ group: 'g', to: { kind: 'latest' }, force: false }, { timeoutMs: TIMEOUT_MS })).catch((error: unknown) => error);
    expect(busy).toMatchObject({ code: 'failedPrecondition', message: expect.stringContaining('in flight to consumer(s) c2') });
    again.stop();
    await cluster.runFor(200);
    await cluster.checkRecovery(5_000, 10_000);
  });
});
