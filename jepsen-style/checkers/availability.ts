import type { FaultWindow, Op } from '../history.js';
import { nothingToCheck, type CheckerResult } from './checker-result.js';

export interface AvailabilityInput {
  readonly ops: readonly Op[];
  readonly faults: readonly FaultWindow[];
  /** When the workload started and stopped issuing (ms since the run started). */
  readonly workloadStartMs: number;
  readonly workloadEndMs: number;
  /** Whether the cluster took writes again after everything was healed. */
  readonly recovered: boolean;
  readonly recoveryNote: string;
}

/** Per fault kind: ops invoked inside its windows, the share that succeeded, and the longest window without a successful write. */
export interface KindAvailability {
  readonly kind: string;
  readonly windows: number;
  readonly faultMs: number;
  readonly ops: number;
  readonly ok: number;
  readonly okFraction: number;
  readonly longestNoWriteMs: number;
}

/**
 * availability: a measure, not a safety property. It fails only when nothing succeeded at
 * all or the cluster did not take writes again once every fault was healed (liveness).
 */
export function checkAvailability(input: AvailabilityInput): CheckerResult & { readonly perKind: readonly KindAvailability[] } {
  const writes = input.ops;
  if (writes.length === 0) return { ...nothingToCheck('availability', 'no operations'), perKind: [] };
  const okTimes = writes.filter((op) => op.outcome === 'ok').map((op) => op.completeMs).sort((a, b) => a - b);
  const overall = longestGap(okTimes, input.workloadStartMs, input.workloadEndMs);
  const kinds = [...new Set(input.faults.map((f) => f.kind))].sort();
  const perKind = kinds.map((kind): KindAvailability => {
    const windows = input.faults.filter((f) => f.kind === kind);
    const inside = writes.filter((op) => windows.some((w) => op.invokeMs >= w.startMs && op.invokeMs <= w.endMs));
    const ok = inside.filter((op) => op.outcome === 'ok').length;
    return {
      kind,
      windows: windows.length,
      faultMs: windows.reduce((sum, w) => sum + (w.endMs - w.startMs), 0),
      ops: inside.length,
      ok,
      okFraction: inside.length === 0 ? 0 : round3(ok / inside.length),
      longestNoWriteMs: Math.max(0, ...windows.map((w) => longestGap(okTimes, w.startMs, w.endMs))),
    };
  });
  const ok = okTimes.length;
  return {
    name: 'availability',
    valid: ok > 0 && input.recovered,
    counts: {
      appends: writes.length,
      ok,
      failed: writes.filter((op) => op.outcome === 'fail').length,
      unknown: writes.filter((op) => op.outcome === 'info').length,
      okFractionPermille: Math.round((1000 * ok) / writes.length),
      longestNoWriteMs: overall,
    },
    examples: input.recovered ? [] : [{ recovery: input.recoveryNote }],
    note: `${(100 * ok / writes.length).toFixed(1)}% of appends acknowledged; longest window without an acknowledged append ${overall} ms; ${input.recoveryNote}`,
    perKind,
  };
}

/** Longest stretch of [fromMs, toMs] containing none of the sorted times. */
export function longestGap(sortedTimes: readonly number[], fromMs: number, toMs: number): number {
  let previous = fromMs;
  let longest = 0;
  for (const t of sortedTimes) {
    if (t < fromMs) continue;
    if (t > toMs) break;
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return Math.max(longest, toMs - previous);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
