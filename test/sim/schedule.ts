import fc from 'fast-check';
import type { NodeId } from '../../raft/types.js';
import type { NodeTuning } from './node-api.js';

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
  /** Damage beyond power loss: the last `lose` x 16 bytes of the node's last segment are lost durably, or (odd `lose`) one bit there flips; it restarts knowing it lost entries. */
  | { readonly kind: 'damage'; readonly node: number; readonly lose: number }
  // Membership changes (node-operator.ts), made through a leader's ChangeMember; numbers index
  // the leader's members (voters, then learners) or learners, modulo their count.
  /** A new node starts with `--join` and, `joinDelayMs` later, the operator adds it as a learner. */
  | { readonly kind: 'addLearner'; readonly joinDelayMs: number }
  /** The operator promotes a learner (asked again while it is behind). */
  | { readonly kind: 'promote'; readonly learner: number }
  | { readonly kind: 'remove'; readonly member: number }
  /** The operator removes the leader (it hands leadership over first). */
  | { readonly kind: 'removeLeader' }
  /** A new node joins; the operator adds it, promotes it, and removes `member`. */
  | { readonly kind: 'replace'; readonly member: number; readonly joinDelayMs: number }
  /** A voter's disk is wiped and it restarts under its id with its old command line; the operator then replaces it. */
  | { readonly kind: 'wipe'; readonly member: number };

export interface ScheduleStep {
  /** Virtual milliseconds after the previous step. */
  readonly waitMs: number;
  readonly action: FaultAction;
}

export interface Schedule {
  readonly seed: number;
  /** Core options for this run, when the generator varies them (merged over NodeSimConfig.tuning). */
  readonly tuning?: NodeTuning;
  /** Background clients propose to the leader this often. */
  readonly proposeEveryMs: number;
  readonly steps: readonly ScheduleStep[];
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
  readonly stepsMax?: number;
  readonly waitMsMax?: number;
  /** Also generate the core's options per run (tuningArbitrary). */
  readonly varyTuning?: boolean;
  /** The shortest election timeout generated core options may have, in ticks (default 3). */
  readonly electionTicksMin?: number;
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
  addLearner: 0,
  promote: 0,
  remove: 0,
  removeLeader: 0,
  replace: 0,
  wipe: 0,
};

/**
 * Where commit-by-counting (figure 8) shows: slow fsyncs open the window in which followers'
 * acknowledgements of an old-term entry arrive before the new leader's own no-op is durable;
 * one-entry appends, one in flight, let the old entry reach a majority without the no-op;
 * leaders crash, get cut off, and nodes campaign out of turn. The planted-bug hunt searches
 * it, and the real core must pass it (node-sim.test.ts).
 */
export const FIGURE_8_GROUND = {
  config: { size: 3, fsyncMinMs: 1, fsyncMaxMs: 40, tuning: { batchBytesMax: 1, inflightAppendsMax: 1 } },
  shape: { size: 3, stepsMax: 30, waitMsMax: 150, weights: { crashLeader: 6, isolateLeader: 4, heal: 2, restart: 3, burst: 2, network: 2, campaign: 3 } },
} as const satisfies { readonly config: { readonly size: number; readonly fsyncMinMs: number; readonly fsyncMaxMs: number; readonly tuning: NodeTuning }; readonly shape: ScheduleShape };

/** A change of the whole network's loss, duplication and delay (both simulators draw it). */
export const NETWORK_ACTION = fc.record({
  kind: fc.constant('network' as const),
  dropRate: fc.constantFrom(0, 0.05, 0.2, 0.5),
  duplicateRate: fc.constantFrom(0, 0.1, 0.3),
  delayMaxMs: fc.constantFrom(8, 30, 120),
});

export function actionArbitrary(size: number, weights: Partial<Record<FaultAction['kind'], number>> = DEFAULT_WEIGHTS): fc.Arbitrary<FaultAction> {
  const node = fc.integer({ min: 0, max: size - 1 });
  const member = fc.nat(15);
  const joinDelayMs = fc.integer({ min: 0, max: 400 });
  const all: Record<FaultAction['kind'], fc.Arbitrary<FaultAction>> = {
    crash: fc.record({ kind: fc.constant('crash' as const), node, tear: fc.boolean() }),
    restart: fc.record({ kind: fc.constant('restart' as const), node }),
    crashLeader: fc.record({ kind: fc.constant('crashLeader' as const), tear: fc.boolean(), downMs: fc.integer({ min: 0, max: 600 }) }),
    powerLoss: fc.record({ kind: fc.constant('powerLoss' as const), tear: fc.boolean(), downMs: fc.integer({ min: 0, max: 600 }) }),
    partition: fc.record({ kind: fc.constant('partition' as const), groups: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: size, maxLength: size }) }),
    isolateLeader: fc.constant({ kind: 'isolateLeader' as const }),
    cutLink: fc.record({ kind: fc.constant('cutLink' as const), from: node, to: node }),
    heal: fc.constant({ kind: 'heal' as const }),
    network: NETWORK_ACTION,
    slowDisk: fc.record({ kind: fc.constant('slowDisk' as const), node, fsyncMaxMs: fc.constantFrom(6, 40, 150) }),
    burst: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 30 }), batch: fc.boolean() }),
    transfer: fc.record({ kind: fc.constant('transfer' as const), to: node }),
    campaign: fc.record({ kind: fc.constant('campaign' as const), node }),
    pause: fc.record({ kind: fc.constant('pause' as const), node, ms: fc.integer({ min: 1, max: 1_500 }) }),
    pauseLeader: fc.record({ kind: fc.constant('pauseLeader' as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
    crashAfterSyncs: fc.record({ kind: fc.constant('crashAfterSyncs' as const), node, syncs: fc.integer({ min: 1, max: 6 }), tear: fc.boolean() }),
    damage: fc.record({ kind: fc.constant('damage' as const), node, lose: fc.integer({ min: 1, max: 20 }) }),
    addLearner: fc.record({ kind: fc.constant('addLearner' as const), joinDelayMs }),
    promote: fc.record({ kind: fc.constant('promote' as const), learner: member }),
    remove: fc.record({ kind: fc.constant('remove' as const), member }),
    removeLeader: fc.constant({ kind: 'removeLeader' as const }),
    replace: fc.record({ kind: fc.constant('replace' as const), member, joinDelayMs }),
    wipe: fc.record({ kind: fc.constant('wipe' as const), member }),
  };
  const choices = (Object.keys(all) as FaultAction['kind'][])
    .filter((kind) => (weights[kind] ?? 0) > 0)
    .map((kind) => ({ arbitrary: all[kind], weight: weights[kind] ?? 0 }));
  return fc.oneof(...choices);
}

/** Core options worth varying: timing, flow control, batching, pre-vote, check-quorum, a preferred leader. */
export function tuningArbitrary(size: number, electionTicksMin = 3): fc.Arbitrary<NodeTuning> {
  return fc
    .record({
      electionTicks: fc.integer({ min: electionTicksMin, max: Math.max(20, electionTicksMin) }),
      heartbeatRatio: fc.constantFrom(1, 2, 3),
      inflightAppendsMax: fc.constantFrom(1, 2, 8, 64),
      batchBytesMax: fc.constantFrom(1, 8, 64, 1 << 20),
      uncommittedEntriesMax: fc.constantFrom(3, 50, 10_000),
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
  const step = fc.record({ waitMs: fc.integer({ min: 0, max: shape.waitMsMax ?? 300 }), action: actionArbitrary(shape.size, shape.weights) });
  return fc.record({
    ...(shape.varyTuning === true ? { tuning: tuningArbitrary(shape.size, shape.electionTicksMin) } : {}),
    seed: fc.integer({ min: 0, max: 0x7fff_ffff }),
    proposeEveryMs: fc.integer({ min: 5, max: 60 }),
    steps: fc.array(step, { minLength: 1, maxLength: shape.stepsMax ?? 20, size: 'max' }),
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
