import fc from 'fast-check';
import { describe, it } from 'vitest';
import { realCore } from '../sim/cores.js';
import { describeSchedule, runSchedule, scheduleArbitrary } from '../sim/schedule.js';

describe('smoke', () => {
  it('runs schedules', () => {
      const samples = fc.sample(scheduleArbitrary({ size: 5 }), { numRuns: 300, seed: 42 });
      for (const s of samples) {
        const r = runSchedule({ size: 5, factory: realCore }, s);
        if (r.failure) { console.log(describeSchedule(s)); console.log(r.failure.message, r.failure.trace); break; }
      }
  });
});
