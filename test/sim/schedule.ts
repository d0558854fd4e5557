import fc from 'fast-check';
import type { NodeId } from '../../raft/types.js';
import { Cluster } from './cluster.js';
import { SafetyViolation } from './invariants.js';
import type { NodeFactory, NodeTuning } from './node-api.js';

/**
 * Fault schedules: what fast-check generates and shrinks. A schedule is a seed (for every
 * choice the simulator makes on its own: delays, drops, tears, jitter) plus a list of timed
 * fault actions. Replaying the same schedule reproduces the run exactly.
 *
 * Nodes are numbered 0..size-1 in schedules (n1..nN in the cluster) so shrinking stays simple.
 */
export type FaultAction =
  | { readonly kind: 'crash'; readonly node: number; readonly tear: boolean }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'crashLeader'; readonly tear: boolean; readonly downMs: number }
  /** Power fails everywhere at once: every node crashes (unsynced writes lost, the last torn if `tear`), then all restart after `downMs`. */
  | { readonly kind: 'powerLoss'; readonly tear: boolean; readonly downMs: number }
  | { readonly kind: 'partition'; readonly groups: readonly number[] }
  | { readonly kind: 'isolateLeader' }
  | { readonly kind: 'cutLink'; readonly from: number; readonly to: number }
  | { readonly kind: 'heal' }
  | { readonly kind: 'network'; readonly dropRate: number; readonly duplicateRate: number; readonly delayMaxMs: number }
  | { readonly kind: 'slowDisk'; readonly node: number; readonly fsyncMaxMs: number }
  | { readonly kind: 'burst'; readonly count: number; readonly batch: boolean }
  | { readonly kind: 'transfer'; readonly to: number }
  | { readonly kind: 'campaign'; readonly node: number }
  /** The node's process stops for `ms` and resumes (SIGSTOP, a GC pause): a paused leader resumes deposed. */
  | { readonly kind: 'pause'; readonly node: number; readonly ms: number }
  /** The leader's process stops for `ms` and resumes. */
  | { readonly kind: 'pauseLeader'; readonly ms: number }
  /** The node crashes right after `syncs` more of its disk syncs complete (mid group commit: between data and mark). */
  | { readonly kind: 'crashAfterSyncs'; readonly node: number; readonly syncs: number; readonly tear: boolean }
  /** Damage beyond power loss: the node's disk loses its last `lose` durable entries; it restarts knowing it lost some. */
  | { readonly kind: 'damage'; readonly node: number; readonly lose: number };

export interface ScheduleStep {
  /** Virtual milliseconds after the previous step. */
  readonly waitMs: number;
  readonly action: FaultAction;
}

export interface Schedule {
  readonly seed: number;
  /** Core options for this run, when the generator varies them (merged over SimConfig.tuning). */
  readonly tuning?: NodeTuning;
  /** Background clients propose to the leader this often. */
  readonly proposeEveryMs: number;
  readonly steps: readonly ScheduleStep[];
}

export interface SimConfig {
  readonly size: number;
  readonly factory: NodeFactory;
  readonly tuning?: NodeTuning;
  readonly fsyncMinMs?: number;
  readonly fsyncMaxMs?: number;
  /** See ClusterOptions.checkDurableBeforeAck (default true). */
  readonly checkDurableBeforeAck?: boolean;
  /** TCP-like links, see ClusterOptions.orderedLinks. */
  readonly orderedLinks?: boolean;
  /** Asynchronous persistence, see ClusterOptions.asyncStorage. */
  readonly asyncStorage?: boolean;
  /** Per-node clock drift, see ClusterOptions.tickSkew. */
  readonly tickSkew?: number;
  /** Virtual time that runs after the last step, before healing. */
  readonly tailMs?: number;
  /** Liveness bounds after healing (virtual ms; one tick is 10 ms). */
  readonly electionBoundMs?: number;
  readonly applyBoundMs?: number;
}

export interface RunResult {
  readonly steps: number;
  readonly simulatedMs: number;
  readonly proposals: number;
  readonly acked: number;
  readonly readsConfirmed: number;
  /** Virtual ms from healing to the first leader. */
  readonly electionAfterHealMs: number;
  readonly failure: { readonly invariant: string; readonly message: string; readonly trace: string } | null;
}

// 200 ticks: ten maximal randomized election timeouts (electionTicks 10, 10 ms a tick).
const DEFAULT_ELECTION_BOUND_MS = 2_000;
const DEFAULT_APPLY_BOUND_MS = 6_000;
const TICK_MS = 10;

export function runSchedule(config: SimConfig, schedule: Schedule): RunResult {
  const cluster = new Cluster({
    seed: schedule.seed,
    size: config.size,
    factory: config.factory,
    ...(config.tuning !== undefined || schedule.tuning !== undefined ? { tuning: { ...config.tuning, ...schedule.tuning } } : {}),
    fsyncMinMs: config.fsyncMinMs ?? 1,
    fsyncMaxMs: config.fsyncMaxMs ?? 6,
    ...(config.tickSkew !== undefined ? { tickSkew: config.tickSkew } : {}),
    ...(config.orderedLinks !== undefined ? { orderedLinks: config.orderedLinks } : {}),
    ...(config.asyncStorage !== undefined ? { asyncStorage: config.asyncStorage } : {}),
    ...(config.checkDurableBeforeAck !== undefined ? { checkDurableBeforeAck: config.checkDurableBeforeAck } : {}),
  });
  const id = (n: number): NodeId => cluster.ids[n % cluster.ids.length] as NodeId;
  let healedAt = 0;
  let electedAt = 0;
  try {
    scheduleClients(cluster, schedule.proposeEveryMs);
    let at = 0;
    for (const step of schedule.steps) {
      at += step.waitMs;
      cluster.at(at, describeAction(step.action), () => perform(cluster, step.action, id));
    }
    cluster.runFor(at + (config.tailMs ?? 300));
    healedAt = cluster.now;
    // Ten maximal randomized election timeouts, whatever electionTicks this run uses.
    const electionTicks = schedule.tuning?.electionTicks ?? config.tuning?.electionTicks ?? 10;
    const electionBoundMs = config.electionBoundMs ?? Math.max(DEFAULT_ELECTION_BOUND_MS, electionTicks * 2 * 10 * TICK_MS);
    cluster.checkRecovery(electionBoundMs, config.applyBoundMs ?? DEFAULT_APPLY_BOUND_MS, () => {
      electedAt = cluster.now;
    });
    return result(cluster, electedAt - healedAt, null);
  } catch (error) {
    const invariant = error instanceof SafetyViolation ? error.invariant : error instanceof Error ? error.name : 'unknown';
    const message = error instanceof Error ? error.message : String(error);
    return result(cluster, 0, { invariant, message, trace: cluster.recentTrace() });
  }
}

function result(cluster: Cluster, electionAfterHealMs: number, failure: RunResult['failure']): RunResult {
  return {
    steps: cluster.steps,
    simulatedMs: cluster.now,
    proposals: cluster.proposals.length,
    acked: cluster.proposals.filter((p) => p.state === 'acked').length,
    readsConfirmed: cluster.readsConfirmed,
    electionAfterHealMs,
    failure,
  };
}

/** Clients keep proposing until healing starts; the recovery check then adds its own. */
function scheduleClients(cluster: Cluster, everyMs: number): void {
  const loop = (): void => {
    if (cluster.recovering) return;
    cluster.propose();
    if (cluster.clientRandom.chance(0.3)) cluster.read();
    cluster.at(everyMs, 'client', loop);
  };
  cluster.at(everyMs, 'client', loop);
}

function perform(cluster: Cluster, action: FaultAction, id: (n: number) => NodeId): void {
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
        const g = action.groups[i] ?? 0;
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
      cluster.network.conditions = {
        delayMinMs: 1,
        delayMaxMs: action.delayMaxMs,
        dropRate: action.dropRate,
        duplicateRate: action.duplicateRate,
        ...(cluster.options.orderedLinks === true ? { ordered: true } : {}),
      };
      return;
    case 'slowDisk':
      cluster.setFsyncMs(id(action.node), 1, action.fsyncMaxMs);
      return;
    case 'burst':
      if (action.batch) cluster.proposeBatch(action.count);
      else for (let i = 0; i < action.count; i++) cluster.propose();
      return;
    case 'transfer': {
      const leader = cluster.leader();
      if (leader !== null) cluster.host(leader).core?.transferLeadership(id(action.to));
      return;
    }
    case 'campaign':
      cluster.host(id(action.node)).core?.campaign();
      return;
    case 'damage':
      cluster.damage(id(action.node), action.lose);
      return;
  }
}

export function describeAction(action: FaultAction): string {
  const { kind, ...rest } = action;
  const args = Object.entries(rest)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('') : String(v)}`)
    .join(' ');
  return args === '' ? kind : `${kind} ${args}`;
}

export function describeSchedule(schedule: Schedule): string {
  const lines = [`seed=${schedule.seed} proposeEveryMs=${schedule.proposeEveryMs}${schedule.tuning !== undefined ? ` tuning=${JSON.stringify(schedule.tuning)}` : ''}`];
  let at = 0;
  for (const step of schedule.steps) {
    at += step.waitMs;
    lines.push(`  +${step.waitMs}ms (t=${at}) ${describeAction(step.action)}`);
  }
  return lines.join('\n');
}

// ---- generators ------------------------------------------------------------------------

export interface ScheduleShape {
  readonly size: number;
  readonly maxSteps?: number;
  readonly maxWaitMs?: number;
  /** Also generate the core's options per run (tuningArbitrary). */
  readonly varyTuning?: boolean;
  /** Relative weights per action kind; kinds left out are not generated. */
  readonly weights?: Partial<Record<FaultAction['kind'], number>>;
}

export const DEFAULT_WEIGHTS: Record<FaultAction['kind'], number> = {
  crash: 3,
  restart: 3,
  crashLeader: 3,
  powerLoss: 1,
  partition: 3,
  isolateLeader: 2,
  cutLink: 1,
  heal: 3,
  network: 2,
  slowDisk: 2,
  burst: 2,
  transfer: 1,
  campaign: 1,
  damage: 0,
  pause: 0,
  pauseLeader: 0,
  crashAfterSyncs: 0,
};

export function actionArbitrary(size: number, weights: Partial<Record<FaultAction['kind'], number>> = DEFAULT_WEIGHTS): fc.Arbitrary<FaultAction> {
  const node = fc.integer({ min: 0, max: size - 1 });
  const all: Record<FaultAction['kind'], fc.Arbitrary<FaultAction>> = {
    crash: fc.record({ kind: fc.constant('crash' as const), node, tear: fc.boolean() }),
    restart: fc.record({ kind: fc.constant('restart' as const), node }),
    crashLeader: fc.record({ kind: fc.constant('crashLeader' as const), tear: fc.boolean(), downMs: fc.integer({ min: 0, max: 600 }) }),
    powerLoss: fc.record({ kind: fc.constant('powerLoss' as const), tear: fc.boolean(), downMs: fc.integer({ min: 0, max: 600 }) }),
    partition: fc.record({ kind: fc.constant('partition' as const), groups: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: size, maxLength: size }) }),
    isolateLeader: fc.constant({ kind: 'isolateLeader' as const }),
    cutLink: fc.record({ kind: fc.constant('cutLink' as const), from: node, to: node }),
    heal: fc.constant({ kind: 'heal' as const }),
    network: fc.record({
      kind: fc.constant('network' as const),
      dropRate: fc.constantFrom(0, 0.05, 0.2, 0.5),
      duplicateRate: fc.constantFrom(0, 0.1, 0.3),
      delayMaxMs: fc.constantFrom(8, 30, 120),
    }),
    slowDisk: fc.record({ kind: fc.constant('slowDisk' as const), node, fsyncMaxMs: fc.constantFrom(6, 40, 150) }),
    burst: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 30 }), batch: fc.boolean() }),
    transfer: fc.record({ kind: fc.constant('transfer' as const), to: node }),
    campaign: fc.record({ kind: fc.constant('campaign' as const), node }),
    pause: fc.record({ kind: fc.constant('pause' as const), node, ms: fc.integer({ min: 1, max: 1_500 }) }),
    pauseLeader: fc.record({ kind: fc.constant('pauseLeader' as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
    crashAfterSyncs: fc.record({ kind: fc.constant('crashAfterSyncs' as const), node, syncs: fc.integer({ min: 1, max: 6 }), tear: fc.boolean() }),
    damage: fc.record({ kind: fc.constant('damage' as const), node, lose: fc.integer({ min: 1, max: 20 }) }),
  };
  const choices = (Object.keys(all) as FaultAction['kind'][])
    .filter((kind) => (weights[kind] ?? 0) > 0)
    .map((kind) => ({ arbitrary: all[kind], weight: weights[kind] ?? 0 }));
  return fc.oneof(...choices);
}

/** Core options worth varying: timing, flow control, batching, pre-vote, check-quorum, a preferred leader. */
export function tuningArbitrary(size: number): fc.Arbitrary<NodeTuning> {
  return fc
    .record({
      electionTicks: fc.integer({ min: 3, max: 20 }),
      heartbeatRatio: fc.constantFrom(1, 2, 3),
      maxInflightAppends: fc.constantFrom(1, 2, 8, 64),
      maxBatchBytes: fc.constantFrom(1, 8, 64, 1 << 20),
      maxUncommittedEntries: fc.constantFrom(3, 50, 10_000),
      preVote: fc.boolean(),
      checkQuorum: fc.boolean(),
      preferred: fc.option(fc.integer({ min: 1, max: size }), { nil: null }),
    })
    .map(({ heartbeatRatio, preferred, electionTicks, ...rest }) => ({
      ...rest,
      electionTicks,
      heartbeatTicks: Math.max(1, Math.min(electionTicks - 1, Math.floor(electionTicks / (3 * heartbeatRatio)))),
      preferredLeader: preferred === null ? null : (`n${preferred}` as NodeId),
    }));
}

export function scheduleArbitrary(shape: ScheduleShape): fc.Arbitrary<Schedule> {
  const step = fc.record({ waitMs: fc.integer({ min: 0, max: shape.maxWaitMs ?? 300 }), action: actionArbitrary(shape.size, shape.weights) });
  return fc.record({
    ...(shape.varyTuning === true ? { tuning: tuningArbitrary(shape.size) } : {}),
    seed: fc.integer({ min: 0, max: 0x7fff_ffff }),
    proposeEveryMs: fc.integer({ min: 5, max: 60 }),
    steps: fc.array(step, { minLength: 1, maxLength: shape.maxSteps ?? 20, size: 'max' }),
  });
}

/** Number of generated schedules: SIM_RUNS overrides the suite's default (for soaks). */
export function simRuns(defaultRuns: number): number {
  const raw = process.env['SIM_RUNS'];
  if (raw === undefined || raw === '') return defaultRuns;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`SIM_RUNS must be a positive integer, got ${raw}`);
  return n;
}

/** The fast-check seed: SIM_SEED replays a reported run; otherwise a fresh one, printed by the caller. */
export function simSeed(): number {
  const raw = process.env['SIM_SEED'];
  if (raw !== undefined && raw !== '') return Number(raw);
  return (Math.random() * 0x7fff_ffff) | 0;
}
