import type { SnapshotBenchReport } from './snapshot-bench.js';

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const fmtMb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const fmtRatio = (r: number | null): string => (r === null ? 'n/a' : `${r.toFixed(2)}x`);

/** The human-readable summary of a snapshot bench run: every figure beside its same-run reference and the ratio. */
export function formatSnapshotReport(report: SnapshotBenchReport): string {
  const lines: string[] = [];
  const h = report.host;
  lines.push(`quorumlog bench --case snapshots: ${report.config.cases.join(', ')}; snapshots every ${fmtInt(report.config.snapshotEntries)} entries against --snapshot-entries ${fmtInt(report.config.noSnapshotEntries)} (none)`);
  lines.push(`  host: ${h.cpus} CPUs (${h.cpuModel}), Node ${h.node}, load average ${h.loadBefore.toFixed(1)} before, ${h.loadAfter.toFixed(1)} after`);
  if (report.restart !== null) lines.push('', ...restartLines(report.restart));
  if (report.retention !== null) lines.push('', ...retentionLines(report.retention));
  if (report.install !== null) lines.push('', ...installLines(report.install));
  if (report.throughput !== null) lines.push('', ...throughputLines(report.throughput));
  if (report.encode !== null) lines.push('', ...encodeLines(report.encode));
  return lines.join('\n') + '\n';
}

function restartLines(r: NonNullable<SnapshotBenchReport['restart']>): string[] {
  const lines = ['restart to serving (one node, plain appends of one entry each, killed with SIGKILL, started on its data)'];
  lines.push('  history        snapshots       ready ms   first append ms   newest snapshot   log');
  for (const c of r.cases) {
    lines.push(
      `  ${fmtInt(c.historyRecords).padStart(9)}      ${(c.snapshots ? `every ${fmtInt(c.snapshotEntries)}` : 'none').padEnd(12)} ${fmtMs(c.readyMs).padStart(9)} ${fmtMs(c.firstAppendMs).padStart(17)}   ${`@${fmtInt(c.snapshotIndex)}`.padStart(15)}   ${fmtMb(c.logBytes)}`,
    );
  }
  lines.push(`  largest / smallest history, first append: with snapshots ${fmtRatio(r.growthWithSnapshots)} (goal <= 1.50x), without ${fmtRatio(r.growthWithoutSnapshots)}`);
  for (const size of [...new Set(r.cases.map((c) => c.historyRecords))]) {
    const on = r.cases.find((c) => c.historyRecords === size && c.snapshots);
    const off = r.cases.find((c) => c.historyRecords === size && !c.snapshots);
    if (on !== undefined && off !== undefined && off.firstAppendMs > 0) lines.push(`  ${fmtInt(size)} records: with snapshots ${fmtMs(on.firstAppendMs)} ms against ${fmtMs(off.firstAppendMs)} ms without: ${fmtRatio(on.firstAppendMs / off.firstAppendMs)}`);
  }
  return lines;
}

function retentionLines(r: NonNullable<SnapshotBenchReport['retention']>): string[] {
  const lines = [
    `disk use under a steady load (${fmtInt(r.produced)} produced, ${fmtInt(r.consumed)} consumed and acked in ${(r.durationMs / 1000).toFixed(0)} s${r.produceErrors > 0 ? `, ${r.produceErrors} produce errors: ${r.firstProduceError ?? ''}` : ''}; leader's log ${fmtInt(r.firstIndex)}..${fmtInt(r.lastIndex)}, ${r.samples.length} samples)`,
    '  node        first        max       last   2nd-half slope   flat',
  ];
  for (const n of r.nodes) {
    lines.push(`  ${n.id.padEnd(6)} ${fmtMb(n.firstBytes).padStart(10)} ${fmtMb(n.maxBytes).padStart(10)} ${fmtMb(n.lastBytes).padStart(10)}   ${`${(n.secondHalfBytesPerMinute / 1e6).toFixed(2)} MB/min`.padStart(14)}   ${n.flat ? 'yes' : 'no'}`);
  }
  return lines;
}

function installLines(i: NonNullable<SnapshotBenchReport['install']>): string[] {
  return [
    `InstallSnapshot to ${i.follower} (stopped while ${fmtInt(i.entriesWhileDown)} produce entries went in; leader's log starts at ${fmtInt(i.leaderFirstIndex)}, ${i.follower} had ${fmtInt(i.followerLastIndex)})`,
    `  snapshot @${fmtInt(i.snapshotIndex)}, ${fmtMb(i.snapshotBytes)}: ${i.transferMs === null ? 'n/a' : fmtMs(i.transferMs)} ms from its temp file to installed (${fmtMs(i.readyToInstalledMs)} ms from the follower serving)`,
    `  received whole and synced in ${i.receiveMs === null ? 'n/a' : fmtMs(i.receiveMs)} ms, ${i.megabytesPerSecond.toFixed(1)} MB/s; then loaded in ${i.restoreMs === null ? 'n/a' : fmtMs(i.restoreMs)} ms (log reset, state decoded)`,
    `  disk, same run: ${fmtMb(i.disk.bytes)} in 1 MiB writes + fdatasync ${fmtMs(i.disk.elapsedMs)} ms, ${i.disk.megabytesPerSecond.toFixed(1)} MB/s; transfer / disk ${fmtRatio(i.ratioToDisk)}`,
  ];
}

function throughputLines(t: NonNullable<SnapshotBenchReport['throughput']>): string[] {
  const lines = ['produce with snapshots against without (fresh 3-node clusters, alternating order; event-loop delay from the bench\'s 2 ms recorder, per node max / p99 over the window)'];
  t.pairs.forEach((p, k) => {
    const loop = (run: typeof p.withSnapshots): string => run.eventLoop.map((n) => `${n.id} ${fmtMs(n.maxDelayMs)}/${fmtMs(n.p99DelayMs)} ms${run.snapshots ? ` (${n.snapshotsWritten} snap)` : ''}`).join(', ');
    lines.push(`  pair ${k + 1}: ${fmtInt(p.withSnapshots.messagesPerSecond)} msg/s with, ${fmtInt(p.withoutSnapshots.messagesPerSecond)} msg/s without: ${fmtRatio(p.ratio)}`);
    lines.push(`    event loop with:    ${loop(p.withSnapshots)}`);
    lines.push(`    event loop without: ${loop(p.withoutSnapshots)}`);
  });
  lines.push(`  median ratio of ${t.pairs.length} pairs: ${fmtRatio(t.medianRatio)}`);
  return lines;
}

function encodeLines(e: NonNullable<SnapshotBenchReport['encode']>): string[] {
  const lines = ['taking a snapshot, in this process (event-loop delay beyond the 1 ms sampling interval, monitorEventLoopDelay; medians of the rounds)'];
  for (const c of e.cases) {
    lines.push(
      `  ${fmtInt(c.shape.size)} ${c.shape.kind === 'deliveries' ? 'in-flight deliveries' : 'offset runs'}, ${fmtMb(c.payloadBytes)} (built in ${fmtMs(c.buildMs)} ms): max delay ${fmtMs(c.slicedMaxDelayMs)} ms while taking it (longest slice ${fmtMs(c.sliceMaxMs)} ms), ${fmtMs(c.busyMaxDelayMs)} ms busy in 2 ms slices, ${fmtMs(c.idleMaxDelayMs)} ms idle; one-shot encoding ${fmtMs(c.oneShotMs)} ms`,
    );
    for (const r of c.rounds) {
      lines.push(
        `    ${r.slices} slices in ${fmtMs(r.slicedMs)} ms (file published): max ${fmtMs(r.slicedMaxDelayMs)} ms, p99 ${fmtMs(r.slicedP99DelayMs)} ms, longest slice ${fmtMs(r.sliceMaxMs)} ms; busy max ${fmtMs(r.busyMaxDelayMs)} ms; idle max ${fmtMs(r.idleMaxDelayMs)} ms; one-shot ${fmtMs(r.oneShotMs)} ms`,
      );
    }
  }
  return lines;
}
