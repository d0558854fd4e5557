import fc from 'fast-check';

import type { NodeId, RaftNode, RaftOptions } from '../../raft/index.js';
import type { RetentionConfig } from '../../src/node/config.js';
import { BrokerCheckFailed } from './broker-checkers.js';
import { BrokerWorkload, type BrokerWorkloadOptions, type BrokerWorkloadStats } from './broker-workload.js';
import { Invariant, SafetyViolation } from './invariants.js';
import type { NodeTuning } from './node-api.js';
import { NodeCluster } from './node-cluster.js';
import { MembershipOperator, type MemberOp, type OperatorStats } from './node-operator.js';
import { actionArbitrary, DEFAULT_WEIGHTS, describeAction, type FaultAction, type Schedule } from './schedule.js';
import { reliableNetwork } from './sim-network.js';

/**
 * Runs a fault schedule (the same Schedule that test/sim/schedule.ts generates and shrinks)
 * against a cluster of production nodes, then heals everything and checks recovery and that
 * nothing acknowledged was lost.
 */
export interface NodeSimConfig {
  readonly size: number;
  readonly tuning?: NodeTuning;
  /** The core to run; a planted-bug subclass in bug hunts. */
  readonly createRaft?: (options: RaftOptions) => RaftNode;
  readonly fsyncMinMs?: number;
  readonly fsyncMaxMs?: number;
  readonly clockSkewMaxMs?: number;
  readonly clockDriftMax?: number;
  readonly segmentBytes?: number;
  /**
   * Snapshots every N applied entries, N drawn per schedule from [entriesMin, entriesMax],
   * with this retention (hours 0: every snapshot compacts as far as the policy allows).
   */
  readonly snapshots?: { readonly entriesMin: number; readonly entriesMax: number; readonly retention: RetentionConfig };
  /** See NodeClusterOptions.checkDurability (default true). */
  readonly checkDurability?: boolean;
  /** See NodeClusterOptions.bootstrapCheck ('every-disk': the run starts from a new cluster whose members check each other). */
  readonly bootstrapCheck?: 'lost-disks' | 'every-disk';
  /** Virtual time that runs after the last step, before healing. */
  readonly tailMs?: number;
  readonly electionBoundMs?: number;
  readonly applyBoundMs?: number;
  /**
   * Runs the broker workload (broker-workload.ts) beside the raw appends: producers,
   * a consumer group and transactions through the broker's services, checked at the end.
   */
  readonly broker?: BrokerWorkloadOptions;
  /** What node clocks read at virtual time 0 (NodeClusterOptions.clockOriginMs); the broker workload's default is BROKER_CLOCK_ORIGIN_MS. */
  readonly clockOriginMs?: number;
  /** Virtual time the broker workload may take to drain after healing. */
  readonly brokerDrainBoundMs?: number;
  /**
   * Membership changes run (the schedule's addLearner, promote, remove, removeLeader, replace
   * and wipe actions, through the operator of node-operator.ts): after healing the operator
   * finishes its queue (a wiped disk still a member is replaced), the checks hold to the final
   * configuration's members, and the term must stay put for ten election timeouts, whatever
   * removed nodes still running do.
   */
  readonly membership?: boolean;
  /** How the operator works (MembershipOperator): 'careful' (default) works around FINDINGS F7. */
  readonly operator?: 'careful' | 'plain';
}

/** Nodes started to join, at most, per run (each is a whole production node). */
const JOINERS_MAX = 4;
/** Virtual time the operator may take after healing to finish its queue. */
const OPERATOR_DRAIN_BOUND_MS = 20_000;

export interface NodeRunResult {
  readonly steps: number;
  readonly simulatedMs: number;
  readonly appends: number;
  readonly acked: number;
  readonly messages: number;
  /** Snapshots streamed to a follower and installed there (InstallSnapshot). */
  readonly snapshotsInstalled: number;
  /** State machines restored from a snapshot: at a start, or by an install. */
  readonly snapshotsRestored: number;
  /** Of those, the ones at a start, from the node's own snapshot. */
  readonly snapshotsRestoredAtStart: number;
  /** Hash of every node's final log, hard state and applied index. */
  readonly digest: string;
  /** Each node's own digest, in id order (empty when the run failed). */
  readonly nodeDigests: readonly (readonly [NodeId, string])[];
  /** What the broker workload did, when it ran. */
  readonly broker: BrokerWorkloadStats | null;
  /** What the membership operator did, when changes ran. */
  readonly membership: (OperatorStats & { readonly finalVoters: number; readonly finalLearners: number; readonly joined: number; readonly wipes: number; readonly stoppedForGood: readonly NodeId[] }) | null;
  readonly failure: { readonly invariant: string; readonly message: string; readonly trace: string } | null;
}

/** Exactly `steps` timed fault actions for `nodes` nodes (what `npm run sim -- --steps` runs). */
export function fixedScheduleArbitrary(nodes: number, steps: number): fc.Arbitrary<Schedule> {
  const step = fc.record({ waitMs: fc.integer({ min: 0, max: 300 }), action: actionArbitrary(nodes, NODE_WEIGHTS) });
  return fc.record({
    seed: fc.integer({ min: 0, max: 0x7fff_ffff }),
    proposeEveryMs: fc.integer({ min: 1, max: 20 }),
    steps: fc.array(step, { minLength: steps, maxLength: steps }),
  });
}

/** The schedule a seed names: `npm run sim -- --seed S --nodes N --steps K` runs this one. */
export function scheduleOfSeed(seed: number, nodes: number, steps: number): Schedule {
  const [schedule] = fc.sample(fixedScheduleArbitrary(nodes, steps), { seed, numRuns: 1 });
  if (schedule === undefined) throw new Error('node-schedule: fast-check sampled no schedule');
  return schedule;
}

/** The generated faults on production nodes: the core-level ones plus process pauses (weights as in schedule.ts). */
export const NODE_WEIGHTS = { ...DEFAULT_WEIGHTS, pause: 2, pauseLeader: 2, crashAfterSyncs: 3 } as const;

/**
 * Membership changes among every fault the node simulator has: the operator adds learners
 * (new nodes joining), promotes, removes members and the leader, replaces members, and a
 * voter's disk is wiped (then replaced); disk damage on one node at a time.
 */
export const MEMBERSHIP_NODE_WEIGHTS = { ...NODE_WEIGHTS, damage: 1, addLearner: 3, promote: 3, remove: 2, removeLeader: 1, replace: 2, wipe: 2 } as const;

const TICK_MS = 10;

/**
 * The shortest election timeout, in ticks, under which `config`'s cluster can still elect a
 * leader once healed: Raft needs one election round (the candidate's fsync of its term and
 * vote, the request, each voter's fsync, the answer) to fit within the timeout, as it reads
 * on the fastest clock. Shorter timeouts livelock, candidates outbidding each other before
 * any vote returns (FINDINGS O5), which no node code can prevent.
 */
export function electionTicksFloor(config: NodeSimConfig): number {
  const roundMs = 2 * ((config.fsyncMaxMs ?? 6) + reliableNetwork.delayMaxMs);
  return Math.max(3, Math.ceil(roundMs / (1 - (config.clockDriftMax ?? 0)) / TICK_MS));
}
// Ten maximal randomized election timeouts at the default 10 ticks of 10 ms.
const DEFAULT_ELECTION_BOUND_MS = 2_000;
const DEFAULT_APPLY_BOUND_MS = 6_000;
// Delayed messages, retries up to the dead-letter topic and the last check-back all fall due
// within about a second of log time; clock skew between leaders can hold the log clock back by
// up to twice the skew.
const DEFAULT_BROKER_DRAIN_BOUND_MS = 10_000;
// Clocks start well above any skew, so no leader's clock reads below 0.
const BROKER_CLOCK_ORIGIN_MS = 1_000_000;

/** The snapshot interval a schedule runs with: a function of its seed, so a replay gets the same. */
function snapshotEntriesOf(snapshots: NonNullable<NodeSimConfig['snapshots']>, seed: number): number {
  return snapshots.entriesMin + (Math.abs(seed) % (snapshots.entriesMax - snapshots.entriesMin + 1));
}

export async function runNodeSchedule(config: NodeSimConfig, schedule: Schedule): Promise<NodeRunResult> {
  const tuning = config.tuning !== undefined || schedule.tuning !== undefined ? { ...config.tuning, ...schedule.tuning } : undefined;
  const cluster = new NodeCluster({
    seed: schedule.seed,
    size: config.size,
    tickMs: TICK_MS,
    ...(tuning !== undefined ? { tuning } : {}),
    ...(config.createRaft !== undefined ? { createRaft: config.createRaft } : {}),
    fsyncMinMs: config.fsyncMinMs ?? 1,
    fsyncMaxMs: config.fsyncMaxMs ?? 6,
    ...(config.clockSkewMaxMs !== undefined ? { clockSkewMaxMs: config.clockSkewMaxMs } : {}),
    ...(config.clockDriftMax !== undefined ? { clockDriftMax: config.clockDriftMax } : {}),
    ...(config.segmentBytes !== undefined ? { segmentBytes: config.segmentBytes } : {}),
    ...(config.snapshots !== undefined ? { snapshotEntries: snapshotEntriesOf(config.snapshots, schedule.seed), retention: config.snapshots.retention } : {}),
    ...(config.checkDurability !== undefined ? { checkDurability: config.checkDurability } : {}),
    ...(config.bootstrapCheck !== undefined ? { bootstrapCheck: config.bootstrapCheck } : {}),
    ...(config.clockOriginMs !== undefined || config.broker !== undefined ? { clockOriginMs: config.clockOriginMs ?? BROKER_CLOCK_ORIGIN_MS } : {}),
  });
  const id = (n: number): NodeId => cluster.ids[n % cluster.ids.length] as NodeId;
  const workload = config.broker === undefined ? null : new BrokerWorkload(cluster, cluster.workloadRandom, config.broker);
  const operator = config.membership === true ? new MembershipOperator(cluster, config.operator ?? 'careful') : null;
  const changes = { wipes: 0, delayed: 0 };
  try {
    workload?.start();
    scheduleClients(cluster, schedule.proposeEveryMs);
    let at = 0;
    for (const step of schedule.steps) {
      at += step.waitMs;
      cluster.at(at, describeAction(step.action), () => {
        if (operator === null || !performChange(cluster, operator, step.action, changes)) perform(cluster, step.action, id);
      });
    }
    await cluster.runFor(at + (config.tailMs ?? 300));
    const electionTicks = tuning?.electionTicks ?? 10;
    const electionBoundMs = config.electionBoundMs ?? Math.max(DEFAULT_ELECTION_BOUND_MS, electionTicks * 2 * 10 * TICK_MS);
    await cluster.checkRecovery(electionBoundMs, config.applyBoundMs ?? DEFAULT_APPLY_BOUND_MS, operator === null ? undefined : () => finishChanges(cluster, operator, changes));
    if (operator !== null) await checkTermStays(cluster, electionTicks * 2 * TICK_MS);
    await workload?.finish(config.brokerDrainBoundMs ?? DEFAULT_BROKER_DRAIN_BOUND_MS);
    return result(cluster, workload, null, operator, changes);
  } catch (error) {
    const invariant = error instanceof SafetyViolation || error instanceof BrokerCheckFailed ? error.invariant : error instanceof Error ? error.name : 'unknown';
    const message = error instanceof Error ? error.message : String(error);
    return result(cluster, workload, { invariant, message, trace: cluster.recentTrace() }, operator, changes);
  }
}

/**
 * A membership action, made through the operator; false for any other action. A new node
 * (addLearner, replace, a wiped disk's replacement) starts at once with `--join`; at most
 * JOINERS_MAX start per run.
 */
function performChange(cluster: NodeCluster, operator: MembershipOperator, action: FaultAction, changes: { wipes: number; delayed: number }): boolean {
  // An operation queued a join delay later: the recovery check waits for it (finishChanges).
  const later = (delayMs: number, label: string, ...ops: MemberOp[]): void => {
    changes.delayed++;
    cluster.at(delayMs, label, () => {
      changes.delayed--;
      operator.enqueue(...ops);
    });
  };
  const joinerRoom = cluster.ids.length < cluster.bootstrapIds.length + JOINERS_MAX;
  switch (action.kind) {
    case 'addLearner': {
      if (!joinerRoom) return true;
      const id = cluster.startJoiner();
      later(action.joinDelayMs, `operator adds ${id}`, { kind: 'add', id });
      return true;
    }
    case 'promote':
      operator.enqueue({ kind: 'promoteAny', learner: action.learner });
      return true;
    case 'remove':
      operator.enqueue({ kind: 'removeAny', member: action.member });
      return true;
    case 'removeLeader':
      operator.enqueue({ kind: 'removeLeader' });
      return true;
    case 'replace': {
      if (!joinerRoom) return true;
      const id = cluster.startJoiner();
      later(action.joinDelayMs, `operator replaces with ${id}`, { kind: 'add', id }, { kind: 'promote', id }, { kind: 'removeAny', member: action.member, except: id });
      return true;
    }
    case 'wipe': {
      const leader = cluster.leader();
      const voters = leader === null ? [] : cluster.status(leader).config.voters;
      // Not while a removal from three voters is on its way: appended after the wipe, it could
      // leave two, one of them the wiped disk, which elect no one (FINDINGS O6). NodeCluster.wipe
      // refuses the same once such a change is appended.
      if (operator.removalInFlight && voters.length <= 3) return true;
      const target = voters[action.member % Math.max(1, voters.length)];
      if (!joinerRoom || target === undefined || cluster.ids.length < 3 || !cluster.wipe(target)) return true;
      changes.wipes++;
      const id = cluster.startJoiner();
      operator.urgently({ kind: 'add', id }, { kind: 'promote', id }, { kind: 'remove', id: target });
      return true;
    }
    default:
      return false;
  }
}

/**
 * After healing, with a leader: the operator finishes what it has queued (asked again for
 * longer now), and a wiped disk the configuration still names is removed (its replacement may
 * have been given up on). A wiped disk still a member then is a liveness failure.
 */
async function finishChanges(cluster: NodeCluster, operator: MembershipOperator, changes: { readonly delayed: number }): Promise<void> {
  operator.attemptsMax = 200;
  operator.holdRemovalsWhileDamaged = false;
  for (const id of cluster.staleWiped()) operator.urgently({ kind: 'remove', id });
  await cluster.runUntil(() => operator.idle && changes.delayed === 0, OPERATOR_DRAIN_BOUND_MS);
  const stale = cluster.staleWiped();
  if (stale.length > 0) cluster.checker.violation(Invariant.liveness, `the wiped disk(s) ${stale.join(',')} still members ${OPERATOR_DRAIN_BOUND_MS} ms after healing`);
}

/**
 * On the healed cluster, the leader's term stays put for ten election timeouts: no removed
 * member still running, no wiped disk, no joiner never added disturbs it.
 */
async function checkTermStays(cluster: NodeCluster, electionTimeoutMs: number): Promise<void> {
  const leader = cluster.leader();
  const term = leader === null ? null : cluster.status(leader).term;
  await cluster.runFor(10 * electionTimeoutMs);
  const after = cluster.leader();
  const termAfter = after === null ? null : cluster.status(after).term;
  if (termAfter !== term) cluster.checker.violation(Invariant.liveness, `the term moved from ${String(term)} (${String(leader)}) to ${String(termAfter)} (${String(after)}) on the healed cluster`);
}

function result(cluster: NodeCluster, workload: BrokerWorkload | null, failure: NodeRunResult['failure'], operator: MembershipOperator | null = null, changes = { wipes: 0, delayed: 0 }): NodeRunResult {
  const leader = failure === null ? cluster.leader() : null;
  const final = leader === null ? null : cluster.status(leader).config;
  return {
    steps: cluster.steps,
    simulatedMs: cluster.nowMs,
    appends: cluster.appends.length,
    acked: cluster.appends.filter((a) => a.state === 'acked').length,
    messages: cluster.messagesSent,
    snapshotsInstalled: cluster.snapshotLink.finished,
    snapshotsRestored: cluster.ids.reduce((n, id) => n + cluster.restores(id).length, 0),
    snapshotsRestoredAtStart: cluster.ids.reduce((n, id) => n + cluster.restoresAtStart(id), 0),
    digest: failure === null ? cluster.digest() : '',
    nodeDigests: failure === null ? cluster.nodeDigests() : [],
    broker: workload?.stats() ?? null,
    membership:
      operator === null
        ? null
        : { ...operator.stats, finalVoters: final?.voters.length ?? 0, finalLearners: final?.learners.length ?? 0, joined: cluster.ids.length - cluster.bootstrapIds.length, wipes: changes.wipes, stoppedForGood: cluster.stoppedForGood },
    failure,
  };
}

/** Clients keep appending until healing starts; the recovery check then adds its own. */
function scheduleClients(cluster: NodeCluster, everyMs: number): void {
  const loop = (): void => {
    if (cluster.recovering) return;
    cluster.append();
    cluster.at(everyMs, 'client', loop);
  };
  cluster.at(everyMs, 'client', loop);
}

function perform(cluster: NodeCluster, action: FaultAction, id: (n: number) => NodeId): void {
  switch (action.kind) {
    case 'crash':
      cluster.crash(id(action.node), { tear: action.tear });
      return;
    case 'restart':
      cluster.restart(id(action.node));
      return;
    case 'crashLeader': {
      const leader = cluster.leader();
      if (leader === null) return;
      cluster.crash(leader, { tear: action.tear });
      cluster.at(action.downMs, `restart ${leader}`, () => cluster.restart(leader));
      return;
    }
    case 'powerLoss':
      for (const node of cluster.ids) cluster.crash(node, { tear: action.tear });
      cluster.at(action.downMs, 'power back', () => {
        for (const node of cluster.ids) cluster.restart(node);
      });
      return;
    case 'partition': {
      const groups = new Map<number, NodeId[]>();
      cluster.ids.forEach((node, i) => {
        // Nodes that joined since take the groups from the start again.
        const g = action.groups[i % Math.max(1, action.groups.length)] ?? 0;
        groups.set(g, [...(groups.get(g) ?? []), node]);
      });
      cluster.network.partition([...groups.values()]);
      return;
    }
    case 'isolateLeader': {
      const leader = cluster.leader();
      if (leader === null) return;
      cluster.network.partition([[leader], cluster.ids.filter((n) => n !== leader)]);
      return;
    }
    case 'cutLink':
      if (action.from % cluster.ids.length !== action.to % cluster.ids.length) cluster.network.cutLink(id(action.from), id(action.to));
      return;
    case 'heal':
      cluster.network.heal();
      return;
    case 'network':
      cluster.network.conditions = { delayMinMs: 1, delayMaxMs: action.delayMaxMs, dropRate: action.dropRate, duplicateRate: action.duplicateRate };
      return;
    case 'slowDisk':
      cluster.setFsyncMs(id(action.node), 1, action.fsyncMaxMs);
      return;
    case 'burst':
      if (action.batch) cluster.appendBatch(action.count);
      else for (let i = 0; i < action.count; i++) cluster.append();
      return;
    case 'transfer':
      cluster.transfer(id(action.to));
      return;
    case 'campaign':
      cluster.campaign(id(action.node));
      return;
    case 'damage':
      cluster.damage(id(action.node), action.lose);
      return;
    case 'pause':
      cluster.pause(id(action.node), action.ms);
      return;
    case 'crashAfterSyncs':
      cluster.crashAfterSyncs(id(action.node), action.syncs, { tear: action.tear });
      return;
    case 'pauseLeader': {
      const leader = cluster.leader();
      if (leader !== null) cluster.pause(leader, action.ms);
      return;
    }
  }
}
