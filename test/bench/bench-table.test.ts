import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { benchTable, type BenchReport, type FloorPairsReport } from '../../src/bench/index.js';
import { benchReport, CONFIG, latency } from './report-fixture.js';

const FLOOR = { p50Ms: 0.8, p90Ms: 1.25, p99Ms: 3, rounds: 3_456, nodesCpuMicrosPerRound: 400, fsyncsPerNode: 2 } as const;

/** A run of `config` at `msgPerSecond` with ack p99 `p99Ms` (p50 a quarter of it) and the worst node's event-loop max. */
function run(config: Partial<BenchReport['config']>, msgPerSecond: number, p99Ms: number, loopMaxMs = 5, endToEndP99Ms: number | null = null, steal: number | null = null): BenchReport {
  const base = benchReport(null, p99Ms / 4);
  return {
    ...base,
    host: { ...base.host, windowCpu: steal === null ? null : { busy: 1 - steal, idle: 0, steal } },
    config: { ...CONFIG, ...config },
    produce: { ...base.produce, messagesPerSecond: msgPerSecond, endToEnd: endToEndP99Ms === null ? { ...latency(1), count: 0 } : latency(endToEndP99Ms / 4) },
    ratios: { ...base.ratios, produceToSingleSync: msgPerSecond / 5_000 },
    nodes: base.nodes.map((node, k) => ({ ...node, eventLoop: { samples: 100, maxMs: k === 1 ? loopMaxMs : 1, p99Ms: 1, stalls: [], runQueueMsPerSecond: null } })),
  };
}

/** A --floor-pairs run through the broker at 1 KiB whose rounds read `ratios`, with the median's interval given. */
function floorPairs(ratios: readonly number[], low: number, high: number, options: Partial<Pick<FloorPairsReport, 'api' | 'sizeBytes' | 'fsyncsPerNode'>> = {}): FloorPairsReport {
  const sorted = [...ratios].sort((a, b) => a - b);
  return {
    version: 1,
    kind: 'floor-pairs',
    api: 'broker',
    sizeBytes: 1024,
    fsyncsPerNode: 2,
    windowMs: 2_000,
    warmupMs: 3_000,
    ...options,
    pairs: ratios.map((ratio, k) => ({ oursFirst: k % 2 === 0, oursP50Ms: ratio * 0.8, oursP90Ms: ratio, oursMessages: 1_000, floorP50Ms: 0.8, floorP90Ms: 1, floorRounds: 2_000, ratio, steal: 0.07 })),
    ratio: { count: ratios.length, median: sorted[Math.floor(sorted.length / 2)] ?? 0, low, high, confidence: 0.95 },
    target: 1.25,
    windowCpu: { busy: 0.5, idle: 0.43, steal: 0.07 },
  };
}

const rowOf = (table: string, start: string): string[] => {
  const line = table.split('\n').find((l) => l.startsWith(`| ${start} |`));
  expect(line, `a row for ${start}`).toBeDefined();
  return (line ?? '').split(' | ').map((cell) => cell.replace(/^\| |\s\|$/g, ''));
};

describe('benchTable (the issue\'s targets from bench --json runs)', () => {
  it('puts each run in its case\'s row, in order, and counts the runs that met the target', () => {
    const table = benchTable([
      { name: 'a.json', report: run({ api: 'log', inflight: 64 }, 31_000, 7.5, 9.5, null, 0.031) },
      { name: 'b.json', report: run({ api: 'log', inflight: 64 }, 28_000, 7.0, 12.25, null, 0.452) },
      { name: 'c.json', report: run({ api: 'log', inflight: 64 }, 32_000, 8.5) },
    ]);
    const row = rowOf(table, 'log, 1 KiB x 64');
    expect(row[1]).toBe('>= 30,000 msg/s, ack p99 <= 8 ms');
    expect(row[2]).toBe('31,000 (p99 7.5 ms) / 28,000 (p99 7.0 ms) / 32,000 (p99 8.5 ms)');
    expect(row[3]).toBe('1 of 3');
    expect(row[4]).toBe('9.5 / 12.3 / 5.0'); // the worst node's event-loop max, ms
    expect(row[5]).toBe('600 / 600 / 600'); // the three nodes' CPU per message, us
    expect(row[6]).toBe('6.2x / 5.6x / 6.4x'); // msg/s over the disk's one-record fdatasync rate
    expect(row[7]).toBe('3% / 45% / -'); // the host's CPU time the hypervisor took in the window; - where unread
  });

  it('holds 1 KiB x 1 through the broker to its same-run floor, and the consumer case to its end-to-end p99', () => {
    const floorRun = { ...run({ inflight: 1 }, 600, 4), floor: FLOOR }; // ack p50 1 ms against a 0.8 ms floor
    const consumed = run({ inflight: 64, endToEnd: true }, 23_000, 9, 5, 14);
    const table = benchTable([{ name: 'x1.json', report: floorRun }, { name: 'e2e.json', report: consumed }]);
    const x1 = rowOf(table, 'broker, 1 KiB x 1');
    expect(x1[1]).toBe('ack p50 <= 1.25x the same-run floor');
    expect(x1[2]).toBe('1.00 ms / floor 0.80 = 1.25x');
    expect(x1[3]).toBe('1 of 1');
    const e2e = rowOf(table, 'broker, 1 KiB x 64, a consumer group acking each');
    expect(e2e[2]).toBe('23,000 (end-to-end p99 14.0 ms)');
    expect(e2e[3]).toBe('1 of 1');
  });

  it('holds 1 KiB x 1 through the broker to the floor in paired windows (--floor-pairs): met when the median\'s whole interval is', () => {
    const table = benchTable([
      { name: 'pairs-1.json', report: floorPairs([1.42, 1.35, 1.55, 1.3, 1.5], 1.3, 1.55) },
      { name: 'pairs-2.json', report: floorPairs([1.1, 1.2, 1.15, 1.05, 1.24], 1.05, 1.24) },
      { name: 'pairs-log.json', report: floorPairs([1.2], 1.2, 1.2, { api: 'log' }) },
      { name: 'pairs-lagging.json', report: floorPairs([1.2], 1.2, 1.2, { fsyncsPerNode: 1 }) },
    ]);
    const paired = rowOf(table, 'broker, 1 KiB x 1, paired with the floor (--floor-pairs)');
    expect(paired[1]).toBe('median of ack p50 / floor p50 <= 1.25x, its 95% interval too');
    expect(paired[2]).toBe('1.42x (1.30-1.55, 5 rounds) / 1.15x (1.05-1.24, 5 rounds)');
    expect(paired[3]).toBe('1 of 2');
    expect(paired.slice(4)).toEqual(['-', '-', '-', '7% / 7%']); // steal over each run's rounds
    // It follows the single runs' row of the same case.
    const lines = table.split('\n');
    expect(lines.findIndex((l) => l.startsWith('| broker, 1 KiB x 1, paired'))).toBe(2);
    expect(table).toContain('Not a target case (the targets are with flush sync, acks all, the ordered mark, one producer, 3 nodes): pairs-log.json, pairs-lagging.json');
  });

  it('lists the runs that are no target case, and leaves out cases without runs', () => {
    const table = benchTable([
      { name: 'lagging.json', report: run({ api: 'log', inflight: 64, durableMark: 'lagging' }, 35_000, 6) },
      { name: 'small.json', report: run({ api: 'broker', inflight: 64, sizeBytes: 128 }, 46_000, 5) },
      { name: 'log-reader.json', report: run({ api: 'log', inflight: 64, endToEnd: true }, 31_000, 6) }, // the log's end-to-end reader costs throughput: no target is stated with it
    ]);
    expect(rowOf(table, 'broker, 128 B x 64')[3]).toBe('1 of 1');
    expect(table).not.toContain('| log, 1 KiB x 64 |');
    expect(table).toContain('Not a target case (the targets are with flush sync, acks all, the ordered mark, one producer, 3 nodes): lagging.json, log-reader.json');
  });
});

describe('scripts/bench-table.mjs (README: npm run bench:table -- runs/*.json)', () => {
  const script = fileURLToPath(new URL('../../scripts/bench-table.mjs', import.meta.url));

  it('prints the table of the JSON files it is given, and exits 2 with one line on no file or a file that is not a run', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-table-'));
    try {
      const file = path.join(dir, 'log-1k-x64-1.json');
      fs.writeFileSync(file, JSON.stringify(run({ api: 'log', inflight: 64 }, 31_000, 7.5)));
      const ok = spawnSync(process.execPath, [script, file], { encoding: 'utf8' });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('| log, 1 KiB x 64 | >= 30,000 msg/s, ack p99 <= 8 ms | 31,000 (p99 7.5 ms) | 1 of 1 |');
      const none = spawnSync(process.execPath, [script], { encoding: 'utf8' });
      expect(none.status).toBe(2);
      expect(none.stderr.trim().split('\n')).toHaveLength(1);
      const bogus = path.join(dir, 'bogus.json');
      fs.writeFileSync(bogus, '{"hello": 1}');
      const wrong = spawnSync(process.execPath, [script, bogus], { encoding: 'utf8' });
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toBe(`bench-table: ${bogus}: not a file quorumlog bench --json wrote\n`);
      const paired = path.join(dir, 'pairs.json');
      fs.writeFileSync(paired, JSON.stringify(floorPairs([1.42, 1.35, 1.55], 1.35, 1.55)));
      const both = spawnSync(process.execPath, [script, file, paired], { encoding: 'utf8' });
      expect(both.status, both.stderr).toBe(0);
      expect(both.stdout).toContain('| broker, 1 KiB x 1, paired with the floor (--floor-pairs) | median of ack p50 / floor p50 <= 1.25x, its 95% interval too | 1.42x (1.35-1.55, 3 rounds) | 0 of 1 |');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
