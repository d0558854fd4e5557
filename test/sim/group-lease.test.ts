import { describe, expect, it } from 'vitest';
import { EntryKind, type Index, type NodeId } from '../../raft/index.js';
import { decodeCommand, GROUP_DEFAULTS, type BrokerCommand } from '../../src/broker/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { PayloadTag } from '../../src/node/state-machine.js';
import type { DeliveryView } from '../../src/transport/index.js';
import { NodeCluster } from './node-cluster.js';

/**
 * Deliveries by lease on production nodes: a consumer's loop on the leader keeps a standing
 * lease, so a message produced while it holds one is sent once its produce entry commits,
 * with no deliver or lease entry of its own, and with the ack deadline of that entry.
 */

const TIMEOUT_MS = 2_000;
const SETTINGS = { ackDeadlineMs: 5_000, retryDelaysMs: [100], retriesMax: 3 };

/** A consumer of group g on `node`: what it was sent; stop() aborts its stream. */
function consume(node: AssembledNode, consumerId: string, prefetch: number): { readonly received: DeliveryView[]; readonly stop: () => void } {
  const received: DeliveryView[] = [];
  const controller = new AbortController();
  const input = { group: 'g', topic: 'orders', consumerId, prefetch, start: { kind: 'earliest' as const }, settings: SETTINGS, bytesMax: 1024 * 1024 };
  node.groups
    .consume(
      input,
      (deliveries) => {
        received.push(...deliveries);
        return Promise.resolve();
      },
      controller.signal,
    )
    .catch(() => undefined);
  return { received, stop: () => controller.abort() };
}

/** The broker commands of `node`'s log from `from` on, in order. */
function commandsFrom(node: AssembledNode, from: number): BrokerCommand[] {
  const last = node.log.lastIndex();
  const entries = node.log.entries(from as Index, (last + 1) as Index, Number.MAX_SAFE_INTEGER);
  return entries.filter((e) => e.kind === EntryKind.normal && e.payload[0] === PayloadTag.broker).map((e) => decodeCommand(e.payload.subarray(1)).command);
}

function produce(cluster: NodeCluster, leader: AssembledNode, payloads: readonly string[]): Promise<unknown> {
  const messages = payloads.map((p) => ({ key: new Uint8Array(0), headers: [], payload: new TextEncoder().encode(p), timestampMs: 1 }));
  return cluster.settle(leader.broker.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages }, { timeoutMs: TIMEOUT_MS }));
}

describe('deliveries by lease', () => {
  it('a message produced under a lease is sent once its produce entry commits, with no entry of its own and that entry\'s deadline', async () => {
    const cluster = new NodeCluster({ seed: 41, size: 3, clockOriginMs: 1_000_000 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leaderId = cluster.leader() as NodeId;
    const leader = cluster.node(leaderId).node as AssembledNode;
    await cluster.settle(leader.broker.createTopic('orders', 1024, { timeoutMs: TIMEOUT_MS }));
    await produce(cluster, leader, ['m0', 'm1']);

    const c = consume(leader, 'c', 10);
    expect(await cluster.runUntil(() => c.received.length === 2, 2_000)).toBe(true);
    const group = () => leader.stateMachine.broker.consumerGroups.group('g');
    // What was there went out with the lease entry; the rest of the prefetch is leased.
    expect(group()?.leaseOf('c', leader.stateMachine.broker.nowMs)).toBe(8);

    const before = leader.log.lastIndex() + 1;
    await produce(cluster, leader, ['m2', 'm3', 'm4']);
    expect(await cluster.runUntil(() => c.received.length === 5, 2_000)).toBe(true);
    const produced = commandsFrom(leader, before);
    const kinds = produced.map((command) => command.kind);
    expect(kinds.filter((k) => k === 'lease' || k === 'deliver')).toEqual([]);
    const produceAt = produced.findIndex((command) => command.kind === 'produce');
    const entry = leader.log.entries(before as Index, (leader.log.lastIndex() + 1) as Index, Number.MAX_SAFE_INTEGER).filter((e) => e.kind === EntryKind.normal && e.payload[0] === PayloadTag.broker)[produceAt];
    const producedAtMs = entry === undefined ? -1 : decodeCommand(entry.payload.subarray(1)).leaderTimeMs;
    expect(c.received.slice(2).map((d) => [d.offset, d.delivery, d.deadlineMs])).toEqual([2, 3, 4].map((offset) => [offset, 1, producedAtMs + SETTINGS.ackDeadlineMs]));
    // Every replica holds the same deliveries: they came from the produce entry itself.
    expect(await cluster.runUntil(() => cluster.ids.every((id) => cluster.node(id).node?.groups.describeGroup('g').inflight === 5), 2_000)).toBe(true);
    expect(group()?.leaseOf('c', leader.stateMachine.broker.nowMs)).toBe(5);

    // Acks free room: a new lease entry takes it up again once a quarter of the prefetch is free.
    await cluster.settle(leader.groups.ack('g', [0, 1, 2], { timeoutMs: TIMEOUT_MS }));
    expect(await cluster.runUntil(() => group()?.leaseOf('c', leader.stateMachine.broker.nowMs) === 8, 2_000)).toBe(true);

    // The stream's end releases the consumer's messages and its lease: what comes next waits.
    c.stop();
    expect(await cluster.runUntil(() => group()?.leaseCount === 0 && group()?.inflightOf('c') === 0, 2_000)).toBe(true);
    await produce(cluster, leader, ['m5']);
    expect(leader.groups.describeGroup('g')).toMatchObject({ inflight: 0, nextOffset: 5 });
    await cluster.runFor(200);
    await cluster.checkRecovery(5_000, 10_000);
  });

  it('a backlog larger than one entry hands out goes out in full to a prefetch that has room for it, with nothing produced after', async () => {
    const cluster = new NodeCluster({ seed: 42, size: 3, clockOriginMs: 1_000_000 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leader = cluster.node(cluster.leader() as NodeId).node as AssembledNode;
    await cluster.settle(leader.broker.createTopic('orders', 1024, { timeoutMs: TIMEOUT_MS }));
    const backlog = GROUP_DEFAULTS.deliverBatchMax + 500;
    // Bounded: backlog / 500 produce entries. What the lease entry does not deliver at once, its lease takes at the same entry.
    for (let k = 0; k < backlog; k += 500) await produce(cluster, leader, Array.from({ length: 500 }, (_, j) => `m${k + j}`));
    const c = consume(leader, 'c', backlog + 100);
    expect(await cluster.runUntil(() => c.received.length === backlog, 5_000), `${c.received.length} of ${backlog} sent`).toBe(true);
    expect(new Set(c.received.map((d) => d.offset)).size).toBe(backlog);
    c.stop();
    await cluster.runFor(200);
  });

  it('a backlog drained with small ack batches costs a lease entry per quarter of the prefetch, not one per ack', async () => {
    const cluster = new NodeCluster({ seed: 43, size: 3, clockOriginMs: 1_000_000 });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leader = cluster.node(cluster.leader() as NodeId).node as AssembledNode;
    await cluster.settle(leader.broker.createTopic('orders', 1024, { timeoutMs: TIMEOUT_MS }));
    const backlog = 1_000;
    // Bounded: backlog / 250 produce entries.
    for (let k = 0; k < backlog; k += 250) await produce(cluster, leader, Array.from({ length: 250 }, (_, j) => `m${k + j}`));
    const from = leader.log.lastIndex() + 1;
    const prefetch = 100;
    const c = consume(leader, 'c', prefetch);
    let acked = 0;
    // Bounded: each turn acks 5 more, or the deadline below ends it.
    for (let turn = 0; acked < backlog && turn < 2 * backlog; turn++) {
      if (!(await cluster.runUntil(() => c.received.length >= acked + 5, 2_000))) break;
      await cluster.settle(leader.groups.ack('g', c.received.slice(acked, acked + 5).map((d) => d.offset), { timeoutMs: TIMEOUT_MS }));
      acked += 5;
    }
    expect(acked).toBe(backlog);
    const leases = commandsFrom(leader, from).filter((command) => command.kind === 'lease').length;
    // One to start, then one per quarter of the prefetch acked (an entry per ack would be 200).
    expect(leases).toBeLessThanOrEqual(backlog / (prefetch / 4) + 2);
    c.stop();
    await cluster.runFor(200);
  });
});
