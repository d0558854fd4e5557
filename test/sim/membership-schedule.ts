import fc from 'fast-check';

import type { ConfChange, ConfChangeRefusal, NodeId, RaftNode, RaftOptions } from '../../raft/index.js';
import { CoreCluster } from './core-cluster.js';
import { Invariant, SafetyViolation } from './invariants.js';
import type { NodeTuning } from './node-api.js';
import { NETWORK_ACTION, tuningArbitrary } from './schedule.js';
import { reliableNetwork } from './sim-network.js';

/**
 * Membership changes interleaved with faults, on bare cores (core-cluster.ts): what
 * fast-check generates and shrinks for the raft-level membership properties.
 *
 * Node numbers in actions index the nodes known at the time (every node ever started, in
 * start order) or the leader's members, modulo their count, so shrinking stays simple.
 */
export type MembershipAction =
  /** A new node is started (joining, no configuration) and, `joinDelayMs` later, the operator adds it as a learner. */
  | { readonly kind: 'addLearner'; readonly joinDelayMs: number }
  | { readonly kind: 'promote'; readonly learner: number }
  | { readonly kind: 'remove'; readonly member: number }
  | { readonly kind: 'removeLeader' }
  /** addLearner of a new node, promote it, remove `member`. */
  | { readonly kind: 'replace'; readonly member: number; readonly joinDelayMs: number }
  | { readonly kind: 'crash'; readonly node: number }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'crashLeader'; readonly downMs: number }
  /** Each known node goes to group groups[k mod length]. */
  | { readonly kind: 'partition'; readonly groups: readonly number[] }
  | { readonly kind: 'isolateLeader' }
  | { readonly kind: 'heal' }
  | { readonly kind: 'network'; readonly dropRate: number; readonly duplicateRate: number; readonly delayMaxMs: number }
  | { readonly kind: 'campaign'; readonly node: number }
  | { readonly kind: 'transfer'; readonly to: number };

export interface MembershipSchedule {
  readonly seed: number;
  readonly tuning?: NodeTuning;
  /** Snapshot every so many applied entries (0: never), so new members also catch up by snapshot. */
  readonly snapshotEvery: number;
  readonly proposeEveryMs: number;
  readonly steps: readonly { readonly waitMs: number; readonly action: MembershipAction }[];
}

export interface MembershipSimConfig {
  readonly size: number;
  readonly createRaft?: (options: RaftOptions) => RaftNode;
  readonly tailMs?: number;
  readonly electionBoundMs?: number;
  readonly applyBoundMs?: number;
}

export interface MembershipRunResult {
  readonly failure: { readonly invariant: string; readonly message: string } | null;
  /** Changes accepted by kind (removeLeader counted apart from remove), and refusals by reason. */
  readonly accepted: Readonly<Record<ConfChange['kind'] | 'removeLeader', number>>;
  readonly refused: Readonly<Partial<Record<ConfChangeRefusal, number>>>;
  readonly elections: number;
  readonly snapshotsInstalled: number;
  readonly finalVoters: number;
  readonly finalLearners: number;
}

type Op = { readonly kind: 'addLearner' | 'promote'; readonly id: NodeId } | { readonly kind: 'promoteAny'; readonly learner: number } | { readonly kind: 'remove'; readonly member: number; readonly except?: NodeId } | { readonly kind: 'removeLeader' };

/** Refusals that retrying cannot change: the operation is dropped. */
const PERMANENT: ReadonlySet<ConfChangeRefusal> = new Set(['alreadyMember', 'notLearner', 'notMember', 'lastVoter']);
const OPERATOR_EVERY_MS = 20;
const ATTEMPTS_MAX = 50;

/**
 * The cluster's operator: a queue of membership operations, each tried at the current leader
 * until accepted, refused for good, or out of attempts. It tries every OPERATOR_EVERY_MS, and
 * at once when a new leader appears (the moment an own-term commit matters).
 */
class Operator {
  private readonly pending: { op: Op; attempts: number }[] = [];
  readonly accepted: Record<ConfChange['kind'] | 'removeLeader', number> = { addLearner: 0, promote: 0, remove: 0, removeLeader: 0 };
  readonly refused: Partial<Record<ConfChangeRefusal, number>> = {};

  constructor(private readonly cluster: CoreCluster) {}

  /** Queues `op`; the operator tries at once (within this instant of virtual time) if it is the only one. */
  enqueue(op: Op): void {
    this.pending.push({ op, attempts: 0 });
    if (this.pending.length === 1) this.cluster.at(0, () => this.attempt());
  }

  attempt(): void {
    const head = this.pending[0];
    const leader = this.cluster.leader();
    if (head === undefined || leader === null) return;
    const change = this.resolve(head.op, leader);
    if (change === null) {
      this.pending.shift();
      return;
    }
    const result = this.cluster.act(leader, (core) => core.proposeConfChange(change));
    if (result === undefined) return;
    if (result.accepted) {
      this.pending.shift();
      this.accepted[head.op.kind === 'removeLeader' ? 'removeLeader' : change.kind]++;
      return;
    }
    this.refused[result.reason] = (this.refused[result.reason] ?? 0) + 1;
    if (PERMANENT.has(result.reason) || ++head.attempts >= ATTEMPTS_MAX) this.pending.shift();
  }

  /** The change an operation stands for, against the leader's configuration now; null when there is none to make. */
  private resolve(op: Op, leader: NodeId): ConfChange | null {
    const config = this.cluster.core(leader)?.status().config;
    if (config === undefined) return null;
    switch (op.kind) {
      case 'addLearner':
      case 'promote':
        return { kind: op.kind, id: op.id };
      case 'promoteAny': {
        const id = config.learners[op.learner % Math.max(1, config.learners.length)];
        return id === undefined ? null : { kind: 'promote', id };
      }
      case 'remove': {
        const members = [...config.voters, ...config.learners].filter((id) => id !== op.except);
        const id = members[op.member % Math.max(1, members.length)];
        return id === undefined ? null : { kind: 'remove', id };
      }
      case 'removeLeader':
        return { kind: 'remove', id: leader };
    }
  }
}

/** Runs one schedule: its steps with background proposals and the operator, then healing and the liveness checks. */
export function runMembershipSchedule(config: MembershipSimConfig, schedule: MembershipSchedule): MembershipRunResult {
  const cluster = new CoreCluster({
    seed: schedule.seed,
    size: config.size,
    snapshotEvery: schedule.snapshotEvery,
    ...(schedule.tuning !== undefined ? { tuning: schedule.tuning } : {}),
    ...(config.createRaft !== undefined ? { createRaft: config.createRaft } : {}),
  });
  const operator = new Operator(cluster);
  cluster.onLeader = () => cluster.at(0, () => operator.attempt());
  let failure: MembershipRunResult['failure'] = null;
  try {
    drive(cluster, operator, config, schedule);
    checkLiveness(cluster, config, schedule);
  } catch (error) {
    if (error instanceof SafetyViolation) failure = { invariant: error.invariant, message: error.message };
    else if (error instanceof Error) failure = { invariant: error.name, message: `${error.message}\n${error.stack ?? ''}` };
    else throw error;
  }
  const leader = cluster.leader();
  const final = leader === null ? null : cluster.core(leader)?.status().config;
  return {
    failure,
    accepted: operator.accepted,
    refused: operator.refused,
    elections: cluster.stats.elections,
    snapshotsInstalled: cluster.stats.snapshotsInstalled,
    finalVoters: final?.voters.length ?? 0,
    finalLearners: final?.learners.length ?? 0,
  };
}

function drive(cluster: CoreCluster, operator: Operator, config: MembershipSimConfig, schedule: MembershipSchedule): void {
  let endMs = 0;
  for (const step of schedule.steps) endMs += step.waitMs;
  endMs += config.tailMs ?? 300;
  const repeat = (everyMs: number, run: () => void): void => {
    const again = (): void => {
      run();
      if (cluster.nowMs + everyMs <= endMs) cluster.at(everyMs, again);
    };
    cluster.at(everyMs, again);
  };
  repeat(schedule.proposeEveryMs, () => cluster.propose());
  repeat(OPERATOR_EVERY_MS, () => operator.attempt());
  let joined = 0;
  const newNode = (): NodeId => {
    const id = `n${config.size + ++joined}` as NodeId;
    cluster.start(id);
    return id;
  };
  for (const step of schedule.steps) {
    cluster.runUntil(cluster.nowMs + step.waitMs);
    apply(cluster, operator, step.action, newNode);
  }
  cluster.runUntil(endMs);
}

function apply(cluster: CoreCluster, operator: Operator, action: MembershipAction, newNode: () => NodeId): void {
  const ids = cluster.ids;
  const known = (k: number): NodeId => ids[k % ids.length] as NodeId;
  const leader = cluster.leader();
  switch (action.kind) {
    case 'addLearner': {
      const id = newNode();
      cluster.at(action.joinDelayMs, () => operator.enqueue({ kind: 'addLearner', id }));
      return;
    }
    case 'promote':
      operator.enqueue({ kind: 'promoteAny', learner: action.learner });
      return;
    case 'remove':
      operator.enqueue({ kind: 'remove', member: action.member });
      return;
    case 'removeLeader':
      operator.enqueue({ kind: 'removeLeader' });
      return;
    case 'replace': {
      const id = newNode();
      cluster.at(action.joinDelayMs, () => {
        operator.enqueue({ kind: 'addLearner', id });
        operator.enqueue({ kind: 'promote', id });
        operator.enqueue({ kind: 'remove', member: action.member, except: id });
      });
      return;
    }
    case 'crash':
      cluster.crash(known(action.node));
      return;
    case 'restart':
      cluster.restart(known(action.node));
      return;
    case 'crashLeader':
      if (leader === null) return;
      cluster.crash(leader);
      cluster.at(action.downMs, () => cluster.restart(leader));
      return;
    case 'partition':
      cluster.network.partition(groupsOf(ids, action.groups));
      return;
    case 'isolateLeader':
      if (leader !== null) cluster.network.partition([[leader], ids.filter((id) => id !== leader)]);
      return;
    case 'heal':
      cluster.network.heal();
      return;
    case 'network':
      cluster.network.conditions = { delayMinMs: 1, delayMaxMs: action.delayMaxMs, dropRate: action.dropRate, duplicateRate: action.duplicateRate };
      return;
    case 'campaign':
      cluster.act(known(action.node), (core) => core.campaign());
      return;
    case 'transfer':
      if (leader !== null) cluster.act(leader, (core) => core.transferLeadership(known(action.to)));
      return;
  }
}

function groupsOf(ids: readonly NodeId[], groups: readonly number[]): NodeId[][] {
  const out = new Map<number, NodeId[]>();
  for (const [k, id] of ids.entries()) {
    const g = groups[k % Math.max(1, groups.length)] ?? 0;
    out.set(g, [...(out.get(g) ?? []), id]);
  }
  return [...out.values()];
}

/**
 * After healing (every node up, a reliable network): a leader that has committed in its term,
 * and the last change, within the election bound (a leader removed meanwhile hands over); a fresh entry applied on every member of its configuration
 * within the apply bound; and then no term change for ten election timeouts, whatever
 * removed members and nodes that never joined do.
 */
function checkLiveness(cluster: CoreCluster, config: MembershipSimConfig, schedule: MembershipSchedule): void {
  cluster.network.heal();
  cluster.network.conditions = reliableNetwork;
  for (const id of cluster.ids) cluster.restart(id);
  const electionMs = 2 * (schedule.tuning?.electionTicks ?? 10) * 10;
  const fail = (detail: string): never => cluster.checker.violation(Invariant.liveness, `${detail}\n${describeNodes(cluster)}`);
  const settled = (): boolean => {
    const leader = cluster.leader();
    const st = leader === null ? undefined : cluster.core(leader)?.status();
    if (st === undefined || st.configIndex > st.commit || !st.config.voters.includes(st.id)) return false;
    return cluster.logOf(st.id)?.entries.find((e) => e.index === st.commit)?.term === st.term;
  };
  // Committing in its term may first need a long uncommitted tail replicated, one entry per
  // round trip under the narrowest tunings: the bound leaves room for that.
  const settleBoundMs = config.electionBoundMs ?? 10 * electionMs + 5_000;
  if (!cluster.runUntilTrue(settled, settleBoundMs)) fail(`no leader committed in its term and its configuration within ${settleBoundMs} ms of healing`);
  // A fresh entry, proposed (again, while refused or lost to a leader change) at the current
  // leader, applied on every member of that leader's configuration.
  const proposals: { index: number; term: number }[] = [];
  const members = (leader: NodeId): NodeId[] => {
    const c = cluster.core(leader)?.status().config;
    return c === undefined ? [] : [...c.voters, ...c.learners];
  };
  const appliedEverywhere = (): boolean => {
    const leader = cluster.leader();
    const st = leader === null ? undefined : cluster.core(leader)?.status();
    if (leader === null || st === undefined) return false;
    const held = proposals.find((p) => cluster.logOf(leader)?.entries.find((e) => e.index === p.index)?.term === p.term);
    if (held === undefined) {
      const result = cluster.act(leader, (core) => core.propose(new TextEncoder().encode(`after-heal-${proposals.length}`)));
      if (result?.accepted === true) proposals.push({ index: result.index, term: result.term });
      return false;
    }
    return members(leader).every((id) => (cluster.logOf(id)?.applied ?? 0) >= held.index);
  };
  if (!cluster.runUntilTrue(appliedEverywhere, config.applyBoundMs ?? 10 * electionMs + 5_000)) {
    const leader = cluster.leader();
    const applied = leader === null ? '' : members(leader).map((id) => `${id}@${cluster.logOf(id)?.applied ?? '?'}`).join(' ');
    fail(`no fresh entry applied on every member within the apply bound (proposed ${proposals.map((p) => `${p.index}/${p.term}`).join(' ')}; applied ${applied})`);
  }
  // A preferred leader may take over once (a transfer); after that, the term stays.
  const preferred = schedule.tuning?.preferredLeader ?? null;
  let before = { leader: cluster.leader(), term: termOf(cluster, cluster.leader()) };
  for (let window = 0; window < 2; window++) {
    cluster.runUntil(cluster.nowMs + 10 * electionMs);
    const after = { leader: cluster.leader(), term: termOf(cluster, cluster.leader()) };
    if (after.term === before.term) return;
    if (window > 0 || after.leader !== preferred || before.leader === preferred) {
      fail(`the term moved from ${String(before.term)} (${String(before.leader)}) to ${String(after.term)} (${String(after.leader)}) on a healed cluster`);
    }
    before = after;
  }
}

function termOf(cluster: CoreCluster, id: NodeId | null): number | undefined {
  return id === null ? undefined : cluster.core(id)?.status().term;
}

/** One line per node: role, term, log and configuration (for a failure report). */
export function describeNodes(cluster: CoreCluster): string {
  return cluster.ids
    .map((id) => {
      const st = cluster.core(id)?.status();
      if (st === undefined) return `  ${id}: down`;
      const config = `voters ${st.config.voters.join(',') || '-'} learners ${st.config.learners.join(',') || '-'} (at ${st.configIndex})`;
      return `  ${id}: ${st.role} term ${st.term} leader ${String(st.leader)} commit ${st.commit} last ${st.lastIndex} ${config}`;
    })
    .join('\n');
}

// ---- generators ------------------------------------------------------------------------

export const MEMBERSHIP_WEIGHTS: Record<MembershipAction['kind'], number> = {
  addLearner: 3,
  promote: 3,
  remove: 2,
  removeLeader: 1,
  replace: 2,
  crash: 2,
  restart: 3,
  crashLeader: 2,
  partition: 3,
  isolateLeader: 2,
  heal: 3,
  network: 2,
  campaign: 1,
  transfer: 1,
};

/**
 * Where two leaders' changes could overlap (the single-server bug): four voters, so two
 * removals by two leaders can leave majorities with no member in common; the operator
 * removes often, leaders get cut off or crash right after proposing, and the network loses
 * messages. (Without the crashes, the planted bug took about four times as many schedules.)
 */
export const MEMBERSHIP_OVERLAP_GROUND = {
  size: 4,
  stepsMax: 30,
  waitMsMax: 80,
  weights: { remove: 5, partition: 2, isolateLeader: 5, heal: 4, network: 4, crashLeader: 3, restart: 2 },
} as const satisfies MembershipShape;

export interface MembershipShape {
  readonly size: number;
  readonly stepsMax?: number;
  readonly waitMsMax?: number;
  readonly varyTuning?: boolean;
  readonly weights?: Partial<Record<MembershipAction['kind'], number>>;
}

export function membershipActionArbitrary(weights: Partial<Record<MembershipAction['kind'], number>> = MEMBERSHIP_WEIGHTS): fc.Arbitrary<MembershipAction> {
  const node = fc.nat(15);
  const joinDelayMs = fc.integer({ min: 0, max: 400 });
  const all: Record<MembershipAction['kind'], fc.Arbitrary<MembershipAction>> = {
    addLearner: fc.record({ kind: fc.constant('addLearner' as const), joinDelayMs }),
    promote: fc.record({ kind: fc.constant('promote' as const), learner: node }),
    remove: fc.record({ kind: fc.constant('remove' as const), member: node }),
    removeLeader: fc.constant({ kind: 'removeLeader' as const }),
    replace: fc.record({ kind: fc.constant('replace' as const), member: node, joinDelayMs }),
    crash: fc.record({ kind: fc.constant('crash' as const), node }),
    restart: fc.record({ kind: fc.constant('restart' as const), node }),
    crashLeader: fc.record({ kind: fc.constant('crashLeader' as const), downMs: fc.integer({ min: 0, max: 600 }) }),
    partition: fc.record({ kind: fc.constant('partition' as const), groups: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 8 }) }),
    isolateLeader: fc.constant({ kind: 'isolateLeader' as const }),
    heal: fc.constant({ kind: 'heal' as const }),
    network: NETWORK_ACTION,
    campaign: fc.record({ kind: fc.constant('campaign' as const), node }),
    transfer: fc.record({ kind: fc.constant('transfer' as const), to: node }),
  };
  const choices = (Object.keys(all) as MembershipAction['kind'][]).filter((kind) => (weights[kind] ?? 0) > 0).map((kind) => ({ arbitrary: all[kind], weight: weights[kind] ?? 0 }));
  return fc.oneof(...choices);
}

export function membershipScheduleArbitrary(shape: MembershipShape): fc.Arbitrary<MembershipSchedule> {
  const step = fc.record({ waitMs: fc.integer({ min: 0, max: shape.waitMsMax ?? 300 }), action: membershipActionArbitrary(shape.weights) });
  return fc.record({
    // Pre-vote stays on: without it a stale member that can never win (the others do not count
    // it as a voter and drop its requests) may take a node's vote at every term before the
    // live candidates reach that term, and no election finishes (docs/membership.md).
    ...(shape.varyTuning === true ? { tuning: tuningArbitrary(shape.size).map((tuning) => ({ ...tuning, preVote: true })) } : {}),
    seed: fc.integer({ min: 0, max: 0x7fff_ffff }),
    snapshotEvery: fc.constantFrom(0, 5, 20),
    proposeEveryMs: fc.integer({ min: 5, max: 60 }),
    steps: fc.array(step, { minLength: 1, maxLength: shape.stepsMax ?? 20, size: 'max' }),
  });
}

export function describeMembershipSchedule(schedule: MembershipSchedule): string {
  const head = `seed=${schedule.seed} snapshotEvery=${schedule.snapshotEvery} proposeEveryMs=${schedule.proposeEveryMs}${schedule.tuning !== undefined ? ` tuning=${JSON.stringify(schedule.tuning)}` : ''}`;
  let at = 0;
  const lines = schedule.steps.map((step) => {
    at += step.waitMs;
    return `  +${step.waitMs}ms (t=${at}) ${JSON.stringify(step.action)}`;
  });
  return [head, ...lines].join('\n');
}
