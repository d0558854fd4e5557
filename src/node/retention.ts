import type { SegmentSpan } from '../../storage/index.js';
import { RetentionPolicy, type RetentionConfig } from './config.js';

/** What retention reads of the broker's replicated state (every node's is the same at one index). */
export interface RetainedState {
  /** The latest leader time the log has carried (ms). */
  readonly nowMs: number;
  /** The highest log index applied at a log time before `timeMs`, or 0 if none is known to be. */
  logIndexBefore(timeMs: number): number;
  /** The lowest log index holding a message the broker still owes (Infinity: none). */
  lowestOwedLogIndex(): number;
  /** The lowest log index holding a message some consumer group has not acked past (Infinity: none). */
  lowestUnconsumedLogIndex(): number;
}

/** Why the log keeps what it keeps: each bound on how far it may be compacted. */
export interface RetentionFloor {
  /** Entries below this may be deleted; at and above it they are kept. */
  readonly keepFrom: number;
  /** Retention by time and size allows deleting below this. */
  readonly retentionAllows: number;
  readonly owedFrom: number;
  readonly unconsumedFrom: number;
}

/**
 * The lowest log index retention keeps. An entry may go once it is past retention (older
 * than `hours` by the log's clock, or in a segment the size limit no longer has room for),
 * and never while the broker still owes its message (delayed, unacknowledged, retrying, in an
 * open transaction); under keep-unconsumed, also not while a consumer group of its topic has
 * not acked past it. Only whole segments below the newest snapshot are ever deleted: the
 * caller takes the minimum with that.
 */
export function retentionFloor(config: RetentionConfig, state: RetainedState, segments: readonly SegmentSpan[]): RetentionFloor {
  // Zero hours keeps nothing for time's sake, not even entries no clock has dated yet.
  const byTime = config.hours === 0 ? Infinity : state.logIndexBefore(state.nowMs - config.hours * 3_600_000) + 1;
  const bySize = sizeFloor(config.bytes, segments);
  const retentionAllows = Math.max(byTime, bySize);
  const owedFrom = state.lowestOwedLogIndex();
  const unconsumedFrom = config.policy === RetentionPolicy.keepUnconsumed ? state.lowestUnconsumedLogIndex() : Infinity;
  return { keepFrom: Math.min(retentionAllows, owedFrom, unconsumedFrom), retentionAllows, owedFrom, unconsumedFrom };
}

/**
 * The first index of the oldest segments that fit within `bytesMax`, counted from the newest
 * (the active segment always counts); 1 when everything fits.
 */
function sizeFloor(bytesMax: number, segments: readonly SegmentSpan[]): number {
  if (!Number.isFinite(bytesMax)) return 1;
  let kept = 0;
  // Bounded by the number of segments.
  for (let k = segments.length - 1; k >= 0; k--) {
    const segment = segments[k] as SegmentSpan;
    kept += segment.bytes;
    if (kept > bytesMax && k < segments.length - 1) return (segments[k + 1] as SegmentSpan).firstIndex;
  }
  return 1;
}
