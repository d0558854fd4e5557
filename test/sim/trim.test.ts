import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../raft/index.js';
import type { ApplyResult } from '../../src/broker/index.js';
import { RetentionPolicy, type RetentionConfig } from '../../src/node/config.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { OutOfRangeError } from '../../src/transport/index.js';
import { NodeCluster } from './node-cluster.js';

/**
 * The replicated trim on production nodes: the leader, having compacted its log below a
 * snapshot, proposes trimLog there; every node's broker state then forgets the offset runs
 * below it, and every node answers a read below the earliest offset alike. Every check the
 * simulator runs after each step (and the byte-for-byte state agreement at the end) holds.
 */

/** Deletes everything below a snapshot at once: every snapshot compacts. */
const DELETE_AT_ONCE: RetentionConfig = { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete };
const TIMEOUT_MS = 2_000;

/** Produces `count` messages to topic orders through the current leader, one entry each. */
async function produce(cluster: NodeCluster, count: number, tag: string): Promise<void> {
  // Bounded by `count`, and by the refusals allowed while a leader is elected.
  for (let k = 0, refused = 0; k < count; k++) {
    const id = cluster.leader();
    const leader = id === null ? null : cluster.node(id).node;
    const payload = new TextEncoder().encode(`${tag}${k}`);
    try {
      if (leader === null) throw new Error('no leader yet');
      await cluster.settle(leader.broker.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [{ key: new Uint8Array(0), headers: [], payload, timestampMs: 1 }] }, { timeoutMs: TIMEOUT_MS }));
    } catch (error) {
      if (++refused > 50) throw error;
      k--;
      await cluster.runFor(100);
    }
  }
}

function running(cluster: NodeCluster): { readonly id: NodeId; readonly node: AssembledNode }[] {
  return cluster.ids.flatMap((id) => {
    const node = cluster.node(id).node;
    return node === null ? [] : [{ id, node }];
  });
}

/** Every running node has applied what the leader has. */
async function caughtUp(cluster: NodeCluster): Promise<void> {
  const leader = cluster.leader() as NodeId;
  const target = cluster.appliedIndex(leader);
  expect(await cluster.runUntil(() => running(cluster).every(({ id }) => cluster.appliedIndex(id) >= target), 5_000)).toBe(true);
}

describe('the replicated trim', () => {
  it('the leader proposes it after compacting; every node forgets the runs below it and answers reads below the earliest offset alike', async () => {
    const cluster = new NodeCluster({ seed: 41, size: 3, snapshotEntries: 10, segmentBytes: 512, retention: DELETE_AT_ONCE, clockOriginMs: 1_000_000 });
    const trims: { node: NodeId; result: Extract<ApplyResult, { kind: 'logTrimmed' }> }[] = [];
    cluster.onApply((node, _entry, result) => {
      if (result?.kind === 'logTrimmed') trims.push({ node, result });
    });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leaderId = cluster.leader() as NodeId;
    const leader = cluster.node(leaderId).node as AssembledNode;
    await cluster.settle(leader.broker.createTopic('orders', 1024, { timeoutMs: TIMEOUT_MS }));
    const count = 60;
    await produce(cluster, count, 'm');
    await cluster.runFor(500);
    await caughtUp(cluster);
    expect(cluster.leader()).toBe(leaderId);

    const broker = leader.stateMachine.broker;
    const trimmedBelow = broker.trimmedBelowLogIndex;
    expect(trimmedBelow, 'the leader proposed a trim once it compacted').toBeGreaterThan(1);
    // It proposed a point its own log was compacted below: it no longer holds anything trimmed.
    expect(trimmedBelow).toBeLessThanOrEqual(leader.log.firstIndex());
    expect(trims.some((t) => t.result.runsDropped > 0)).toBe(true);
    const earliest = broker.earliestOffset('orders') as number;
    expect(earliest).toBeGreaterThan(0);
    expect(earliest).toBeLessThan(count);
    // The state holds runs only from the earliest offset on (one per produce entry here).
    const topic = broker.snapshotSource().topics.find((t) => t.name === 'orders');
    expect(topic?.startOffset).toBe(earliest);
    expect(topic?.runs.length).toBe(count - earliest);

    // Every node applied the same trims, so holds the same earliest offset, and refuses a read below it naming it.
    for (const { id, node } of running(cluster)) {
      expect(node.stateMachine.broker.trimmedBelowLogIndex, id).toBe(trimmedBelow);
      expect(node.stateMachine.broker.earliestOffset('orders'), id).toBe(earliest);
      const refused = (() => {
        try {
          node.broker.fetch('orders', earliest - 1, 1 << 20);
          return null;
        } catch (error) {
          return error;
        }
      })();
      expect(refused, id).toBeInstanceOf(OutOfRangeError);
      expect((refused as OutOfRangeError).earliestOffset, id).toBe(node.broker.earliestOffset('orders'));
      expect(node.broker.earliestOffset('orders'), id).toBeGreaterThanOrEqual(earliest);
    }
    const fetched = leader.broker.fetch('orders', leader.broker.earliestOffset('orders'), 1 << 20);
    expect(fetched.messages.at(-1)?.offset).toBe(count - 1);

    // Followers never propose one; the leader proposes none at or below the point trimmed.
    const before = trims.length;
    const lastIndex = leader.log.lastIndex();
    for (const { id, node } of running(cluster)) if (id !== leaderId) node.broker.proposeTrim(lastIndex);
    leader.broker.proposeTrim(trimmedBelow);
    await cluster.runFor(300);
    expect(leader.log.lastIndex(), 'nothing was proposed').toBe(lastIndex);
    expect(trims.length).toBe(before);

    // A new leader proposes at its next compaction.
    cluster.crash(leaderId, { tear: false });
    expect(await cluster.runUntil(() => cluster.leader() !== null && cluster.leader() !== leaderId, 5_000)).toBe(true);
    const newLeader = cluster.node(cluster.leader() as NodeId).node as AssembledNode;
    const trimmedBefore = newLeader.stateMachine.broker.trimmedBelowLogIndex;
    await produce(cluster, 30, 'n');
    await cluster.runFor(500);
    expect(newLeader.stateMachine.broker.trimmedBelowLogIndex).toBeGreaterThan(trimmedBefore);
    cluster.restart(leaderId);
    await cluster.checkRecovery(5_000, 10_000);
  });
});
