import type { Index, SnapshotMeta } from '../../raft/index.js';
import type { SegmentSpan } from '../../storage/index.js';
import type { DiskUsage } from './disk-guard.js';

/** What a node's disk holds and how full it is, for status and metrics; read at the moment asked. */
export interface StorageStatus {
  /** The first index the log still holds (entries below were compacted into a snapshot). */
  readonly firstIndex: Index;
  /** The newest snapshot's index; 0 when there is none. */
  readonly snapshotIndex: Index;
  /**
   * Milliseconds since the newest snapshot was written here, installed from the leader, or
   * (for the one a node started from) written to its file; null when there is none.
   */
  readonly snapshotAgeMs: number | null;
  /** Bytes of the log's segment files. */
  readonly logBytes: number;
  /** Bytes of the snapshot files (those being written or received included). */
  readonly snapshotBytes: number;
  /** The data directory's file system as last sampled by the disk guard; null before a sample. */
  readonly disk: DiskUsage | null;
  /** The disk guard's limit (percent used; 100: off). */
  readonly diskHighWatermarkPercent: number;
  /** The disk guard refuses new messages now. */
  readonly produceRefused: boolean;
  /** Counts since the process started. */
  readonly snapshotsWritten: number;
  readonly snapshotsInstalled: number;
  readonly logSegmentsDeleted: number;
}

/**
 * What a node remembers about its snapshots and compactions for status: the wall time of the
 * newest snapshot and counts since start. Fed by the node's snapshot and compaction hooks.
 */
export class StorageHistory {
  snapshotsWritten = 0;
  snapshotsInstalled = 0;
  logSegmentsDeleted = 0;
  /** The newest snapshot recorded and when (this node's clock, ms), or null. */
  private newest: { readonly index: Index; readonly atMs: number } | null = null;

  /** A snapshot was written here ('written'), installed from the leader ('installed') or loaded at start ('loaded', at its file's time). */
  snapshot(meta: SnapshotMeta, how: 'written' | 'installed' | 'loaded', atMs: number): void {
    if (how === 'written') this.snapshotsWritten++;
    if (how === 'installed') this.snapshotsInstalled++;
    if (this.newest === null || meta.index >= this.newest.index) this.newest = { index: meta.index, atMs };
  }

  /** Counts the segments a compaction removed: those present before that start below the log's first segment now. */
  compacted(before: readonly SegmentSpan[], after: readonly SegmentSpan[]): void {
    const firstKept = after[0]?.firstIndex ?? Infinity;
    this.logSegmentsDeleted += before.filter((span) => span.firstIndex < firstKept).length;
  }

  /** Milliseconds since the snapshot at `index` was recorded, or null if it is not the one recorded. */
  snapshotAgeMs(index: Index, nowMs: number): number | null {
    if (this.newest === null || this.newest.index !== index) return null;
    return Math.max(0, nowMs - this.newest.atMs);
  }
}

/** The sum of the segments' bytes: the log's size on disk. */
export function logBytes(spans: readonly SegmentSpan[]): number {
  let total = 0;
  for (const span of spans) total += span.bytes;
  return total;
}
