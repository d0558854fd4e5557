import fc from 'fast-check';
import type { RunResult, Schedule, SimConfig } from './schedule.js';
import { describeSchedule, runSchedule } from './schedule.js';

export interface Hunt {
  /** Runs tried before (and including) the first failing one, or null if none failed. */
  readonly foundAfterRuns: number | null;
  readonly schedule: Schedule | null;
  readonly failure: RunResult['failure'];
  /** The shrunk schedule as printed, for a report. */
  readonly report: string;
}

/**
 * Runs up to `maxRuns` generated schedules looking for a run whose failure satisfies `wanted`
 * (e.g. a safety violation rather than a stall). fast-check shrinks what it finds, so the
 * report is a short reproducible schedule. The seed is printed by the caller.
 */
export function hunt(config: SimConfig, arbitrary: fc.Arbitrary<Schedule>, options: { seed: number; maxRuns: number; shrinkBudgetMs?: number; wanted: (failure: NonNullable<RunResult['failure']>) => boolean }): Hunt {
  let runs = 0;
  let firstFoundAt: number | null = null;
  let last: { schedule: Schedule; failure: RunResult['failure'] } | null = null;
  fc.check(
    fc.property(arbitrary, (schedule) => {
      if (firstFoundAt === null) runs++;
      const result = runSchedule(config, schedule);
      if (result.failure !== null && options.wanted(result.failure)) {
        if (firstFoundAt === null) firstFoundAt = runs;
        last = { schedule, failure: result.failure };
        return false;
      }
      return true;
    }),
    { seed: options.seed, numRuns: options.maxRuns, endOnFailure: false, interruptAfterTimeLimit: options.shrinkBudgetMs ?? 5_000 },
  );
  const found = last as { schedule: Schedule; failure: RunResult['failure'] } | null;
  if (found === null) return { foundAfterRuns: null, schedule: null, failure: null, report: 'not found' };
  return {
    foundAfterRuns: firstFoundAt,
    schedule: found.schedule,
    failure: found.failure,
    report: `${describeSchedule(found.schedule)}\n=> ${found.failure?.message ?? ''}`,
  };
}

export const isSafetyViolation = (failure: NonNullable<RunResult['failure']>): boolean =>
  failure.invariant !== 'liveness' && failure.invariant !== 'RaftInvariantError' && failure.invariant !== 'Error';
