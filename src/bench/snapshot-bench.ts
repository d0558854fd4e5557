import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LocalCluster } from './local-cluster.js';
import { runInstall, type InstallResult } from './snapshot-install.js';
import { runRestartCases, type RestartCase } from './snapshot-restart.js';
import { runRetentionDisk, type RetentionResult } from './retention-disk.js';
import { runEncodeCases, type EncodeResult } from './snapshot-encode.js';
import { runThroughputPairs, type ThroughputResult } from './snapshot-throughput.js';

export const SNAPSHOT_BENCH_CASES = ['restart', 'retention', 'install', 'throughput', 'encode'] as const;
export type SnapshotBenchCase = (typeof SNAPSHOT_BENCH_CASES)[number];

export interface SnapshotBenchConfig {
  readonly cases: readonly SnapshotBenchCase[];
  /** --snapshot-entries of the nodes "with snapshots" (the node default, 10,000). */
  readonly snapshotEntries: number;
  /** --snapshot-entries standing for "no snapshots": more entries than any run here writes. */
  readonly noSnapshotEntries: number;
  readonly restart: { readonly historyRecords: readonly number[]; readonly recordBytes: number };
  readonly retention: {
    readonly durationMs: number;
    readonly sampleMs: number;
    readonly ratePerSecond: number;
    readonly messageBytes: number;
    readonly retentionHours: number;
    readonly segmentBytes: number;
  };
  readonly install: { readonly entries: number; readonly messageBytes: number; readonly segmentBytes: number };
  readonly throughput: { readonly pairs: number; readonly inflight: number; readonly sizeBytes: number; readonly warmupMs: number; readonly durationMs: number; readonly scrapeMs: number };
  /** In process: states of this many in-flight deliveries and offset runs, each snapshot written `rounds` times. */
  readonly encode: { readonly deliveries: number; readonly runs: number; readonly rounds: number };
  /** Where the clusters' data and the disk probes go (created if missing). */
  readonly dataParent: string;
}

export interface SnapshotBenchReport {
  readonly version: 1;
  readonly kind: 'snapshots';
  readonly startedAt: string;
  readonly config: Omit<SnapshotBenchConfig, 'dataParent'>;
  readonly host: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly loadBefore: number; readonly loadAfter: number };
  readonly restart: {
    readonly cases: readonly RestartCase[];
    /** Largest over smallest history's time to the first append, with snapshots (goal <= 1.5) and without. */
    readonly growthWithSnapshots: number | null;
    readonly growthWithoutSnapshots: number | null;
  } | null;
  readonly retention: RetentionResult | null;
  readonly install: InstallResult | null;
  readonly throughput: ThroughputResult | null;
  readonly encode: EncodeResult | null;
}

export interface SnapshotBenchHooks {
  readonly onPhase?: (phase: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * The snapshot and retention cases, each on clusters of its own under one temp directory,
 * in the order given. Every process started here is stopped and the directory removed, on
 * an error too.
 */
export async function runSnapshotBench(config: SnapshotBenchConfig, hooks: SnapshotBenchHooks = {}): Promise<SnapshotBenchReport> {
  const loadBefore = os.loadavg()[0] ?? 0;
  fs.mkdirSync(config.dataParent, { recursive: true });
  const root = fs.mkdtempSync(path.join(config.dataParent, 'quorumlog-snapbench-'));
  const has = (c: SnapshotBenchCase): boolean => config.cases.includes(c) && hooks.signal?.aborted !== true;
  const phase = hooks.onPhase ?? ((): void => undefined);
  try {
    const restart = has('restart') ? restartSection(await runRestartCases({ root, ...config.restart, snapshotEntries: config.snapshotEntries, noSnapshotEntries: config.noSnapshotEntries, onPhase: phase, ...signalOf(hooks) })) : null;
    const retention = has('retention') ? await retentionCase(config, root, hooks) : null;
    const install = has('install') ? await installCase(config, root, hooks) : null;
    const throughput = has('throughput')
      ? await runThroughputPairs({ root, ...config.throughput, snapshotEntries: config.snapshotEntries, noSnapshotEntries: config.noSnapshotEntries, onPhase: phase, ...signalOf(hooks) })
      : null;
    const encode = has('encode') ? await encodeCase(config, root, hooks) : null;
    const { dataParent: _dataParent, ...shownConfig } = config;
    return {
      version: 1,
      kind: 'snapshots',
      startedAt: new Date().toISOString(),
      config: shownConfig,
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadBefore, loadAfter: os.loadavg()[0] ?? 0 },
      restart,
      retention,
      install,
      throughput,
      encode,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function signalOf(hooks: SnapshotBenchHooks): { signal?: AbortSignal } {
  return hooks.signal === undefined ? {} : { signal: hooks.signal };
}

function restartSection(cases: readonly RestartCase[]): NonNullable<SnapshotBenchReport['restart']> {
  const growth = (snapshots: boolean): number | null => {
    const mine = cases.filter((c) => c.snapshots === snapshots).sort((a, b) => a.historyRecords - b.historyRecords);
    const small = mine[0];
    const large = mine.at(-1);
    return small === undefined || large === undefined || mine.length < 2 || small.firstAppendMs <= 0 ? null : large.firstAppendMs / small.firstAppendMs;
  };
  return { cases, growthWithSnapshots: growth(true), growthWithoutSnapshots: growth(false) };
}

async function retentionCase(config: SnapshotBenchConfig, root: string, hooks: SnapshotBenchHooks): Promise<RetentionResult> {
  const r = config.retention;
  hooks.onPhase?.(`retention: ${r.ratePerSecond} msg/s of ${r.messageBytes} B for ${(r.durationMs / 1000).toFixed(0)} s, retention ${r.retentionHours} h, ${r.segmentBytes} B segments`);
  const cluster = await LocalCluster.start({
    nodes: 3,
    dataRoot: path.join(root, 'retention'),
    flush: 'sync',
    nodeFlags: ['--snapshot-entries', String(config.snapshotEntries), '--retention-hours', String(r.retentionHours), '--segment-bytes', String(r.segmentBytes)],
  });
  try {
    const result = await runRetentionDisk({ cluster, ...r, onProgress: (text) => hooks.onPhase?.(`retention: ${text}`), ...signalOf(hooks) });
    if (cluster.failure !== null) throw new Error(cluster.failure);
    return result;
  } finally {
    await cluster.stop();
    fs.rmSync(path.join(root, 'retention'), { recursive: true, force: true });
  }
}

async function installCase(config: SnapshotBenchConfig, root: string, hooks: SnapshotBenchHooks): Promise<InstallResult> {
  const i = config.install;
  // Retention 0: whatever a snapshot covers may go, so the leader's log moves past the stopped follower.
  const cluster = await LocalCluster.start({
    nodes: 3,
    dataRoot: path.join(root, 'install'),
    flush: 'sync',
    nodeFlags: ['--snapshot-entries', String(config.snapshotEntries), '--retention-hours', '0', '--segment-bytes', String(i.segmentBytes)],
  });
  try {
    const result = await runInstall({ cluster, probeDir: root, entries: i.entries, messageBytes: i.messageBytes, ...(hooks.onPhase === undefined ? {} : { onPhase: hooks.onPhase }) });
    if (cluster.failure !== null) throw new Error(cluster.failure);
    return result;
  } finally {
    await cluster.stop();
    fs.rmSync(path.join(root, 'install'), { recursive: true, force: true });
  }
}

function encodeCase(config: SnapshotBenchConfig, root: string, hooks: SnapshotBenchHooks): Promise<EncodeResult> {
  const e = config.encode;
  return runEncodeCases({
    root,
    shapes: [
      { kind: 'deliveries', size: e.deliveries },
      { kind: 'runs', size: e.runs },
    ],
    rounds: e.rounds,
    ...(hooks.onPhase === undefined ? {} : { onPhase: hooks.onPhase }),
    ...signalOf(hooks),
  });
}
