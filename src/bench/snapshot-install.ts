import * as path from 'node:path';

import { LogClient, type NodeStatus } from '../client/index.js';
import { sleep, waitUntil } from '../process/index.js';
import { hasFileEndingWith } from './data-dir-bytes.js';
import { probeSequentialWrite, type SequentialWriteResult } from './disk-probe.js';
import { fillTopic } from './log-fill.js';
import type { LocalCluster } from './local-cluster.js';
import { nowMs } from './payload.js';
import { ratio } from './stats.js';

export interface InstallResult {
  readonly follower: string;
  /** Produce requests (one message each, from its own idempotent producer) written while it was down. */
  readonly entriesWhileDown: number;
  /** The follower's last index when stopped, and the leader's first index once compacted past it. */
  readonly followerLastIndex: number;
  readonly leaderFirstIndex: number;
  readonly snapshotIndex: number;
  readonly snapshotBytes: number;
  /** From the follower's spawn to its "serving clients" line. */
  readonly readyMs: number;
  /** From the first temp file of the transfer in its snapshot folder (null: not seen) to the "installed" line. */
  readonly transferMs: number | null;
  /**
   * Of transferMs, from the temp file's first sight to its rename into place (the snapshot
   * received whole and synced: what is set against the disk); null when not seen.
   */
  readonly receiveMs: number | null;
  /** Of transferMs, from that rename to the "installed" line: the log reset and the state loaded. */
  readonly restoreMs: number | null;
  /** From its ready line to the "installed" line: includes the leader noticing it (a heartbeat). */
  readonly readyToInstalledMs: number;
  readonly megabytesPerSecond: number;
  /** The same disk writing a file of the snapshot's size (1 MiB writes, one fdatasync), in the same run. */
  readonly disk: SequentialWriteResult;
  /** Transfer MB/s over the disk's sequential MB/s. */
  readonly ratioToDisk: number | null;
}

export interface InstallOptions {
  readonly cluster: LocalCluster;
  /** Where the disk probe writes (the nodes' file system). */
  readonly probeDir: string;
  readonly entries: number;
  readonly messageBytes: number;
  readonly onPhase?: (phase: string) => void;
}

const FILL_TIMEOUT_MS = 30 * 60_000;
const COMPACTION_WAIT_MS = 120_000;
const INSTALL_WAIT_MS = 300_000;
/** How often the follower's snapshot folder is looked at for the transfer's temp file. */
const TEMP_POLL_MS = 2;
const INSTALLED_LINE = /installed snapshot (\d+) \(term \d+, (\d+) bytes\)/;

/**
 * A follower behind a compacted leader: one follower is stopped, `entries` one-message
 * Produce requests, each from its own idempotent producer, go to the other two (each leaves a
 * producer in the broker state that the snapshot carries, which the trim keeps), the
 * leader snapshots and deletes its log below, and the follower is started again; the leader
 * then has to send it the snapshot. Timed from the transfer's temp file appearing on the
 * follower to its "installed snapshot" line, and set against the disk writing a file of
 * the same size in the same run.
 */
export async function runInstall(options: InstallOptions): Promise<InstallResult> {
  const { cluster } = options;
  const client = new LogClient({ brokers: cluster.clientAddresses });
  try {
    const statuses = await client.statusAll();
    const follower = statuses.find((s): s is NodeStatus & { address: string } => 'role' in s && s.role !== 'leader')?.id ?? cluster.ids.at(-1) ?? 'n3';
    const followerLastIndex = Math.max(0, ...statuses.map((s) => ('lastIndex' in s ? s.lastIndex : 0)));
    options.onPhase?.(`install: ${follower} stopped, ${options.entries.toLocaleString('en-US')} produce requests to the others`);
    await cluster.stopNode(follower, 'term');
    const topic = `install-${Date.now()}`;
    await client.createTopic(topic);
    await fillTopic({ brokers: cluster.clientAddresses, topic, requests: options.entries, sizeBytes: options.messageBytes, timeoutMs: FILL_TIMEOUT_MS });
    options.onPhase?.('install: waiting for the leader to compact its log past the stopped follower');
    const leader = await waitUntil(
      async () => {
        const s = await client.status();
        return s.role === 'leader' && s.firstIndex > followerLastIndex + 1 ? s : undefined;
      },
      { timeoutMs: COMPACTION_WAIT_MS, intervalMs: 200, what: `the leader's log to start after index ${followerLastIndex + 1}` },
    );
    options.onPhase?.(`install: starting ${follower} again`);
    const snapshotDir = path.join(cluster.dataDirOf(follower), 'snapshots');
    const spawnMs = nowMs();
    let installed: { atMs: number; index: number; bytes: number } | null = null;
    const starting = cluster.startNode(follower);
    const unsubscribe = cluster.processOf(follower)?.onLine((line) => {
      const match = INSTALLED_LINE.exec(line);
      if (match !== null && installed === null) installed = { atMs: nowMs(), index: Number(match[1]), bytes: Number(match[2]) };
    });
    let tempSeenMs: number | null = null;
    let renamedMs: number | null = null;
    let readyAtMs: number | null = null;
    void starting.then(() => (readyAtMs = nowMs()), () => undefined);
    try {
      const deadlineMs = nowMs() + INSTALL_WAIT_MS;
      // Bounded by the deadline; polls often so the temp file's first sight is within a few ms.
      while (installed === null || readyAtMs === null) {
        if (nowMs() > deadlineMs) throw new Error(`${follower} did not install a snapshot within ${INSTALL_WAIT_MS} ms`);
        if (cluster.failure !== null) throw new Error(cluster.failure);
        if (tempSeenMs === null && installed === null && hasFileEndingWith(snapshotDir, '.tmp')) tempSeenMs = nowMs();
        else if (tempSeenMs !== null && renamedMs === null && !hasFileEndingWith(snapshotDir, '.tmp')) renamedMs = nowMs();
        await sleep(TEMP_POLL_MS);
      }
    } finally {
      unsubscribe?.();
    }
    const done: { atMs: number; index: number; bytes: number } = installed;
    const ready: number = readyAtMs;
    const transferMs = tempSeenMs === null ? null : done.atMs - tempSeenMs;
    // The rename may fall between two polls and the "installed" line in the same one: then it is at that line.
    const receivedAtMs = tempSeenMs === null ? null : (renamedMs ?? done.atMs);
    const receiveMs = tempSeenMs === null || receivedAtMs === null ? null : receivedAtMs - tempSeenMs;
    const restoreMs = receivedAtMs === null ? null : done.atMs - receivedAtMs;
    const readyToInstalledMs = done.atMs - ready;
    const megabytesPerSecond = done.bytes / 1e6 / ((receiveMs ?? readyToInstalledMs) / 1000);
    options.onPhase?.(`install: writing ${done.bytes.toLocaleString('en-US')} bytes to the disk for the reference`);
    const disk = probeSequentialWrite({ dir: options.probeDir, bytes: done.bytes });
    return {
      follower,
      entriesWhileDown: options.entries,
      followerLastIndex,
      leaderFirstIndex: leader.firstIndex,
      snapshotIndex: done.index,
      snapshotBytes: done.bytes,
      readyMs: ready - spawnMs,
      transferMs,
      receiveMs,
      restoreMs,
      readyToInstalledMs,
      megabytesPerSecond,
      disk,
      ratioToDisk: ratio(megabytesPerSecond, disk.megabytesPerSecond),
    };
  } finally {
    await client.close();
  }
}
