import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { RetentionPolicy, type RetentionConfig } from '../../src/node/config.js';
import { electionTicksFloor, NODE_WEIGHTS, runNodeSchedule, type NodeSimConfig } from './node-schedule.js';
import { FIGURE_8_GROUND, describeSchedule, scheduleArbitrary, simRuns, simSeed, type Schedule, type ScheduleShape } from './schedule.js';

/**
 * The production node under generated fault schedules: fast-check generates crashes (torn
 * writes, crashes while a sync is in flight), partitions of any shape, a lossy, duplicating,
 * reordering network, slow disks, disk damage, client bursts, leadership transfers and
 * resumed campaigns; NodeCluster runs the real replica, commit log and broker through each
 * with the safety properties checked after every step (process pauses too: a leader resumes deposed), then heals everything and checks
 * liveness and that every acknowledged append is on every node, once, at its index.
 *
 * With the broker workload (broker-workload.ts), producers, a consumer group and transactions
 * run through the broker's services beside the appends, and its checkers run after healing.
 *
 * SIM_RUNS=<n> sets schedules per property (test:long runs more); SIM_SEED=<seed> replays.
 */
/** Schedules per property in npm test. */
const DEFAULT_RUNS = 20;
/** Schedules for each narrower variant: half as many. */
const variantRuns = (): number => Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 2));

async function checkCluster(size: number, extra: Partial<NodeSimConfig> = {}, options: { readonly runs?: number; readonly stepsMax?: number; readonly weights?: ScheduleShape['weights']; readonly varyTuning?: boolean } = {}): Promise<void> {
  const runs = options.runs ?? simRuns(DEFAULT_RUNS);
  const seed = simSeed();
  // Generated options include one-entry appends with one in flight: that moves one entry per
  // round trip (two fsyncs and two hops), so a node a few hundred entries behind at healing
  // takes seconds to catch up (FINDINGS O3, O5): such runs get 30 s to apply a fresh append.
  const config: NodeSimConfig = { size, ...(options.varyTuning === true ? { applyBoundMs: 30_000 } : {}), ...extra };
  let steps = 0;
  let acked = 0;
  let messages = 0;
  let installed = 0;
  let restored = 0;
  let restoredAtStart = 0;
  const broker = { acked: 0, consumerAcks: 0, deadLettered: 0, committed: 0, rolledBack: 0 };
  const started = performance.now();
  console.log(`[node-sim] ${size} nodes: fast-check seed ${seed}, ${runs} schedules (replay with SIM_SEED=${seed})`);
  const shape: ScheduleShape = { size, stepsMax: options.stepsMax ?? 20, weights: options.weights ?? NODE_WEIGHTS, ...(options.varyTuning === true ? { varyTuning: true, electionTicksMin: electionTicksFloor(config) } : {}) };
  await fc.assert(
    fc.asyncProperty(scheduleArbitrary(shape), async (schedule: Schedule) => {
      const result = await runNodeSchedule(config, schedule);
      steps += result.steps;
      acked += result.acked;
      messages += result.messages;
      installed += result.snapshotsInstalled;
      restored += result.snapshotsRestored;
      restoredAtStart += result.snapshotsRestoredAtStart;
      if (result.broker !== null) for (const key of Object.keys(broker) as (keyof typeof broker)[]) broker[key] += result.broker[key];
      if (result.failure !== null) {
        throw new Error(
          `${result.failure.message}\nschedule:\n${describeSchedule(schedule)}\n` +
            `replay alone: runNodeSchedule(config, ${JSON.stringify(schedule)})\nlast events:\n${result.failure.trace}`,
        );
      }
    }),
    // Bounds the whole check, shrinking included, so a failure cannot eat the CI budget.
    { seed, numRuns: runs, interruptAfterTimeLimit: 30_000 + runs * 400 },
  );
  const wallMs = Math.round(performance.now() - started);
  console.log(`[node-sim] ${size} nodes: ${runs} schedules, ${steps} steps, ${acked} acknowledged appends, ${Math.round((messages / wallMs) * 1000)} Raft messages per wall second, ${wallMs} ms wall`);
  expect(acked).toBeGreaterThan(0);
  if (config.snapshots !== undefined) {
    console.log(`[node-sim] ${size} nodes: ${installed} snapshots sent to followers and installed, ${restored} state machines restored from a snapshot (${restoredAtStart} at a start, from the node's own)`);
    // Over a few dozen schedules some follower always falls behind a compaction, and some
    // node always restarts from its own snapshot (a replay of one seed may show neither).
    if (runs >= 20) {
      // Without the broker workload every snapshot compacts; with it, consumers hold back
      // retention (keep-unconsumed), so a follower seldom falls behind a compaction.
      if (config.broker === undefined) expect(installed).toBeGreaterThan(0);
      // Counted apart: a stream the link finished may never be restored (its node crashed first).
      expect(restoredAtStart).toBeGreaterThan(0);
    }
  }
  if (config.broker !== undefined) {
    console.log(
      `[node-sim] ${size} nodes, broker: ${broker.acked} messages acknowledged to producers, ${broker.consumerAcks} acked by consumers, ${broker.deadLettered} dead-lettered, ` +
        `transactions ${broker.committed} committed and ${broker.rolledBack} rolled back as their producers were told`,
    );
    expect(broker.acked).toBeGreaterThan(0);
    expect(broker.consumerAcks).toBeGreaterThan(0);
  }
}

/** Past each property's own time limit (interruptAfterTimeLimit), so fast-check stops first. */
const PROPERTY_TIMEOUT_MS = 60_000 + simRuns(DEFAULT_RUNS) * 500;

/** Retention that deletes below every snapshot at once (as far as the policy allows). */
const COMPACT_AT_ONCE: RetentionConfig = { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete };

/**
 * Schedules of the snapshot property in npm test: over this many some follower always falls
 * behind a compaction and some node restarts from its own snapshot (checked in checkCluster).
 */
const SNAPSHOT_RUNS = 30;

/** Schedules per broker property in npm test: each runs the broker workload too, so costs more. */
const BROKER_RUNS = 24;

describe('generated fault schedules against the production node', () => {
  it('3 nodes keep every safety property, lose no acknowledged append, and recover', async () => {
    await checkCluster(3);
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes starting as a new cluster: each checks the others know no other disk under its id before it votes (bootstrap check), among the same faults', async () => {
    await checkCluster(3, { bootstrapCheck: 'every-disk' }, { runs: Math.max(1, Math.floor(simRuns(DEFAULT_RUNS) / 4)) });
  }, PROPERTY_TIMEOUT_MS);

  it('5 nodes with disk damage on one node at a time (it must not vote until repaired)', async () => {
    await checkCluster(5, {}, { weights: { ...NODE_WEIGHTS, damage: 3 }, stepsMax: 30 });
  }, PROPERTY_TIMEOUT_MS);

  it('every cluster size from 1 to 7, even sizes included', async () => {
    for (const size of [1, 2, 4, 6, 7]) await checkCluster(size, {}, { runs: variantRuns() });
  }, 240_000);

  it('3 nodes with the broker workload: no producer duplicate, every acknowledged message delivered until acked or dead-lettered, transactions atomic', async () => {
    await checkCluster(3, { broker: {} }, { runs: simRuns(BROKER_RUNS) });
  }, PROPERTY_TIMEOUT_MS);

  it('5 nodes with the broker workload, disk damage and clocks up to 500 ms apart', async () => {
    await checkCluster(5, { broker: {}, clockSkewMaxMs: 500 }, { runs: Math.max(1, Math.floor(simRuns(BROKER_RUNS) / 2)), weights: { ...NODE_WEIGHTS, damage: 2 } });
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes with slow disks, small segments (roll-over) and clocks up to 2 s apart, with generated core options', async () => {
    await checkCluster(3, { fsyncMinMs: 2, fsyncMaxMs: 40, segmentBytes: 4 * 1024, clockSkewMaxMs: 2_000 }, { varyTuning: true, stepsMax: 40 });
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes snapshotting every 5 to 50 entries with tiny segments, compacting at once: crashes hit snapshot writes and installs, followers behind catch up by InstallSnapshot', async () => {
    await checkCluster(3, { segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: COMPACT_AT_ONCE } }, { runs: simRuns(SNAPSHOT_RUNS) });
  }, PROPERTY_TIMEOUT_MS);

  it('5 nodes with disk damage and snapshots every 5 to 50 entries: a damaged node starts from the newest snapshot its log still holds, or replays, or resets', async () => {
    await checkCluster(5, { segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: COMPACT_AT_ONCE } }, { runs: variantRuns(), weights: { ...NODE_WEIGHTS, damage: 3 }, stepsMax: 30 });
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes with the broker workload snapshotting every 5 to 50 entries: the broker state survives snapshots, restarts and installs, and retention keeps what consumers still need', async () => {
    await checkCluster(3, { broker: {}, segmentBytes: 1024, snapshots: { entriesMin: 5, entriesMax: 50, retention: { ...COMPACT_AT_ONCE, policy: RetentionPolicy.keepUnconsumed } } }, { runs: Math.max(1, Math.floor(simRuns(BROKER_RUNS) / 2)) });
  }, PROPERTY_TIMEOUT_MS);

  it('5 nodes with tiny batches, a narrow in-flight window and no pre-vote', async () => {
    await checkCluster(5, { tuning: { batchBytesMax: 8, inflightAppendsMax: 2, preVote: false } }, { runs: variantRuns() });
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes under long schedules with slow disks', async () => {
    await checkCluster(3, { fsyncMinMs: 2, fsyncMaxMs: 30 }, { runs: variantRuns(), stepsMax: 60 });
  }, PROPERTY_TIMEOUT_MS);

  it('5 nodes whose clocks run up to 30% fast or slow, with generated core options', async () => {
    await checkCluster(5, { clockDriftMax: 0.3 }, { runs: variantRuns(), varyTuning: true });
  }, PROPERTY_TIMEOUT_MS);

  it('3 nodes on the figure-8 hunting ground: slow fsync, one entry per append, leaders crash', async () => {
    // The ground planted-bugs.test.ts searches for commit-by-counting; the real core must pass
    // it. One-entry appends, one in flight, catch a follower up one entry per round trip and
    // fsync (up to ~70 ms): 300 behind took 16.5 s in one run (FINDINGS O1), hence the bound.
    const { size, ...config } = FIGURE_8_GROUND.config;
    await checkCluster(size, { ...config, applyBoundMs: 30_000 }, { runs: variantRuns(), stepsMax: FIGURE_8_GROUND.shape.stepsMax, weights: FIGURE_8_GROUND.shape.weights });
  }, PROPERTY_TIMEOUT_MS);
});
