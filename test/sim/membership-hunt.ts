import fc from 'fast-check';
import { describeMembershipSchedule, runMembershipSchedule, type MembershipRunResult, type MembershipSchedule, type MembershipSimConfig } from './membership-schedule.js';

export type MembershipFailure = NonNullable<MembershipRunResult['failure']>;

export interface MembershipHunt {
  /** Schedules tried up to and including the first wanted failure, or null if none failed so. */
  readonly foundAfterRuns: number | null;
  readonly failure: MembershipFailure | null;
  /** The (shrunk) schedule as printed, for a report. */
  readonly report: string;
}

/**
 * Runs up to `runsMax` generated membership schedules (runMembershipSchedule) looking for a
 * run whose failure satisfies `wanted`; the found case is replayed by its fast-check seed and
 * path and shrunk for at most `shrinkBudgetMs`, so the report is a short schedule. The
 * raft-level twin of bug-hunt.ts's `hunt`.
 */
export function huntMembership(
  config: MembershipSimConfig,
  arbitrary: fc.Arbitrary<MembershipSchedule>,
  options: { readonly seed: number; readonly runsMax: number; readonly shrinkBudgetMs?: number; readonly wanted: (failure: MembershipFailure) => boolean },
): MembershipHunt {
  let smallest: { schedule: MembershipSchedule; failure: MembershipFailure } | null = null;
  const property = fc.property(arbitrary, (schedule) => {
    const { failure } = runMembershipSchedule(config, schedule);
    if (failure !== null && options.wanted(failure)) {
      smallest = { schedule, failure };
      return false;
    }
    return true;
  });
  const search = fc.check(property, { seed: options.seed, numRuns: options.runsMax, endOnFailure: true });
  if (!search.failed || search.counterexamplePath === null) return { foundAfterRuns: null, failure: null, report: 'not found' };
  fc.check(property, { seed: options.seed, path: search.counterexamplePath, interruptAfterTimeLimit: options.shrinkBudgetMs ?? 2_000 });
  const found = smallest as { schedule: MembershipSchedule; failure: MembershipFailure } | null;
  if (found === null) return { foundAfterRuns: search.numRuns, failure: null, report: 'lost while shrinking' };
  return { foundAfterRuns: search.numRuns, failure: found.failure, report: `${describeMembershipSchedule(found.schedule)}\n=> ${found.failure.message}` };
}

/** A broken safety property, not a stall or a core that stopped itself. */
export const isMembershipSafetyViolation = (failure: MembershipFailure): boolean =>
  failure.invariant !== 'liveness' && failure.invariant !== 'Error' && failure.invariant !== 'RaftInvariantError';
