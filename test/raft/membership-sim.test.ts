import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LONG_RUN } from '../harness/long-run.js';
import { changesConfigBeforeOwnTermCommit, newNodeVotesBeforeItHasALog, type CreateRaft } from '../sim/cores.js';
import { huntMembership, isMembershipSafetyViolation } from '../sim/membership-hunt.js';
import {
  MEMBERSHIP_OVERLAP_GROUND,
  describeMembershipSchedule,
  membershipScheduleArbitrary,
  runMembershipSchedule,
  type MembershipSchedule,
  type MembershipShape,
} from '../sim/membership-schedule.js';
import { simRuns, simSeed } from '../sim/schedule.js';

/**
 * Membership changes on bare cores (core-cluster.ts) under generated schedules: an operator
 * adds learners (new nodes started without a configuration), promotes them, removes members,
 * the leader itself, and replaces members (add + promote + remove), while nodes crash and
 * come back, the network partitions, drops, duplicates and delays, and nodes campaign or
 * transfer out of turn. Every step is checked for every safety property across all
 * configurations (at most one leader per term, one vote per node per term, log matching,
 * leader completeness: no committed entry lost across a change, state machine safety), and
 * after healing: a leader, a fresh entry applied on every member, and no term change for ten
 * election timeouts (removed members and strangers stay quiet).
 *
 * A run takes a few ms of wall time: npm test runs 20 schedules for 3 nodes and 10 for each
 * of the others; SIM_RUNS=<n> replaces the 20 and halves for the rest (test:long: 2000),
 * SIM_SEED=<seed> replays.
 */
const DEFAULT_RUNS = 20;

function checkMembership(label: string, size: number, shape: MembershipShape, runs: number): void {
  const seed = simSeed();
  const totals = { addLearner: 0, promote: 0, remove: 0, removeLeader: 0, elections: 0, snapshotsInstalled: 0, refused: 0 };
  const started = performance.now();
  console.log(`[membership-sim] ${label}: fast-check seed ${seed}, ${runs} schedules (replay with SIM_SEED=${seed} SIM_RUNS=${runs})`);
  fc.assert(
    fc.property(membershipScheduleArbitrary(shape), (schedule) => {
      const result = runMembershipSchedule({ size }, schedule);
      for (const kind of ['addLearner', 'promote', 'remove', 'removeLeader'] as const) totals[kind] += result.accepted[kind];
      totals.elections += result.elections;
      totals.snapshotsInstalled += result.snapshotsInstalled;
      totals.refused += Object.values(result.refused).reduce((a, b) => a + b, 0);
      if (result.failure !== null) {
        throw new Error(`${result.failure.message}\nschedule:\n${describeMembershipSchedule(schedule)}\nreplay alone: runMembershipSchedule({ size: ${size} }, ${JSON.stringify(schedule)})`);
      }
    }),
    { seed, numRuns: runs, interruptAfterTimeLimit: 20_000 + runs * 200 },
  );
  console.log(`[membership-sim] ${label}: ${JSON.stringify(totals)} in ${Math.round(performance.now() - started)} ms`);
}

describe('membership changes among faults keep every safety property, and the cluster recovers', () => {
  it('3 nodes', () => {
    checkMembership('3 nodes', 3, { size: 3 }, simRuns(DEFAULT_RUNS));
  });

  it('5 nodes with generated core options (timing, batching, pre-vote and check-quorum on or off, a preferred leader)', () => {
    checkMembership('5 nodes, generated options', 5, { size: 5, varyTuning: true }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 2)));
  });

  it('4 nodes on the ground where changes by two leaders could overlap', () => {
    checkMembership('overlap ground', MEMBERSHIP_OVERLAP_GROUND.size, MEMBERSHIP_OVERLAP_GROUND, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 2)));
  });
});

/** Schedules a soak found, kept as they were found (the fixes are in docs/membership.md). */
describe('found schedules', () => {
  it('a learner votes: a leader that promoted it and crashed needs its vote to come back (4 nodes)', () => {
    const schedule: MembershipSchedule = {
      seed: 2147483633,
      snapshotEvery: 0,
      proposeEveryMs: 9,
      tuning: { inflightAppendsMax: 8, batchBytesMax: 64, uncommittedEntriesMax: 3, preVote: false, checkQuorum: false, electionTicks: 3, heartbeatTicks: 1, preferredLeader: null },
      steps: [
        { waitMs: 5, action: { kind: 'remove', member: 3 } },
        { waitMs: 170, action: { kind: 'isolateLeader' } },
        { waitMs: 2, action: { kind: 'isolateLeader' } },
        { waitMs: 163, action: { kind: 'partition', groups: [0, 0, 1, 2] } },
        { waitMs: 6, action: { kind: 'addLearner', joinDelayMs: 1 } },
        { waitMs: 153, action: { kind: 'remove', member: 8 } },
        { waitMs: 45, action: { kind: 'addLearner', joinDelayMs: 15 } },
        { waitMs: 165, action: { kind: 'restart', node: 7 } },
        { waitMs: 136, action: { kind: 'remove', member: 13 } },
        { waitMs: 68, action: { kind: 'heal' } },
        { waitMs: 184, action: { kind: 'partition', groups: [1, 2, 1] } },
        { waitMs: 248, action: { kind: 'heal' } },
        { waitMs: 95, action: { kind: 'promote', learner: 12 } },
        { waitMs: 1, action: { kind: 'crashLeader', downMs: 460 } },
        { waitMs: 16, action: { kind: 'addLearner', joinDelayMs: 380 } },
      ],
    };
    expect(runMembershipSchedule({ size: 4 }, schedule).failure).toBeNull();
  });

  it('a node whose removal is uncommitted gets answers from those that hold the change too (4 nodes)', () => {
    const schedule: MembershipSchedule = {
      seed: 1831620384,
      snapshotEvery: 20,
      proposeEveryMs: 18,
      steps: [
        { waitMs: 38, action: { kind: 'remove', member: 15 } },
        { waitMs: 68, action: { kind: 'heal' } },
        { waitMs: 37, action: { kind: 'isolateLeader' } },
        { waitMs: 23, action: { kind: 'remove', member: 6 } },
        { waitMs: 31, action: { kind: 'remove', member: 11 } },
        { waitMs: 46, action: { kind: 'isolateLeader' } },
        { waitMs: 56, action: { kind: 'heal' } },
        { waitMs: 64, action: { kind: 'isolateLeader' } },
        { waitMs: 21, action: { kind: 'remove', member: 6 } },
      ],
    };
    expect(runMembershipSchedule({ size: 4 }, schedule).failure).toBeNull();
  });
});

describe('found schedules, continued', () => {
  it('a learner whose election timer matched the lease forgot no leader and ignored every campaign (3 nodes)', () => {
    const schedule: MembershipSchedule = {
      seed: 155375537,
      snapshotEvery: 0,
      proposeEveryMs: 58,
      steps: [
        { waitMs: 149, action: { kind: 'remove', member: 6 } },
        { waitMs: 120, action: { kind: 'heal' } },
        { waitMs: 127, action: { kind: 'promote', learner: 7 } },
        { waitMs: 279, action: { kind: 'restart', node: 6 } },
        { waitMs: 22, action: { kind: 'restart', node: 4 } },
        { waitMs: 16, action: { kind: 'transfer', to: 1 } },
        { waitMs: 199, action: { kind: 'network', dropRate: 0.2, duplicateRate: 0.1, delayMaxMs: 120 } },
        { waitMs: 95, action: { kind: 'heal' } },
        { waitMs: 115, action: { kind: 'removeLeader' } },
        { waitMs: 163, action: { kind: 'replace', member: 11, joinDelayMs: 180 } },
        { waitMs: 188, action: { kind: 'replace', member: 14, joinDelayMs: 212 } },
        { waitMs: 25, action: { kind: 'addLearner', joinDelayMs: 101 } },
        { waitMs: 73, action: { kind: 'replace', member: 3, joinDelayMs: 374 } },
        { waitMs: 288, action: { kind: 'isolateLeader' } },
        { waitMs: 14, action: { kind: 'remove', member: 3 } },
      ],
    };
    expect(runMembershipSchedule({ size: 3 }, schedule).failure).toBeNull();
  });
});

/**
 * The membership properties' teeth: each planted bug (a RaftNode subclass, cores.ts) must be
 * found as a safety violation within a bounded number of generated schedules. Fixed seeds in
 * npm test; test:long hunts from several more.
 */
describe('planted membership bugs are found', () => {
  const expectFound = (name: string, createRaft: CreateRaft, size: number, shape: MembershipShape, seed: number, runsMax: number): void => {
    const started = performance.now();
    const found = huntMembership({ size, createRaft }, membershipScheduleArbitrary(shape), { seed, runsMax, wanted: isMembershipSafetyViolation, shrinkBudgetMs: LONG_RUN ? 3_000 : 500 });
    console.log(`[planted] ${name}: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules (${Math.round(performance.now() - started)} ms); shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  };

  it('a new node votes (for itself) before it has a log: it takes itself for a one-voter cluster', () => {
    expectFound('new node votes before it has a log', newNodeVotesBeforeItHasALog, 3, { size: 3 }, 1, 200);
  });

  it('a leader changes the configuration before committing an entry of its term (the single-server bug)', () => {
    expectFound('change before an own-term commit', changesConfigBeforeOwnTermCommit, MEMBERSHIP_OVERLAP_GROUND.size, MEMBERSHIP_OVERLAP_GROUND, 2, 400);
  });

  it.runIf(LONG_RUN)('both, from more seeds', () => {
    for (const seed of [1, 2, 3]) expectFound('new node votes before it has a log', newNodeVotesBeforeItHasALog, 3, { size: 3 }, seed, 500);
    for (const seed of [1, 3, 4, 5]) expectFound('change before an own-term commit', changesConfigBeforeOwnTermCommit, MEMBERSHIP_OVERLAP_GROUND.size, MEMBERSHIP_OVERLAP_GROUND, seed, 10_000);
  });
});
