import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { realCore } from '../sim/cores.js';
import { DEFAULT_WEIGHTS, describeSchedule, runSchedule, scheduleArbitrary, simRuns, simSeed, type Schedule, type ScheduleShape, type SimConfig } from '../sim/schedule.js';

/**
 * The VOPR-style property suite: fast-check generates fault schedules (crashes with torn
 * writes, partitions of any shape, lossy/duplicating/reordering network, slow disks, client
 * bursts, leadership transfers), the simulator runs the real core through each with every
 * safety invariant checked after every step, then heals everything and checks liveness and
 * that every acknowledged proposal is applied on every node.
 *
 * SIM_RUNS=<n> sets the number of schedules per cluster size (soak); SIM_SEED=<seed> replays.
 */
/** Schedules per property in npm test; test:long runs SIM_RUNS=2000. */
const DEFAULT_RUNS = 600;

function checkCluster(size: number, extra: Partial<SimConfig> = {}, runs = simRuns(DEFAULT_RUNS), maxSteps = 20, weights?: ScheduleShape['weights'], varyTuning = false): void {
  const seed = simSeed();
  const config: SimConfig = { size, factory: realCore, ...extra };
  let steps = 0;
  let simulatedMs = 0;
  let acked = 0;
  let reads = 0;
  let slowestElectionMs = 0;
  const started = performance.now();
  console.log(`[sim] ${size} nodes: fast-check seed ${seed}, ${runs} schedules (replay with SIM_SEED=${seed})`);
  fc.assert(
    fc.property(scheduleArbitrary({ size, maxSteps, varyTuning, ...(weights !== undefined ? { weights } : {}) }), (schedule: Schedule) => {
      const result = runSchedule(config, schedule);
      steps += result.steps;
      simulatedMs += result.simulatedMs;
      acked += result.acked;
      reads += result.readsConfirmed;
      slowestElectionMs = Math.max(slowestElectionMs, result.electionAfterHealMs);
      if (result.failure !== null) {
        throw new Error(
          `${result.failure.message}\nschedule:\n${describeSchedule(schedule)}\n` +
            `replay alone: runSchedule(config, ${JSON.stringify(schedule)})\nlast events:\n${result.failure.trace}`,
        );
      }
    }),
    // Bounds the whole check, shrinking included, so a failure cannot eat the CI budget; the
    // counterexample reported is the smallest found by then.
    { seed, numRuns: runs, interruptAfterTimeLimit: 20_000 + runs * 20 },
  );
  const wallMs = Math.round(performance.now() - started);
  console.log(
    `[sim] ${size} nodes: ${runs} schedules, ${steps} steps, ${Math.round(simulatedMs / 1000)} simulated s, ${acked} acknowledged proposals, ${reads} confirmed reads, slowest election after heal ${slowestElectionMs} ms, ${wallMs} ms wall`,
  );
  expect(acked).toBeGreaterThan(0);
  expect(reads).toBeGreaterThan(0);
}

describe('generated fault schedules against the real core', () => {
  it('3 nodes keep every safety property and recover', () => {
    checkCluster(3);
  });

  it('5 nodes keep every safety property and recover', () => {
    checkCluster(5);
  });

  it('5 nodes with tiny batches, a narrow in-flight window and no pre-vote', () => {
    checkCluster(5, { tuning: { maxBatchBytes: 8, maxInflightAppends: 2, preVote: false } }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)));
  });

  it('3 nodes under long schedules with slow disks', () => {
    checkCluster(3, { fsyncMinMs: 2, fsyncMaxMs: 30 }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 60);
  });

  it('5 nodes where one disk at a time loses durable entries (votingBlockedBelow)', () => {
    checkCluster(5, {}, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 30, { ...DEFAULT_WEIGHTS, damage: 3 });
  });

  it('5 nodes whose clocks drift apart by up to 30%', () => {
    checkCluster(5, { tickSkew: 0.3 }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)));
  });

  it('3 nodes on the figure-8 hunting ground: slow fsync, one entry per append, leaders crash', () => {
    // The generator planted-bugs.test.ts uses to find commit-by-counting; the real core must pass it.
    checkCluster(
      3,
      // One-entry appends over a reordering link with 40 ms fsyncs catch up slowly (see FINDINGS O1).
      { fsyncMinMs: 1, fsyncMaxMs: 40, tuning: { maxBatchBytes: 1 }, applyBoundMs: 15_000 },
      Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)),
      30,
      { crashLeader: 6, isolateLeader: 4, heal: 2, restart: 3, burst: 2, network: 2 },
    );
  });

  it('3 and 5 nodes with the core options generated too (timeouts, windows, batches, pre-vote, check-quorum, preferred leader)', () => {
    checkCluster(3, {}, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 20, undefined, true);
    checkCluster(5, {}, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 20, undefined, true);
  });

  it('3 and 5 nodes whose drivers persist asynchronously (accept, then persisted: several fsyncs in flight)', () => {
    // Generated options include one-entry appends with one in flight: a follower cut off while
    // the others commit (faster than with serial persistence) catches up one entry per round
    // trip of up to 20 ms, which can outlast the default 6 s apply bound.
    checkCluster(3, { asyncStorage: true, fsyncMinMs: 1, fsyncMaxMs: 20, applyBoundMs: 15_000 }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 30, undefined, true);
    checkCluster(5, { asyncStorage: true }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 30, { ...DEFAULT_WEIGHTS, damage: 3 });
  });

  it('3 nodes persisting asynchronously on the figure-8 hunting ground', () => {
    checkCluster(
      3,
      { asyncStorage: true, fsyncMinMs: 1, fsyncMaxMs: 40, tuning: { maxBatchBytes: 1 }, applyBoundMs: 15_000 },
      Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)),
      30,
      { crashLeader: 6, isolateLeader: 4, heal: 2, restart: 3, burst: 2, network: 2 },
    );
  });

  it('5 nodes over ordered (TCP-like) links, as in production, with generated core options', () => {
    // Until FINDINGS F4 is fixed, a run whose options pair one-entry batches with a follower far
    // behind can miss the apply bound here and in the test above (a liveness failure, seed printed).
    checkCluster(5, { orderedLinks: true }, Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 3)), 20, undefined, true);
  });
});
