import { describe, expect, it } from 'vitest';

import { RESTART_POLICY_DEFAULTS, RestartPolicy } from '../../src/cli/restart-policy.js';

const killed = { code: null, signal: 'SIGKILL' };

describe('RestartPolicy (quorumlog cluster --restart)', () => {
  it('restarts a node killed by a signal or failing with a status, after the delay', () => {
    const policy = new RestartPolicy({ ...RESTART_POLICY_DEFAULTS, delayMs: 1500 });
    expect(policy.decide(killed, 0)).toEqual({ action: 'restart', delayMs: 1500 });
    expect(policy.decide({ code: 1, signal: null }, 10_000)).toEqual({ action: 'restart', delayMs: 1500 });
  });

  it('leaves down a node that exited cleanly or with a usage/config error, and every node with --restart never', () => {
    const policy = new RestartPolicy(RESTART_POLICY_DEFAULTS);
    expect(policy.decide({ code: 0, signal: null }, 0)).toMatchObject({ action: 'leave-down', reason: expect.stringContaining('cleanly') });
    expect(policy.decide({ code: 2, signal: null }, 0)).toMatchObject({ action: 'leave-down', reason: expect.stringContaining('configuration error') });
    const never = new RestartPolicy({ ...RESTART_POLICY_DEFAULTS, mode: 'never' });
    expect(never.decide(killed, 0)).toEqual({ action: 'leave-down', reason: '--restart never' });
  });

  it('gives up on a node that keeps failing within the window, and restarts again once the window has passed', () => {
    const policy = new RestartPolicy({ mode: 'on-failure', delayMs: 100, restartsMax: 3, windowMs: 10_000 });
    for (const t of [0, 1000, 2000]) expect(policy.decide(killed, t).action).toBe('restart');
    expect(policy.decide(killed, 3000)).toEqual({ action: 'leave-down', reason: 'it failed 4 times within 10 s' });
    // 10 s after the first restart it falls out of the window.
    expect(policy.decide(killed, 10_000).action).toBe('restart');
    expect(policy.decide(killed, 10_500).action).toBe('leave-down');
    // A kill asked for by hand is no crash loop.
    expect(policy.decide(killed, 10_550, { requested: true }).action).toBe('restart');
    policy.reset();
    expect(policy.decide(killed, 10_600).action).toBe('restart');
  });
});
