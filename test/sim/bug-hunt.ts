import fc from 'fast-check';
import type { RunResult, Schedule, SimConfig } from './schedule.js';
import { describeSchedule, runSchedule } from './schedule.js';

export interface Hunt {
  /** Schedules tried up to and including the first wanted failure, or null if none failed so. */
  readonly foundAfterRuns: number | null;
  readonly schedule: Schedule | null;
  readonly failure: RunResult['failure'];
  /** The (shrunk) schedule as printed, for a report. */
  readonly report: string;
}

/**
 * Runs up to `maxRuns` generated schedules looking for a run whose failure satisfies `wanted`
 * (e.g. a safety violation rather than a stall). The search itself is unbounded in time but
 * bounded in runs; the found case is then replayed by its fast-check seed and path and shrunk
 * for at most `shrinkBudgetMs`, so the report is a short reproducible schedule.
 */
export function hunt(
  config: SimConfig,
  arbitrary: fc.Arbitrary<Schedule>,
  options: { seed: number; maxRuns: number; shrinkBudgetMs?: number; wanted: (failure: NonNullable<RunResult['failure']>) => boolean },
): Hunt {
  let smallest: { schedule: Schedule; failure: RunResult['failure'] } | null = null;
  const property = fc.property(arbitrary, (schedule) => {
    const result = runSchedule(config, schedule);
    if (result.failure !== null && options.wanted(result.failure)) {
      smallest = { schedule, failure: result.failure };
      return false;
    }
    return true;
  });
  const search = fc.check(property, { seed: options.seed, numRuns: options.maxRuns, endOnFailure: true });
  if (!search.failed || search.counterexamplePath === null) return { foundAfterRuns: null, schedule: null, failure: null, report: 'not found' };
  const foundAfterRuns = search.numRuns;
  fc.check(property, { seed: options.seed, path: search.counterexamplePath, interruptAfterTimeLimit: options.shrinkBudgetMs ?? 3_000 });
  const found = smallest as { schedule: Schedule; failure: RunResult['failure'] } | null;
  if (found === null) return { foundAfterRuns, schedule: null, failure: null, report: 'lost while shrinking' };
  return {
    foundAfterRuns,
    schedule: found.schedule,
    failure: found.failure,
    report: `${describeSchedule(found.schedule)}\n=> ${found.failure?.message ?? ''}`,
  };
}

export const isSafetyViolation = (failure: NonNullable<RunResult['failure']>): boolean =>
  failure.invariant !== 'liveness' && failure.invariant !== 'RaftInvariantError' && failure.invariant !== 'Error';
