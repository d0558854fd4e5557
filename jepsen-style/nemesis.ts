import type { Cluster } from './cluster.js';
import { DiskObservation } from './checkers/damaged-node.js';
import { damageLog, dropFromDamagedRecord, type DiskDamageKind } from './disk-damage.js';
import type { History } from './history.js';
import { Prng } from './prng.js';
import { sleep } from './wait.js';

/** The nemeses and the shapes each one takes. */
export const NEMESIS_VARIANTS = {
  kill: ['one', 'leader', 'majority', 'all'],
  pause: ['one', 'leader'],
  partition: ['one', 'leader', 'halves', 'bridge', 'delay', 'slow'],
  power: ['one', 'majority', 'all', 'one-while-paused', 'one-while-partitioned', 'majority-survivor-paused'],
  disk: ['cut-tail', 'flip-last', 'flip-old'],
} as const satisfies Record<string, readonly string[]>;

export type NemesisKind = keyof typeof NEMESIS_VARIANTS;
export const NEMESIS_KINDS = Object.keys(NEMESIS_VARIANTS) as NemesisKind[];

/** How long each kind holds its fault, ms (drawn uniformly from the range). */
const HOLD_MS: Record<NemesisKind, readonly [number, number]> = {
  kill: [1_000, 5_000],
  pause: [1_000, 5_000],
  partition: [2_000, 6_000],
  power: [1_000, 4_000],
  disk: [3_000, 6_000],
};
const GAP_MS: readonly [number, number] = [1_000, 4_000];
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
 */
export function planFaults(random: Prng, options: { readonly kinds: readonly NemesisKind[]; readonly variants: readonly string[] | null; readonly timeMs: number }): PlannedFault[] {
  const choices = options.kinds.flatMap((kind) => NEMESIS_VARIANTS[kind].filter((v) => options.variants === null || options.variants.includes(v) || options.variants.includes(`${kind}:${v}`)).map((variant) => ({ kind, variant })));
  const plan: PlannedFault[] = [];
  if (choices.length === 0) return plan;
  let atMs = WARMUP_MS;
  for (let faultId = 1; faultId <= FAULTS_MAX; faultId++) {
    const { kind, variant } = random.pick(choices);
    const [lo, hi] = HOLD_MS[kind];
    const holdMs = random.between(lo, hi);
    if (atMs + holdMs > options.timeMs - COOLDOWN_MS) break;
    plan.push({ faultId, kind, variant, atMs, holdMs, seed: random.int(2 ** 31) });
    atMs += holdMs + random.between(GAP_MS[0], GAP_MS[1]);
  }
  return plan;
}

interface NemesisContext {
  readonly cluster: Cluster;
  readonly history: History;
  readonly flush: 'sync' | 'async';
  readonly log: (line: string) => void;
}

/** A started fault: what it hit, and how to undo it. */
interface ActiveFault {
  readonly targets: readonly string[];
  readonly detail: string;
  heal(): Promise<string>;
}

/**
 * Runs the schedule one fault at a time (so at most the faults of one step overlap: the
 * disk nemesis never damages a second node while a first is down). Stops starting faults
 * when `signal` aborts; the fault in progress is always healed before it returns.
 */
export async function runNemesis(ctx: NemesisContext, plan: readonly PlannedFault[], signal: AbortSignal): Promise<void> {
  for (const fault of plan) {
    await sleep(fault.atMs - ctx.history.nowMs(), signal);
    if (signal.aborted) return;
    const random = new Prng(fault.seed);
    let active: ActiveFault;
    try {
      active = await startFault(ctx, fault, random);
    } catch (error) {
      // A harness failure, not the cluster's: say so and go on (the run heals everything at the end).
      reportNemesisError(ctx, fault, 'start', error);
      continue;
    }
    ctx.history.add({ type: 'nemesis', phase: 'start', kind: fault.kind, variant: fault.variant, faultId: fault.faultId, targets: active.targets, detail: active.detail });
    ctx.log(`fault ${fault.faultId} ${fault.kind}:${fault.variant} on ${active.targets.join(',') || '-'} for ${fault.holdMs} ms ${active.detail}`);
    await sleep(fault.holdMs, signal);
    let healed: string;
    try {
      healed = await active.heal();
    } catch (error) {
      reportNemesisError(ctx, fault, 'heal', error);
      healed = `heal failed: ${(error as Error).message}`;
    }
    ctx.history.add({ type: 'nemesis', phase: 'end', kind: fault.kind, variant: fault.variant, faultId: fault.faultId, targets: active.targets, detail: healed });
  }
}

function reportNemesisError(ctx: NemesisContext, fault: PlannedFault, phase: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  ctx.log(`fault ${fault.faultId} ${fault.kind}:${fault.variant}: ${phase} failed: ${message}`);
  ctx.history.add({ type: 'observe', node: '-', what: 'nemesis-error', detail: `fault ${fault.faultId} ${fault.kind}:${fault.variant} ${phase}: ${message}` });
}

async function startFault(ctx: NemesisContext, fault: PlannedFault, random: Prng): Promise<ActiveFault> {
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
  }
}

/** one: a random node; leader: the current leader (a random node if none); majority / all. */
async function pickTargets(cluster: Cluster, variant: string, random: Prng): Promise<string[]> {
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

function killFault(ctx: NemesisContext, targets: readonly string[]): Promise<ActiveFault> {
  return (async () => {
    await Promise.all(targets.map((id) => ctx.cluster.kill(id)));
    return { targets, detail: 'kill -9', heal: () => restart(ctx, targets) };
  })();
}

function pauseFault(ctx: NemesisContext, targets: readonly string[]): Promise<ActiveFault> {
  for (const id of targets) ctx.cluster.pause(id);
  return Promise.resolve({
    targets,
    detail: 'SIGSTOP',
    heal: () => {
      for (const id of targets) ctx.cluster.resume(id);
      return Promise.resolve('SIGCONT');
    },
  });
}

async function partitionFault(ctx: NemesisContext, variant: string, random: Prng): Promise<ActiveFault> {
  const { cluster } = ctx;
  const ids = cluster.ids;
  const heal = (): Promise<string> => {
    cluster.healLinks();
    return Promise.resolve('healed');
  };
  switch (variant) {
    case 'one':
    case 'leader': {
      const [lonely] = await pickTargets(cluster, variant, random);
      const rest = ids.filter((id) => id !== lonely);
      cluster.partition([[lonely ?? ''], rest]);
      return { targets: [lonely ?? ''], detail: `isolated ${lonely} from ${rest.join(',')}`, heal };
    }
    case 'halves': {
      const minority = random.sample(ids, Math.floor(ids.length / 2));
      const majority = ids.filter((id) => !minority.includes(id));
      cluster.partition([majority, minority]);
      return { targets: minority, detail: `${majority.join(',')} | ${minority.join(',')}`, heal };
    }
    case 'bridge': {
      const bridge = random.pick(ids);
      const others = ids.filter((id) => id !== bridge);
      const left = random.sample(others, Math.ceil(others.length / 2));
      const right = others.filter((id) => !left.includes(id));
      cluster.partition([[...left, bridge], [...right, bridge]]);
      return { targets: [bridge], detail: `${left.join(',')} - ${bridge} - ${right.join(',')} (bridge ${bridge})`, heal };
    }
    case 'delay':
    case 'slow': {
      const [node] = await pickTargets(cluster, random.pick(['one', 'leader']), random);
      const target = node ?? random.pick(ids);
      const mode = variant === 'delay'
        ? { kind: 'delay' as const, delayMs: random.between(50, 300), jitterMs: random.between(0, 100) }
        : { kind: 'slow' as const, bytesPerSecond: random.pick([16_384, 65_536, 262_144]) };
      for (const other of ids) {
        if (other === target) continue;
        cluster.setLink(target, other, mode);
        cluster.setLink(other, target, mode);
      }
      return { targets: [target], detail: `every link of ${target}: ${JSON.stringify(mode)}`, heal };
    }
    default:
      throw new Error(`unknown partition variant ${variant}`);
  }
}

/** Power failures: kill -9 of nodes running with --power-loss (the run starts them so). */
async function powerFault(ctx: NemesisContext, variant: string, random: Prng): Promise<ActiveFault> {
  const { cluster } = ctx;
  const ids = cluster.ids;
  switch (variant) {
    case 'one':
    case 'majority':
    case 'all': {
      const targets = await pickTargets(cluster, variant, random);
      await Promise.all(targets.map((id) => cluster.kill(id)));
      return { targets, detail: 'power loss', heal: () => restart(ctx, targets) };
    }
    case 'one-while-paused':
    case 'one-while-partitioned': {
      // The amnesiac node comes back while another is out, so it must help form the quorum.
      const amnesiac = random.pick(ids);
      const other = random.pick(ids.filter((id) => id !== amnesiac));
      await cluster.kill(amnesiac);
      if (variant === 'one-while-paused') cluster.pause(other);
      else cluster.partition([[other], ids.filter((id) => id !== other)]);
      const restarted = await restart(ctx, [amnesiac]);
      return {
        targets: [amnesiac, other],
        detail: `power loss of ${amnesiac} while ${other} is ${variant === 'one-while-paused' ? 'paused' : 'partitioned'}; ${restarted}`,
        heal: () => {
          cluster.resume(other);
          cluster.healLinks();
          return Promise.resolve(`${other} back`);
        },
      };
    }
    case 'majority-survivor-paused': {
      // The survivors hold the newest writes; paused, they cannot lead the amnesiacs, who
      // must elect one of themselves: nothing acknowledged may be lost in sync mode.
      const victims = random.sample(ids, Math.floor(ids.length / 2) + 1);
      const survivors = ids.filter((id) => !victims.includes(id));
      for (const id of survivors) cluster.pause(id);
      await Promise.all(victims.map((id) => cluster.kill(id)));
      const restarted = await restart(ctx, victims);
      await waitForLeaderAmong(cluster, victims);
      return {
        targets: victims,
        detail: `power loss of ${victims.join(',')} while ${survivors.join(',')} paused; ${restarted}`,
        heal: () => {
          for (const id of survivors) cluster.resume(id);
          return Promise.resolve(`${survivors.join(',')} resumed`);
        },
      };
    }
    default:
      throw new Error(`unknown power variant ${variant}`);
  }
}

async function waitForLeaderAmong(cluster: Cluster, ids: readonly string[]): Promise<string | null> {
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
 * and watch it for the hold: it must notice damage to durable records and must not lead
 * while its vote is blocked. A log that refuses to open is repaired the operator's way
 * (drop the damaged record and all after it) and started again.
 */
async function diskFault(ctx: NemesisContext, fault: PlannedFault, random: Prng): Promise<ActiveFault> {
  const { cluster, history } = ctx;
  const target = random.pick(cluster.ids);
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
  const watching = new AbortController();
  const watcher = watchBlockedNode(ctx, target, observe, watching.signal);
  return {
    targets: [target],
    detail,
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
    client.close();
  }
}
