import { parseArgs } from 'node:util';

import { RETENTION_POLICIES, type RetentionPolicyName } from './compaction.js';
import { MIX_KINDS, NEMESIS_KINDS, type NemesisKind } from './nemesis.js';
import { CLIENT_FAILOVER_MARGIN_MS, singleNodeOutageBoundMs } from './checkers/availability.js';
import { RUN_DEFAULTS, WORKLOADS, type RunOptions } from './run.js';

export const HELP = `Usage: npm run jepsen -- [options]

Starts a fresh cluster of real quorumlog node processes in a run folder, runs a workload
and seeded faults for --time seconds, heals everything, waits for recovery, reads back,
checks, writes history.jsonl, results.json and report.html, and exits 0 only when every
checker passes (1 when one fails, 2 for bad arguments).

Options:
  --nodes N                 cluster size (default ${RUN_DEFAULTS.nodes})
  --time S                  seconds of workload and faults (default ${RUN_DEFAULTS.timeS}); faults run one at a
                            time and take longer than planned (restarts, elections), so the run
                            goes on until the last one healed, at most S (at least 30) s more
  --nemesis LIST            comma-separated: ${NEMESIS_KINDS.join(', ')}, mix (= ${MIX_KINDS.join(',')}),
                            none (default mix); faults run one at a time in seeded random order;
                            members (grow-shrink, replace-wiped, remove-leader) runs beside the
                            others on up to 3 spare nodes and ends with --nodes voters
  --variants LIST           only these shapes, e.g. leader,majority or kill:all,power:majority
  --allow-missed-faults     a scheduled fault that did not run (the run ended first, or it could
                            not start) is listed in the report and results but does not fail the
                            run (default: it fails the faults checker)
  --workload NAME           ${Object.keys(WORKLOADS).join(', ')} (default ${RUN_DEFAULTS.workload}): the plain log, or the broker's
                            topic with idempotent producers and a consumer group
  --rate N                  operations per second, all clients together (default ${RUN_DEFAULTS.rate})
  --concurrency N           sequential client processes (default: rate / 25, at least ${RUN_DEFAULTS.concurrency}, at most 64)
  --op-timeout-ms N         one operation's budget (default ${RUN_DEFAULTS.opTimeoutMs})
  --seed N                  the fault schedule's seed (default: random, printed)
  --flush sync|async        the nodes' flush policy (default sync)
  --flush-interval-ms N     async flush interval (default 10)
  --durable-mark ordered|lagging
                            sync flush: lagging acknowledges after the data's fdatasync, before
                            the durable mark's (default ordered; see quorumlog node --help)
  --power-loss              start every node with --power-loss (always on with the power nemesis)
  --snapshot-entries N      every node writes a snapshot every N applied entries (default: the node's)
  --segment-bytes N         log segment size, at least 4096 (default: the node's); compaction deletes
                            whole segments, so small ones make it happen in a short run
  --retention-hours H       delete segments below a snapshot once older than H hours (fractional;
                            0 = nothing kept for time's sake; default: the node's, 72)
  --retention-policy keep-unconsumed|delete
                            what retention may not delete (default: the node's, keep-unconsumed)
  --no-idempotence          log: blindly retry appends whose outcome was unknown; queue: producers
                            with idempotence: false (their retries duplicate); must be flagged
  --consumers N             queue: consumer processes in the group (default ${RUN_DEFAULTS.consumers})
  --consumer-work-ms N      queue: time to process one message (default ${RUN_DEFAULTS.consumerWorkMs})
  --no-consumer-kills       queue: do not kill -9 a consumer every 2-6 s
  --auto-ack                queue: consumers ack on arrival, before processing (must be flagged)
  --tick-ms N, --election-ticks N, --heartbeat-ticks N   node timing (default ${RUN_DEFAULTS.tickMs}, ${RUN_DEFAULTS.electionTicks}, ${RUN_DEFAULTS.heartbeatTicks})
  --outage-max-ms N         availability fails when a single-node fault (kill, pause or power loss
                            of one node, disk damage) leaves a window longer than N ms without an
                            acknowledged write (default: 2 * election ticks * tick ms + ${CLIENT_FAILOVER_MARGIN_MS},
                            ${singleNodeOutageBoundMs(RUN_DEFAULTS)} with the default timing)
  --runs-dir DIR            where run folders go (default ./${RUN_DEFAULTS.runsDir})
  -h, --help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseRunOptions(argv: readonly string[], log: (line: string) => void): RunOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      nodes: { type: 'string' }, time: { type: 'string' }, nemesis: { type: 'string' }, variants: { type: 'string' }, workload: { type: 'string' },
      rate: { type: 'string' }, concurrency: { type: 'string' }, 'op-timeout-ms': { type: 'string' }, seed: { type: 'string' }, flush: { type: 'string' },
      'flush-interval-ms': { type: 'string' }, 'durable-mark': { type: 'string' }, 'power-loss': { type: 'boolean' }, 'allow-missed-faults': { type: 'boolean' }, 'no-idempotence': { type: 'boolean' }, 'tick-ms': { type: 'string' },
      consumers: { type: 'string' }, 'consumer-work-ms': { type: 'string' }, 'no-consumer-kills': { type: 'boolean' }, 'auto-ack': { type: 'boolean' },
      'election-ticks': { type: 'string' }, 'heartbeat-ticks': { type: 'string' }, 'runs-dir': { type: 'string' }, 'outage-max-ms': { type: 'string' },
      'snapshot-entries': { type: 'string' }, 'segment-bytes': { type: 'string' }, 'retention-hours': { type: 'string' }, 'retention-policy': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const whole = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number in ${min}..${max}, not "${value}"`);
    return n;
  };
  const nemesisSpec = values.nemesis ?? 'mix';
  const nemeses = nemesisSpec === 'none' ? [] : nemesisSpec === 'mix' ? [...MIX_KINDS] : nemesisSpec.split(',').map((k) => k.trim());
  for (const k of nemeses) if (!(NEMESIS_KINDS as readonly string[]).includes(k)) throw new UsageError(`--nemesis: unknown "${k}" (known: ${NEMESIS_KINDS.join(', ')}, mix, none)`);
  const flushMode = values.flush ?? 'sync';
  if (flushMode !== 'sync' && flushMode !== 'async') throw new UsageError(`--flush must be sync or async, not "${flushMode}"`);
  const mark = values['durable-mark'] ?? 'ordered';
  if (mark !== 'ordered' && mark !== 'lagging') throw new UsageError(`--durable-mark must be ordered or lagging, not "${mark}"`);
  if (flushMode === 'async' && values['durable-mark'] !== undefined) throw new UsageError('--durable-mark applies to --flush sync');
  const optionalWhole = (name: string, value: string | undefined, min: number, max: number): number | null => (value === undefined ? null : whole(name, value, 0, min, max));
  const workload = values.workload ?? RUN_DEFAULTS.workload;
  if (WORKLOADS[workload] === undefined) throw new UsageError(`--workload: "${workload}" is not a workload (known: ${Object.keys(WORKLOADS).join(', ')})`);
  return {
    nodes: whole('nodes', values.nodes, RUN_DEFAULTS.nodes, 3, 9),
    timeS: whole('time', values.time, RUN_DEFAULTS.timeS, 1, 86_400),
    nemeses: nemeses as NemesisKind[],
    variants: values.variants === undefined ? null : values.variants.split(',').map((v) => v.trim()),
    allowMissedFaults: values['allow-missed-faults'] === true,
    workload,
    rate: whole('rate', values.rate, RUN_DEFAULTS.rate, 1, 100_000),
    concurrency: whole('concurrency', values.concurrency, defaultConcurrency(whole('rate', values.rate, RUN_DEFAULTS.rate, 1, 100_000)), 1, 1_000),
    opTimeoutMs: whole('op-timeout-ms', values['op-timeout-ms'], RUN_DEFAULTS.opTimeoutMs, 100, 600_000),
    idempotence: values['no-idempotence'] !== true,
    consumers: whole('consumers', values.consumers, RUN_DEFAULTS.consumers, 1, 64),
    consumerWorkMs: whole('consumer-work-ms', values['consumer-work-ms'], RUN_DEFAULTS.consumerWorkMs, 0, 60_000),
    consumerKills: values['no-consumer-kills'] !== true,
    autoAck: values['auto-ack'] === true,
    seed: whole('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31 - 1),
    flush: flushMode === 'sync' ? { mode: 'sync', mark } : { mode: 'async', intervalMs: whole('flush-interval-ms', values['flush-interval-ms'], 10, 1, 600_000) },
    powerLoss: values['power-loss'] === true,
    tickMs: whole('tick-ms', values['tick-ms'], RUN_DEFAULTS.tickMs, 1, 60_000),
    electionTicks: whole('election-ticks', values['election-ticks'], RUN_DEFAULTS.electionTicks, 2, 10_000),
    heartbeatTicks: whole('heartbeat-ticks', values['heartbeat-ticks'], RUN_DEFAULTS.heartbeatTicks, 1, 10_000),
    runsDir: values['runs-dir'] ?? RUN_DEFAULTS.runsDir,
    recoveryTimeoutMs: RUN_DEFAULTS.recoveryTimeoutMs,
    compaction: {
      snapshotEntries: optionalWhole('snapshot-entries', values['snapshot-entries'], 1, 1_000_000_000),
      segmentBytes: optionalWhole('segment-bytes', values['segment-bytes'], 4096, 1024 * 1024 * 1024),
      retentionHours: retentionHours(values['retention-hours']),
      retentionPolicy: retentionPolicy(values['retention-policy']),
    },
    singleNodeOutageMaxMs: values['outage-max-ms'] === undefined ? null : whole('outage-max-ms', values['outage-max-ms'], 0, 1, 3_600_000),
    log,
  };
}

function retentionHours(value: string | undefined): number | null {
  if (value === undefined) return null;
  const hours = Number(value);
  if (value.trim() === '' || !Number.isFinite(hours) || hours < 0) throw new UsageError(`--retention-hours must be a number of hours of at least 0, not "${value}"`);
  return hours;
}

function retentionPolicy(value: string | undefined): RetentionPolicyName | null {
  if (value === undefined) return null;
  const known = RETENTION_POLICIES.find((p) => p === value);
  if (known === undefined) throw new UsageError(`--retention-policy must be ${RETENTION_POLICIES.join(' or ')}, not "${value}"`);
  return known;
}

/**
 * Enough sequential producers that `rate` is reachable at ~25 ms per append (a sync group
 * commit on a slow disk), so --rate means what it says without a second flag.
 */
function defaultConcurrency(rate: number): number {
  return Math.min(64, Math.max(RUN_DEFAULTS.concurrency, Math.ceil(rate / 25)));
}
