import type { BenchConfig, BenchReport } from './run-bench.js';
import type { LatencySummary } from './stats.js';

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtRatio = (r: number | null): string => (r === null ? 'n/a' : `${r.toFixed(2)}x`);
const fmtMb = (n: number): string => n.toFixed(1);

function latencyRow(name: string, s: LatencySummary): string {
  return `  ${name.padEnd(14)} ${[s.p50Ms, s.p90Ms, s.p99Ms, s.p999Ms, s.maxMs].map((v) => fmtMs(v).padStart(8)).join('')}   (${fmtInt(s.count)} samples)`;
}

/** The human-readable summary the command prints. */
export function formatReport(report: BenchReport): string {
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
    lines.push('  node   CPU s (measured / total)   CPU us/msg   peak RSS');
    for (const n of report.nodes) {
      const measured = n.measuredCpuSeconds === null ? 'n/a' : n.measuredCpuSeconds.toFixed(2);
      const total = n.cpuSeconds === null ? 'n/a' : n.cpuSeconds.toFixed(2);
      // CPU per acknowledged message: steadier than msg/s on a shared machine.
      const perMessage = n.measuredCpuSeconds === null || p.messages === 0 ? 'n/a' : ((n.measuredCpuSeconds * 1e6) / p.messages).toFixed(0);
      const rss = n.peakRssBytes === null ? 'n/a' : `${(n.peakRssBytes / 1024 / 1024).toFixed(0)} MiB`;
      lines.push(`  ${n.id.padEnd(6)} ${`${measured} / ${total}`.padStart(20)}   ${perMessage.padStart(10)}   ${rss.padStart(8)}`);
    }
    lines.push(`  client ${p.clientCpuSeconds.toFixed(2).padStart(11)} (bench process, whole produce phase)`);
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join('\n') + '\n';
}

/** A self-contained HTML page with two SVG charts: latency percentiles, and throughput and p50/p99 per second. */
export function chartHtml(report: BenchReport): string {
  const p = report.produce;
  const width = 640;
  const height = 240;
  const pad = 40;
  const labels = ['p50', 'p90', 'p99', 'p99.9', 'max'];
  const series = [
    { name: 'ack', color: '#1f77b4', values: [p.latency.p50Ms, p.latency.p90Ms, p.latency.p99Ms, p.latency.p999Ms, p.latency.maxMs] },
    { name: 'end to end', color: '#ff7f0e', values: [p.endToEnd.p50Ms, p.endToEnd.p90Ms, p.endToEnd.p99Ms, p.endToEnd.p999Ms, p.endToEnd.maxMs] },
  ];
  const maxLatency = Math.max(1, ...series.flatMap((s) => s.values));
  const group = (width - 2 * pad) / labels.length;
  const bars = series
    .flatMap((s, si) =>
      s.values.map((v, k) => {
        const h = ((height - 2 * pad) * v) / maxLatency;
        const x = pad + k * group + 8 + si * (group / 2 - 8);
        return `<rect x="${x.toFixed(1)}" y="${(height - pad - h).toFixed(1)}" width="${(group / 2 - 10).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${s.name} ${labels[k]}: ${fmtMs(v)} ms</title></rect>` +
          `<text x="${(x + 2).toFixed(1)}" y="${(height - pad - h - 3).toFixed(1)}" font-size="9">${fmtMs(v)}</text>`;
      }),
    )
    .join('');
  const axisLabels = labels.map((l, k) => `<text x="${(pad + k * group + group / 2 - 10).toFixed(1)}" y="${height - pad + 14}" font-size="11">${l}</text>`).join('');
  const t = p.timeline;
  const maxRate = Math.max(1, ...t.map((s) => s.messages));
  const maxP99 = Math.max(1, ...t.map((s) => s.p99Ms));
  const xAt = (k: number): number => pad + (t.length <= 1 ? 0 : (k * (width - 2 * pad)) / (t.length - 1));
  const line = (values: number[], max: number, color: string): string =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${values.map((v, k) => `${xAt(k).toFixed(1)},${(height - pad - ((height - 2 * pad) * v) / max).toFixed(1)}`).join(' ')}"/>`;
  const legend = (items: { name: string; color: string }[]): string =>
    items.map((it, k) => `<rect x="${pad + k * 150}" y="8" width="10" height="10" fill="${it.color}"/><text x="${pad + k * 150 + 14}" y="17" font-size="11">${it.name}</text>`).join('');
  const c = report.config;
  const title = `${c.producers} x ${c.inflight} in flight, ${c.sizeBytes} B, acks=${c.acks}, ${flushLabel(c)}: ${fmtInt(p.messagesPerSecond)} msg/s`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>quorumlog bench</title></head>
<body style="font-family: sans-serif">
<h3>quorumlog bench — ${escapeHtml(title)}</h3>
<p>Latency percentiles (ms), max ${fmtMs(maxLatency)} ms</p>
<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${legend(series)}${bars}${axisLabels}
<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#333"/></svg>
<p>Per second of the measured window: acknowledged msg/s (max ${fmtInt(maxRate)}) and ack p50/p99 (max ${fmtMs(maxP99)} ms), each on its own scale</p>
<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${legend([
    { name: 'msg/s', color: '#2ca02c' },
    { name: 'p50 ms', color: '#1f77b4' },
    { name: 'p99 ms', color: '#d62728' },
  ])}
${line(t.map((s) => s.messages), maxRate, '#2ca02c')}${line(t.map((s) => s.p50Ms), maxP99, '#1f77b4')}${line(t.map((s) => s.p99Ms), maxP99, '#d62728')}
<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#333"/>
<text x="${pad}" y="${height - pad + 14}" font-size="11">0 s</text><text x="${width - pad - 20}" y="${height - pad + 14}" font-size="11">${t.length} s</text></svg>
<pre>${escapeHtml(formatReport(report))}</pre>
</body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** "flush sync", "flush sync, lagging mark" or "flush async", as the headings say it. */
function flushLabel(config: Pick<BenchConfig, 'flush' | 'durableMark'>): string {
  return config.flush === 'sync' && config.durableMark === 'lagging' ? 'flush sync, lagging mark' : `flush ${config.flush}`;
}
