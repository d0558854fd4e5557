import { describe, expect, it } from 'vitest';

import type { NodeId } from '../../raft/index.js';
import { RetentionPolicy, type RetentionConfig } from '../../src/node/config.js';
import { DISK_GUARD_DEFAULTS, type DiskUsage } from '../../src/node/disk-guard.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { ResourceExhaustedError, type BrokerMessageView, type DeliveryView } from '../../src/transport/index.js';
import { NodeCluster, type CallOutcome } from './node-cluster.js';

/**
 * The disk guard on production nodes in the simulator, with a fake disk per node: the leader
 * refuses new messages while its disk is above the watermark and goes on serving reads,
 * consumes, acks and replication; it takes messages again once its disk is below.
 */
const TIMEOUT_MS = 3_000;
const SAMPLE_MS = DISK_GUARD_DEFAULTS.sampleIntervalMs;
const FULL = 'disk 95% full (limit 90%): produce refused until space is freed; reads and acks still work';

function value<T>(outcome: CallOutcome<T>): T {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

const text = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const messages = (...ids: string[]): BrokerMessageView[] => ids.map((id) => ({ key: text(id), headers: [], payload: text(id), timestampMs: 0 }));

/** A three-node cluster whose disks report `percent[id]` used of 1,000,000 bytes. */
async function clusterWithDisks(seed: number, options: { readonly snapshotEntries?: number; readonly retention?: RetentionConfig } = {}) {
  const percent = new Map<NodeId, number>();
  const lines: string[] = [];
  const cluster = new NodeCluster({
    seed,
    size: 3,
    diskUsage: (id) => (): Promise<DiskUsage> => Promise.resolve({ usedBytes: (percent.get(id) ?? 50) * 10_000, sizeBytes: 1_000_000 }),
    onNodeLog: (id, line) => lines.push(`${id} ${line}`),
    segmentBytes: 1024,
    ...options,
  });
  expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
  const leader = cluster.leader() as NodeId;
  const node = (): AssembledNode => {
    const assembled = cluster.node(leader).node;
    if (assembled === null) throw new Error(`${leader} is down`);
    return assembled;
  };
  return { cluster, percent, lines, leader, node };
}

describe('the disk guard on production nodes', () => {
  it('refuses produce, appends and half messages above the watermark, serves reads, consumes and acks, and resumes below it', async () => {
    const { cluster, percent, lines, leader, node } = await clusterWithDisks(31);
    value(await cluster.outcome(node().broker.createTopic('t', 0, { timeoutMs: TIMEOUT_MS })));
    value(await cluster.outcome(node().broker.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: messages('a', 'b') }, { timeoutMs: TIMEOUT_MS })));

    percent.set(leader, 95);
    await cluster.runFor(SAMPLE_MS + 100);
    expect(node().service.status()).toMatchObject({ produceRefused: true, disk: { usedBytes: 950_000, sizeBytes: 1_000_000, freeBytes: 50_000 }, diskHighWatermarkPercent: 90 });
    const refused = await cluster.outcome(node().broker.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: messages('c') }, { timeoutMs: TIMEOUT_MS }));
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error).toBeInstanceOf(ResourceExhaustedError);
    expect(!refused.ok && (refused.error as Error).message).toBe(FULL);
    for (const acks of ['leader', 'none'] as const) {
      const other = await cluster.outcome(node().broker.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: messages('c') }, { timeoutMs: TIMEOUT_MS, acks }));
      expect(!other.ok && other.error, `acks ${acks}`).toBeInstanceOf(ResourceExhaustedError);
    }
    const append = await cluster.outcome(node().service.append([text('r')], { timeoutMs: TIMEOUT_MS }));
    expect(!append.ok && (append.error as Error).message).toBe(FULL);
    const half = await cluster.outcome(node().transactions.sendHalf({ txId: 'tx1', producerGroup: 'pg', topic: 't', checkDelayMs: 0, checkIntervalMs: 0, checkMax: 0, messages: messages('h') }, { timeoutMs: TIMEOUT_MS }));
    expect(!half.ok && half.error).toBeInstanceOf(ResourceExhaustedError);

    // Reads, consumes and acks go on, and so does replication: the acks commit on every node.
    expect(node().broker.fetch('t', 0, 1 << 20).messages.map((m) => Buffer.from(m.payload).toString())).toEqual(['a', 'b']);
    const delivered: DeliveryView[] = [];
    const controller = new AbortController();
    const consuming = node().groups.consume(
      { group: 'g', topic: 't', consumerId: 'c1', prefetch: 10, start: { kind: 'earliest' }, settings: {}, bytesMax: 1 << 20 },
      (deliveries) => {
        delivered.push(...deliveries);
        return Promise.resolve();
      },
      controller.signal,
    );
    consuming.catch(() => undefined);
    expect(await cluster.runUntil(() => delivered.length === 2, 5_000)).toBe(true);
    expect(value(await cluster.outcome(node().groups.ack('g', [0, 1], { timeoutMs: TIMEOUT_MS })))).toEqual(['acked', 'acked']);
    const commit = cluster.status(leader).commit;
    expect(await cluster.runUntil(() => cluster.ids.every((id) => cluster.appliedIndex(id) >= commit), 5_000)).toBe(true);
    expect(node().groups.describeGroup('g').committedOffset).toBe(2);
    controller.abort();

    // Still full a sample later: still refused, and no second line in the log.
    await cluster.runFor(SAMPLE_MS);
    expect(node().service.status().produceRefused).toBe(true);
    percent.set(leader, 50);
    await cluster.runFor(SAMPLE_MS + 100);
    expect(node().service.status().produceRefused).toBe(false);
    const accepted = value(await cluster.outcome(node().broker.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: messages('c') }, { timeoutMs: TIMEOUT_MS })));
    expect(accepted.firstOffset).toBe(2);
    expect(value(await cluster.outcome(node().service.append([text('r')], { timeoutMs: TIMEOUT_MS }))).firstIndex).toBeGreaterThan(0);
    expect(lines).toEqual([`${leader} disk guard: ${FULL}`, `${leader} disk guard: disk 50% full (limit 90%): taking produce again`]);
  });

  it("a follower's full disk refuses nothing: writes go to the leader and replication goes on", async () => {
    const { cluster, percent, leader, node } = await clusterWithDisks(32);
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    percent.set(follower, 99);
    await cluster.runFor(SAMPLE_MS + 100);
    expect(cluster.node(follower).node?.service.status().produceRefused).toBe(true);
    const appended = value(await cluster.outcome(node().service.append([text('r')], { timeoutMs: TIMEOUT_MS })));
    expect(await cluster.runUntil(() => cluster.appliedIndex(follower) >= appended.lastIndex, 5_000)).toBe(true);
  });

  it('status reports the first index, the newest snapshot and its age, log and snapshot bytes, and disk use', async () => {
    const compactAtOnce: RetentionConfig = { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete };
    const { cluster, leader, node } = await clusterWithDisks(33, { snapshotEntries: 10, retention: compactAtOnce });
    // Bounded: 40 appends.
    for (let k = 0; k < 40; k++) value(await cluster.outcome(node().service.append([text(`record ${k}`.padEnd(100, '.'))], { timeoutMs: TIMEOUT_MS })));
    await cluster.runFor(SAMPLE_MS + 100);
    const status = node().service.status();
    expect(status.snapshotIndex).toBeGreaterThanOrEqual(30);
    expect(status.firstIndex).toBeGreaterThan(1);
    expect(status.snapshotAgeSeconds).not.toBeNull();
    expect(status.logBytes).toBeGreaterThan(0);
    expect(status.snapshotBytes).toBeGreaterThan(0);
    expect(status.disk).toEqual({ usedBytes: 500_000, freeBytes: 500_000, sizeBytes: 1_000_000 });
    expect(status).toMatchObject({ produceRefused: false, diskHighWatermarkPercent: 90 });
    const storage = node().storageStatus();
    expect(storage.snapshotsWritten).toBeGreaterThanOrEqual(3);
    expect(storage.logSegmentsDeleted).toBeGreaterThanOrEqual(1);
    // Nothing applied meanwhile: the same snapshot, older by the virtual time that passed.
    const ageBefore = status.snapshotAgeSeconds ?? 0;
    await cluster.runFor(3_000);
    const later = node().service.status();
    expect(later.snapshotIndex).toBe(status.snapshotIndex);
    expect((later.snapshotAgeSeconds ?? 0) - ageBefore).toBeCloseTo(3, 0);
    // A follower restarted from its snapshot reports it too, aged from the time it was loaded.
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    cluster.crash(follower, { tear: false });
    cluster.restart(follower);
    expect(await cluster.runUntil(() => cluster.node(follower).node !== null, 5_000)).toBe(true);
    const restarted = cluster.node(follower).node?.service.status();
    expect(restarted?.snapshotIndex).toBeGreaterThan(0);
    expect(restarted?.snapshotAgeSeconds).not.toBeNull();
  });
});
