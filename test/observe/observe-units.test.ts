import * as fs from 'node:fs';
import * as os from 'node:os';

import { describe, expect, it } from 'vitest';

import { index, nodeId, term, type Status } from '../../raft/index.js';
import { MemoryFileSystem, OpenMode } from '../../storage/index.js';
import type { NodeInspection, StorageStatus } from '../../src/node/index.js';
import { BoundedLabels, MeteredFileSystem, NodeMetrics, ProposalTimes, readiness } from '../../src/observe/index.js';

describe('ProposalTimes', () => {
  it('tells a follower its lag as the age of the oldest entry it lacks', () => {
    const times = new ProposalTimes(8);
    times.reset(10, 1_000);
    times.record(15, 2_000);
    times.record(20, 3_000);
    expect(times.lagSeconds(20, 20, 5_000)).toBe(0);
    // Entry 16 was proposed with the batch through 20, at 3 s.
    expect(times.lagSeconds(15, 20, 5_000)).toBe(2);
    // Entry 11 with the batch through 15, at 2 s.
    expect(times.lagSeconds(10, 20, 5_000)).toBe(3);
    // Before the leader's first record: at least since it began leading.
    expect(times.lagSeconds(3, 20, 5_000)).toBe(4);
  });

  it('keeps only the newest records, and ignores records that do not grow the log', () => {
    const times = new ProposalTimes(2);
    times.reset(1, 0);
    times.record(2, 1_000);
    times.record(2, 9_000);
    times.record(3, 2_000);
    // Record (1, 0 s) fell out of the ring: the oldest kept, (2, 1 s), bounds entry 2 from below.
    expect(times.lagSeconds(0, 3, 4_000)).toBe(3);
    expect(times.lagSeconds(2, 3, 4_000)).toBe(2);
  });
});

function status(over: Partial<Status>): Status {
  return {
    id: nodeId('n1'), role: 'follower', term: term(3), vote: null, leader: nodeId('n2'), commit: index(100), applied: index(100),
    firstIndex: index(1), lastIndex: index(100), snapshotIndex: index(0), votingBlocked: false, repairThrough: index(0), votingHeld: false, transferee: null,
    config: { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] }, configIndex: index(0), progress: null, ...over,
  };
}

describe('readiness', () => {
  it('is ready with a known leader and applied close to commit', () => {
    expect(readiness(status({ applied: index(95) }), 10).ready).toBe(true);
  });

  it('is not ready without a leader, while repairing, or far behind commit, and says why', () => {
    expect(readiness(status({ leader: null, role: 'preCandidate' }), 10)).toEqual({ ready: false, reason: 'no known leader (preCandidate in term 3)' });
    expect(readiness(status({ votingBlocked: true, repairThrough: index(80) }), 10).reason).toMatch(/repairing.*80/);
    expect(readiness(status({ votingHeld: true }), 10)).toEqual({ ready: false, reason: 'a new data directory: waiting for the other members to confirm it before this node votes (bootstrap check)' });
    expect(readiness(status({ applied: index(50) }), 10).reason).toMatch(/applied 50 is 50 entries behind commit 100/);
  });
});

describe('MeteredFileSystem', () => {
  it('reports each write, and each sync with the bytes written to that file since its previous sync', async () => {
    const written: number[] = [];
    const synced: number[] = [];
    let clockMs = 0;
    const fs = new MeteredFileSystem(new MemoryFileSystem(), { written: (b) => written.push(b), synced: (_s, b) => synced.push(b) }, () => (clockMs += 5));
    fs.mkdir('/d');
    const a = fs.open('/d/a', OpenMode.create);
    const b = fs.open('/d/b', OpenMode.create);
    fs.writeAt(a, new Uint8Array(100), 0);
    fs.writeAt(b, new Uint8Array(7), 0);
    fs.writeAt(a, new Uint8Array(20), 100);
    await fs.fdatasync(a);
    await fs.fdatasync(a);
    fs.fdatasyncNow(b);
    expect(written).toEqual([100, 7, 20]);
    expect(synced).toEqual([120, 0, 7]);
    expect(fs.size(a)).toBe(120);
  });

  it('passes a failed sync on as it failed and reports no sync for it', async () => {
    class FailingSync extends MemoryFileSystem {
      override fdatasync(): Promise<void> {
        return Promise.reject(new Error('EIO'));
      }
    }
    const synced: number[] = [];
    const fs = new MeteredFileSystem(new FailingSync(), { written: () => {}, synced: (_s, b) => synced.push(b) }, () => 0);
    fs.mkdir('/d');
    const a = fs.open('/d/a', OpenMode.create);
    fs.writeAt(a, new Uint8Array(10), 0);
    await expect(fs.fdatasync(a)).rejects.toThrow('EIO');
    expect(synced).toEqual([]);
  });
});

describe('NodeMetrics hot-path counters', () => {
  /** The value of each sample line of `text` whose name and labels start with `prefix`. */
  const samples = (text: string, prefix: string): Map<string, number> =>
    new Map(text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));

  it('adds the bytes written and the successful calls counted since the last scrape, and keeps the totals across scrapes', async () => {
    const metrics = new NodeMetrics({ processMetrics: false });
    const fs = metrics.wrapFileSystem(new MemoryFileSystem());
    fs.mkdir('/d');
    const file = fs.open('/d/a', OpenMode.create);
    fs.writeAt(file, new Uint8Array(100), 0);
    fs.writeAt(file, new Uint8Array(28), 100);
    for (let k = 0; k < 3; k++) metrics.probe.callEnded('append', metrics.probe.startMark(), null);
    metrics.probe.callEnded('ack', metrics.probe.startMark(), null);
    metrics.probe.callEnded('append', metrics.probe.startMark(), Object.assign(new Error('no'), { code: 'notLeader' }));
    const first = await metrics.metrics();
    expect(samples(first, 'quorumlog_storage_written_bytes_total').get('quorumlog_storage_written_bytes_total')).toBe(128);
    const requests = samples(first, 'quorumlog_requests_total');
    expect(requests.get('quorumlog_requests_total{call="append",code="ok"}')).toBe(3);
    expect(requests.get('quorumlog_requests_total{call="ack",code="ok"}')).toBe(1);
    expect(requests.get('quorumlog_requests_total{call="append",code="notLeader"}')).toBe(1);
    expect(requests.has('quorumlog_requests_total{call="produce",code="ok"}')).toBe(false);

    fs.writeAt(file, new Uint8Array(2), 0);
    metrics.probe.callEnded('append', metrics.probe.startMark(), null);
    metrics.probe.produced('t', 4, 40);
    metrics.probe.produced('t', 1, 10);
    const second = await metrics.metrics();
    expect(samples(second, 'quorumlog_storage_written_bytes_total').get('quorumlog_storage_written_bytes_total')).toBe(130);
    expect(samples(second, 'quorumlog_requests_total').get('quorumlog_requests_total{call="append",code="ok"}')).toBe(4);
    expect(samples(second, 'quorumlog_produced_messages_total').get('quorumlog_produced_messages_total{topic="t"}')).toBe(5);
    expect(samples(second, 'quorumlog_produced_bytes_total').get('quorumlog_produced_bytes_total{topic="t"}')).toBe(50);
  });
});

describe('BoundedLabels', () => {
  it('gives the first names their own value for good and folds the rest into one', () => {
    const labels = new BoundedLabels(2);
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((n) => labels.of(n))).toEqual(['a', 'b', BoundedLabels.OTHER, 'a', BoundedLabels.OTHER, 'b']);
  });
});

describe('NodeMetrics: snapshots, compaction and the disk guard', () => {
  it('reads the snapshot, first-index and guard gauges and the node-kept counts at scrape', async () => {
    let storage: StorageStatus = {
      firstIndex: index(41), snapshotIndex: index(40), snapshotAgeMs: 12_500, logBytes: 4096, snapshotBytes: 1024,
      disk: { usedBytes: 95, sizeBytes: 100 }, diskHighWatermarkPercent: 90, produceRefused: true,
      snapshotsWritten: 3, snapshotsInstalled: 1, logSegmentsDeleted: 7,
    };
    const node: NodeInspection = {
      status: () => status({}),
      onRoleChange: () => () => undefined,
      topics: () => [],
      groups: () => [],
      openTransactions: () => 0,
      proposedAtMs: () => null,
      storage: () => storage,
      httpAddressOf: () => null,
    };
    const metrics = new NodeMetrics({ processMetrics: false });
    metrics.attach(node, '/nonexistent/quorumlog-data');
    const values = async (): Promise<Map<string, number>> => {
      const names = new Set(['quorumlog_snapshot_index', 'quorumlog_snapshot_age_seconds', 'quorumlog_log_first_index', 'quorumlog_disk_guard_refusing', 'quorumlog_snapshots_written_total', 'quorumlog_snapshots_installed_total', 'quorumlog_log_segments_deleted_total']);
      const lines = (await metrics.metrics()).split('\n').filter((l) => names.has(l.slice(0, l.lastIndexOf(' '))));
      return new Map(lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
    };
    expect(Object.fromEntries(await values())).toEqual({
      quorumlog_snapshot_index: 40,
      quorumlog_snapshot_age_seconds: 12.5,
      quorumlog_log_first_index: 41,
      quorumlog_disk_guard_refusing: 1,
      quorumlog_snapshots_written_total: 3,
      quorumlog_snapshots_installed_total: 1,
      quorumlog_log_segments_deleted_total: 7,
    });
    storage = { ...storage, snapshotIndex: index(0), snapshotAgeMs: null, produceRefused: false, snapshotsWritten: 4 };
    const later = await values();
    expect(later.get('quorumlog_snapshot_index')).toBe(0);
    expect(later.get('quorumlog_snapshot_age_seconds')).toBe(0);
    expect(later.get('quorumlog_disk_guard_refusing')).toBe(0);
    expect(later.get('quorumlog_snapshots_written_total')).toBe(4);
  });

  it("reports the data directory's file system as statfs sees it", async () => {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/quorumlog-disk-gauges-`);
    const storage: StorageStatus = {
      firstIndex: index(1), snapshotIndex: index(0), snapshotAgeMs: null, logBytes: 0, snapshotBytes: 0,
      disk: null, diskHighWatermarkPercent: 90, produceRefused: false, snapshotsWritten: 0, snapshotsInstalled: 0, logSegmentsDeleted: 0,
    };
    const node: NodeInspection = { status: () => status({}), onRoleChange: () => () => undefined, topics: () => [], groups: () => [], openTransactions: () => 0, proposedAtMs: () => null, storage: () => storage, httpAddressOf: () => null };
    try {
      const metrics = new NodeMetrics({ processMetrics: false });
      metrics.attach(node, dir);
      const value = (text: string, name: string): number | undefined => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        return line === undefined ? undefined : Number(line.slice(name.length + 1));
      };
      const text = await metrics.metrics();
      const stats = fs.statfsSync(dir);
      expect(value(text, 'quorumlog_disk_size_bytes')).toBe(stats.blocks * stats.bsize);
      // Other work on the machine moves the free space a little between the two calls.
      expect(Math.abs((value(text, 'quorumlog_disk_free_bytes') ?? 0) - stats.bavail * stats.bsize)).toBeLessThan(256 * 1024 * 1024);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
