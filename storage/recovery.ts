import * as path from 'node:path';

import type { Index } from '../raft/index.js';
import { assert } from './assert.js';
import { CorruptRecordError, MissingSegmentError, StorageIoError, type RecordFault } from './errors.js';
import { INDEX_SUFFIX, indexFileName, parseSegmentFileName, Segment, SEGMENT_SUFFIX, segmentFileName, type SegmentContext } from './segment.js';
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
  /**
   * Damage that was not a torn tail, found and cut away with `onDamage: 'truncate'` (null
   * otherwise): the log now ends just before `fromIndex`.
   */
  readonly damage: LogDamage | null;
  /** The durable mark read from the state file: the log once held at least this much durably. */
  readonly durableMark: LogPosition;
  /**
   * The recovered log ends before the durable mark, or disagrees with it on the mark's
   * term, or damage was cut away: entries once durable are gone (a disk fault, not a power
   * failure). The node must not vote until a leader has repaired its log past the mark (and
   * past `damage.fromIndex`).
   */
  readonly lostEntries: boolean;
}

/** Damage recovery cut away: where it was found and everything discarded from there on. */
export interface LogDamage {
  /** The segment file the first damaged record is in (or, for a missing segment, would be). */
  readonly file: string;
  /** Where in `file` the damaged record starts (0 for a missing or unreadable file). */
  readonly byteOffset: number;
  /** The first entry discarded: the log now ends at fromIndex - 1. */
  readonly fromIndex: Index;
  readonly fault: RecordFault | 'missing-segment' | 'unreadable-segment';
  /** Bytes cut from `file`, from the damaged record to its last non-zero byte (0 when the file was discarded whole). */
  readonly cutBytes: number;
  /** Segment files discarded whole (an unreadable one included), by path, in index order. */
  readonly discardedSegments: readonly string[];
}

export interface RecoveredSegments {
  readonly segments: Segment[];
  readonly report: Omit<RecoveryReport, 'fresh' | 'durableMark' | 'lostEntries'>;
  /** A segment file was created or removed: the directory must be synced before it holds anything durable. */
  readonly createdSegment: boolean;
}

/** What recovery does with damage that is not a torn tail (see OpenLogOptions.onDamage). */
export type DamagePolicy = 'refuse' | 'truncate';

export interface RecoverOptions {
  readonly onDamage: DamagePolicy;
  /** See OpenLogOptions.restorePoint; null: none. */
  readonly restorePoint: LogPosition | null;
}

/**
 * Opens every segment in order: removes what a crash left below the compaction point,
 * checks the names form one contiguous run, opens sealed segments through their (checked,
 * maybe rebuilt) indexes, and scans the last segment record by record, cutting a torn
 * tail. Damage that is not a torn tail throws a typed error, or with `onDamage: 'truncate'`
 * ends the log just before the first damaged record: sealed segments are then verified
 * record by record (except those wholly at or below `restorePoint`, when the recovered log
 * holds it), everything from the damaged record on is discarded, and the report's `damage`
 * says exactly what.
 */
export async function recoverSegments(context: SegmentContext, state: PersistedState, options: RecoverOptions = { onDamage: 'refuse', restorePoint: null }): Promise<RecoveredSegments> {
  const { onDamage, restorePoint } = options;
  const deferThrough = onDamage === 'truncate' && restorePoint !== null ? restorePoint.index : 0;
  const first = await recoverOnce(context, state, onDamage, deferThrough);
  if (first.deferredSegments === 0 || restorePoint === null || holds(first.segments, state, restorePoint)) return first;
  // The caller will replay from before the point (it restores from an older state, or from
  // none), so the deferred segments must be verified after all: recover again without
  // deferring. What the first pass cut or removed is gone and stays reported.
  for (const segment of first.segments) segment.close();
  const second = await recoverOnce(context, state, onDamage, 0);
  return { ...second, report: mergedReport(first.report, second.report), createdSegment: first.createdSegment || second.createdSegment };
}

/** Whether the recovered segments hold `point` (or it is the compaction point). A read that finds damage says no. */
function holds(segments: readonly Segment[], state: PersistedState, point: LogPosition): boolean {
  if (point.index === state.compacted.index) return point.term === state.compacted.term;
  const holder = segments.find((segment) => point.index >= segment.firstIndex && point.index <= segment.lastIndex);
  if (holder === undefined) return false;
  try {
    return holder.term(point.index) === point.term;
  } catch (error) {
    // A bad index slot over a damaged record: the verifying pass finds and cuts it.
    if (error instanceof CorruptRecordError || error instanceof MissingSegmentError) return false;
    throw error;
  }
}

/** The report of a second, verifying recovery, with what the first one (deferring) already cut or removed. */
function mergedReport(first: RecoveredSegments['report'], second: RecoveredSegments['report']): RecoveredSegments['report'] {
  const cut = first.cutFromIndex !== null ? first : second;
  const damage = second.damage === null ? first.damage : { ...second.damage, discardedSegments: unique([...second.damage.discardedSegments, ...(first.damage?.discardedSegments ?? [])]) };
  return {
    cutTailBytes: cut.cutTailBytes,
    cutFromIndex: cut.cutFromIndex,
    cutFault: cut.cutFault,
    rebuiltIndexes: unique([...first.rebuiltIndexes, ...second.rebuiltIndexes]),
    removedSegments: [...first.removedSegments, ...second.removedSegments],
    damage,
  };
}

function unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}

/** One pass of recoverSegments: sealed segments wholly at or below `deferThrough` are not verified record by record. */
async function recoverOnce(context: SegmentContext, state: PersistedState, onDamage: DamagePolicy, deferThrough: number): Promise<RecoveredSegments & { readonly deferredSegments: number }> {
  const { fs, dir } = context;
  const names = fs.list(dir);
  const listed = new Set(names);
  const firsts = names
    .map(parseSegmentFileName)
    .filter((first): first is number => first !== null)
    .sort((a, b) => a - b);
  removeOrphanIndexes(context, names);
  const removedSegments = removeCompacted(context, firsts, state.compacted.index);
  const emptied = removeEmptiedByReset(context, firsts, state.compacted.index);
  if (emptied !== null) removedSegments.push(emptied);
  const empty = removeEmptyLast(context, firsts);
  if (empty !== null) removedSegments.push(empty);

  const expectedFirst = state.compacted.index + 1;
  let damage: LogDamage | null = null;
  if (firsts.length > 0 && firsts[0] !== expectedFirst) {
    if (onDamage === 'refuse') throw new MissingSegmentError(dir, expectedFirst, firsts[0] ?? null);
    const discarded = firsts.splice(0).map((first) => removeSegmentFiles(context, first));
    damage = { file: path.join(dir, segmentFileName(expectedFirst)), byteOffset: 0, fromIndex: expectedFirst as Index, fault: 'missing-segment', cutBytes: 0, discardedSegments: discarded };
  }

  const segments: Segment[] = [];
  const rebuiltIndexes: string[] = [];
  let deferredSegments = 0;
  /** The first index of a sealed segment found damaged, which is then recovered as the last one. */
  let damagedSealed: number | null = null;
  // Segments before the last must each hold exactly the run up to the next one's first index.
  for (let k = 0; k + 1 < firsts.length; k++) {
    const first = firsts[k];
    const next = firsts[k + 1];
    assert(first !== undefined && next !== undefined, () => `segment ${k + 1} of ${firsts.length} is not listed`);
    let opened: { segment: Segment; rebuilt: boolean };
    // Its entries will not be replayed: checked when read (or when its index is rebuilt).
    const deferred = next - 1 <= deferThrough;
    try {
      const indexListed = listed.has(indexFileName(first));
      opened = Segment.openSealed(context, first, next - 1, { verify: onDamage === 'truncate' && !deferred, indexListed });
    } catch (error) {
      const found = onDamage === 'truncate' ? damageOf(context, first, error) : null;
      if (found === null) throw error;
      // Keep what lies before the damage: this segment's good records (it becomes the last
      // one and is cut at its first bad record), or for a segment that cannot be read at all,
      // the segment before it.
      const unreadable = found.fault === 'unreadable-segment';
      damage = { ...found, discardedSegments: firsts.splice(unreadable ? k : k + 1).map((f) => removeSegmentFiles(context, f)) };
      if (unreadable) segments.pop()?.close();
      else damagedSealed = first;
      break;
    }
    segments.push(opened.segment);
    if (deferred) deferredSegments++;
    if (opened.rebuilt) rebuiltIndexes.push(opened.segment.indexPath);
  }

  // Bounded by the number of segments: each failed pass discards the last one.
  while (firsts.length > 0) {
    const lastFirst = firsts.at(-1);
    assert(lastFirst !== undefined, 'no last segment to recover');
    const before = segments.at(-1);
    const prevTerm = before === undefined ? state.compacted.term : before.term(lastFirst - 1);
    const damaged = damagedSealed === lastFirst;
    let last: LastSegment;
    try {
      last = await recoverLastSegment(context, { firstIndex: lastFirst, prevTerm, markIndex: state.mark.index, onDamage, damaged });
    } catch (error) {
      const found = onDamage === 'truncate' ? damageOf(context, lastFirst, error) : null;
      if (found === null || found.fault !== 'unreadable-segment') throw error;
      firsts.pop();
      damage = { ...found, discardedSegments: [removeSegmentFiles(context, lastFirst), ...(damage?.discardedSegments ?? [])] };
      segments.pop()?.close();
      continue;
    }
    segments.push(last.segment);
    if (last.damageCut !== null) {
      damage = damaged && damage !== null ? { ...damage, cutBytes: last.damageCut.cutBytes } : { ...last.damageCut, discardedSegments: damage?.discardedSegments ?? [] };
    }
    return { segments, report: { ...last.cut, rebuiltIndexes, removedSegments, damage }, createdSegment: damage !== null, deferredSegments };
  }
  const segment = Segment.create(context, expectedFirst);
  const report = { cutTailBytes: 0, cutFromIndex: null, cutFault: null, rebuiltIndexes, removedSegments, damage };
  return { segments: [segment], report, createdSegment: true, deferredSegments };
}

/**
 * The damage a failed open or read of segment `firstIndex` stands for, or null when the
 * error is not damage (a full disk while rebuilding an index is not a reason to discard data).
 */
function damageOf(context: SegmentContext, firstIndex: number, error: unknown): Omit<LogDamage, 'discardedSegments'> | null {
  const file = path.join(context.dir, segmentFileName(firstIndex));
  if (error instanceof CorruptRecordError) {
    return { file: error.file, byteOffset: error.byteOffset, fromIndex: error.expectedIndex as Index, fault: error.fault, cutBytes: 0 };
  }
  if (error instanceof MissingSegmentError) {
    const missing = path.join(context.dir, segmentFileName(error.expectedFirstIndex));
    return { file: missing, byteOffset: 0, fromIndex: error.expectedFirstIndex as Index, fault: 'missing-segment', cutBytes: 0 };
  }
  if (error instanceof StorageIoError && error.path === file && (error.operation === 'open' || error.operation === 'read' || error.operation === 'fstat')) {
    return { file, byteOffset: 0, fromIndex: firstIndex as Index, fault: 'unreadable-segment', cutBytes: 0 };
  }
  return null;
}

interface LastSegment {
  readonly segment: Segment;
  readonly cut: { cutTailBytes: number; cutFromIndex: Index | null; cutFault: RecordFault | null };
  /** Set when what was cut was damage rather than a torn tail (onDamage: 'truncate'). */
  readonly damageCut: Omit<LogDamage, 'discardedSegments'> | null;
}

async function recoverLastSegment(
  context: SegmentContext,
  options: {
    readonly firstIndex: number;
    readonly prevTerm: number;
    readonly markIndex: number;
    readonly onDamage: DamagePolicy;
    /** This segment was found damaged as a sealed one: whatever its scan stops at is damage, already reported. */
    readonly damaged: boolean;
  },
): Promise<LastSegment> {
  const { fs, dir, payloadBytesMax } = context;
  const { firstIndex, prevTerm, markIndex } = options;
  const filePath = path.join(dir, segmentFileName(firstIndex));
  const handle = fs.open(filePath, 'existing');
  let scan: ReturnType<typeof scanSegment>;
  try {
    scan = scanSegment({ fs, handle, firstIndex, prevTerm, payloadBytesMax });
  } catch (error) {
    fs.close(handle);
    throw error;
  }
  const segment = Segment.fromScan(context, firstIndex, handle, scan);
  const nothingCut = { cutTailBytes: 0, cutFromIndex: null, cutFault: null };
  if (scan.fault === null) return { segment, cut: nothingCut, damageCut: null };
  const dataEnd = nonZeroEnd(fs, handle, scan.validBytes);
  if (dataEnd === scan.validBytes && !options.damaged) {
    // Only zeros written ahead of the last record: a clean end, not a torn tail.
    fs.truncate(handle, scan.validBytes);
    await fs.fdatasync(handle);
    return { segment, cut: nothingCut, damageCut: null };
  }

  // A bad record with good ones after it is damage, unless it lies past the durable mark:
  // bytes never made durable may come back in any state after a power failure.
  const { byteOffset, expectedIndex, fault } = scan.fault;
  const isDamage = options.damaged || (expectedIndex <= markIndex && validRecordAfter({ fs, handle, fromOffset: byteOffset, payloadBytesMax }));
  if (isDamage && options.onDamage === 'refuse') {
    fs.close(handle);
    throw new CorruptRecordError(filePath, byteOffset, expectedIndex, fault);
  }
  fs.truncate(handle, scan.validBytes);
  // Durable before anything is appended after it, so the garbage can never come back.
  await fs.fdatasync(handle);
  const cutBytes = Math.max(dataEnd, byteOffset) - scan.validBytes;
  if (isDamage) return { segment, cut: nothingCut, damageCut: { file: filePath, byteOffset, fromIndex: expectedIndex as Index, fault, cutBytes } };
  return { segment, cut: { cutTailBytes: cutBytes, cutFromIndex: expectedIndex as Index, cutFault: fault }, damageCut: null };
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
  // An unreadable last segment (null) is not known to be empty: recovering it decides what it is.
  if (segmentSize(context, lastFirst) !== 0) return null;
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
 * resetToSnapshot empties the log's one segment, persists a compaction point at or past its
 * first index, and only then replaces the segment: a crash in between leaves that segment,
 * empty and wholly at or below the point, as the only one. Remove it (the caller then
 * creates the segment at the point). A non-empty one is left for the contiguity check to
 * report: entries recovery cannot place are never dropped silently. Mutates `firsts`.
 */
function removeEmptiedByReset(context: SegmentContext, firsts: number[], compactedIndex: number): string | null {
  const only = firsts[0];
  if (firsts.length !== 1 || only === undefined || only > compactedIndex) return null;
  if (segmentSize(context, only) !== 0) return null;
  firsts.pop();
  return removeSegmentFiles(context, only);
}

/** The size of a segment file, or null when it cannot be opened. */
function segmentSize(context: SegmentContext, firstIndex: number): number | null {
  try {
    const handle = context.fs.open(path.join(context.dir, segmentFileName(firstIndex)), 'existing');
    const size = context.fs.size(handle);
    context.fs.close(handle);
    return size;
  } catch (error) {
    if (error instanceof StorageIoError) return null;
    throw error;
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
    const first = firsts.shift();
    assert(first !== undefined, 'no compacted segment to remove');
    removed.push(removeSegmentFiles(context, first));
  }
  return removed;
}
