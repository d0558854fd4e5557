import { AppendWorkload, checkAckOrder, checkWrites, readWholeLog, type WriteProblem } from '../bench/index.js';
import { LogClient } from '../client/index.js';
import { parseClientArgs, type CommandContext } from './client-args.js';
import { parseDurationMs, parseWholeNumber, UsageError } from './usage-error.js';

const HELP = `Usage: quorumlog verify-writes [--duration 20s | --count N] [--writers N] [--prefix P] [--brokers LIST] [--json]

Appends records with unique ids ("P-000042") from --writers writers, each waiting for one
acknowledgement before it sends its next, for --duration (default 20s) or until --count have
been sent, whichever comes first (Ctrl-C ends the writing early). Kill, pause or restart nodes
meanwhile: the client follows the leader and retries. Then it reads the log back from every
node it can reach and reports each acknowledged record that is missing, duplicated or not at
the index it was acknowledged at, and any record of this run that should not be there. A
record whose append ended with an unknown outcome (OutcomeUnknownError) may be there once, or
not at all. Exit status 1 when anything is wrong, or no node could be read.

Options:
  --duration D     how long to write (500ms, 20s, 2m; default 20s)
  --count N        stop after sending N records
  --writers N      concurrent writers (default 4)
  --prefix P       id prefix (default vw-<time>, so runs against one log do not mix)
`;

const EXTRA = {
  duration: { type: 'string' },
  count: { type: 'string' },
  writers: { type: 'string' },
  prefix: { type: 'string' },
} as const;

const DEFAULT_DURATION_MS = 20_000;
const COUNT_MAX = 10_000_000;
/** How long a node may take to apply the last acknowledged record before it is read. */
const CATCH_UP_WAIT_MS = 30_000;
/** How long a node that does not answer is retried (it may be restarting, or the machine busy) before it is skipped. */
const UNREACHABLE_WAIT_MS = 5_000;
const CATCH_UP_POLL_MS = 200;
const PROGRESS_INTERVAL_MS = 1_000;

/** What the read-back found on one node. */
interface NodeReport {
  readonly address: string;
  readonly id: string | null;
  /** Why the node was not checked (unreachable, or still behind), or null when it was. */
  readonly skipped: string | null;
  readonly recordsOfRun: number;
  readonly unknownPresent: number;
  readonly problems: readonly WriteProblem[];
}

export async function runVerifyWritesCommand(argv: readonly string[]): Promise<number> {
  const args = parseClientArgs(argv, { extra: EXTRA, allowPositionals: false, help: HELP });
  if (args === null) return 0;
  const { context, flags } = args;
  const { brokers, timeoutMs, json } = context;
  const durationMs = parseDurationMs('duration', flags['duration'] as string | undefined) ?? DEFAULT_DURATION_MS;
  const count = parseWholeNumber('count', flags['count'] as string | undefined, { min: 1, max: COUNT_MAX }) ?? COUNT_MAX;
  const writers = parseWholeNumber('writers', flags['writers'] as string | undefined, { min: 1, max: 256 }) ?? 4;
  const prefix = (flags['prefix'] as string | undefined) ?? `vw-${Date.now().toString(36)}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(prefix)) throw new UsageError(`--prefix must be 1-64 letters, digits, '.', '_' or '-', not "${prefix}"`);

  const client = new LogClient({ brokers, timeoutMs, ...context.connection });
  try {
    // Records of this run can only land above what any node had committed before it began.
    const commits = (await client.statusAll()).flatMap((s) => ('error' in s ? [] : [s.commitIndex]));
    const readFrom = commits.length === 0 ? 1 : 1 + Math.min(...commits);
    const workload = new AppendWorkload(client, prefix);
    const writes = workload.background({ concurrency: writers, recordsMax: count, durationMsMax: durationMs });
    const stopEarly = (): void => void writes.stop();
    process.once('SIGINT', stopEarly);
    const progress = showProgress(workload);
    try {
      await writes.done;
    } finally {
      clearInterval(progress);
      process.removeListener('SIGINT', stopEarly);
      if (process.stderr.isTTY === true) process.stderr.write('\r\x1b[K');
    }
    const highestAcked = Math.max(0, ...workload.acked.map((a) => a.index));
    const nodes: NodeReport[] = [];
    for (const address of brokers) nodes.push(await checkNode(address, { workload, from: readFrom, highestAcked, timeoutMs, connection: context.connection }));
    const orderProblems = checkAckOrder([workload]);
    return report({ workload, nodes, orderProblems, json });
  } finally {
    client.close();
  }
}

function showProgress(workload: AppendWorkload): NodeJS.Timeout {
  return setInterval(() => {
    if (process.stderr.isTTY !== true) return;
    process.stderr.write(`\r\x1b[Kverify-writes: sent ${workload.sent}, acknowledged ${workload.ackedCount}, unknown ${workload.unknown.size}, rejected ${workload.rejected.size}`);
  }, PROGRESS_INTERVAL_MS);
}

/** Waits (bounded) until the node at `address` has applied the highest acknowledged index, then checks its log. */
async function checkNode(address: string, run: { readonly workload: AppendWorkload; readonly from: number; readonly highestAcked: number; readonly timeoutMs: number; readonly connection: CommandContext['connection'] }): Promise<NodeReport> {
  // This node's own log: the broker list must not follow the membership to another node.
  const client = new LogClient({ brokers: [address], timeoutMs: run.timeoutMs, brokerRefreshIntervalMs: 0, ...run.connection });
  const skipped = (id: string | null, why: string): NodeReport => ({ address, id, skipped: why, recordsOfRun: 0, unknownPresent: 0, problems: [] });
  try {
    let id: string | null = null;
    let applied = -1;
    const startMs = Date.now();
    // Bounded by the catch-up deadline, and by the shorter one while the node does not answer.
    while (Date.now() - startMs < CATCH_UP_WAIT_MS) {
      const [status] = await client.statusAll();
      if (status === undefined || 'error' in status) {
        if (Date.now() - startMs >= UNREACHABLE_WAIT_MS) return skipped(id, `unreachable (${status?.error ?? 'no answer'})`);
      } else {
        id = status.id;
        applied = status.appliedIndex;
        if (applied >= run.highestAcked) break;
      }
      await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
    }
    if (applied < run.highestAcked) return skipped(id, `still behind after ${CATCH_UP_WAIT_MS / 1000} s (applied ${applied} of ${run.highestAcked})`);
    const log = await readWholeLog(client, run.from);
    const ours = log.filter((r) => r.payload.startsWith(`${run.workload.prefix}-`));
    return {
      address,
      id,
      skipped: null,
      recordsOfRun: ours.length,
      unknownPresent: ours.filter((r) => run.workload.unknown.has(r.payload)).length,
      problems: checkWrites(log, [run.workload], { strangers: 'ignore' }),
    };
  } catch (error) {
    return { address, id: null, skipped: `read failed: ${error instanceof Error ? error.message : String(error)}`, recordsOfRun: 0, unknownPresent: 0, problems: [] };
  } finally {
    client.close();
  }
}

function report(run: { readonly workload: AppendWorkload; readonly nodes: readonly NodeReport[]; readonly orderProblems: readonly WriteProblem[]; readonly json: boolean }): number {
  const { workload, nodes, orderProblems } = run;
  const checked = nodes.filter((n) => n.skipped === null);
  const problemCount = orderProblems.length + nodes.reduce((sum, n) => sum + n.problems.length, 0);
  const ok = checked.length > 0 && problemCount === 0;
  const count = (kind: WriteProblem['kind']): number => [...orderProblems, ...nodes.flatMap((n) => n.problems)].filter((p) => p.kind === kind).length;
  if (run.json) {
    const summary = {
      ok,
      prefix: workload.prefix,
      sent: workload.sent,
      acknowledged: workload.ackedCount,
      unknown: workload.unknown.size,
      rejected: workload.rejected.size,
      errors: Object.fromEntries(workload.errorCounts),
      lost: count('lost'),
      duplicated: count('duplicated'),
      misplaced: count('misplaced'),
      reordered: count('reordered'),
      unexpected: count('unexpected'),
      nodes: nodes.map((n) => ({ ...n, problems: n.problems.map((p) => `${p.kind}: ${p.message}`) })),
      orderProblems: orderProblems.map((p) => p.message),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return ok ? 0 : 1;
  }
  process.stdout.write(`${workload.summary()}\n`);
  for (const n of nodes) {
    const name = n.id === null ? n.address : `${n.id} (${n.address})`;
    if (n.skipped !== null) process.stdout.write(`${name}: not checked: ${n.skipped}\n`);
    else if (n.problems.length === 0) process.stdout.write(`${name}: ${n.recordsOfRun} records of this run, every acknowledged one once and in order (${n.unknownPresent} of ${workload.unknown.size} unknown present)\n`);
    else for (const p of n.problems) process.stdout.write(`${name}: ${p.kind}: ${p.message}\n`);
  }
  for (const p of orderProblems) process.stdout.write(`${p.kind}: ${p.message}\n`);
  if (ok) process.stdout.write(`OK: ${workload.ackedCount} acknowledged records, none lost, duplicated or out of order on ${checked.length} of ${nodes.length} nodes\n`);
  else if (checked.length === 0) process.stdout.write('FAILED: could not read the log back from any node\n');
  else process.stdout.write(`FAILED: lost ${count('lost')}, duplicated ${count('duplicated')}, misplaced ${count('misplaced')}, reordered ${count('reordered')}, unexpected ${count('unexpected')}\n`);
  return ok ? 0 : 1;
}
