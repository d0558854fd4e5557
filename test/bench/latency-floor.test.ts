import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { importBuilt } from '../harness/build.js';
import { runCli } from '../harness/cli.js';
import { tempDir } from '../harness/temp-dir.js';
import { waitFor } from '../harness/wait-for.js';

type FloorModule = typeof import('../../src/bench/index.js');
type ProcessModule = typeof import('../../src/process/index.js');

/**
 * A short real run of the latency floor: three child processes on loopback, real fdatasyncs.
 * It runs the built module (dist/), whose child entry is the compiled latency-floor-child.js,
 * and asks dist's own process registry which children are still alive.
 */
describe('measureLatencyFloor (real processes, 0.3 s)', () => {
  let floor: FloorModule;
  let processes: ProcessModule;

  beforeAll(async () => {
    floor = await importBuilt<FloorModule>('src', 'bench', 'index.js');
    processes = await importBuilt<ProcessModule>('src', 'process', 'index.js');
  });

  it('measures rounds with ordered percentiles, then stops its children and removes its files', async () => {
    const dir = tempDir('quorumlog-floor-test-');
    const result = await floor.measureLatencyFloor({ durationMs: 300, fsyncsPerNode: 1, recordBytes: 1024, dir });
    expect(result.rounds).toBeGreaterThan(0);
    expect(result.p50Ms).toBeGreaterThan(0);
    expect(result.p50Ms).toBeLessThanOrEqual(result.p90Ms);
    expect(result.p90Ms).toBeLessThanOrEqual(result.p99Ms);
    // Linux: the children's CPU from /proc, counted in 10 ms ticks over 0.3 s.
    expect(result.nodesCpuMicrosPerRound).not.toBeNull();
    expect(result.nodesCpuMicrosPerRound).toBeGreaterThanOrEqual(0);
    expect(processes.liveChildPids()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('in alternating windows beside a cluster (--floor-pairs): one round of each order, ratios of the p50s, everything stopped and removed', async () => {
    const dir = tempDir('quorumlog-floor-test-');
    const report = await floor.runFloorPairs({ api: 'broker', sizeBytes: 1024, flush: 'sync', durableMark: 'ordered', rounds: 2, windowMs: 200, warmupMs: 100, dataParent: dir });
    expect(report.pairs.map((p) => p.oursFirst)).toEqual([true, false]);
    expect(report.fsyncsPerNode).toBe(2); // the ordered mark under sync flush: data, then mark
    for (const pair of report.pairs) {
      expect(pair.oursMessages).toBeGreaterThan(0);
      expect(pair.floorRounds).toBeGreaterThan(0);
      expect(pair.oursP50Ms).toBeLessThanOrEqual(pair.oursP90Ms);
      expect(pair.floorP50Ms).toBeLessThanOrEqual(pair.floorP90Ms);
      expect(pair.ratio).toBeCloseTo(pair.oursP50Ms / pair.floorP50Ms, 9);
      // The share of the host's CPU time the hypervisor took in the round's two windows.
      if (process.platform === 'linux') expect(pair.steal).toBeGreaterThanOrEqual(0);
      if (process.platform === 'linux') expect(pair.steal).toBeLessThanOrEqual(1);
    }
    if (process.platform === 'linux') expect(report.windowCpu?.steal).toBeGreaterThanOrEqual(0);
    expect(floor.formatFloorPairs(report)).toMatch(/^ {2}round 1 \(ours first\): .*: [\d.]+x, host CPU stolen \d+%$/m);
    expect(report.ratio.count).toBe(2);
    expect(report.ratio.median).toBe(Math.max(...report.pairs.map((p) => p.ratio)));
    expect(floor.formatFloorPairs(report)).toMatch(/^ack p50 over the floor's: median [\d.]+x \(95% interval [\d.]+-[\d.]+, 2 rounds\); target at most 1\.25x: /m);
    expect(processes.liveChildPids()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('quorumlog bench --floor-pairs (the README\'s command, shortened) prints each round and the median ratio, writes its JSON, and leaves nothing behind', async () => {
    const dir = tempDir('quorumlog-floor-test-');
    const json = path.join(dir, 'pairs.json');
    const result = await runCli(['bench', '--floor-pairs', '1', '--floor', '100ms', '--warmup', '0', '--api', 'broker', '--dir', dir, '--json', json], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}round 1 \(ours first\): ack p50 [\d.]+ ms .*: [\d.]+x, host CPU stolen \d+%$/m);
    expect(result.stdout).toMatch(/^ack p50 over the floor's: median [\d.]+x \(95% interval [\d.]+-[\d.]+, 1 rounds\); target at most 1\.25x: /m);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { kind: string; api: string; pairs: unknown[] };
    expect(report).toMatchObject({ kind: 'floor-pairs', api: 'broker' });
    expect(report.pairs).toHaveLength(1);
    // The floor's files and the nodes' data went under --dir, and were removed.
    expect(fs.readdirSync(dir)).toEqual(['pairs.json']);
  });

  it('stops its children and removes its files when aborted mid-run', async () => {
    const dir = tempDir('quorumlog-floor-test-');
    const abort = new AbortController();
    const run = floor.measureLatencyFloor({ durationMs: 30_000, fsyncsPerNode: 0, recordBytes: 128, dir, signal: abort.signal });
    // Once the three nodes have made their files (a data and a mark file each), abort.
    const nodeFiles = (): number => fs.readdirSync(dir).reduce((sum, run) => sum + fs.readdirSync(path.join(dir, run)).length, 0);
    await waitFor(() => nodeFiles() === 6, { timeoutMs: 20_000, what: 'the floor to start its three nodes' });
    abort.abort();
    await expect(run).rejects.toThrow(/abort/i);
    expect(processes.liveChildPids()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
