import { describe, expect, it } from 'vitest';

import type { MemberAddresses, MembersView } from '../../src/client/index.js';
import { parseRunOptions } from '../../jepsen-style/cli-options.js';
import type { NodeState, StartOutcome } from '../../jepsen-style/cluster.js';
import { History, type MemberEvent } from '../../jepsen-style/history.js';
import { MemberSet, type KnownConfiguration } from '../../jepsen-style/member-set.js';
import { prepareMembersFault, settle, type MemberAdmin, type MembershipCluster } from '../../jepsen-style/membership-nemesis.js';
import { MIX_KINDS, NEMESIS_KINDS, planFaults } from '../../jepsen-style/nemesis.js';
import { NodeClaims } from '../../jepsen-style/node-claims.js';
import { Prng } from '../../jepsen-style/prng.js';

/**
 * The membership nemesis without node processes: its schedule, the cluster model's member
 * bookkeeping, the lanes' claims, and each variant against a fake cluster whose Members and
 * ChangeMember act on a configuration in memory (and can fail a call, as a fault would make them).
 */

class FakeMembers implements MembershipCluster {
  readonly set = new MemberSet(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'], ['n1', 'n2', 'n3']);
  readonly votersWanted = 3;
  readonly states = new Map<string, NodeState>([['n1', 'running'], ['n2', 'running'], ['n3', 'running']]);
  readonly wiped: string[] = [];
  leaderId = 'n1';
  /** Calls (by kind) to fail once each, as a fault would. */
  failNext = new Set<string>();
  /** The cluster's real configuration; `set` is what the harness last confirmed. */
  real: { voters: string[]; learners: string[] } = { voters: ['n1', 'n2', 'n3'], learners: [] };

  get ids(): readonly string[] {
    return this.set.ids;
  }

  get configuration(): KnownConfiguration {
    return this.set.configuration;
  }

  get nonMembers(): readonly string[] {
    return this.set.nonMembers;
  }

  setConfiguration(configuration: KnownConfiguration): void {
    this.set.set(configuration);
  }

  addressesOf(id: string): MemberAddresses {
    return { peerAddress: `peer:${id}`, clientAddress: `client:${id}` };
  }

  startJoining(id: string): Promise<StartOutcome> {
    if (this.state(id) !== 'down') throw new Error(`${id} is running`);
    this.set.markJoining(id);
    this.states.set(id, 'running');
    return Promise.resolve({ ok: true });
  }

  kill(id: string): Promise<void> {
    this.states.set(id, 'down');
    return Promise.resolve();
  }

  wipe(id: string): void {
    if (this.state(id) !== 'down') throw new Error(`${id} is running`);
    this.wiped.push(id);
  }

  state(id: string): NodeState {
    return this.states.get(id) ?? 'down';
  }

  leader(): Promise<string | null> {
    return Promise.resolve(this.leaderId);
  }

  memberAdmin(): MemberAdmin {
    const view = (): MembersView => ({
      members: [...this.real.voters.map((id) => ({ id, role: 'voter' as const })), ...this.real.learners.map((id) => ({ id, role: 'learner' as const }))].map((m) => ({ ...m, id: m.id as MembersView['members'][number]['id'], peerAddress: null, clientAddress: null, incarnation: '', matchIndex: null, httpAddress: null })),
      leaderId: this.leaderId as MembersView['leaderId'],
      leaderClientAddress: `client:${this.leaderId}`,
      configIndex: 1,
    });
    const change = (kind: string, apply: () => void): Promise<MembersView> => {
      if (this.failNext.delete(kind)) return Promise.reject(new Error(`${kind}: deadline exceeded (outcome unknown)`));
      apply();
      return Promise.resolve(view());
    };
    return {
      list: () => Promise.resolve(view()),
      add: (id) => change('add', () => void this.real.learners.push(id)),
      promote: (id) => change('promote', () => {
        this.real.learners = this.real.learners.filter((x) => x !== id);
        this.real.voters.push(id);
      }),
      remove: (id) => change('remove', () => {
        this.real = { voters: this.real.voters.filter((x) => x !== id), learners: this.real.learners.filter((x) => x !== id) };
        // Removing the leader hands leadership to another voter.
        if (id === this.leaderId) this.leaderId = this.real.voters[0] ?? '';
      }),
      close: () => Promise.resolve(),
    };
  }
}

function contextOf(cluster: FakeMembers) {
  return { members: cluster, history: new History(1_000), claims: new NodeClaims(), log: () => undefined };
}

async function runVariant(cluster: FakeMembers, variant: string, seed = 1) {
  const ctx = contextOf(cluster);
  const prepared = await prepareMembersFault(ctx, 1, variant, new Prng(seed));
  const active = await prepared.apply();
  const healed = await active.heal();
  prepared.release?.();
  const steps = ctx.history.events.filter((e): e is MemberEvent => e.type === 'member');
  return { ctx, prepared, active, healed, steps };
}

function running(cluster: FakeMembers): string[] {
  return [...cluster.states].filter(([, s]) => s !== 'down').map(([id]) => id).sort();
}

describe('the membership schedule', () => {
  it('runs on a timeline of its own: the other faults\' schedule is the same with it or without it, and fault ids follow start times', () => {
    const kinds = ['kill', 'pause', 'partition', 'power'] as const;
    const without = planFaults(new Prng(3).derive('schedule'), { kinds: [...kinds], variants: null, timeMs: 40_000 });
    const withMembers = planFaults(new Prng(3).derive('schedule'), { kinds: [...kinds, 'members'], variants: null, timeMs: 40_000 });
    const strip = (plan: typeof without) => plan.filter((f) => f.kind !== 'members').map(({ faultId: _, ...f }) => f);
    expect(strip(withMembers)).toEqual(strip(without));
    expect(withMembers.filter((f) => f.kind === 'members').length).toBeGreaterThan(1);
    expect(withMembers.map((f) => f.faultId)).toEqual(withMembers.map((_, k) => k + 1));
    for (let k = 1; k < withMembers.length; k++) expect(withMembers[k]?.atMs).toBeGreaterThanOrEqual(withMembers[k - 1]?.atMs ?? 0);
  });

  it('is asked for by name: mix is every other kind', () => {
    expect(NEMESIS_KINDS).toContain('members');
    expect(MIX_KINDS).toEqual(NEMESIS_KINDS.filter((k) => k !== 'members'));
    expect(parseRunOptions(['--nemesis', 'members,kill,pause,partition,power'], () => undefined)).toMatchObject({ nemeses: ['members', 'kill', 'pause', 'partition', 'power'] });
    expect(parseRunOptions(['--nemesis', 'mix'], () => undefined)).toMatchObject({ nemeses: MIX_KINDS });
  });
});

describe('the cluster model\'s member set', () => {
  it('starts with the bootstrap voters, follows a confirmed configuration in pool order, and knows who joins', () => {
    const set = new MemberSet(['n1', 'n2', 'n3', 'n4', 'n5'], ['n1', 'n2', 'n3']);
    expect(set.ids).toEqual(['n1', 'n2', 'n3']);
    expect(set.nonMembers).toEqual(['n4', 'n5']);
    expect(set.joins('n1')).toBe(false);
    expect(set.joins('n4')).toBe(true);
    set.set({ voters: ['n5', 'n2', 'n3'], learners: ['n1'] });
    expect(set.configuration).toEqual({ voters: ['n2', 'n3', 'n5'], learners: ['n1'] });
    expect(set.ids).toEqual(['n2', 'n3', 'n5', 'n1']);
    expect(set.nonMembers).toEqual(['n4']);
    // n1 was wiped and starts afresh: from now on with --join.
    set.markJoining('n1');
    expect(set.joins('n1')).toBe(true);
    expect(() => set.set({ voters: ['n9'], learners: [] })).toThrow(/n9 is not in the pool/);
  });
});

describe('node claims', () => {
  it('a lane takes only nodes the other does not hold, all or nothing, and sees the rest as free', () => {
    const claims = new NodeClaims();
    expect(claims.claim('faults', ['n1', 'n2'])).toBe(true);
    expect(claims.claim('members', ['n2', 'n4'])).toBe(false);
    expect(claims.heldBy('members')).toEqual([]);
    expect(claims.free('members', ['n1', 'n2', 'n3'])).toEqual(['n3']);
    expect(claims.free('faults', ['n1', 'n2', 'n3'])).toEqual(['n1', 'n2', 'n3']);
    claims.release('faults', ['n2']);
    expect(claims.claim('members', ['n2', 'n4'])).toBe(true);
    expect(claims.heldBy('members').sort()).toEqual(['n2', 'n4']);
  });
});

describe('the membership variants against a fake cluster', () => {
  it('grow-shrink: two spares join, are added and promoted (five voters), and the heal brings it back to three, stopping the removed', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const cluster = new FakeMembers();
      const { prepared, active, steps } = await runVariant(cluster, 'grow-shrink', seed);
      expect(prepared.targets).toHaveLength(2);
      expect(active.detail).toMatch(/voters (n\d,){4}n\d$/);
      expect(cluster.real.voters).toHaveLength(3);
      expect(cluster.real.learners).toEqual([]);
      expect(cluster.configuration).toEqual({ voters: [...cluster.real.voters].sort(), learners: [] });
      expect(running(cluster)).toEqual([...cluster.real.voters].sort());
      expect(steps.filter((s) => s.action === 'promote' && s.outcome === 'ok').map((s) => s.node).sort()).toEqual([...prepared.targets].sort());
      expect(steps.filter((s) => s.action === 'remove' && s.outcome === 'ok')).toHaveLength(2);
    }
  });

  it('replace-wiped: a follower is killed and wiped, a new id is added, promoted, and the old one removed', async () => {
    const cluster = new FakeMembers();
    const { prepared, steps } = await runVariant(cluster, 'replace-wiped');
    const [old, fresh] = prepared.targets;
    expect(old).not.toBe('n1');
    expect(cluster.wiped).toEqual([old]);
    expect(cluster.real.voters).toContain(fresh);
    expect(cluster.real.voters).not.toContain(old);
    expect(cluster.real.voters).toHaveLength(3);
    expect(steps.map((s) => `${s.action} ${s.node}`)).toEqual([`kill ${old}`, `wipe ${old}`, `start ${fresh}`, `add ${fresh}`, `promote ${fresh}`, `remove ${old}`]);
    expect(running(cluster)).toEqual([...cluster.real.voters].sort());
  });

  it('remove-leader: the leader is removed (leadership moves), wiped, joins again under its id as a learner, and is promoted at the heal', async () => {
    const cluster = new FakeMembers();
    const { prepared, active, steps } = await runVariant(cluster, 'remove-leader');
    expect(prepared.targets).toEqual(['n1']);
    expect(active.detail).toBe('configuration voters n2,n3, learners n1');
    expect(cluster.leaderId).not.toBe('n1');
    expect(cluster.wiped).toEqual(['n1']);
    expect(cluster.set.joins('n1')).toBe(true);
    expect(cluster.real).toEqual({ voters: ['n2', 'n3', 'n1'], learners: [] });
    expect(steps.map((s) => `${s.action} ${s.node}`)).toEqual(['remove n1', 'kill n1', 'wipe n1', 'start n1', 'add n1', 'promote n1']);
  });

  it('a change whose call fails (a fault in the way) is recorded info, looked up and tried again', async () => {
    const cluster = new FakeMembers();
    cluster.failNext = new Set(['promote']);
    const { steps } = await runVariant(cluster, 'remove-leader');
    const promotes = steps.filter((s) => s.action === 'promote');
    expect(promotes.map((s) => s.outcome)).toEqual(['info', 'ok']);
    expect(promotes[0]?.detail).toMatch(/attempt 1: .*outcome unknown/);
    expect(cluster.real.voters).toContain('n1');
  });

  it('settle brings any configuration back to three voters and no learners, and leaves nodes another fault holds alone', async () => {
    const cluster = new FakeMembers();
    cluster.real = { voters: ['n1', 'n2', 'n3', 'n4'], learners: ['n5'] };
    for (const id of ['n4', 'n5', 'n6']) cluster.states.set(id, 'running');
    const ctx = contextOf(cluster);
    ctx.claims.claim('faults', ['n2']);
    const result = await settle(ctx, 0, ['n2', 'n4']);
    expect(result).toBe('configuration voters n1,n2,n3');
    expect(cluster.real).toEqual({ voters: ['n1', 'n2', 'n3'], learners: [] });
    // n6 ran outside the configuration (a joiner never added): stopped.
    expect(running(cluster)).toEqual(['n1', 'n2', 'n3']);
  });
});
