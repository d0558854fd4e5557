import { it } from 'vitest';
import { membershipScheduleArbitrary } from '../sim/membership-schedule.js';
import { huntMembership } from '../sim/membership-hunt.js';
it('ground with the real core', () => {
  for (const [size, shape] of [[4, { size: 4, stepsMax: 30, waitMsMax: 80, weights: { remove: 5, partition: 2, isolateLeader: 5, heal: 4, network: 4 } }], [4, { size: 4, varyTuning: true }], [5, { size: 5, varyTuning: true }]] as const) {
    const found = huntMembership({ size }, membershipScheduleArbitrary(shape), { seed: 11, runsMax: Number(process.env['N'] ?? 2000), wanted: () => true, shrinkBudgetMs: 1 });
    console.log('real core', size, JSON.stringify(shape).slice(0, 60), found.foundAfterRuns, found.report.slice(0, 3000));
  }
});
