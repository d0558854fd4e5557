import * as fs from 'node:fs';
import * as path from 'node:path';

import { LogClient } from '../client/index.js';
import { waitUntil } from '../process/index.js';
import { newestSnapshotFileIndex } from './data-dir-bytes.js';
import { fillLog } from './log-fill.js';
import { LocalCluster } from './local-cluster.js';
import { nowMs } from './payload.js';

/** One restart: a one-node cluster filled with `historyRecords`, killed, and started again. */
export interface RestartCase {
  /** Snapshots every `snapshotEntries` (true), or an interval no run reaches (false). */
  readonly snapshots: boolean;
  readonly snapshotEntries: number;
  readonly historyRecords: number;
  readonly recordBytes: number;
  /** Time the fill took (plain appends, acks all). */
  readonly fillMs: number;
  /** The node's log and newest snapshot file when it was killed. */
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly logBytes: number;
  readonly snapshotBytes: number;
  /** From spawning the process to its "serving clients" line. */
  readonly readyMs: number;
  /** From spawning the process to the first append it acknowledged (it must also have elected itself). */
  readonly firstAppendMs: number;
}

export interface RestartOptions {
  readonly root: string;
  readonly historyRecords: readonly number[];
  readonly recordBytes: number;
  readonly snapshotEntries: number;
  /** The interval that stands for "no snapshots": larger than any history here. */
  readonly noSnapshotEntries: number;
  readonly onPhase?: (phase: string) => void;
  readonly signal?: AbortSignal;
}

const FILL_TIMEOUT_MS = 30 * 60_000;
/**
 * A lone node elects itself after one election timeout, randomized between 1x and 2x: at
 * the default 0.5 s that jitter would swamp the differences measured here, so the restart
 * cases run with 30-60 ms (10 ms ticks, 3 of them).
 */
const RESTART_ELECTION_FLAGS = ['--tick-ms', '10', '--election-ticks', '3', '--heartbeat-ticks', '1'] as const;
const FIRST_APPEND_TIMEOUT_MS = 5 * 60_000;

/**
 * Restart time against history: for each history size, with snapshots and without, a fresh
 * one-node cluster is filled with plain appends (one log entry each), killed with SIGKILL (a
 * clean stop would write a snapshot at shutdown, also in the "without" case), and started on
 * the same data directory; the clock runs from the spawn to the first acknowledged append.
 */
export async function runRestartCases(options: RestartOptions): Promise<RestartCase[]> {
  const cases: RestartCase[] = [];
  for (const records of options.historyRecords) {
    for (const snapshots of [true, false]) {
      if (options.signal?.aborted === true) return cases;
      const snapshotEntries = snapshots ? options.snapshotEntries : options.noSnapshotEntries;
      options.onPhase?.(`restart: ${records.toLocaleString('en-US')} records of history, ${snapshots ? `a snapshot every ${snapshotEntries.toLocaleString('en-US')} entries` : 'no snapshots'}`);
      cases.push(await restartOnce({ root: options.root, records, recordBytes: options.recordBytes, snapshots, snapshotEntries }));
    }
  }
  return cases;
}

async function restartOnce(options: { readonly root: string; readonly records: number; readonly recordBytes: number; readonly snapshots: boolean; readonly snapshotEntries: number }): Promise<RestartCase> {
  const dataRoot = fs.mkdtempSync(path.join(options.root, 'restart-'));
  const cluster = await LocalCluster.start({ nodes: 1, dataRoot, flush: 'sync', nodeFlags: ['--snapshot-entries', String(options.snapshotEntries), ...RESTART_ELECTION_FLAGS] });
  const client = new LogClient({ brokers: cluster.clientAddresses, timeoutMs: 1_000, connectTimeoutMs: 200, retryBackoff: { initialMs: 5, maxMs: 20 } });
  try {
    const fillStartMs = nowMs();
    await fillLog({ brokers: cluster.clientAddresses, records: options.records, sizeBytes: options.recordBytes, timeoutMs: FILL_TIMEOUT_MS });
    const fillMs = nowMs() - fillStartMs;
    const before = await client.status();
    const snapshotIndex = newestSnapshotFileIndex(cluster.dataDirOf('n1'));
    await cluster.stopNode('n1', 'kill');
    const spawnMs = nowMs();
    const ready = cluster.startNode('n1').then(() => nowMs() - spawnMs);
    // Awaited below; a failed start also shows as no append in time.
    ready.catch(() => undefined);
    const record = new Uint8Array(options.recordBytes).fill(0x63);
    // Bounded by the deadline; each attempt is bounded by the client's 1 s budget.
    const firstAppendMs = await waitUntil(
      async () => {
        await client.append(record);
        return nowMs() - spawnMs;
      },
      { timeoutMs: FIRST_APPEND_TIMEOUT_MS, intervalMs: 5, what: 'the restarted node to acknowledge an append' },
    );
    if (cluster.failure !== null) throw new Error(cluster.failure);
    return {
      snapshots: options.snapshots,
      snapshotEntries: options.snapshotEntries,
      historyRecords: options.records,
      recordBytes: options.recordBytes,
      fillMs,
      lastIndex: before.lastIndex,
      snapshotIndex,
      logBytes: before.logBytes,
      snapshotBytes: before.snapshotBytes,
      readyMs: await ready,
      firstAppendMs,
    };
  } finally {
    await client.close();
    await cluster.stop();
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}
