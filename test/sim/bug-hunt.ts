import fc from 'fast-check';
import { runNodeSchedule, type NodeRunResult, type NodeSimConfig } from './node-schedule.js';
import { describeSchedule, type Schedule } from './schedule.js';

export type RunFailure = NonNullable<NodeRunResult['failure']>;

export interface Hunt {
  /** Schedules tried up to and including the first wanted failure, or null if none failed so. */
  readonly foundAfterRuns: number | null;
  readonly schedule: Schedule | null;
  readonly failure: RunFailure | null;
  /** The (shrunk) schedule as printed, for a report. */
  readonly report: string;
}

/**
 * Runs up to `runsMax` generated schedules on production nodes (runNodeSchedule) looking for
 * a run whose failure satisfies `wanted` (e.g. a safety violation rather than a stall). The
 * search is bounded in runs; the found case is then replayed by its fast-check seed and path
 * and shrunk for at most `shrinkBudgetMs`, so the report is a short reproducible schedule.
 */
export async function hunt(
  config: NodeSimConfig,
  arbitrary: fc.Arbitrary<Schedule>,
  options: { readonly seed: number; readonly runsMax: number; readonly shrinkBudgetMs?: number; readonly wanted: (failure: RunFailure) => boolean },
): Promise<Hunt> {
  let smallest: { schedule: Schedule; failure: RunFailure } | null = null;
  const property = fc.asyncProperty(arbitrary, async (schedule) => {
    const result = await runNodeSchedule(config, schedule);
    if (result.failure !== null && options.wanted(result.failure)) {
      smallest = { schedule, failure: result.failure };
      return false;
    }
    return true;
  });
  const search = await fc.check(property, { seed: options.seed, numRuns: options.runsMax, endOnFailure: true });
  if (!search.failed || search.counterexamplePath === null) return { foundAfterRuns: null, schedule: null, failure: null, report: 'not found' };
  const foundAfterRuns = search.numRuns;
  await fc.check(property, { seed: options.seed, path: search.counterexamplePath, interruptAfterTimeLimit: options.shrinkBudgetMs ?? 3_000 });
  const found = smallest as { schedule: Schedule; failure: RunFailure } | null;
  if (found === null) return { foundAfterRuns, schedule: null, failure: null, report: 'lost while shrinking' };
  return {
    foundAfterRuns,
    schedule: found.schedule,
    failure: found.failure,
    report: `${describeSchedule(found.schedule)}\n=> ${found.failure.message}`,
  };
}

/** A broken safety property, not a stall or a node that stopped itself. */
export const isSafetyViolation = (failure: RunFailure): boolean =>
  failure.invariant !== 'liveness' && failure.invariant !== 'nodeFailed' && failure.invariant !== 'RaftInvariantError' && failure.invariant !== 'Error';
