import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { MEMBERSHIP_NODE_WEIGHTS, runNodeSchedule, scheduleOfSeed } from './node-schedule.js';
import { scheduleArbitrary, type Schedule } from './schedule.js';

/**
 * A simulation is a pure function of its seed: the same schedule gives the same final state
 * of every node, bit for bit, however often it runs. Fixed seeds, plus one random seed that
 * the test prints (so a nondeterminism it finds can be replayed).
 */
const STEPS = 20;

function scheduleOf(seed: number, size: number): Schedule {
  return scheduleOfSeed(seed, size, STEPS);
}

async function expectSameTwice(seed: number, size: number): Promise<void> {
  const schedule = scheduleOf(seed, size);
  const first = await runNodeSchedule({ size }, schedule);
  const second = await runNodeSchedule({ size }, schedule);
  expect(first.failure).toBeNull();
  expect(first.steps).toBeGreaterThan(100);
  expect(second.nodeDigests).toEqual(first.nodeDigests);
  expect(second.digest).toBe(first.digest);
}

describe('the simulator is deterministic', () => {
  it.each([
    [1, 3],
    [2, 5],
    [3, 4],
  ])('seed %i with %i nodes gives the same digests on every run', async (seed, size) => {
    await expectSameTwice(seed, size);
  });

  it('a random seed (printed) gives the same digests on every run', async () => {
    const seed = Math.floor(Math.random() * 0x7fff_ffff);
    console.log(`[determinism] random seed ${seed} (replay: npm run sim -- --seed ${seed} --nodes 3 --steps ${STEPS})`);
    await expectSameTwice(seed, 3);
  });

  it('a membership schedule (nodes joining, changes, a wiped disk) gives the same digests on every run', async () => {
    const [schedule] = fc.sample(scheduleArbitrary({ size: 3, stepsMax: 20, weights: { ...MEMBERSHIP_NODE_WEIGHTS, wipe: 3 } }), { seed: 20, numRuns: 1 });
    if (schedule === undefined) throw new Error('no schedule sampled');
    const first = await runNodeSchedule({ size: 3, membership: true }, schedule);
    const second = await runNodeSchedule({ size: 3, membership: true }, schedule);
    expect(first.failure).toBeNull();
    expect(first.membership?.joined).toBeGreaterThan(0);
    expect(first.membership?.wipes).toBeGreaterThan(0);
    expect(second.nodeDigests).toEqual(first.nodeDigests);
    expect(second.digest).toBe(first.digest);
  });

  it('different seeds give different runs', async () => {
    const a = await runNodeSchedule({ size: 3 }, scheduleOf(11, 3));
    const b = await runNodeSchedule({ size: 3 }, scheduleOf(12, 3));
    expect(a.digest).not.toBe(b.digest);
  });
});
