import { describe, expect, it } from 'vitest';
import { Cluster } from '../sim/cluster.js';
import { realCore } from '../sim/cores.js';

describe('smoke', () => {
  it('elects and replicates', () => {
    const c = new Cluster({ seed: 1, size: 3, factory: realCore });
    expect(c.runUntil(() => c.leader() !== null, 2000)).toBe(true);
    for (let i = 0; i < 20; i++) { c.propose(); c.runFor(15); }
    c.crash(c.leader()!, { tear: true });
    c.runFor(1000);
    for (let i = 0; i < 20; i++) { c.propose(); c.runFor(15); }
    c.checkRecovery(3000, 5000);
    console.log(c.steps, c.now, c.proposals.filter((p) => p.state === 'acked').length);
  });
});
