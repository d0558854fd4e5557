import type { MissedFault } from '../history.js';
import { EXAMPLES_MAX, type CheckerResult } from './checker-result.js';

export interface FaultScheduleInput {
  /** The faults the seed scheduled (only their count matters here). */
  readonly scheduled: readonly unknown[];
  readonly missed: readonly MissedFault[];
  /** Whether every scheduled fault had to run: a run that skipped one proved less than it claims. */
  readonly required: boolean;
}

/**
 * faults: did the run do what its schedule said? Each scheduled fault that did not run is
 * named with its due time and why; when the schedule was required, one such fault fails it.
 */
export function checkFaultSchedule(input: FaultScheduleInput): CheckerResult {
  const scheduled = input.scheduled.length;
  const missed = input.missed.length;
  const lines = input.missed.map((f) => `fault ${f.faultId} ${f.kind}:${f.variant} due at ${(f.dueMs / 1000).toFixed(1)} s: ${f.reason}`);
  return {
    name: 'faults',
    valid: missed === 0 || !input.required,
    counts: { scheduled, ran: scheduled - missed, missed },
    examples: input.missed.slice(0, EXAMPLES_MAX),
    note: missed === 0 ? `all ${scheduled} scheduled faults ran` : `${missed} of ${scheduled} scheduled faults did not run: ${lines.join('; ')}`,
  };
}
