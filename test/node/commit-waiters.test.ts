import { describe, expect, it } from 'vitest';

import type { Entry, Index, Term } from '../../raft/index.js';
import { CommitWaiters } from '../../src/node/commit-waiters.js';
import { SimProcess, SimScheduler, SimWorld } from '../sim/sim-scheduler.js';

const entry = (index: number, term: number): Entry => ({ index: index as Index, term: term as Term, kind: 1, payload: new Uint8Array() });

type Outcome = { readonly state: 'pending' } | { readonly state: 'resolved' } | { readonly state: 'rejected'; readonly name: string };

/** Tracks how a wait ended without letting an unhandled rejection escape. */
function track(wait: Promise<unknown>): { outcome: Outcome } {
  const tracked: { outcome: Outcome } = { outcome: { state: 'pending' } };
  wait.then(
    () => (tracked.outcome = { state: 'resolved' }),
    (error: unknown) => (tracked.outcome = { state: 'rejected', name: error instanceof Error ? error.name : String(error) }),
  );
  return tracked;
}

/** Runs every task due up to `atMs` on the virtual clock. */
async function runUntil(world: SimWorld, atMs: number): Promise<void> {
  // Bounded by the tasks scheduled before atMs.
  while ((world.nextAtMs() ?? Infinity) <= atMs) await world.step();
  world.advanceTo(atMs);
}

describe('CommitWaiters', () => {
  function waiters(): { world: SimWorld; waiters: CommitWaiters } {
    const world = new SimWorld();
    return { world, waiters: new CommitWaiters(100, new SimScheduler(world, new SimProcess('n1'))) };
  }

  it('answers a proposal at an index an earlier, replaced proposal of an older term still waits on', async () => {
    // A leader proposes at 18 in term 132, loses its suffix to a new leader, leads again in
    // term 137 and proposes at 18 once more before the first wait has timed out.
    const { world, waiters: w } = waiters();
    const old = track(w.wait(18 as Index, 132 as Term, 3_000));
    await runUntil(world, 2_000);
    const fresh = track(w.wait(18 as Index, 137 as Term, 3_000));
    // The old wait times out first; the fresh one must survive that.
    await runUntil(world, 3_000);
    expect(old.outcome).toEqual({ state: 'rejected', name: 'DeadlineExceededError' });
    w.applied(entry(18, 137), null);
    await runUntil(world, 3_001);
    expect(fresh.outcome).toEqual({ state: 'resolved' });
    expect(w.size).toBe(0);
  });

  it('answers both proposals at one index when it is applied: the one of its term resolves, the replaced one is refused', async () => {
    const { world, waiters: w } = waiters();
    const old = track(w.wait(18 as Index, 132 as Term, 3_000));
    const fresh = track(w.wait(18 as Index, 137 as Term, 3_000));
    expect(w.size).toBe(2);
    w.applied(entry(18, 137), null);
    await runUntil(world, 1);
    expect(fresh.outcome).toEqual({ state: 'resolved' });
    expect(old.outcome).toEqual({ state: 'rejected', name: 'UnavailableError' });
    expect(w.size).toBe(0);
    // Their timers were cancelled with them.
    await runUntil(world, 10_000);
    expect(w.size).toBe(0);
  });

  it('a timed-out wait leaves the other waits alone', async () => {
    const { world, waiters: w } = waiters();
    const early = track(w.wait(5 as Index, 2 as Term, 100));
    const late = track(w.wait(6 as Index, 2 as Term, 1_000));
    await runUntil(world, 100);
    expect(early.outcome).toEqual({ state: 'rejected', name: 'DeadlineExceededError' });
    expect(w.size).toBe(1);
    w.applied(entry(5, 2), null);
    w.applied(entry(6, 2), null);
    await runUntil(world, 101);
    expect(late.outcome).toEqual({ state: 'resolved' });
  });
});
