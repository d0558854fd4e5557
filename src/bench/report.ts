import type { BenchConfig, BenchFloor, BenchReport } from './run-bench.js';
import { barChart, lineChart, logLineChart, type Bar } from '../report/index.js';
import { workloadDifferences, type ComparedResult } from './comparison.js';
import { ratio, type LatencySummary } from './stats.js';
import { LOOP_DELAY_INTERVAL_MS, STALL_MS, type HostCpuShares, type LoopDelaySummary } from '../process/index.js';

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtRatio = (r: number | null): string => (r === null ? 'n/a' : `${r.toFixed(2)}x`);
const fmtMb = (n: number): string => n.toFixed(1);

/** Intervals with a stall printed per node (all of them are in --json). */
const STALLS_SHOWN = 5;

/** Max and p99 of a node's event-loop delay over the measured window (beyond the monitor's resolution). */
function loopDelayCell(delay: LoopDelaySummary | null): string {
  if (delay === null) return 'n/a';
  const waited = delay.runQueueMsPerSecond === null ? '' : `  (main thread waited for a CPU ${fmtMs(delay.runQueueMsPerSecond)} ms/s)`;
  return `${fmtMs(delay.maxMs)} / ${fmtMs(delay.p99Ms)}${delay.maxMs > STALL_MS ? `  over ${STALL_MS} ms` : ''}${waited}`;
}

function latencyRow(name: string, s: LatencySummary): string {
  return `  ${name.padEnd(14)} ${[s.p50Ms, s.p90Ms, s.p99Ms, s.p999Ms, s.maxMs].map((v) => fmtMs(v).padStart(8)).join('')}   (${fmtInt(s.count)} samples)`;
}

/** The latency floor measured in the same run (latency-floor.ts) and the run's ack p50 over it. */
function floorLine(floor: BenchFloor, ack: LatencySummary, sizeBytes: number): string {
  const what = `same run: ${sizeBytes} B over gRPC to a leader and two followers, ${floor.fsyncsPerNode} fdatasync(s) per node, answered by two of three`;
  return `  floor (${what}): p50 ${fmtMs(floor.p50Ms)} ms, p90 ${fmtMs(floor.p90Ms)} ms (${fmtInt(floor.rounds)} rounds); ack p50 is ${fmtRatio(ratio(ack.p50Ms, floor.p50Ms))} the floor`;
}

/**
 * The floor's CPU a round beside this run's nodes' CPU a message (all three, the measured
 * window): on a shared machine CPU moves less than latency with the other work.
 */
function floorCpuLines(floor: BenchFloor, report: BenchReport): string[] {
  if (floor.nodesCpuMicrosPerRound === null) return [];
  const ours = nodesCpuMicrosPerMessage(report);
  const beside = ours === null ? '' : `; this run's nodes ${fmtInt(ours)} us a message, ${fmtRatio(ratio(ours, floor.nodesCpuMicrosPerRound))} the floor's`;
  return [`  floor CPU: its three node processes ${fmtInt(floor.nodesCpuMicrosPerRound)} us a round${beside}`];
}

/** The nodes' measured CPU together per acknowledged message, or null without every node's figure. */
export function nodesCpuMicrosPerMessage(report: BenchReport): number | null {
  if (report.nodes.length === 0 || report.produce.messages === 0) return null;
  let seconds = 0;
  for (const node of report.nodes) {
    if (node.measuredCpuSeconds === null) return null;
    seconds += node.measuredCpuSeconds;
  }
  return (seconds * 1e6) / report.produce.messages;
}

/** At or above this share of the host's CPU time taken by the hypervisor, a run is flagged. */
const STEAL_WARNING_SHARE = 0.1;

function hostCpuLines(shares: HostCpuShares | null): string[] {
  if (shares === null) return [];
  const lines = [`  host CPU in the measured window: ${percent(shares.busy)} busy, ${percent(shares.idle)} idle, ${percent(shares.steal)} taken by the hypervisor for other guests (steal)`];
  if (shares.steal >= STEAL_WARNING_SHARE) {
    lines.push(`  warning: the hypervisor took ${percent(shares.steal)} of this machine's CPU time in the measured window; compare ratios within this run, and CPU per message across runs, rather than its rates with another run's`);
  }
  return lines;
}

/** A share as a whole percentage. */
export function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

/** The human-readable summary the command prints; `compared`: other systems' results to set it against (--compare). */
export function formatReport(report: BenchReport, compared: readonly ComparedResult[] = []): string {
  const c = report.config;
  const p = report.produce;
  const lines: string[] = [];
  lines.push(
    `quorumlog bench: ${c.brokers === null ? `${c.nodes} local nodes` : `brokers ${c.brokers.join(',')}`}, ${c.producers} producer(s) x ${c.inflight} in flight, ` +
      `${c.sizeBytes} B ${c.api === 'broker' ? 'messages to a topic (Producer)' : 'records'}, acks=${c.acks}, ${flushLabel(c)}, ${(c.durationMs / 1000).toFixed(1)} s after ${(c.warmupMs / 1000).toFixed(1)} s warm-up` +
      `${c.clientBatching ? '' : ', no client batching'}`,
  );
  lines.push(`  host: ${report.host.cpus} CPUs (${report.host.cpuModel}), Node ${report.host.node}, load average ${report.host.loadBefore.toFixed(1)} before, ${report.host.loadAfter.toFixed(1)} after`);
  if (report.host.loadBefore > report.host.cpus) lines.push('  warning: the machine was busy before the run started; figures are lower than on an idle machine');
  lines.push(...hostCpuLines(report.host.windowCpu));
  lines.push('');
  lines.push(`produce        ${fmtInt(p.messagesPerSecond)} msg/s   ${fmtMb(p.megabytesPerSecond)} MB/s   (${fmtInt(p.messages)} acknowledged, ${p.errors} errors${p.firstError === null ? '' : `: ${p.firstError}`})`);
  if (report.drain !== null) {
    const d = report.drain;
    lines.push(`consume        ${fmtInt(d.messagesPerSecond)} msg/s   ${fmtMb(d.megabytesPerSecond)} MB/s   (plain drain of ${fmtInt(d.messages)} records, one follow stream)`);
  }
  if (report.groupDrain !== null) {
    const g = report.groupDrain;
    lines.push(`group drain    ${fmtInt(g.messagesPerSecond)} msg/s   ${fmtMb(g.megabytesPerSecond)} MB/s   (${fmtInt(g.messages)} messages, an ack each, until all acks committed; prefetch ${fmtInt(g.prefetch)}${g.ackErrors > 0 ? `, ${g.ackErrors} failed acks` : ''})`);
  }
  lines.push('');
  lines.push(`  latency (ms)       p50     p90     p99   p99.9     max`);
  lines.push(latencyRow('ack', p.latency));
  if (p.endToEnd.count > 0) lines.push(latencyRow('end to end', p.endToEnd));
  if (report.floor !== null) lines.push(floorLine(report.floor, p.latency, c.sizeBytes), ...floorCpuLines(report.floor, report));
  lines.push('');
  lines.push('disk (raw write + fdatasync, same run)');
  for (const d of report.disk.cases) {
    lines.push(
      `  ${`${d.recordsPerSync} x ${d.recordBytes} B per sync`.padEnd(24)} ${fmtInt(d.recordsPerSecond).padStart(9)} records/s  ${fmtMb(d.megabytesPerSecond).padStart(6)} MB/s  ` +
        `${fmtInt(d.syncsPerSecond).padStart(6)} syncs/s  fdatasync p50 ${fmtMs(d.fdatasync.p50Ms)} ms  p99 ${fmtMs(d.fdatasync.p99Ms)} ms`,
    );
  }
  const r = report.ratios;
  lines.push(`  produce / disk: ${fmtRatio(r.produceToSingleSync)} of single-record syncs, ${fmtRatio(r.produceTo16PerSync)} of 16 per sync, ${fmtRatio(r.produceTo256PerSync)} of 256 per sync; MB/s ${fmtRatio(r.produceMegabytesToDisk256)} of 256 per sync`);
  if (report.nodes.length > 0) {
    lines.push('');
    lines.push('  node   CPU s (measured / total)   CPU us/msg   peak RSS   event-loop delay max / p99 (ms)');
    for (const n of report.nodes) {
      const measured = n.measuredCpuSeconds === null ? 'n/a' : n.measuredCpuSeconds.toFixed(2);
      const total = n.cpuSeconds === null ? 'n/a' : n.cpuSeconds.toFixed(2);
      // CPU per acknowledged message: steadier than msg/s on a shared machine.
      const perMessage = n.measuredCpuSeconds === null || p.messages === 0 ? 'n/a' : ((n.measuredCpuSeconds * 1e6) / p.messages).toFixed(0);
      const rss = n.peakRssBytes === null ? 'n/a' : `${(n.peakRssBytes / 1024 / 1024).toFixed(0)} MiB`;
      lines.push(`  ${n.id.padEnd(6)} ${`${measured} / ${total}`.padStart(20)}   ${perMessage.padStart(10)}   ${rss.padStart(8)}   ${loopDelayCell(n.eventLoop)}`);
    }
    for (const n of report.nodes) {
      const stalls = n.eventLoop?.stalls ?? [];
      if (stalls.length > 0) {
        const worst = [...stalls].sort((a, b) => b[1] - a[1]).slice(0, STALLS_SHOWN);
        const at = worst.map(([atMs, maxMs, waitMs]) => `${new Date(atMs).toISOString().slice(11, 23)} (${fmtMs(maxMs)} ms${waitMs < 0 ? '' : `, ${fmtMs(waitMs)} ms waiting for a CPU`})`);
        const which = stalls.length > STALLS_SHOWN ? `the ${STALLS_SHOWN} worst ending` : 'ending';
        lines.push(`  ${n.id}: ${stalls.length} interval(s) of ${LOOP_DELAY_INTERVAL_MS} ms with a delay over ${STALL_MS} ms; ${which} ${at.join(', ')}`);
      }
    }
    lines.push(`  client ${p.clientCpuSeconds.toFixed(2).padStart(11)} (bench process, whole produce phase)`);
  }
  if (compared.length > 0) lines.push('', ...comparisonLines(report, compared));
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join('\n') + '\n';
}

/** Each compared system's figures beside ours, as ratios ours / theirs (msg/s above 1: we are faster; p50 and p99 above 1: we are slower). */
function comparisonLines(report: BenchReport, compared: readonly ComparedResult[]): string[] {
  const p = report.produce;
  const run = runWorkload(report);
  const lines = ['other systems (from --compare; measured elsewhere, not in this run)', '  system                          msg/s      p50 ms   p99 ms   ours/theirs msg/s   p50     p99'];
  for (const r of compared) {
    const ms = (v: number | null): string => (v === null ? 'n/a' : fmtMs(v));
    const p50Ratio = r.p50Ms === null ? null : p.latency.p50Ms / r.p50Ms;
    const p99Ratio = r.p99Ms === null ? null : p.latency.p99Ms / r.p99Ms;
    lines.push(`  ${r.system.slice(0, 30).padEnd(30)} ${fmtInt(r.messagesPerSecond).padStart(8)}   ${ms(r.p50Ms).padStart(6)}   ${ms(r.p99Ms).padStart(6)}   ${fmtRatio(p.messagesPerSecond / r.messagesPerSecond).padStart(17)}   ${fmtRatio(p50Ratio).padEnd(5)}   ${fmtRatio(p99Ratio)}`);
    const differences = workloadDifferences(r, run);
    if (differences.length > 0) lines.push(`    not the same workload: ${differences.join('; ')}`);
    if (r.source !== null) lines.push(`    source: ${r.source}`);
  }
  return lines;
}

/** The run's message size and messages in flight in all, as a compared result states them. */
function runWorkload(report: BenchReport): { sizeBytes: number; inflight: number } {
  return { sizeBytes: report.config.sizeBytes, inflight: report.config.producers * report.config.inflight };
}

/**
 * A self-contained HTML page (inline SVG, no script, nothing fetched): latency percentiles,
 * acknowledged messages per second, ack latency per second on a log axis, and the run set
 * against the disk's own limits measured in the same run. Every axis is labelled with its unit.
 */
export function chartHtml(report: BenchReport, compared: readonly ComparedResult[] = []): string {
  const p = report.produce;
  const t = p.timeline;
  const c = report.config;
  const title = `${c.producers} x ${c.inflight} in flight, ${c.sizeBytes} B, acks=${c.acks}, ${flushLabel(c)}: ${fmtInt(p.messagesPerSecond)} msg/s`;
  const percentiles = barChart({
    title: 'latency percentiles over the measured window',
    unit: 'ms',
    bars: [
      ...latencyBars('ack', p.latency, '#1f77b4'),
      ...(p.endToEnd.count > 0 ? latencyBars('end to end', p.endToEnd, '#ff7f0e') : []),
    ],
  });
  const throughput = lineChart({
    title: 'acknowledged messages per second',
    seconds: t.length,
    series: [{ name: 'msg/s', colour: '#2ca02c', values: t.map((s) => s.messages) }],
    unit: 'msg/s',
    xLabel: 'seconds of the measured window',
  });
  const latency = logLineChart({
    title: 'ack latency per second',
    seconds: t.length,
    series: [
      { name: 'p50', colour: '#1f77b4', values: t.map((s) => (s.messages > 0 ? s.p50Ms : null)) },
      { name: 'p99', colour: '#d62728', values: t.map((s) => (s.messages > 0 ? s.p99Ms : null)) },
    ],
    unit: 'ms',
    xLabel: 'seconds of the measured window',
  });
  const disk = barChart({
    title: 'this run against the disk measured in the same run (records/s)',
    unit: 'records per second',
    bars: [
      { name: `quorumlog: ${c.sizeBytes} B messages acknowledged`, value: p.messagesPerSecond, colour: '#2ca02c' },
      ...report.disk.cases.map((d) => ({ name: `disk: ${d.recordsPerSync} x ${d.recordBytes} B per fdatasync`, value: d.recordsPerSecond, colour: '#9e9e9e' })),
    ],
  });
  const others = compared.length === 0 ? '' : comparisonCharts(report, compared);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quorumlog bench</title>
<style>body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; } svg { display: block; margin-bottom: 16px; height: auto; } pre { font: 12px ui-monospace, monospace; }</style>
</head><body>
<h3>quorumlog bench: ${escapeHtml(title)}</h3>
${percentiles}
${throughput}
${latency}
${disk}
${others}
<pre>${escapeHtml(formatReport(report, compared))}</pre>
</body></html>
`;
}

/** Throughput and, where the file gives it, ack p99 of this run beside each compared system's. */
function comparisonCharts(report: BenchReport, compared: readonly ComparedResult[]): string {
  const p = report.produce;
  const run = runWorkload(report);
  const label = (r: ComparedResult): string => {
    const differences = workloadDifferences(r, run);
    return differences.length === 0 ? r.system : `${r.system} (${differences.join('; ')})`;
  };
  const ours = `quorumlog, this run (${run.sizeBytes} B, ${run.inflight} in flight)`;
  const throughput = barChart({
    title: 'this run against other systems, measured elsewhere (--compare): messages per second',
    unit: 'msg/s',
    bars: [{ name: ours, value: p.messagesPerSecond, colour: '#2ca02c' }, ...compared.map((r) => ({ name: label(r), value: r.messagesPerSecond, colour: '#9467bd' }))],
  });
  const withP99 = compared.filter((r): r is ComparedResult & { p99Ms: number } => r.p99Ms !== null);
  const latency = withP99.length === 0 ? '' : barChart({
    title: 'ack latency p99 against the same systems',
    unit: 'ms',
    bars: [{ name: ours, value: p.latency.p99Ms, colour: '#2ca02c' }, ...withP99.map((r) => ({ name: label(r), value: r.p99Ms, colour: '#9467bd' }))],
  });
  return `${throughput}\n${latency}`;
}

function latencyBars(name: string, s: LatencySummary, colour: string): Bar[] {
  const points: [string, number][] = [['p50', s.p50Ms], ['p90', s.p90Ms], ['p99', s.p99Ms], ['p99.9', s.p999Ms], ['max', s.maxMs]];
  return points.map(([label, value]) => ({ name: `${name} ${label}`, value, colour }));
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** "flush sync", "flush sync, lagging mark" or "flush async", as the headings say it. */
function flushLabel(config: Pick<BenchConfig, 'flush' | 'durableMark'>): string {
  return config.flush === 'sync' && config.durableMark === 'lagging' ? 'flush sync, lagging mark' : `flush ${config.flush}`;
}
