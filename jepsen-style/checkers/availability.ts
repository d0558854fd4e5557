import type { FaultWindow, Op } from '../history.js';
import { EXAMPLES_MAX, nothingToCheck, type CheckerResult } from './checker-result.js';

export interface AvailabilityInput {
  readonly ops: readonly Op[];
  readonly faults: readonly FaultWindow[];
  /** When the workload started and stopped issuing (ms since the run started). */
  readonly workloadStartMs: number;
  readonly workloadEndMs: number;
  /** Whether the cluster took writes again after everything was healed. */
  readonly recovered: boolean;
  readonly recoveryNote: string;
  /**
   * The longest window without an acknowledged write allowed in a single-node fault (see
   * SINGLE_NODE_FAULTS and longestOutageFrom); null measures without bounding.
   */
  readonly singleNodeOutageMaxMs: number | null;
}

/**
 * Faults that take exactly one node out of service (of three or more): the others hold a
 * majority, elect a leader within an election timeout, and clients must find it. Gray
 * faults (a slow or delayed node, a bridge) and faults of several nodes are measured only.
 * A leader cut off by a partition is left out too: it keeps the appends it was sent
 * waiting (their outcome unknown) until the client's deadline.
 */
export const SINGLE_NODE_FAULTS: ReadonlySet<string> = new Set(['kill:one', 'kill:leader', 'pause:one', 'pause:leader', 'power:one', 'disk:cut-tail', 'disk:flip-last', 'disk:flip-old']);

/** Margin beyond the election timeout for a client to notice the old leader is gone and find the new one. */
export const CLIENT_FAILOVER_MARGIN_MS = 1_500;

/**
 * The default bound on a single-node fault's window without an acknowledgement: the upper
 * end of the cluster's randomized election timeout ([electionTicks, 2 * electionTicks) ticks)
 * plus CLIENT_FAILOVER_MARGIN_MS.
 */
export function singleNodeOutageBoundMs(timing: { readonly tickMs: number; readonly electionTicks: number }): number {
  return 2 * timing.electionTicks * timing.tickMs + CLIENT_FAILOVER_MARGIN_MS;
}

/** One single-node fault's longest window without an acknowledgement. */
interface FaultOutage {
  readonly faultId: number;
  readonly fault: string;
  readonly targets: readonly string[];
  readonly startMs: number;
  readonly endMs: number;
  readonly noAckFromMs: number;
  readonly noAckToMs: number;
  readonly noAckMs: number;
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
 * availability: mostly a measure, not a safety property. It fails when nothing succeeded at
 * all, when the cluster did not take writes again once every fault was healed (liveness),
 * or when a single-node fault left a window without an acknowledged write longer than
 * singleNodeOutageMaxMs (the others could have taken writes all along).
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
  const outages = input.faults.filter((w) => isSingleNodeFault(w) && !overlapsMemberChange(w, input.faults)).map((w) => faultOutage(okTimes, w, chargedUntilMs(w, input.faults, input.workloadEndMs)));
  const bound = input.singleNodeOutageMaxMs;
  const over = bound === null ? [] : outages.filter((o) => o.noAckMs > bound);
  const longest = outages.reduce<FaultOutage | null>((a, o) => (a === null || o.noAckMs > a.noAckMs ? o : a), null);
  const boundNote = bound === null ? '' : over.length === 0
    ? `; every single-node fault within ${bound} ms without an acknowledgement${longest === null ? ' (none ran)' : ` (longest ${longest.noAckMs} ms, fault ${longest.faultId})`}`
    : `; ${over.map((o) => `fault ${o.faultId} ${o.fault} on ${o.targets.join(',')}: ${o.noAckMs} ms without an acknowledged append (bound ${bound} ms)`).join('; ')}`;
  return {
    name: 'availability',
    valid: ok > 0 && input.recovered && over.length === 0,
    counts: {
      appends: writes.length,
      ok,
      failed: writes.filter((op) => op.outcome === 'fail').length,
      unknown: writes.filter((op) => op.outcome === 'info').length,
      okFractionPermille: Math.round((1000 * ok) / writes.length),
      longestNoWriteMs: overall,
      singleNodeFaults: outages.length,
      longestSingleNodeOutageMs: longest?.noAckMs ?? 0,
      ...(bound === null ? {} : { singleNodeOutageMaxMs: bound, singleNodeOutagesOverBound: over.length }),
    },
    examples: [...(input.recovered ? [] : [{ recovery: input.recoveryNote }]), ...over.slice(0, EXAMPLES_MAX)],
    note: `${(100 * ok / writes.length).toFixed(1)}% of appends acknowledged; longest window without an acknowledged append ${overall} ms; ${input.recoveryNote}${boundNote}`,
    perKind,
  };
}

function isSingleNodeFault(w: FaultWindow): boolean {
  return w.targets.length === 1 && SINGLE_NODE_FAULTS.has(`${w.kind}:${w.variant}`);
}

/**
 * Whether a membership fault's window overlaps w. The membership nemesis runs beside the
 * others: while it removes the leader, or waits for a learner with a voter down, one more
 * node out may stall writes for longer than an election. Such a fault is measured, not bounded.
 */
function overlapsMemberChange(w: FaultWindow, faults: readonly FaultWindow[]): boolean {
  return faults.some((f) => f.kind === 'members' && f.startMs <= w.endMs && w.startMs <= f.endMs);
}

/**
 * How long an outage can be charged to the single-node fault w: until the next fault begins
 * (from then on writes may be stalled by that one: every node killed, a second node paused),
 * or the workload's end.
 */
function chargedUntilMs(w: FaultWindow, faults: readonly FaultWindow[], workloadEndMs: number): number {
  const nextStartMs = Math.min(...faults.filter((f) => f.startMs > w.startMs).map((f) => f.startMs));
  return Math.min(Math.max(workloadEndMs, w.endMs), nextStartMs);
}

function faultOutage(sortedOkTimes: readonly number[], w: FaultWindow, untilMs: number): FaultOutage {
  const span = longestOutageSpan(sortedOkTimes, w.startMs, Math.min(w.endMs, untilMs), untilMs);
  return { faultId: w.faultId, fault: `${w.kind}:${w.variant}`, targets: w.targets, startMs: w.startMs, endMs: w.endMs, noAckFromMs: span.fromMs, noAckToMs: span.toMs, noAckMs: span.toMs - span.fromMs };
}

/**
 * The longest stretch without any of the sorted times that begins inside [fromMs, toMs]:
 * from fromMs, or from a time inside, to the next time, even one past toMs (an outage the
 * fault caused lasts until writes are acknowledged again), but never past endMs; to endMs
 * when none follows.
 */
export function longestOutageFrom(sortedTimes: readonly number[], fromMs: number, toMs: number, endMs: number): number {
  const span = longestOutageSpan(sortedTimes, fromMs, toMs, endMs);
  return span.toMs - span.fromMs;
}

function longestOutageSpan(sortedTimes: readonly number[], fromMs: number, toMs: number, endMs: number): { fromMs: number; toMs: number } {
  let previous = fromMs;
  let best = { fromMs, toMs: fromMs };
  for (const t of sortedTimes) {
    if (t < fromMs) continue;
    const at = Math.min(t, endMs);
    if (at - previous > best.toMs - best.fromMs) best = { fromMs: previous, toMs: at };
    if (t > toMs) return best;
    previous = t;
  }
  return endMs - previous > best.toMs - best.fromMs ? { fromMs: previous, toMs: endMs } : best;
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
