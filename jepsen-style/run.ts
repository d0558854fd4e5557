import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { checkAvailability, singleNodeOutageBoundMs, type KindAvailability } from './checkers/availability.js';
import type { CheckerResult } from './checkers/checker-result.js';
import { checkDamagedNodes } from './checkers/damaged-node.js';
import { checkFaultSchedule } from './checkers/fault-schedule.js';
import type { NodeStatus } from '../src/client/index.js';
import { Cluster, type ClusterConfig, type KnownConfiguration } from './cluster.js';
import { compactionArgs, effectivePolicy, NODE_DEFAULT_COMPACTION, type CompactionFlags } from './compaction.js';
import { SnapshotMonitor, snapshotSummary, type NodeSnapshotStats } from './snapshot-stats.js';
import { faultWindows, History, pairOps, type MemberEvent, type MissedFault } from './history.js';
import { LogWorkload } from './log-workload.js';
import { QueueWorkload } from './queue-workload.js';
import { planFaults, runNemesis, type NemesisKind, type PlannedFault } from './nemesis.js';
import { Prng } from './prng.js';
import { writeReport } from './report.js';
import { sleep, waitUntil, withTimeout } from '../src/process/index.js';
import type { Workload, WorkloadContext, WorkloadOptions } from './workload.js';

export interface RunOptions {
  readonly nodes: number;
  /** Seconds of workload and faults (longer while a slipped fault schedule finishes, see SCHEDULE_OVERRUN_MIN_MS). */
  readonly timeS: number;
  readonly nemeses: readonly NemesisKind[];
  /** Only these variants ("leader", or "kill:leader"); null for all. */
  readonly variants: readonly string[] | null;
  /** A scheduled fault that did not run is listed either way; unless this is set, it fails the run. */
  readonly allowMissedFaults: boolean;
  readonly workload: string;
  readonly rate: number;
  readonly concurrency: number;
  readonly opTimeoutMs: number;
  readonly idempotence: boolean;
  /** Queue workload: consumer processes, auto-ack (must be flagged), consumer kills, work per message. */
  readonly consumers: number;
  readonly autoAck: boolean;
  readonly consumerKills: boolean;
  readonly consumerWorkMs: number;
  readonly seed: number;
  readonly flush: ClusterConfig['flush'];
  /** Force --power-loss on every node (it is on whenever the power nemesis runs). */
  readonly powerLoss: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** The nodes' snapshot, segment and retention flags (null: the node's default). */
  readonly compaction: CompactionFlags;
  /** Where run folders go (./runs). */
  readonly runsDir: string;
  /** Name of this run's folder; default <time>-seed<seed>. */
  readonly runName?: string;
  readonly recoveryTimeoutMs: number;
  /**
   * The availability checker's bound on a single-node fault's longest window without an
   * acknowledged write; null: the election timeout's upper end + 1.5 s (singleNodeOutageBoundMs).
   */
  readonly singleNodeOutageMaxMs: number | null;
  /** Progress lines (the CLI prints them; tests collect them). */
  readonly log: (line: string) => void;
}

export const RUN_DEFAULTS = {
  nodes: 3,
  timeS: 60,
  workload: 'log',
  allowMissedFaults: false,
  rate: 200,
  concurrency: 10,
  opTimeoutMs: 3_000,
  idempotence: true,
  consumers: 3,
  autoAck: false,
  consumerKills: true,
  consumerWorkMs: 10,
  tickMs: 30,
  electionTicks: 10,
  heartbeatTicks: 2,
  compaction: NODE_DEFAULT_COMPACTION,
  runsDir: 'runs',
  recoveryTimeoutMs: 60_000,
  singleNodeOutageMaxMs: null,
} as const;

export interface RunResult {
  readonly valid: boolean;
  readonly runDir: string;
  readonly seed: number;
  readonly checkers: readonly CheckerResult[];
  readonly availability: readonly KindAvailability[];
  readonly faults: readonly PlannedFault[];
  readonly missedFaults: readonly MissedFault[];
  /** Per node: snapshots written and installed, segments deleted, final first index (from /metrics). */
  readonly snapshots: readonly NodeSnapshotStats[];
  /** The configuration the run ended with (the leader's Members answer; the bootstrap one without membership faults). */
  readonly configuration: KnownConfiguration;
  /** Every step of the membership nemesis, in order. */
  readonly memberChanges: readonly MemberEvent[];
}

/** The registered workloads. */
export const WORKLOADS: Record<string, (options: WorkloadOptions) => Workload> = {
  log: (options) => new LogWorkload(options),
  queue: (options) => new QueueWorkload(options),
};

const HISTORY_EVENTS_MAX = 5_000_000;
/**
 * Ids beyond --nodes the membership nemesis may start (two for grow-shrink, one for a
 * replacement, one more so a removed member's id need not be reused at once).
 */
const SPARE_NODES = 3;
const WORKLOAD_DRAIN_MS = 30_000;
/**
 * Faults run one after another and each takes longer than its hold (a restart, an election),
 * so the schedule slips behind its plan. The run goes on past --time until the schedule is
 * done, for at most --time again and at least this long; what is left then did not run.
 */
const SCHEDULE_OVERRUN_MIN_MS = 30_000;

/**
 * One run: a fresh cluster in its own folder, the workload and the seeded fault schedule for
 * timeS, then heal everything, wait for recovery, read back, check, write history, results
 * and report. Every node it started is stopped before it returns, whatever happened.
 */
export async function runJepsen(options: RunOptions): Promise<RunResult> {
  const makeWorkload = WORKLOADS[options.workload];
  if (makeWorkload === undefined) throw new Error(`unknown workload "${options.workload}" (known: ${Object.keys(WORKLOADS).join(', ')})`);
  const workload = makeWorkload({
    rate: options.rate, concurrency: options.concurrency, opTimeoutMs: options.opTimeoutMs, idempotence: options.idempotence,
    retentionPolicy: effectivePolicy(options.compaction),
    consumers: options.consumers, autoAck: options.autoAck, consumerKills: options.consumerKills, consumerWorkMs: options.consumerWorkMs,
  });
  const root = new Prng(options.seed);
  const plan = planFaults(root.derive('schedule'), { kinds: options.nemeses, variants: options.variants, timeMs: options.timeS * 1000 });
  const runDir = path.resolve(options.runsDir, options.runName ?? `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${options.seed}`);
  fs.mkdirSync(runDir, { recursive: true });
  const log = (line: string): void => {
    options.log(line);
    fs.appendFileSync(path.join(runDir, 'run.log'), `${new Date().toISOString()} ${line}\n`);
  };
  log(`seed ${options.seed}; run folder ${runDir}`);
  log(`schedule: ${plan.map((f) => `${(f.atMs / 1000).toFixed(1)}s ${f.kind}:${f.variant} ${f.holdMs}ms`).join(', ') || 'no faults'}`);
  fs.writeFileSync(path.join(runDir, 'options.json'), `${JSON.stringify({ ...options, log: undefined, plan }, null, 2)}\n`);

  const cluster = await Cluster.start({
    nodes: options.nodes,
    runDir,
    cliPath: cliPath(),
    clusterId: `jepsen-${options.seed}`,
    tickMs: options.tickMs,
    electionTicks: options.electionTicks,
    heartbeatTicks: options.heartbeatTicks,
    flush: options.flush,
    powerLoss: options.powerLoss || options.nemeses.includes('power'),
    spareNodes: options.nemeses.includes('members') ? SPARE_NODES : 0,
    compaction: options.compaction,
    readyTimeoutMs: 30_000,
  });
  const history = new History(HISTORY_EVENTS_MAX);
  const ctx: WorkloadContext = { cluster, history, random: root.derive('workload'), log };
  const snapshotMonitor = new SnapshotMonitor(cluster);
  snapshotMonitor.start();
  try {
    const { missed, ...span } = await exercise(ctx, workload, plan, options);
    const recovery = await waitForRecovery(cluster, options.recoveryTimeoutMs);
    log(`recovery: ${recovery.note}`);
    const probed = recovery.ok && (await workload.probe(ctx));
    if (recovery.ok) await waitForRecovery(cluster, options.recoveryTimeoutMs);
    history.writeJsonLines(path.join(runDir, 'history.jsonl'));
    const checkers: CheckerResult[] = [...(await workload.check(ctx, span))];
    const snapshots = await snapshotMonitor.finish();
    log(snapshotSummary(snapshots));
    const faults = faultWindows(history.events);
    const recoveryNote = `${recovery.note}${probed ? '; a write after recovery was acknowledged' : '; no write was acknowledged after recovery'}`;
    const writes = pairOps(history.events).filter((op) => op.f === workload.writeFunction);
    const singleNodeOutageMaxMs = options.singleNodeOutageMaxMs ?? singleNodeOutageBoundMs(options);
    const availability = checkAvailability({ ops: writes, faults, workloadStartMs: span.startMs, workloadEndMs: span.endMs, recovered: probed, recoveryNote, singleNodeOutageMaxMs });
    checkers.push(availability);
    if (plan.some((f) => f.kind === 'disk')) checkers.push(checkDamagedNodes(history.events));
    if (plan.length > 0) checkers.push(checkFaultSchedule({ scheduled: plan, missed, required: !options.allowMissedFaults }));
    const valid = checkers.every((c) => c.valid);
    const memberChanges = history.events.filter((e): e is MemberEvent => e.type === 'member');
    const configuration = cluster.configuration;
    log(`final configuration: voters ${configuration.voters.join(',')}${configuration.learners.length === 0 ? '' : `, learners ${configuration.learners.join(',')}`}; ${memberChanges.length} membership steps`);
    const summary = { valid, seed: options.seed, command: commandLine(options), nodes: options.nodes, timeS: options.timeS, nemeses: options.nemeses, workload: options.workload, flush: options.flush, idempotence: options.idempotence, checkers, availabilityPerFaultKind: availability.perKind, faults, missedFaults: missed, snapshots, configuration, memberChanges };
    fs.writeFileSync(path.join(runDir, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeReport(path.join(runDir, 'report.html'), { summary, events: history.events, writeFunction: workload.writeFunction, faults, missedFaults: missed, checkers, perKind: availability.perKind, snapshots, configuration, memberChanges });
    for (const f of missed) log(`fault ${f.faultId} ${f.kind}:${f.variant} due at ${(f.dueMs / 1000).toFixed(1)} s did not run: ${f.reason}`);
    for (const c of checkers) log(`${c.valid ? 'PASS' : 'FAIL'} ${c.name} ${JSON.stringify(c.counts)}${c.note === undefined ? '' : ` - ${c.note}`}`);
    log(`${valid ? 'VALID' : 'INVALID'}: seed ${options.seed}; report ${path.join(runDir, 'report.html')}`);
    return { valid, runDir, seed: options.seed, checkers, availability: availability.perKind, faults: plan, missedFaults: missed, snapshots, configuration, memberChanges };
  } catch (error) {
    // Keep what happened for the post-mortem, then let the caller report the failure.
    history.writeJsonLines(path.join(runDir, 'history.jsonl'));
    log(`run failed: ${(error as Error).message}`);
    throw error;
  } finally {
    await snapshotMonitor.stop();
    await workload.close?.().catch((error: unknown) => log(`workload close failed: ${(error as Error).message}`));
    await cluster.stopAll();
  }
}

/**
 * The workload and the fault schedule for timeS (longer while a slipped schedule finishes),
 * then everything healed and the workload drained. Returns when the workload issued
 * operations (ms since the run started) and the scheduled faults that did not run.
 */
async function exercise(ctx: WorkloadContext, workload: Workload, plan: readonly PlannedFault[], options: RunOptions): Promise<{ startMs: number; endMs: number; missed: MissedFault[] }> {
  const { cluster, history, log } = ctx;
  await waitUntil(() => cluster.leader(), { timeoutMs: 30_000, what: 'a first leader' });
  const startMs = history.nowMs();
  const stopWorkload = new AbortController();
  // Every client process of the workload listens on it (bounded by --concurrency).
  setMaxListeners(options.concurrency + 16, stopWorkload.signal);
  const working = workload.run(ctx, stopWorkload.signal);
  const stopNemesis = new AbortController();
  const faulting = runNemesis({ cluster, history, flush: options.flush.mode, log, members: cluster }, plan, stopNemesis.signal);
  await sleep(options.timeS * 1000);
  const overrunMaxMs = Math.max(SCHEDULE_OVERRUN_MIN_MS, options.timeS * 1000);
  const overrunFromMs = history.nowMs();
  await withTimeout(faulting, overrunMaxMs, 'the rest of the fault schedule').catch(() => undefined);
  stopNemesis.abort();
  const missed = await faulting;
  const overrunMs = history.nowMs() - overrunFromMs;
  if (overrunMs >= 1_000) log(`the fault schedule ran ${(overrunMs / 1000).toFixed(1)} s past --time (at most ${overrunMaxMs / 1000} s)`);
  log(`healed: ${await healAll(cluster)}`);
  stopWorkload.abort();
  await withTimeout(working, WORKLOAD_DRAIN_MS, 'the workload draining').catch((error: unknown) => log(`workload did not drain: ${(error as Error).message}`));
  return { startMs, endMs: history.nowMs(), missed };
}

/** Resumes paused nodes, heals every link, starts nodes that are down. */
async function healAll(cluster: Cluster): Promise<string> {
  cluster.healLinks();
  const notes: string[] = [];
  for (const id of cluster.ids) {
    if (cluster.state(id) === 'paused') {
      cluster.resume(id);
      notes.push(`resumed ${id}`);
    }
  }
  for (const id of cluster.ids) {
    if (cluster.state(id) !== 'down') continue;
    const outcome = await cluster.startNode(id);
    notes.push(outcome.ok ? `started ${id}` : `${id} would not start: ${outcome.reason}`);
  }
  return notes.join(', ') || 'nothing to heal';
}

/**
 * Waits until every member of the final configuration answers, one leader, the same commit
 * index, all applied, no blocked vote, and each holds that configuration.
 */
async function waitForRecovery(cluster: Cluster, timeoutMs: number): Promise<{ ok: boolean; note: string }> {
  const startedMs = Date.now();
  try {
    await waitUntil(
      async () => {
        const all = await cluster.statuses();
        const bad = all.find((s) => 'error' in s);
        if (bad !== undefined) throw new Error(`${bad.address}: ${'error' in bad ? bad.error : ''}`);
        const statuses = all.filter((s): s is NodeStatus & { address: string } => !('error' in s));
        const leaders = statuses.filter((s) => s.role === 'leader');
        const commits = new Set(statuses.map((s) => s.commitIndex));
        if (leaders.length !== 1) throw new Error(`${leaders.length} leaders`);
        if (commits.size !== 1) throw new Error(`commit indexes ${[...commits].join(',')}`);
        if (statuses.some((s) => s.appliedIndex !== s.commitIndex || s.votingBlocked)) throw new Error('not all applied / a vote still blocked');
        const wanted = cluster.configuration;
        const other = statuses.find((s) => !sameIds(s.voters ?? [], wanted.voters) || !sameIds(s.learners ?? [], wanted.learners));
        if (other !== undefined) throw new Error(`${other.id} holds voters ${(other.voters ?? []).join(',')} learners ${(other.learners ?? []).join(',') || '-'}, not the final configuration`);
        return true;
      },
      { timeoutMs, what: 'recovery (one leader, equal commit, all applied, no blocked vote)', intervalMs: 250 },
    );
    return { ok: true, note: `converged ${Date.now() - startedMs} ms after healing` };
  } catch (error) {
    return { ok: false, note: (error as Error).message };
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

/** The built quorumlog command, found from this file (jepsen-style/ or dist/jepsen-style/). */
function cliPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 6; k++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      const cli = path.join(dir, 'dist', 'src', 'cli', 'main.js');
      if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
      return cli;
    }
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the repository root (package.json) above jepsen-style/');
}

export function commandLine(o: RunOptions): string {
  return [
    'npm run jepsen --', `--nodes ${o.nodes}`, `--time ${o.timeS}`, `--nemesis ${o.nemeses.join(',') || 'none'}`, ...(o.variants === null ? [] : [`--variants ${o.variants.join(',')}`]), ...(o.allowMissedFaults ? ['--allow-missed-faults'] : []),
    `--workload ${o.workload}`, ...(o.workload === 'queue' ? [`--consumers ${o.consumers}`, `--consumer-work-ms ${o.consumerWorkMs}`, ...(o.autoAck ? ['--auto-ack'] : []), ...(o.consumerKills ? [] : ['--no-consumer-kills'])] : []), `--rate ${o.rate}`, `--concurrency ${o.concurrency}`, `--seed ${o.seed}`,
    ...(o.flush.mode === 'async' ? [`--flush async --flush-interval-ms ${o.flush.intervalMs}`] : []),
    ...(o.flush.mode === 'sync' && o.flush.mark === 'lagging' ? ['--durable-mark lagging'] : []), ...(o.idempotence ? [] : ['--no-idempotence']), ...(o.powerLoss ? ['--power-loss'] : []),
    ...compactionArgs(o.compaction),
    ...(o.singleNodeOutageMaxMs === null ? [] : [`--outage-max-ms ${o.singleNodeOutageMaxMs}`]),
  ].join(' ');
}
