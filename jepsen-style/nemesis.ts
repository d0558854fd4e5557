import type { LogClient } from '../src/client/index.js';
import type { ClusterConfig, StartOutcome } from './cluster.js';
import { DiskObservation } from './checkers/damaged-node.js';
import type { ActiveFault, PreparedFault } from './fault.js';
import { MEMBER_VARIANTS, prepareMembersFault, settle, type MembershipCluster } from './membership-nemesis.js';
import { NodeClaims, type Lane } from './node-claims.js';
import { damageLog, dropFromDamagedRecord, type DiskDamageKind } from './disk-damage.js';
import type { History, MissedFault } from './history.js';
import type { LinkMode } from './link-proxy.js';
import { Prng } from './prng.js';
import { sleep } from '../src/process/index.js';

/** The nemeses and the shapes each one takes. */
export const NEMESIS_VARIANTS = {
  kill: ['one', 'leader', 'majority', 'all'],
  pause: ['one', 'leader'],
  partition: ['one', 'leader', 'halves', 'bridge', 'delay', 'slow'],
  power: ['one', 'majority', 'all', 'one-while-paused', 'one-while-partitioned', 'majority-survivor-paused'],
  disk: ['cut-tail', 'flip-last', 'flip-old'],
  members: MEMBER_VARIANTS,
} as const satisfies Record<string, readonly string[]>;

export type NemesisKind = keyof typeof NEMESIS_VARIANTS;
export const NEMESIS_KINDS = Object.keys(NEMESIS_VARIANTS) as NemesisKind[];
/**
 * What `--nemesis mix` runs: every kind but `members`, which is asked for by name (it needs
 * spare nodes, and a mix with it draws other schedules than the seeds the tests keep).
 */
export const MIX_KINDS: readonly NemesisKind[] = NEMESIS_KINDS.filter((k) => k !== 'members');

/** How long each kind holds its fault, ms (drawn uniformly from the range). */
const HOLD_MS: Record<NemesisKind, readonly [number, number]> = {
  kill: [1_000, 5_000],
  pause: [1_000, 5_000],
  partition: [2_000, 6_000],
  power: [1_000, 4_000],
  disk: [3_000, 6_000],
  members: [2_000, 5_000],
};
const GAP_MS: readonly [number, number] = [1_000, 4_000];
/** Between membership faults: each one's changes take seconds beyond its hold. */
const MEMBERS_GAP_MS: readonly [number, number] = [3_000, 8_000];
/** How long a membership fault waits for the nodes it needs while the other lane holds them. */
const MEMBERS_WAIT_MS = 15_000;
/** No fault starts before this (the cluster settles) or ends later than this before the end. */
const WARMUP_MS = 2_000;
const COOLDOWN_MS = 1_000;
const FAULTS_MAX = 10_000;
/** How long a fault waits for a node to serve again after a restart. */
const LEADER_WAIT_MS = 15_000;

/** One fault of the schedule, fixed by the seed before the run starts. */
export interface PlannedFault {
  readonly faultId: number;
  readonly kind: NemesisKind;
  readonly variant: string;
  /** When it should start, ms since the run started (later if the previous one overran). */
  readonly atMs: number;
  readonly holdMs: number;
  /** Seeds this fault's own choices (targets, damage offsets). */
  readonly seed: number;
}

/**
 * The fault schedule: the given kinds (and, if `variants` is given, only those variants) in
 * random order with random gaps, all from `random`. Targets that depend on the cluster
 * ("the leader") are resolved when the fault starts; random targets come from the fault's seed.
 * Membership faults have a timeline of their own (from `random.derive('members')`, with
 * longer gaps: each takes seconds of changes), since they run beside the others; so the other
 * faults' schedule is the same with or without them. Fault ids follow the start times.
 */
export function planFaults(random: Prng, options: { readonly kinds: readonly NemesisKind[]; readonly variants: readonly string[] | null; readonly timeMs: number }): PlannedFault[] {
  const others = planLane(random, options.kinds.filter((k) => k !== 'members'), options, GAP_MS);
  const members = options.kinds.includes('members') ? planLane(random.derive('members'), ['members'], options, MEMBERS_GAP_MS) : [];
  return [...others, ...members].sort((a, b) => a.atMs - b.atMs || a.faultId - b.faultId).map((f, k) => ({ ...f, faultId: k + 1 }));
}

function planLane(random: Prng, kinds: readonly NemesisKind[], options: { readonly variants: readonly string[] | null; readonly timeMs: number }, gapMs: readonly [number, number]): PlannedFault[] {
  const choices = kinds.flatMap((kind) => NEMESIS_VARIANTS[kind].filter((v) => options.variants === null || options.variants.includes(v) || options.variants.includes(`${kind}:${v}`)).map((variant) => ({ kind, variant })));
  const plan: PlannedFault[] = [];
  if (choices.length === 0) return plan;
  let atMs = WARMUP_MS;
  for (let faultId = 1; faultId <= FAULTS_MAX; faultId++) {
    const { kind, variant } = random.pick(choices);
    const [lo, hi] = HOLD_MS[kind];
    const holdMs = random.between(lo, hi);
    if (atMs + holdMs > options.timeMs - COOLDOWN_MS) break;
    plan.push({ faultId, kind, variant, atMs, holdMs, seed: random.nextInt(2 ** 31) });
    atMs += holdMs + random.between(gapMs[0], gapMs[1]);
  }
  return plan;
}

/**
 * What the nemesis does to the cluster, and nothing more: `Cluster` is one, and a test
 * drives the nemesis with a fake that records when each action happened.
 */
export interface NemesisCluster {
  readonly ids: readonly string[];
  readonly config: Pick<ClusterConfig, 'runDir'>;
  leader(): Promise<string | null>;
  /** kill -9 (a power failure when the node runs with --power-loss). */
  kill(id: string): Promise<void>;
  startNode(id: string): Promise<StartOutcome>;
  pause(id: string): void;
  resume(id: string): void;
  partition(groups: readonly (readonly string[])[]): void;
  setLink(from: string, to: string, mode: LinkMode): void;
  healLinks(): void;
  dataDir(id: string): string;
  process(id: string): { lines(): readonly string[] } | undefined;
  nodeClient(id: string, timeoutMs?: number): Pick<LogClient, 'status' | 'close'>;
  brokers(ids: readonly string[]): string[];
}

export interface NemesisContext {
  readonly cluster: NemesisCluster;
  readonly history: History;
  readonly flush: 'sync' | 'async';
  readonly log: (line: string) => void;
  /** The cluster's membership side (Cluster is one); without it a `members` fault cannot start. */
  readonly members?: MembershipCluster;
}

/** A NemesisContext with the claims both lanes share. */
interface LaneContext extends NemesisContext {
  readonly claims: NodeClaims;
}

/**
 * Runs the schedule in two lanes side by side, each one fault at a time: the membership
 * faults, and all the others (so at most the faults of one step of each overlap: the disk
 * nemesis never damages a second node while a first is down, and a leader may be killed
 * while a promote waits). The lanes never act on the same node at once (NodeClaims). Stops
 * starting faults when `signal` aborts; the faults in progress are always healed before it
 * returns, and a run with membership faults ends with the configuration settled (as many
 * voters as it began with, no learners, no node running outside it). Returns the scheduled
 * faults that did not run (or ran without doing what they are for), each with why.
 */
export async function runNemesis(ctx: NemesisContext, plan: readonly PlannedFault[], signal: AbortSignal): Promise<MissedFault[]> {
  const lanes = { ...ctx, claims: new NodeClaims() };
  const [faults, members] = await Promise.all([
    runLane(lanes, plan.filter((f) => f.kind !== 'members'), signal),
    runLane(lanes, plan.filter((f) => f.kind === 'members'), signal),
  ]);
  if (ctx.members !== undefined && plan.some((f) => f.kind === 'members')) {
    const settled = await settle({ members: ctx.members, history: ctx.history, claims: lanes.claims, log: ctx.log }, 0, []);
    ctx.log(`membership settled: ${settled}`);
  }
  return [...faults, ...members].sort((a, b) => a.faultId - b.faultId);
}

async function runLane(ctx: LaneContext, plan: readonly PlannedFault[], signal: AbortSignal): Promise<MissedFault[]> {
  const missed: MissedFault[] = [];
  for (const fault of plan) {
    await sleep(fault.atMs - ctx.history.nowMs(), signal);
    const reason = signal.aborted ? 'the run ended first' : await runFault(ctx, fault, signal);
    if (reason !== null) missed.push({ faultId: fault.faultId, kind: fault.kind, variant: fault.variant, dueMs: fault.atMs, holdMs: fault.holdMs, reason });
  }
  return missed;
}

/**
 * One fault: choose its targets, record its start, apply it, hold it, heal it, record its
 * end. The window so opens before the first action, so what the fault causes (an outage
 * while nodes restart) falls inside it. Returns why it did not run, or null when it did.
 */
async function runFault(ctx: LaneContext, fault: PlannedFault, signal: AbortSignal): Promise<string | null> {
  let prepared: PreparedFault;
  try {
    prepared = await prepareClaimed(ctx, fault);
  } catch (error) {
    // A harness failure, not the cluster's: say so and go on.
    reportNemesisError(ctx, fault, 'start', error);
    return `could not start: ${messageOf(error)}`;
  }
  try {
    return await applyAndHeal(ctx, fault, prepared, signal);
  } finally {
    prepared.release?.();
  }
}

/**
 * Tries to prepare a fault whose nodes the other lane does not hold: a few times, since it
 * may be choosing at the same moment; a membership fault waits up to MEMBERS_WAIT_MS for the
 * nodes it needs (a running follower, spare ids) while another fault holds them.
 */
async function prepareClaimed(ctx: LaneContext, fault: PlannedFault): Promise<PreparedFault> {
  const lane: Lane = fault.kind === 'members' ? 'members' : 'faults';
  if (lane === 'members') {
    const deadlineMs = Date.now() + MEMBERS_WAIT_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await prepareMembersFault(membersContext(ctx), fault.faultId, fault.variant, new Prng(fault.seed));
      } catch (error) {
        if (Date.now() >= deadlineMs || attempt >= 100) throw error;
        await sleep(500);
      }
    }
  }
  for (let attempt = 1; ; attempt++) {
    const random = new Prng(fault.seed);
    const view = laneView(ctx.cluster, ctx.claims.free('faults', ctx.cluster.ids));
    const prepared = await prepareFault({ ...ctx, cluster: view }, fault, random);
    // Power faults pause or cut others than their targets: they hold every node they may touch.
    const touched = fault.kind === 'power' ? view.ids : prepared.targets;
    if (ctx.claims.claim('faults', touched)) return { ...prepared, release: () => ctx.claims.release('faults', touched) };
    if (attempt >= 5) throw new Error(`${touched.join(',')} held by a membership change`);
    await sleep(200);
  }
}

function membersContext(ctx: LaneContext): Parameters<typeof prepareMembersFault>[0] {
  if (ctx.members === undefined) throw new Error('this cluster cannot change its members');
  return { members: ctx.members, history: ctx.history, claims: ctx.claims, log: ctx.log };
}

/** The cluster as one lane sees it: `ids` only those it may act on; the leader only if among them. */
function laneView(cluster: NemesisCluster, ids: readonly string[]): NemesisCluster {
  return new Proxy(cluster, {
    get(target, key) {
      if (key === 'ids') return ids;
      if (key === 'leader') return async () => {
        const leader = await target.leader();
        return leader !== null && ids.includes(leader) ? leader : null;
      };
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function applyAndHeal(ctx: LaneContext, fault: PlannedFault, prepared: PreparedFault, signal: AbortSignal): Promise<string | null> {  const event = { type: 'nemesis', kind: fault.kind, variant: fault.variant, faultId: fault.faultId, targets: prepared.targets } as const;
  const name = `fault ${fault.faultId} ${fault.kind}:${fault.variant}`;
  const startedMs = ctx.history.nowMs();
  ctx.history.add({ ...event, phase: 'start', detail: prepared.detail });
  ctx.log(`${name} on ${prepared.targets.join(',') || '-'} for ${fault.holdMs} ms: ${prepared.detail}`);
  let active: ActiveFault;
  try {
    active = await prepared.apply();
  } catch (error) {
    // Part of it may have happened; the run heals everything at its end.
    reportNemesisError(ctx, fault, 'start', error);
    ctx.history.add({ ...event, phase: 'end', detail: `failed while starting: ${messageOf(error)}` });
    return `failed while starting: ${messageOf(error)}`;
  }
  ctx.log(`${name} applied in ${ctx.history.nowMs() - startedMs} ms${active.detail === '' ? '' : `: ${active.detail}`}`);
  await sleep(fault.holdMs, signal);
  const cut = signal.aborted ? 'hold cut short by the end of the run' : '';
  let healed: string;
  try {
    healed = await active.heal();
  } catch (error) {
    reportNemesisError(ctx, fault, 'heal', error);
    healed = `heal failed: ${messageOf(error)}`;
  }
  ctx.history.add({ ...event, phase: 'end', detail: [active.detail, cut, healed].filter((d) => d !== '').join('; ') });
  return active.notApplied === undefined ? null : `did not apply: ${active.notApplied}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reportNemesisError(ctx: NemesisContext, fault: PlannedFault, phase: string, error: unknown): void {
  const message = messageOf(error);
  ctx.log(`fault ${fault.faultId} ${fault.kind}:${fault.variant}: ${phase} failed: ${message}`);
  ctx.history.add({ type: 'observe', node: '-', what: 'nemesis-error', detail: `fault ${fault.faultId} ${fault.kind}:${fault.variant} ${phase}: ${message}` });
}

async function prepareFault(ctx: NemesisContext, fault: PlannedFault, random: Prng): Promise<PreparedFault> {
  switch (fault.kind) {
    case 'kill':
      return killFault(ctx, await pickTargets(ctx.cluster, fault.variant, random));
    case 'pause':
      return pauseFault(ctx, await pickTargets(ctx.cluster, fault.variant, random));
    case 'partition':
      return partitionFault(ctx, fault.variant, random);
    case 'power':
      return powerFault(ctx, fault.variant, random);
    case 'disk':
      return diskFault(ctx, fault, random);
    case 'members':
      throw new Error('a members fault runs in its own lane');
  }
}

/** one: a random node; leader: the current leader (a random node if none); majority / all. */
async function pickTargets(cluster: NemesisCluster, variant: string, random: Prng): Promise<string[]> {
  const ids = cluster.ids;
  const majority = Math.floor(ids.length / 2) + 1;
  switch (variant) {
    case 'leader':
      return [(await cluster.leader()) ?? random.pick(ids)];
    case 'majority':
      return random.sample(ids, majority);
    case 'all':
      return [...ids];
    default:
      return [random.pick(ids)];
  }
}

async function restart(ctx: NemesisContext, ids: readonly string[]): Promise<string> {
  const outcomes = await Promise.all(ids.map(async (id) => ({ id, outcome: await ctx.cluster.startNode(id) })));
  const failed = outcomes.filter((o) => !o.outcome.ok);
  for (const f of failed) ctx.history.add({ type: 'observe', node: f.id, what: 'start-failed', detail: f.outcome.ok ? '' : f.outcome.reason });
  return failed.length === 0 ? `restarted ${ids.join(',')}` : `restart failed on ${failed.map((f) => f.id).join(',')}`;
}

function killFault(ctx: NemesisContext, targets: readonly string[]): PreparedFault {
  return {
    targets,
    detail: 'kill -9',
    apply: async () => {
      await Promise.all(targets.map((id) => ctx.cluster.kill(id)));
      return { detail: '', heal: () => restart(ctx, targets) };
    },
  };
}

function pauseFault(ctx: NemesisContext, targets: readonly string[]): PreparedFault {
  const heal = (): Promise<string> => {
    for (const id of targets) ctx.cluster.resume(id);
    return Promise.resolve('SIGCONT');
  };
  return {
    targets,
    detail: 'SIGSTOP',
    apply: () => {
      for (const id of targets) ctx.cluster.pause(id);
      return Promise.resolve({ detail: '', heal });
    },
  };
}

/** A fault whose whole action is one synchronous change to the links, undone by healing them all. */
function linkFault(cluster: NemesisCluster, targets: readonly string[], detail: string, cut: () => void): PreparedFault {
  const heal = (): Promise<string> => {
    cluster.healLinks();
    return Promise.resolve('healed');
  };
  return {
    targets,
    detail,
    apply: () => {
      cut();
      return Promise.resolve({ detail: '', heal });
    },
  };
}

async function partitionFault(ctx: NemesisContext, variant: string, random: Prng): Promise<PreparedFault> {
  const { cluster } = ctx;
  const ids = cluster.ids;
  switch (variant) {
    case 'one':
    case 'leader': {
      const [lonely = ''] = await pickTargets(cluster, variant, random);
      const rest = ids.filter((id) => id !== lonely);
      return linkFault(cluster, [lonely], `isolated ${lonely} from ${rest.join(',')}`, () => cluster.partition([[lonely], rest]));
    }
    case 'halves': {
      const minority = random.sample(ids, Math.floor(ids.length / 2));
      const majority = ids.filter((id) => !minority.includes(id));
      return linkFault(cluster, minority, `${majority.join(',')} | ${minority.join(',')}`, () => cluster.partition([majority, minority]));
    }
    case 'bridge': {
      const bridge = random.pick(ids);
      const others = ids.filter((id) => id !== bridge);
      const left = random.sample(others, Math.ceil(others.length / 2));
      const right = others.filter((id) => !left.includes(id));
      return linkFault(cluster, [bridge], `${left.join(',')} - ${bridge} - ${right.join(',')} (bridge ${bridge})`, () => cluster.partition([[...left, bridge], [...right, bridge]]));
    }
    case 'delay':
    case 'slow': {
      const [node] = await pickTargets(cluster, random.pick(['one', 'leader']), random);
      const target = node ?? random.pick(ids);
      const mode = variant === 'delay'
        ? { kind: 'delay' as const, delayMs: random.between(50, 300), jitterMs: random.between(0, 100) }
        : { kind: 'slow' as const, bytesPerSecond: random.pick([16_384, 65_536, 262_144]) };
      return linkFault(cluster, [target], `every link of ${target}: ${JSON.stringify(mode)}`, () => {
        for (const other of ids) {
          if (other === target) continue;
          cluster.setLink(target, other, mode);
          cluster.setLink(other, target, mode);
        }
      });
    }
    default:
      throw new Error(`unknown partition variant ${variant}`);
  }
}

/** Power failures: kill -9 of nodes running with --power-loss (the run starts them so). */
async function powerFault(ctx: NemesisContext, variant: string, random: Prng): Promise<PreparedFault> {
  const { cluster } = ctx;
  const ids = cluster.ids;
  switch (variant) {
    case 'one':
    case 'majority':
    case 'all': {
      const targets = await pickTargets(cluster, variant, random);
      return {
        targets,
        detail: 'power loss',
        apply: async () => {
          await Promise.all(targets.map((id) => cluster.kill(id)));
          return { detail: '', heal: () => restart(ctx, targets) };
        },
      };
    }
    case 'one-while-paused':
    case 'one-while-partitioned': {
      // The amnesiac node comes back while another is out, so it must help form the quorum.
      const amnesiac = random.pick(ids);
      const other = random.pick(ids.filter((id) => id !== amnesiac));
      return {
        targets: [amnesiac, other],
        detail: `power loss of ${amnesiac} while ${other} is ${variant === 'one-while-paused' ? 'paused' : 'partitioned'}`,
        apply: async () => {
          await cluster.kill(amnesiac);
          if (variant === 'one-while-paused') cluster.pause(other);
          else cluster.partition([[other], ids.filter((id) => id !== other)]);
          const heal = (): Promise<string> => {
            cluster.resume(other);
            cluster.healLinks();
            return Promise.resolve(`${other} back`);
          };
          return { detail: await restart(ctx, [amnesiac]), heal };
        },
      };
    }
    case 'majority-survivor-paused': {
      // The survivors hold the newest writes; paused, they cannot lead the amnesiacs, who
      // must elect one of themselves: nothing acknowledged may be lost in sync mode.
      const victims = random.sample(ids, Math.floor(ids.length / 2) + 1);
      const survivors = ids.filter((id) => !victims.includes(id));
      return {
        targets: victims,
        detail: `power loss of ${victims.join(',')} while ${survivors.join(',')} paused`,
        apply: async () => {
          for (const id of survivors) cluster.pause(id);
          await Promise.all(victims.map((id) => cluster.kill(id)));
          const restarted = await restart(ctx, victims);
          const leader = await waitForLeaderAmong(cluster, victims);
          const heal = (): Promise<string> => {
            for (const id of survivors) cluster.resume(id);
            return Promise.resolve(`${survivors.join(',')} resumed`);
          };
          return { detail: `${restarted}; ${leader === null ? `no leader among them within ${LEADER_WAIT_MS} ms` : `${leader} leads`}`, heal };
        },
      };
    }
    default:
      throw new Error(`unknown power variant ${variant}`);
  }
}

async function waitForLeaderAmong(cluster: NemesisCluster, ids: readonly string[]): Promise<string | null> {
  const deadlineMs = Date.now() + LEADER_WAIT_MS;
  for (let k = 0; k < 1_000 && Date.now() < deadlineMs; k++) {
    const leader = await cluster.leader().catch(() => null);
    if (leader !== null && ids.includes(leader)) return leader;
    await sleep(100);
  }
  return null;
}

/**
 * Disk damage on one node at a time: stop it (kill -9), damage its last segment, restart it,
 * and watch it for the hold: it must notice damage to durable records, start without hand
 * repair, and must not lead while its vote is blocked. A node that refuses to open its log
 * fails the damaged-node checker; the run then goes on after a repair the operator's way
 * (drop the damaged record and all after it).
 */
function diskFault(ctx: NemesisContext, fault: PlannedFault, random: Prng): PreparedFault {
  const target = random.pick(ctx.cluster.ids);
  return { targets: [target], detail: `${fault.variant} of ${target}'s log`, apply: () => damageAndWatch(ctx, fault, target, random) };
}

async function damageAndWatch(ctx: NemesisContext, fault: PlannedFault, target: string, random: Prng): Promise<ActiveFault> {
  const { cluster, history } = ctx;
  const observe = (what: string, detail = ''): void => void history.add({ type: 'observe', node: target, what, faultId: fault.faultId, detail });
  await cluster.kill(target);
  const damage = damageLog(cluster.dataDir(target), fault.variant as DiskDamageKind, random);
  const detail = damage === null ? 'log too short to damage' : `${damage.kind} at ${damage.file.slice(cluster.config.runDir.length + 1)}@${damage.offset} (index ${damage.index}, ${damage.bytes} bytes)`;
  if (damage !== null && damage.kind === 'flip-old' && ctx.flush === 'sync') observe(DiskObservation.damageBelowMark, detail);
  let started = await cluster.startNode(target);
  if (!started.ok) {
    observe(DiskObservation.refusedStart, started.lastLines.filter((l) => /corrupt|recovery|stopping|Error/i.test(l)).slice(-2).join(' | ').slice(0, 400));
    if (damage !== null) {
      dropFromDamagedRecord(damage);
      started = await cluster.startNode(target);
      if (!started.ok) observe('start-failed-after-repair', started.reason);
    }
  }
  const lines = cluster.process(target)?.lines() ?? [];
  if (lines.some((l) => l.includes('were durable once and are gone'))) observe(DiskObservation.lossReported);
  if (lines.some((l) => l.includes('recovery cut'))) observe(DiskObservation.tailCut);
  if (lines.some((l) => l.includes('recovery: damage'))) observe(DiskObservation.damageCut);
  const watching = new AbortController();
  const watcher = watchBlockedNode(ctx, target, observe, watching.signal);
  return {
    detail,
    ...(damage === null ? { notApplied: detail } : {}),
    heal: async () => {
      watching.abort();
      await watcher;
      return 'watch ended';
    },
  };
}

/** Polls the damaged node's status until the fault ends: blocked / unblocked, and a leader with a blocked vote. */
async function watchBlockedNode(ctx: NemesisContext, id: string, observe: (what: string, detail?: string) => void, signal: AbortSignal): Promise<void> {
  const client = ctx.cluster.nodeClient(id, 1_000);
  let blocked: boolean | null = null;
  try {
    for (let k = 0; k < 10_000 && !signal.aborted; k++) {
      try {
        const st = await client.status(ctx.cluster.brokers([id])[0]);
        if (st.votingBlocked !== blocked) {
          blocked = st.votingBlocked;
          observe(blocked ? DiskObservation.votingBlocked : DiskObservation.votingUnblocked, `term ${st.term}, commit ${st.commitIndex}, last ${st.lastIndex}`);
        }
        if (st.role === 'leader' && st.votingBlocked) observe(DiskObservation.ledWhileBlocked, `leader in term ${st.term} with its vote blocked`);
      } catch {
        // not up (yet), or repaired and busy: try again
      }
      await sleep(100, signal);
    }
  } finally {
    await client.close();
  }
}
