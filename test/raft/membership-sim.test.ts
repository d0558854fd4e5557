import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeMembershipSchedule, membershipScheduleArbitrary, runMembershipSchedule } from '../sim/membership-schedule.js';

describe('membership sim smoke', () => {
  it('runs', () => {
    const samples = fc.sample(membershipScheduleArbitrary({ size: Number(process.env['SZ'] ?? 3), varyTuning: process.env['VT'] === '1' }), { seed: 1, numRuns: Number(process.env['N'] ?? 30) });
    const t0 = Date.now();
    for (const s of samples) {
      const r = runMembershipSchedule({ size: Number(process.env['SZ'] ?? 3) }, s);
      if (r.failure !== null) console.log(describeMembershipSchedule(s), r.failure.message.slice(0, 2000));
      
    }
    console.log('ms', Date.now() - t0);
    expect(1).toBe(1);
  });
});
