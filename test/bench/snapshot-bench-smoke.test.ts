import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import type { SnapshotBenchReport } from '../../src/bench/snapshot-bench.js';
import { diskTrend } from '../../src/bench/retention-disk.js';
import { metricValue } from '../../src/bench/snapshot-throughput.js';
import { median, slope } from '../../src/bench/stats.js';
import { ensureBuilt } from '../harness/build.js';
import { runCli } from '../harness/cli.js';
import { LONG_RUN } from '../harness/long-run.js';

/**
 * `quorumlog bench --case snapshots` at a tiny size: the shape of its output and JSON, not
 * its speed; every node it started is gone and its data removed afterwards.
 */
describe('quorumlog bench --case snapshots (smoke)', () => {
  beforeAll(async () => {
    await ensureBuilt();
  });

  // Every case takes about 30 s even this small: npm test runs the InstallSnapshot case, the
  // one that streams a snapshot between real processes; npm run test:long runs all four.
  it.skipIf(!LONG_RUN)('runs every case small, prints each figure beside its reference, writes JSON and stops every node', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-snapbench-smoke-'));
    try {
      const json = path.join(dir, 'out.json');
      const args = [
        'bench', '--case', 'snapshots', '--snapshot-entries', '300', '--restart-history', '600,1200',
        '--retention-duration', '4s', '--retention-rate', '100', '--retention-hours', '0.0005', '--segment-bytes', '16384', '--sample', '1s',
        '--install-entries', '2000', '--pairs', '1', '--duration', '1s', '--warmup', '0.3s', '--inflight', '8', '--size', '128',
        '--encode-deliveries', '3000', '--encode-runs', '3000', '--encode-rounds', '1',
        '--dir', dir, '--json', json,
      ];
      const result = await runCli(args, { timeoutMs: 170_000 });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^restart to serving/m);
      expect(result.stdout).toMatch(/largest \/ smallest history, first append: with snapshots [\d.]+x \(goal <= 1\.50x\), without [\d.]+x/);
      expect(result.stdout).toMatch(/^disk use under a steady load/m);
      expect(result.stdout).toMatch(/transfer \/ disk [\d.]+x/);
      expect(result.stdout).toMatch(/median ratio of 1 pairs: [\d.]+x/);

      const report = JSON.parse(fs.readFileSync(json, 'utf8')) as SnapshotBenchReport;
      expect(report).toMatchObject({ version: 1, kind: 'snapshots' });
      expect(report.config.cases).toEqual(['restart', 'retention', 'install', 'throughput', 'encode']);

      const restart = report.restart;
      expect(restart?.cases.map((c) => [c.historyRecords, c.snapshots])).toEqual([[600, true], [600, false], [1200, true], [1200, false]]);
      for (const c of restart?.cases ?? []) {
        expect(c.firstAppendMs).toBeGreaterThan(0);
        expect(c.readyMs).toBeGreaterThan(0);
        expect(c.lastIndex).toBeGreaterThanOrEqual(c.historyRecords);
        // With snapshots on, the node had written one before it was killed; without, none.
        if (c.snapshots) expect(c.snapshotIndex).toBeGreaterThan(0);
        else expect(c.snapshotIndex).toBe(0);
      }
      expect(restart?.growthWithSnapshots).toBeGreaterThan(0);

      const retention = report.retention;
      expect(retention?.produced).toBeGreaterThan(0);
      expect(retention?.samples.length).toBeGreaterThanOrEqual(3);
      expect(retention?.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
      for (const n of retention?.nodes ?? []) expect(n.maxBytes).toBeGreaterThanOrEqual(n.lastBytes);

      const install = report.install;
      expect(install?.snapshotBytes).toBeGreaterThan(0);
      expect(install?.leaderFirstIndex).toBeGreaterThan(install?.followerLastIndex ?? Infinity);
      expect(install?.megabytesPerSecond).toBeGreaterThan(0);
      expect(install?.disk.bytes).toBe(install?.snapshotBytes);
      expect(install?.ratioToDisk).toBeGreaterThan(0);

      const pair = report.throughput?.pairs[0];
      expect(pair?.withSnapshots.snapshots).toBe(true);
      expect(pair?.withoutSnapshots.snapshots).toBe(false);
      expect(pair?.withSnapshots.messagesPerSecond).toBeGreaterThan(0);
      expect(pair?.withSnapshots.eventLoop.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
      for (const n of pair?.withSnapshots.eventLoop ?? []) expect(n.samples).toBeGreaterThan(0);
      expect(report.throughput?.medianRatio).toBe(pair?.ratio);

      expect(report.encode?.cases.map((c) => c.shape.kind)).toEqual(['deliveries', 'runs']);

      // The run's own temp folder was removed.
      expect(fs.readdirSync(dir)).toEqual(['out.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('the encode case: the event loop while a snapshot of a big state is written in slices, beside an idle window and the one-shot encoding', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-snapbench-encode-'));
    try {
      const json = path.join(dir, 'out.json');
      const args = ['bench', '--case', 'snapshots', '--cases', 'encode', '--encode-deliveries', '20000', '--encode-runs', '20000', '--encode-rounds', '2', '--dir', dir, '--json', json];
      const result = await runCli(args, { timeoutMs: 60_000 });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^taking a snapshot, in this process/m);
      expect(result.stdout).toMatch(/20,000 in-flight deliveries, [\d.]+ MB .*: max delay [\d.]+ ms while taking it \(longest slice [\d.]+ ms\), [\d.]+ ms busy in 2 ms slices, [\d.]+ ms idle; one-shot encoding [\d.]+ ms/);
      const encode = (JSON.parse(fs.readFileSync(json, 'utf8')) as SnapshotBenchReport).encode;
      expect(encode?.cases.map((c) => [c.shape.kind, c.rounds.length])).toEqual([['deliveries', 2], ['runs', 2]]);
      for (const c of encode?.cases ?? []) {
        // 20,000 deliveries are 33 bytes each, 20,000 runs 24: the payload is at least that.
        expect(c.payloadBytes).toBeGreaterThan(c.shape.size * 24);
        for (const r of c.rounds) expect(r.slices).toBeGreaterThanOrEqual(1);
      }
      expect(fs.readdirSync(dir)).toEqual(['out.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 70_000);

  it('the InstallSnapshot case: a follower behind a compacted leader is sent the snapshot, timed against the disk', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-snapbench-install-'));
    try {
      const json = path.join(dir, 'out.json');
      const args = ['bench', '--case', 'snapshots', '--cases', 'install', '--snapshot-entries', '300', '--segment-bytes', '16384', '--install-entries', '2000', '--dir', dir, '--json', json];
      const result = await runCli(args, { timeoutMs: 90_000 });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/transfer \/ disk [\d.]+x/);
      expect(result.stdout).toMatch(/received whole and synced in [\d.]+ ms, [\d.]+ MB\/s; then loaded in [\d.]+ ms/);
      const install = (JSON.parse(fs.readFileSync(json, 'utf8')) as SnapshotBenchReport).install;
      expect(install?.snapshotBytes).toBeGreaterThan(0);
      // The two parts of the transfer add up to it.
      expect((install?.receiveMs ?? NaN) + (install?.restoreMs ?? NaN)).toBeCloseTo(install?.transferMs ?? NaN, 6);
      expect(install?.leaderFirstIndex).toBeGreaterThan(install?.followerLastIndex ?? Infinity);
      expect(install?.megabytesPerSecond).toBeGreaterThan(0);
      expect(fs.readdirSync(dir)).toEqual(['out.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 100_000);

  it('refuses an unknown case in one line', async () => {
    const result = await runCli(['bench', '--case', 'snapshots', '--cases', 'restart,compaction']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--cases takes restart, retention, install, throughput, encode, not "compaction"/);
  });
});

describe('snapshot bench arithmetic', () => {
  it('slope and median', () => {
    expect(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }])).toBeCloseTo(2);
    expect(slope([{ x: 1, y: 1 }])).toBe(0);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([])).toBe(0);
  });

  it('calls a directory flat when its second half stops growing, and not when it grows', () => {
    const grows = Array.from({ length: 10 }, (_, k) => ({ atMs: k * 1000, bytes: k * 10_000_000 }));
    expect(diskTrend('n1', grows, 1024 * 1024)).toMatchObject({ firstBytes: 0, maxBytes: 90_000_000, lastBytes: 90_000_000, flat: false });
    const levels = Array.from({ length: 10 }, (_, k) => ({ atMs: k * 1000, bytes: k < 5 ? k * 10_000_000 : 40_000_000 + (k % 2) * 1_000_000 }));
    expect(diskTrend('n1', levels, 1024 * 1024).flat).toBe(true);
  });

  it('reads an unlabelled metric from Prometheus text', () => {
    const text = '# HELP x\nnodejs_eventloop_lag_max_seconds 0.0123\nquorumlog_snapshots_written_total 4\n';
    expect(metricValue(text, 'nodejs_eventloop_lag_max_seconds')).toBe(0.0123);
    expect(metricValue(text, 'quorumlog_snapshots_written_total')).toBe(4);
    expect(metricValue(text, 'quorumlog_missing')).toBeNull();
  });
});
