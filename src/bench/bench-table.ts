import { FLOOR_RATIO_TARGET, type FloorPairsReport } from './floor-pairs.js';
import { nodesCpuMicrosPerMessage, percent } from './report.js';
import type { BenchReport } from './run-bench.js';

/** One run read from a `quorumlog bench --json` file (a `--floor-pairs` run's too), named for the table's notes. */
export interface NamedBenchRun {
  readonly name: string;
  readonly report: BenchReport | FloorPairsReport;
}

const PAIRED_LABEL = 'broker, 1 KiB x 1, paired with the floor (--floor-pairs)';

/** A case the performance targets name: which runs are it, what it must reach, and each run's figure. */
interface TargetCase {
  readonly label: string;
  readonly api: BenchReport['config']['api'];
  readonly sizeBytes: number;
  readonly inflight: number;
  readonly endToEnd: boolean;
  readonly target: string;
  /** The run's figure for the table; null when the run lacks what the target reads (a floor, say). */
  figure(report: BenchReport): { readonly text: string; readonly met: boolean } | null;
}

const KiB = 1024;

/** At least `msgPerSecondMin` msg/s, with the ack p99 at most `ackP99MsMax` when given. */
function throughput(msgPerSecondMin: number, ackP99MsMax: number | null): Pick<TargetCase, 'target' | 'figure'> {
  return {
    target: `>= ${count(msgPerSecondMin)} msg/s${ackP99MsMax === null ? '' : `, ack p99 <= ${ackP99MsMax} ms`}`,
    figure: (report) => {
      const { messagesPerSecond, latency } = report.produce;
      return { text: `${count(messagesPerSecond)} (p99 ${latency.p99Ms.toFixed(1)} ms)`, met: messagesPerSecond >= msgPerSecondMin && (ackP99MsMax === null || latency.p99Ms <= ackP99MsMax) };
    },
  };
}

const CASES: readonly TargetCase[] = [
  {
    label: 'broker, 1 KiB x 1',
    api: 'broker',
    sizeBytes: KiB,
    inflight: 1,
    endToEnd: false,
    target: 'ack p50 <= 1.25x the same-run floor',
    figure: (report) => {
      if (report.floor === null) return null;
      const ratio = report.produce.latency.p50Ms / report.floor.p50Ms;
      return { text: `${report.produce.latency.p50Ms.toFixed(2)} ms / floor ${report.floor.p50Ms.toFixed(2)} = ${ratio.toFixed(2)}x`, met: ratio <= 1.25 };
    },
  },
  { label: 'log, 1 KiB x 64', api: 'log', sizeBytes: KiB, inflight: 64, endToEnd: false, ...throughput(30_000, 8) },
  { label: 'broker, 1 KiB x 64', api: 'broker', sizeBytes: KiB, inflight: 64, endToEnd: false, ...throughput(30_000, 8) },
  { label: 'log, 128 B x 64', api: 'log', sizeBytes: 128, inflight: 64, endToEnd: false, ...throughput(45_000, null) },
  { label: 'broker, 128 B x 64', api: 'broker', sizeBytes: 128, inflight: 64, endToEnd: false, ...throughput(45_000, null) },
  {
    label: 'broker, 1 KiB x 64, a consumer group acking each',
    api: 'broker',
    sizeBytes: KiB,
    inflight: 64,
    endToEnd: true,
    target: '>= 22,000 msg/s, end-to-end p99 <= 15 ms',
    figure: (report) => {
      const { messagesPerSecond, endToEnd } = report.produce;
      if (endToEnd.count === 0) return null;
      return { text: `${count(messagesPerSecond)} (end-to-end p99 ${endToEnd.p99Ms.toFixed(1)} ms)`, met: messagesPerSecond >= 22_000 && endToEnd.p99Ms <= 15 };
    },
  },
];

/** The configuration every target is stated for; a run outside it is no target case. */
function underTargetTerms(report: BenchReport): boolean {
  const c = report.config;
  return c.flush === 'sync' && c.acks === 'all' && c.durableMark === 'ordered' && c.producers === 1 && c.nodes === 3 && !c.tls;
}

function caseOf(report: BenchReport): TargetCase | null {
  if (!underTargetTerms(report)) return null;
  const c = report.config;
  return CASES.find((t) => t.api === c.api && t.sizeBytes === c.sizeBytes && t.inflight === c.inflight && t.endToEnd === c.endToEnd) ?? null;
}

/**
 * The performance targets' table from `quorumlog bench --json` runs (docs/bench.md,
 * "Figures"): a row per case with runs, each run's figure in the order given, how many met
 * the target, and beside them what the issue asks each run to print: the worst node's
 * event-loop max (no stall over 10 ms), the three nodes' CPU per acknowledged message, and
 * the run's own disk reference (produce over the disk's one-record fdatasync rate measured
 * in the same run). A `--floor-pairs` run through the broker at 1 KiB under the ordered mark
 * has a row of its own after the single runs of 1 KiB x 1: the median ratio of its rounds
 * with its interval, met when the whole interval is at or under the target. Runs outside the
 * targets' terms are named under the table.
 */
export function benchTable(runs: readonly NamedBenchRun[]): string {
  const rows: string[] = ['| case | target | runs | met | worst node\'s event-loop max (ms) | nodes\' CPU per message (us) | msg/s over the disk\'s one-record fdatasyncs | host CPU time the hypervisor took (steal) |', '|---|---|---|---|---|---|---|---|'];
  const outside: string[] = [];
  const byCase = new Map<TargetCase, { readonly report: BenchReport; readonly text: string; readonly met: boolean }[]>();
  const paired: FloorPairsReport[] = [];
  for (const run of runs) {
    const report = run.report;
    if ('kind' in report) {
      // The ordered mark under sync flush is the floor's two fdatasyncs a node.
      if (report.api === 'broker' && report.sizeBytes === KiB && report.fsyncsPerNode === 2) paired.push(report);
      else outside.push(run.name);
      continue;
    }
    const target = caseOf(report);
    const figure = target?.figure(report) ?? null;
    if (target === null || figure === null) outside.push(run.name);
    else byCase.set(target, [...(byCase.get(target) ?? []), { report, ...figure }]);
  }
  // After the single runs of 1 KiB x 1, whose target it measures in another way.
  const pairedRow = (): void => {
    if (paired.length === 0) return;
    const met = paired.filter((p) => p.ratio.high <= p.target).length;
    const text = paired.map((p) => `${p.ratio.median.toFixed(2)}x (${p.ratio.low.toFixed(2)}-${p.ratio.high.toFixed(2)}, ${p.ratio.count} rounds)`).join(' / ');
    rows.push(`| ${[PAIRED_LABEL, `median of ack p50 / floor p50 <= ${FLOOR_RATIO_TARGET}x, its 95% interval too`, text, `${met} of ${paired.length}`, '-', '-', '-', paired.map((p) => maybe(p.windowCpu?.steal ?? null, percent)).join(' / ')].join(' | ')} |`);
  };
  for (const target of CASES) {
    const inCase = byCase.get(target);
    if (inCase !== undefined) {
      const cells = [
        target.label,
        target.target,
        inCase.map((run) => run.text).join(' / '),
        `${inCase.filter((run) => run.met).length} of ${inCase.length}`,
        inCase.map((run) => loopMaxMs(run.report)).join(' / '),
        inCase.map((run) => maybe(nodesCpuMicrosPerMessage(run.report), (us) => count(us))).join(' / '),
        inCase.map((run) => maybe(run.report.ratios.produceToSingleSync, (x) => `${x.toFixed(1)}x`)).join(' / '),
        // Files from builds before the bench read it have no windowCpu.
        inCase.map((run) => maybe(run.report.host.windowCpu?.steal ?? null, percent)).join(' / '),
      ];
      rows.push(`| ${cells.join(' | ')} |`);
    }
    if (target === CASES[0]) pairedRow();
  }
  if (outside.length > 0) rows.push('', `Not a target case (the targets are with flush sync, acks all, the ordered mark, one producer, 3 nodes): ${outside.join(', ')}`);
  return rows.join('\n') + '\n';
}

function loopMaxMs(report: BenchReport): string {
  const maxima = report.nodes.map((node) => node.eventLoop?.maxMs ?? null);
  if (maxima.length === 0 || maxima.some((m) => m === null)) return '-';
  return Math.max(...maxima.map((m) => m ?? 0)).toFixed(1);
}

function maybe(value: number | null, show: (value: number) => string): string {
  return value === null ? '-' : show(value);
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
