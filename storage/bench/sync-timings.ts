import * as path from 'node:path';

import type { FileHandle } from '../file-system.js';
import { NodeFileSystem } from '../node-file-system.js';
import { STATE_FILE_NAME } from '../state-file.js';
import { median } from './raw-sync.js';

/** One fdatasync as the log made it: when it was asked for and when it resolved (ms), and of which file. */
export interface SyncEvent {
  readonly startMs: number;
  readonly endMs: number;
  /** The state file's (the durable mark's), else a segment's. */
  readonly mark: boolean;
}

/**
 * Real files, recording every fdatasync while `recording` is set: the storage bench's
 * --group-timings, which splits a group's time between its two syncs and the work between
 * them.
 */
export class SyncTimingFileSystem extends NodeFileSystem {
  recording = false;
  readonly events: SyncEvent[] = [];

  override async fdatasync(handle: FileHandle): Promise<void> {
    const startMs = performance.now();
    await super.fdatasync(handle);
    this.record(handle, startMs);
  }

  /** A sync-mode group's data: its write and sync in one. */
  override async writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    const startMs = performance.now();
    await super.writeDurably(handle, data, position, zerosAfter);
    this.record(handle, startMs);
  }

  private record(handle: FileHandle, startMs: number): void {
    if (this.recording) this.events.push({ startMs, endMs: performance.now(), mark: path.basename(handle.path) === STATE_FILE_NAME });
  }
}

export interface GroupTimings {
  /** Groups seen: a mark sync that a data sync follows. */
  readonly groups: number;
  /** Medians, in microseconds. */
  readonly dataSyncMicros: number;
  readonly markSyncMicros: number;
  /** From a data sync's end to the mark sync's start: the loop's own work between the two. */
  readonly dataToMarkMicros: number;
  /**
   * From a mark sync's end to the next data sync's start: the acknowledgements, the appends
   * they release, and the next group's write (with closed-loop appenders, all of their CPU).
   */
  readonly markToDataMicros: number;
  /** How many syncs started before the one before them ended (groups that overlapped). */
  readonly overlapping: number;
}

/** The median of durations in ms, in microseconds. */
const medianMicros = (values: readonly number[]): number => median(values) * 1000;

/** The medians of a run's sync events, in the order they started. */
export function groupTimings(events: readonly SyncEvent[]): GroupTimings {
  const syncs = [...events].sort((a, b) => a.startMs - b.startMs);
  const dataToMark: number[] = [];
  const markToData: number[] = [];
  let overlapping = 0;
  for (let k = 1; k < syncs.length; k++) {
    const before = syncs[k - 1];
    const after = syncs[k];
    if (before === undefined || after === undefined) continue;
    if (after.startMs < before.endMs) overlapping++;
    else if (!before.mark && after.mark) dataToMark.push(after.startMs - before.endMs);
    else if (before.mark && !after.mark) markToData.push(after.startMs - before.endMs);
  }
  return {
    groups: markToData.length,
    dataSyncMicros: medianMicros(syncs.filter((one) => !one.mark).map((one) => one.endMs - one.startMs)),
    markSyncMicros: medianMicros(syncs.filter((one) => one.mark).map((one) => one.endMs - one.startMs)),
    dataToMarkMicros: medianMicros(dataToMark),
    markToDataMicros: medianMicros(markToData),
    overlapping,
  };
}
