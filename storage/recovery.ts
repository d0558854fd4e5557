import * as path from 'node:path';

import type { Index } from '../raft/types.js';
import { CorruptRecordError, MissingSegmentError, type RecordFault } from './errors.js';
import { INDEX_SUFFIX, parseSegmentFileName, Segment, SEGMENT_SUFFIX, segmentFileName, type SegmentContext } from './segment.js';
import { nonZeroEnd, scanSegment, validRecordAfter } from './segment-scan.js';
import type { LogPosition, PersistedState } from './state-file.js';

/** What open found and did. Plain data: the node layer logs it and acts on `lostEntries`. */
export interface RecoveryReport {
  /** True when the directory held no log: one was created. */
  readonly fresh: boolean;
  /**
   * Bytes of torn or checksum-failing records cut from the end of the last segment, up to
   * the last non-zero byte: zeros after it are space written ahead (preallocation), which
   * is removed too but not counted (a torn record's own trailing zeros cannot be told from it).
   */
  readonly cutTailBytes: number;
  /** The index the first cut record should have had, or null if nothing was cut. */
  readonly cutFromIndex: Index | null;
  /** Why the first cut record failed, or null if nothing was cut. */
  readonly cutFault: RecordFault | null;
  /** Index files found missing or stale and rebuilt from their segments. */
  readonly rebuiltIndexes: readonly string[];
  /**
   * Segments removed: those below the compaction point left behind by a compaction that a
   * crash interrupted, and an empty last segment (see recoverSegments).
   */
  readonly removedSegments: readonly string[];
  /** The durable mark read from the state file: the log once held at least this much durably. */
  readonly durableMark: LogPosition;
  /**
   * The recovered log ends before the durable mark, or disagrees with it on the mark's
   * term: entries once durable are gone (a disk fault, not a power failure). The node must
   * not vote until a leader has repaired its log past the mark.
   */
  readonly lostEntries: boolean;
}

export interface RecoveredSegments {
  readonly segments: Segment[];
  readonly report: Omit<RecoveryReport, 'fresh' | 'durableMark' | 'lostEntries'>;
  /** A segment file was created: the directory must be synced before it holds anything durable. */
  readonly createdSegment: boolean;
}

/**
 * Opens every segment in order: removes what a crash left below the compaction point,
 * checks the names form one contiguous run, opens sealed segments through their (checked,
 * maybe rebuilt) indexes, and scans the last segment record by record, cutting a torn
 * tail. Damage that is not a torn tail throws a typed error.
 */
export async function recoverSegments(context: SegmentContext, state: PersistedState): Promise<RecoveredSegments> {
  const { fs, dir } = context;
  const names = fs.list(dir);
  const firsts = names
    .map(parseSegmentFileName)
    .filter((first): first is number => first !== null)
    .sort((a, b) => a - b);
  removeOrphanIndexes(context, names);
  const removedSegments = removeCompacted(context, firsts, state.compacted.index);
  const empty = removeEmptyLast(context, firsts);
  if (empty !== null) removedSegments.push(empty);

  const expectedFirst = state.compacted.index + 1;
  if (firsts.length === 0) {
    const segment = Segment.create(context, expectedFirst);
    const report = { cutTailBytes: 0, cutFromIndex: null, cutFault: null, rebuiltIndexes: [], removedSegments };
    return { segments: [segment], report, createdSegment: true };
  }
  if (firsts[0] !== expectedFirst) throw new MissingSegmentError(dir, expectedFirst, firsts[0] ?? null);

  const segments: Segment[] = [];
  const rebuiltIndexes: string[] = [];
  for (let k = 0; k + 1 < firsts.length; k++) {
    const first = firsts[k] ?? 0;
    const { segment, rebuilt } = Segment.openSealed(context, first, (firsts[k + 1] ?? 0) - 1);
    segments.push(segment);
    if (rebuilt) rebuiltIndexes.push(segment.indexPath);
  }
  const lastFirst = firsts.at(-1) ?? expectedFirst;
  const prevTerm = segments.length === 0 ? state.compacted.term : segments.at(-1)?.term(lastFirst - 1) ?? 0;
  const last = await recoverLastSegment(context, lastFirst, prevTerm, state.mark.index);
  segments.push(last.segment);
  const report = { ...last.cut, rebuiltIndexes, removedSegments };
  return { segments, report, createdSegment: false };
}

async function recoverLastSegment(
  context: SegmentContext,
  firstIndex: number,
  prevTerm: number,
  markIndex: number,
): Promise<{ segment: Segment; cut: { cutTailBytes: number; cutFromIndex: Index | null; cutFault: RecordFault | null } }> {
  const { fs, dir, payloadBytesMax } = context;
  const filePath = path.join(dir, segmentFileName(firstIndex));
  const handle = fs.open(filePath, 'existing');
  const scan = scanSegment({ fs, handle, firstIndex, prevTerm, payloadBytesMax });
  const segment = Segment.fromScan(context, firstIndex, handle, scan);
  const nothingCut = { cutTailBytes: 0, cutFromIndex: null, cutFault: null };
  if (scan.fault === null) return { segment, cut: nothingCut };
  const dataEnd = nonZeroEnd(fs, handle, scan.validBytes);
  if (dataEnd === scan.validBytes) {
    // Only zeros written ahead of the last record: a clean end, not a torn tail.
    fs.truncate(handle, scan.validBytes);
    await fs.fdatasync(handle);
    return { segment, cut: nothingCut };
  }

  // A bad record with good ones after it is damage, unless it lies past the durable mark:
  // bytes never made durable may come back in any state after a power failure.
  const { byteOffset, expectedIndex, fault } = scan.fault;
  if (expectedIndex <= markIndex && validRecordAfter({ fs, handle, fromOffset: byteOffset, payloadBytesMax })) {
    fs.close(handle);
    throw new CorruptRecordError(filePath, byteOffset, expectedIndex, fault);
  }
  const cutTailBytes = dataEnd - scan.validBytes;
  fs.truncate(handle, scan.validBytes);
  // Durable before anything is appended after it, so the garbage can never come back.
  await fs.fdatasync(handle);
  return { segment, cut: { cutTailBytes, cutFromIndex: expectedIndex as Index, cutFault: fault } };
}

/**
 * A last segment with no bytes holds nothing, but its name may have reached the disk while
 * the segment before it did not finish its sync (in sync mode a roll creates the next file
 * and syncs the sealed one in the flush loop, before the new file's first write): remove it,
 * so that the one before is recovered as the last segment, torn tail and all. Mutates
 * `firsts`; returns the removed file's path.
 */
function removeEmptyLast(context: SegmentContext, firsts: number[]): string | null {
  const lastFirst = firsts.at(-1);
  if (firsts.length < 2 || lastFirst === undefined) return null;
  const dataPath = path.join(context.dir, segmentFileName(lastFirst));
  const handle = context.fs.open(dataPath, 'existing');
  const size = context.fs.size(handle);
  context.fs.close(handle);
  if (size > 0) return null;
  firsts.pop();
  return removeSegmentFiles(context, lastFirst);
}

/** Unlinks a segment file and its index file, if any (durable after syncDir); returns the segment's path. */
function removeSegmentFiles(context: SegmentContext, firstIndex: number): string {
  const dataPath = path.join(context.dir, segmentFileName(firstIndex));
  const indexPath = dataPath.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
  context.fs.remove(dataPath);
  if (context.fs.list(context.dir).includes(path.basename(indexPath))) context.fs.remove(indexPath);
  return dataPath;
}

/** Index files are caches: one without its segment is left over from a removal. */
function removeOrphanIndexes(context: SegmentContext, names: readonly string[]): void {
  const present = new Set(names);
  for (const name of names) {
    if (!name.endsWith(INDEX_SUFFIX)) continue;
    const dataName = name.slice(0, -INDEX_SUFFIX.length) + SEGMENT_SUFFIX;
    if (!present.has(dataName)) context.fs.remove(path.join(context.dir, name));
  }
}

/**
 * Compaction persists its point first and removes segments after, so a crash in between
 * leaves segments wholly below the point: remove them now. Mutates `firsts`.
 */
function removeCompacted(context: SegmentContext, firsts: number[], compactedIndex: number): string[] {
  const removed: string[] = [];
  // Bounded by the number of segments.
  while (firsts.length >= 2 && (firsts[1] ?? Infinity) <= compactedIndex + 1) {
    removed.push(removeSegmentFiles(context, firsts.shift() ?? 0));
  }
  return removed;
}
