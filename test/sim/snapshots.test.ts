import { describe, expect, it } from 'vitest';
import type { Index } from '../../raft/index.js';
import type { NodeId } from '../../raft/index.js';
import { RetentionPolicy, type RetentionConfig } from '../../src/node/config.js';
import { SNAPSHOTS_BETWEEN_MAX } from '../../src/node/node-snapshots.js';
import { NodeCluster, type ClientAppend } from './node-cluster.js';
import { runNodeSchedule } from './node-schedule.js';
import type { Schedule } from './schedule.js';

/**
 * Snapshots on production nodes: a node writes one every few entries, restarts from it, and
 * a follower behind the leader's compacted log is sent it (InstallSnapshot on the simulated
 * network). Every check the simulator runs after each step holds throughout.
 */
/** Retention that deletes everything below a snapshot at once: every snapshot compacts. */
const COMPACT_AT_ONCE: RetentionConfig = { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete };

async function appendAcked(cluster: NodeCluster, count: number, boundMs = 20_000): Promise<ClientAppend[]> {
  const appends: ClientAppend[] = [];
  // Bounded by `count` and by the virtual time allowed.
  for (let k = 0; k < count; k++) {
    const append = cluster.append();
    if (append === null) throw new Error('no node to append to');
    appends.push(append);
    expect(await cluster.runUntil(() => append.state !== 'pending', boundMs)).toBe(true);
    if (append.state !== 'acked') k--; // a refusal (no leader yet): the next append goes again
    if (appends.length > count * 3) throw new Error('too many refusals');
  }
  return appends.filter((a) => a.state === 'acked');
}

describe('snapshots on production nodes', () => {
  it('a node restarts from its newest snapshot and applies only the entries after it', async () => {
    const cluster = new NodeCluster({ seed: 11, size: 3, snapshotEntries: 20, segmentBytes: 1024, retention: COMPACT_AT_ONCE });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    await appendAcked(cluster, 60);
    await cluster.runFor(500);
    const follower = cluster.ids.find((id) => id !== cluster.leader()) as NodeId;
    const before = cluster.status(follower);
    expect(before.snapshotIndex).toBeGreaterThanOrEqual(40);
    expect(before.firstIndex).toBeGreaterThan(1);
    cluster.crash(follower, { tear: false });
    cluster.restart(follower);
    expect(await cluster.runUntil(() => cluster.raft(follower) !== null, 5_000)).toBe(true);
    const restoredAt = cluster.restores(follower).at(-1);
    expect(restoredAt?.index).toBeGreaterThanOrEqual(before.snapshotIndex);
    // The process restored the snapshot, then applied from the entry after it (the apply-order
    // check would fail the step otherwise), never from index 1.
    expect(cluster.appliedIndex(follower)).toBeGreaterThanOrEqual(restoredAt?.index ?? Infinity);
    await appendAcked(cluster, 5);
    await cluster.checkRecovery(5_000, 10_000);
  });

  it('a follower partitioned across a compaction catches up by InstallSnapshot', async () => {
    const cluster = new NodeCluster({ seed: 12, size: 3, snapshotEntries: 10, segmentBytes: 512, retention: COMPACT_AT_ONCE });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const cutOff = cluster.ids.find((id) => id !== leader) as NodeId;
    cluster.network.partition([[cutOff], cluster.ids.filter((id) => id !== cutOff)]);
    await appendAcked(cluster, 80);
    await cluster.runFor(300);
    expect(cluster.status(leader).firstIndex).toBeGreaterThan(cluster.status(cutOff).lastIndex + 1);
    cluster.network.heal();
    const leaderNow = cluster.leader() as NodeId;
    expect(await cluster.runUntil(() => cluster.appliedIndex(cutOff) >= cluster.status(leaderNow).commit, 10_000)).toBe(true);
    expect(cluster.snapshotLink.finished).toBeGreaterThanOrEqual(1);
    expect(cluster.restores(cutOff).length).toBeGreaterThanOrEqual(1);
    expect(cluster.status(cutOff).firstIndex).toBeGreaterThan(1);
    // A read of an index retention deleted names the earliest one kept, never answers empty.
    const first = cluster.status(cutOff).firstIndex;
    const service = cluster.node(cutOff).node?.service;
    expect(() => service?.read(1 as Index, 1 << 20)).toThrow(expect.objectContaining({ name: 'OutOfRangeError', earliestOffset: first }));
    expect(service?.read(first, 1 << 20).records.length).toBeGreaterThan(0);
    await cluster.checkRecovery(5_000, 10_000);
  });
});

describe('snapshots encoded in slices while the node serves', () => {
  /** A broker state of a few dozen items (topics, offset runs): its encoding takes that many slices here. */
  async function brokerState(cluster: NodeCluster, leader: NodeId): Promise<void> {
    const broker = cluster.node(leader).node?.broker;
    if (broker === undefined) throw new Error('no leader');
    const created = Promise.all(['t1', 't2'].map((name) => broker.createTopic(name, 0, { timeoutMs: 2_000 })));
    expect(await cluster.runUntil(() => false, 500)).toBe(false);
    await created;
    // Bounded: 30 produce entries, each an offset run of its topic.
    for (let k = 0; k < 30; k++) {
      void broker.produce({ topic: k % 2 === 0 ? 't1' : 't2', producerId: 0, firstSequence: 0, messages: [{ key: new Uint8Array(0), headers: [], payload: Buffer.from(`m${k}`), timestampMs: 0 }] }, { timeoutMs: 2_000, acks: 'all' }).catch(() => undefined);
      await cluster.runFor(3);
    }
  }

  it('a node holds applies while it encodes a snapshot over many slices, and applies what committed meanwhile after it', async () => {
    const held: { id: string; index: number; ms: number }[] = [];
    const cluster = new NodeCluster({
      seed: 13,
      size: 3,
      snapshotEntries: 60,
      segmentBytes: 1024,
      retention: COMPACT_AT_ONCE,
      onNodeLog: (id, line) => {
        const m = /snapshot written through index (\d+) .*applies held (\d+) ms/.exec(line);
        if (m !== null) held.push({ id, index: Number(m[1]), ms: Number(m[2]) });
      },
    });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    await brokerState(cluster, cluster.leader() as NodeId);
    await appendAcked(cluster, 40);
    await cluster.runFor(200);
    // Two items a slice, a virtual ms apart: a state of some 35 items holds applies for over 10 ms,
    // while the appends above went on committing (acknowledged one after another).
    expect(held.length).toBeGreaterThanOrEqual(3);
    for (const h of held) expect(h.ms, JSON.stringify(h)).toBeGreaterThanOrEqual(10);
    // The simulator checked after every step that each node applied every entry once, in order,
    // and here that nodes applied through the same index hold the same state.
    await cluster.checkRecovery(5_000, 10_000);
  });

  it('a node that crashes while encoding a snapshot leaves none of it, and restarts from what it had', async () => {
    const cluster = new NodeCluster({ seed: 14, size: 3, snapshotEntries: 60, segmentBytes: 1024, retention: COMPACT_AT_ONCE });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const leader = cluster.leader() as NodeId;
    const follower = cluster.ids.find((id) => id !== leader) as NodeId;
    await brokerState(cluster, leader);
    const files = (): string[] => cluster.node(follower).fs.list(`/data/${follower}/snapshots`);
    const encoding = (): boolean => files().some((name) => name.endsWith('.tmp'));
    // Appends until the follower starts its snapshot (bounded by the appends allowed).
    for (let k = 0; k < 200 && !encoding(); k++) {
      cluster.append();
      await cluster.runUntil(encoding, 5);
    }
    expect(encoding()).toBe(true);
    const before = files().filter((name) => !name.endsWith('.tmp'));
    const encodingAt = cluster.appliedIndex(follower);
    // The snapshot just began: one slice of two items is written, the rest would take ~15 ms.
    await cluster.runFor(2);
    cluster.crash(follower, { tear: false });
    cluster.restart(follower);
    expect(await cluster.runUntil(() => cluster.raft(follower) !== null, 5_000)).toBe(true);
    expect(files()).toEqual(before);
    expect(cluster.restores(follower).map((r) => r.index)).not.toContain(encodingAt);
    await appendAcked(cluster, 5);
    await cluster.checkRecovery(5_000, 10_000);
  });
});

describe('retention over a long window', () => {
  it('under a steady load the log keeps being compacted as retention moves on, and the snapshots kept stay bounded', async () => {
    // Retention of 18 s of log time, a snapshot every 10 entries (1 s): the window spans about
    // twice the snapshots SNAPSHOTS_BETWEEN_MAX lets it keep, of which only a bounded,
    // spread-out few are kept.
    const cluster = new NodeCluster({ seed: 21, size: 3, snapshotEntries: 10, segmentBytes: 1024, retention: { hours: 0.005, bytes: Infinity, policy: RetentionPolicy.delete } });
    expect(await cluster.runUntil(() => cluster.leader() !== null, 5_000)).toBe(true);
    const firstIndexes: number[] = [];
    const snapshotFiles: number[] = [];
    // Bounded: 90 s of virtual time, an append every 100 ms.
    for (let second = 1; second <= 90; second++) {
      for (let k = 0; k < 10; k++) {
        cluster.append();
        await cluster.runFor(100);
      }
      if (second % 15 === 0) {
        const leader = cluster.leader();
        if (leader === null) continue;
        firstIndexes.push(cluster.status(leader).firstIndex);
        snapshotFiles.push(cluster.node(leader).fs.list(`/data/${leader}/snapshots`).filter((name) => name.endsWith('.snap')).length);
      }
    }
    console.log(`[retention] first index every 15 s: ${firstIndexes.join(', ')}; snapshot files: ${snapshotFiles.join(', ')}`);
    // Nothing goes before 18 s of log time has passed and the first clock entries dated the log.
    expect(firstIndexes.at(-1)).toBeGreaterThan(firstIndexes[1] ?? Infinity);
    expect(firstIndexes.at(-2)).toBeGreaterThan(1);
    for (const count of snapshotFiles) expect(count).toBeLessThanOrEqual(2 + 1 + SNAPSHOTS_BETWEEN_MAX);
    await cluster.checkRecovery(5_000, 10_000);
  }, 60_000);
});

describe('schedules the snapshot soak found', () => {
  it("a node catching up by entries while a leader's snapshot of the same index arrives does not write its own over it", async () => {
    // SIM_RUNS=300 found it: n1 wrote its own snapshot at 80 into the temp file the transfer
    // of the leader's snapshot at 80 held, and stopped on the store's assertion.
    const schedule = {
      seed: 21,
      proposeEveryMs: 7,
      steps: [
        { waitMs: 253, action: { kind: 'restart', node: 0 } },
        { waitMs: 0, action: { kind: 'slowDisk', node: 0, fsyncMaxMs: 40 } },
        { waitMs: 259, action: { kind: 'network', dropRate: 0, duplicateRate: 0.3, delayMaxMs: 30 } },
        { waitMs: 58, action: { kind: 'restart', node: 0 } },
        { waitMs: 226, action: { kind: 'crashLeader', tear: false, downMs: 0 } },
      ],
    } as const satisfies Schedule;
    const result = await runNodeSchedule({ size: 3, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: COMPACT_AT_ONCE } }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
  });

  it("a deposed leader resuming its snapshot stream after a new leader's stream gave its copy up is refused, and the follower does not stop", async () => {
    // The membership property (with snapshots) found it, fast-check seed 1441882333: n3 took
    // the new leader's snapshot, which gave the deposed leader's partial copy up; the deposed
    // leader, paused meanwhile, sent its next piece, and the receiver's assertion stopped n3
    // ("accept on a snapshot receiver that is aborted"). The promote finds no learner: an
    // ordinary 3-node schedule.
    const schedule = {
      seed: 2,
      proposeEveryMs: 6,
      steps: [
        { waitMs: 244, action: { kind: 'promote', learner: 0 } },
        { waitMs: 46, action: { kind: 'crashLeader', tear: true, downMs: 241 } },
        { waitMs: 296, action: { kind: 'pauseLeader', ms: 169 } },
      ],
    } as const satisfies Schedule;
    const result = await runNodeSchedule({ size: 3, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: COMPACT_AT_ONCE } }, schedule);
    expect(result.failure?.message ?? null).toBeNull();
    expect(result.snapshotsInstalled).toBeGreaterThan(0);
  });
});
