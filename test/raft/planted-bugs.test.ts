import { describe, expect, it } from 'vitest';
import { hunt, isSafetyViolation } from '../sim/bug-hunt.js';
import { acksBeforeDurable, commitsOldTermsByCounting, persistedOnAccept, readsWithoutQuorum, votesForAnyLog } from '../sim/cores.js';
import { runFigure8 } from '../sim/figure-8.js';
import { SafetyViolation } from '../sim/invariants.js';
import { scheduleArbitrary } from '../sim/schedule.js';

/**
 * The suite's teeth. Each test plants a classic Raft bug (from the test side: a subclass
 * overriding a protected rule, or a wrapper around ready()) and asserts that the simulator's
 * properties find a violation within a bounded number of generated schedules, or on a
 * targeted schedule. If a property is weakened until it no longer sees the bug, these fail.
 *
 * Seeds are fixed so the hunt is reproducible; the found schedule is printed shrunk.
 */
const MAX_RUNS = 400;

describe('planted bugs are caught', () => {
  it('votes granted without the election restriction (logIsUpToDate -> true)', () => {
    const seed = 1;
    const found = hunt({ size: 3, factory: votesForAnyLog }, scheduleArbitrary({ size: 3 }), { seed, maxRuns: MAX_RUNS, wanted: isSafetyViolation });
    console.log(`[planted] up-to-date check removed: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules; shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('5 nodes: votes granted without the election restriction', () => {
    const seed = 2;
    const found = hunt({ size: 5, factory: votesForAnyLog }, scheduleArbitrary({ size: 5 }), { seed, maxRuns: MAX_RUNS, wanted: isSafetyViolation });
    console.log(`[planted] up-to-date check removed (5 nodes): seed ${seed}, found after ${String(found.foundAfterRuns)} schedules; shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('an old-term entry committed by counting replicas (mayCommitByCounting -> true): figure 8', () => {
    let caught: unknown = null;
    try {
      runFigure8(commitsOldTermsByCounting);
    } catch (error) {
      caught = error;
    }
    console.log(`[planted] commit by counting old-term entries: ${String(caught)}`);
    expect(caught).toBeInstanceOf(SafetyViolation);
    expect((caught as SafetyViolation).invariant).toBe('leaderCompleteness');
  });

  it('commit by counting old-term entries is also found by a targeted generator (slow fsync, one entry per append)', () => {
    const seed = 1;
    // Slow leader fsyncs open the window in which followers' acknowledgements of an old-term
    // entry arrive before the new leader's own no-op is durable; one-entry appends let the
    // old entry reach a majority without the no-op.
    const config = { size: 3, factory: commitsOldTermsByCounting, fsyncMinMs: 1, fsyncMaxMs: 40, tuning: { maxBatchBytes: 1 }, applyBoundMs: 2_000 };
    const arbitrary = scheduleArbitrary({ size: 3, maxSteps: 30, maxWaitMs: 150, weights: { crashLeader: 6, isolateLeader: 4, heal: 2, restart: 3, burst: 2, network: 2 } });
    const found = hunt(config, arbitrary, { seed, maxRuns: 2_000, wanted: isSafetyViolation });
    console.log(`[planted] commit by counting, generated: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules; shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('append acknowledged before it is durable (appendResp moved from persistedMessages to messages)', () => {
    const seed = 3;
    // The send-time contract check would flag this at once (next test); switched off here so the
    // end-to-end properties must find the consequence: an acknowledged entry lost after crashes.
    const config = { size: 3, factory: acksBeforeDurable, fsyncMinMs: 5, fsyncMaxMs: 60, applyBoundMs: 2_000, checkDurableBeforeAck: false };
    const arbitrary = scheduleArbitrary({ size: 3, weights: { crash: 3, restart: 3, crashLeader: 4, burst: 2, isolateLeader: 1, heal: 1 } });
    const found = hunt(config, arbitrary, { seed, maxRuns: MAX_RUNS, wanted: isSafetyViolation });
    console.log(`[planted] ack before fsync: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules; shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('asynchronous persistence reported at accept: a leader counts its own write before its fsync', () => {
    const seed = 7;
    const config = { size: 3, factory: persistedOnAccept, asyncStorage: true, fsyncMinMs: 5, fsyncMaxMs: 60 };
    const found = hunt(config, scheduleArbitrary({ size: 3 }), { seed, maxRuns: MAX_RUNS, wanted: (f) => f.invariant === 'durableBeforeAck' });
    console.log(`[planted] persisted at accept: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules: ${found.failure?.message ?? ''}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('read index answered from the local commit index without a heartbeat quorum (stale reads)', () => {
    const seed = 5;
    const arbitrary = scheduleArbitrary({ size: 3, weights: { isolateLeader: 4, partition: 3, heal: 2, burst: 2, crash: 1, restart: 1, network: 1 } });
    const found = hunt({ size: 3, factory: readsWithoutQuorum }, arbitrary, { seed, maxRuns: MAX_RUNS, wanted: (f) => f.invariant === 'linearizableRead' });
    console.log(`[planted] reads without quorum: seed ${seed}, found after ${String(found.foundAfterRuns)} schedules; shrunk:\n${found.report}`);
    expect(found.foundAfterRuns).not.toBeNull();
  });

  it('the send-time contract check flags an early acknowledgement on the first schedule', () => {
    const found = hunt({ size: 3, factory: acksBeforeDurable }, scheduleArbitrary({ size: 3 }), { seed: 6, maxRuns: 5, wanted: (f) => f.invariant === 'durableBeforeAck' });
    console.log(`[planted] ack before fsync, contract check: found after ${String(found.foundAfterRuns)} schedules: ${found.failure?.message ?? ''}`);
    expect(found.foundAfterRuns).toBe(1);
  });
});
