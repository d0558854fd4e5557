import * as fs from 'node:fs';

import type { KindAvailability } from './checkers/availability.js';
import type { CheckerResult } from './checkers/checker-result.js';
import type { NodeSnapshotStats } from './snapshot-stats.js';
import { pairOps, type FaultWindow, type HistoryEvent, type MemberEvent, type MissedFault, type Op } from './history.js';
import { esc, lineChart, logLineChart, opScatter, shadingLegend } from '../src/report/index.js';

export interface ReportInput {
  readonly summary: { readonly valid: boolean; readonly seed: number; readonly command: string };
  readonly events: readonly HistoryEvent[];
  /** The `f` of the workload's writes ('append', 'send'): the plots count these. */
  readonly writeFunction: string;
  readonly faults: readonly FaultWindow[];
  /** Scheduled faults that did not run, with why (they have no window to shade). */
  readonly missedFaults: readonly MissedFault[];
  readonly checkers: readonly CheckerResult[];
  readonly perKind: readonly KindAvailability[];
  /** Per node, from its /metrics; absent from reports written before a run could scrape them. */
  readonly snapshots?: readonly NodeSnapshotStats[];
  /** The configuration the run ended with, and the membership nemesis's steps (absent: none ran). */
  readonly configuration?: { readonly voters: readonly string[]; readonly learners: readonly string[] };
  readonly memberChanges?: readonly MemberEvent[];
}

/** report.html: self-contained (inline SVG and CSS, no scripts, no network). */
export function writeReport(file: string, input: ReportInput): void {
  const ops = pairOps(input.events).filter((op) => op.f === input.writeFunction);
  // A loop, not Math.max(...events): a long history would overflow the call stack.
  const endMs = input.events.reduce((max, e) => Math.max(max, e.timeMs), 1000);
  const seconds = Math.ceil(endMs / 1000);
  const bins = binOps(ops, seconds);
  const processed = processedPerSecond(input.events, seconds);
  const throughput = lineChart({
    title: `${input.writeFunction} operations per second (by completion)`,
    seconds,
    faults: input.faults,
    series: [
      { name: 'ok', colour: '#2e7d32', values: bins.map((b) => b.ok) },
      { name: 'fail', colour: '#c62828', values: bins.map((b) => b.fail) },
      { name: 'info (unknown)', colour: '#f9a825', values: bins.map((b) => b.info) },
      ...(processed === null ? [] : [{ name: 'processed by consumers', colour: '#00838f', values: processed }]),
    ],
    unit: 'ops/s',
  });
  const latency = logLineChart({
    title: `latency of acknowledged ${input.writeFunction} operations, per completion second`,
    seconds,
    faults: input.faults,
    series: [
      { name: 'p50', colour: '#1565c0', values: bins.map((b) => quantile(b.latencies, 0.5)) },
      { name: 'p99', colour: '#6a1b9a', values: bins.map((b) => quantile(b.latencies, 0.99)) },
      { name: 'max', colour: '#9e9e9e', values: bins.map((b) => quantile(b.latencies, 1)) },
    ],
    unit: 'ms',
  });
  const scatter = opScatter({ title: `every ${input.writeFunction} operation: latency at completion`, seconds, faults: input.faults, ops });
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quorumlog jepsen-style run, seed ${input.summary.seed}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 24px; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
.pass { color: #2e7d32; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
code, pre { font: 12px ui-monospace, monospace; } pre { white-space: pre-wrap; max-width: 1000px; margin: 0; }
svg { display: block; margin-bottom: 16px; height: auto; }
.shade { white-space: nowrap; margin-right: 10px; } .shade i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; opacity: 0.5; }
</style></head><body>
<h1>quorumlog jepsen-style run: <span class="${input.summary.valid ? 'pass' : 'fail'}">${input.summary.valid ? 'VALID' : 'INVALID'}</span></h1>
<p>seed <b>${input.summary.seed}</b> &middot; <code>${esc(input.summary.command)}</code></p>
<h2>Checkers</h2>
<table><tr><th>checker</th><th>verdict</th><th>counts</th><th>first violations / note</th></tr>
${input.checkers.map((c) => `<tr><td>${esc(c.name)}</td><td class="${c.valid ? 'pass' : 'fail'}">${c.valid ? 'pass' : 'FAIL'}</td><td><pre>${esc(Object.entries(c.counts).map(([k, v]) => `${k}: ${v}`).join('\n'))}</pre></td><td><pre>${esc([c.note ?? '', ...c.examples.slice(0, 5).map((e) => JSON.stringify(e))].filter(Boolean).join('\n'))}</pre></td></tr>`).join('\n')}
</table>
${violationTables(input.checkers)}
<h2>Throughput and latency</h2>
${shadingLegend(input.faults)}
${throughput}
${latency}
${scatter}
<h2>Availability per fault kind</h2>
<table><tr><th>kind</th><th>windows</th><th>fault time</th><th>appends invoked inside</th><th>acknowledged</th><th>longest window without an acknowledged append</th></tr>
${input.perKind.map((k) => `<tr><td>${esc(k.kind)}</td><td>${k.windows}</td><td>${(k.faultMs / 1000).toFixed(1)} s</td><td>${k.ops}</td><td>${k.ops === 0 ? '&ndash; (clients blocked in earlier operations)' : `${(100 * k.okFraction).toFixed(1)}%`}</td><td>${k.longestNoWriteMs} ms</td></tr>`).join('\n')}
</table>
<h2>Fault timeline</h2>
<table><tr><th>#</th><th>start</th><th>end</th><th>kind</th><th>variant</th><th>targets</th><th>detail</th></tr>
${input.faults.map((f) => `<tr><td>${f.faultId}</td><td>${(f.startMs / 1000).toFixed(2)} s</td><td>${(f.endMs / 1000).toFixed(2)} s</td><td>${esc(f.kind)}</td><td>${esc(f.variant)}</td><td>${esc(f.targets.join(', '))}</td><td>${esc(f.detail)}</td></tr>`).join('\n')}
</table>
<h2>Scheduled faults that did not run</h2>
${missedTable(input.missedFaults)}
${membershipSection(input.configuration, input.memberChanges ?? [])}
<h2>Snapshots and compaction</h2>
${snapshotTable(input.snapshots ?? [])}
<p>Files beside this report: <code>history.jsonl</code> (every event), <code>results.json</code>, <code>logs/</code> (each node's output), <code>nodes/</code> (data), <code>run.log</code>.</p>
</body></html>
`;
  fs.writeFileSync(file, html);
}

function membershipSection(configuration: ReportInput['configuration'], changes: readonly MemberEvent[]): string {
  if (configuration === undefined || changes.length === 0) return '';
  const rows = changes.map((c) => `<tr><td>${c.faultId === 0 ? 'end' : c.faultId}</td><td>${(c.timeMs / 1000).toFixed(2)} s</td><td>${esc(c.action)}</td><td>${esc(c.node)}</td><td class="${c.outcome === 'fail' ? 'fail' : ''}">${c.outcome}</td><td>${esc(c.detail)}</td></tr>`);
  return `<h2>Membership changes</h2>
<p>Final configuration: voters <b>${esc(configuration.voters.join(', '))}</b>${configuration.learners.length === 0 ? '' : `, learners ${esc(configuration.learners.join(', '))}`}.</p>
<table class="members"><tr><th>fault</th><th>at</th><th>step</th><th>node</th><th>outcome</th><th>detail</th></tr>\n${rows.join('\n')}\n</table>`;
}

function missedTable(missed: readonly MissedFault[]): string {
  if (missed.length === 0) return '<p>Every scheduled fault ran.</p>';
  const rows = missed.map((f) => `<tr><td>${f.faultId}</td><td>${(f.dueMs / 1000).toFixed(2)} s</td><td>${esc(f.kind)}</td><td>${esc(f.variant)}</td><td>${f.holdMs} ms</td><td>${esc(f.reason)}</td></tr>`);
  return `<table><tr><th>#</th><th>due</th><th>kind</th><th>variant</th><th>hold</th><th>why it did not run</th></tr>\n${rows.join('\n')}\n</table>`;
}

function snapshotTable(stats: readonly NodeSnapshotStats[]): string {
  if (stats.length === 0) return '<p>No node was scraped.</p>';
  const cell = (n: number | null): string => (n === null ? '&ndash;' : String(n));
  const rows = stats.map((s) => `<tr><td>${esc(s.node)}</td><td>${s.snapshotsWritten}</td><td>${s.snapshotsInstalled}</td><td>${s.segmentsDeleted}</td><td>${cell(s.snapshotIndex)}</td><td>${cell(s.firstIndex)}</td><td>${s.startsScraped} of ${s.starts}</td></tr>`);
  return `<table class="snapshots"><tr><th>node</th><th>snapshots written</th><th>snapshots installed</th><th>segments deleted</th><th>final snapshot index</th><th>final first index</th><th>starts scraped</th></tr>\n${rows.join('\n')}\n</table>
<p>From each node's <code>/metrics</code>, scraped once a second and at the end. Counters restart at 0 with each start of a node and are summed over its starts, each at the last value read, so a node killed soon after a snapshot may have done more than shown.</p>`;
}

interface Bin {
  ok: number;
  fail: number;
  info: number;
  latencies: number[];
}

/** Latencies kept per one-second bin, at most this many (a uniform sample beyond it). */
const LATENCIES_PER_BIN_MAX = 5_000;

function binOps(ops: readonly Op[], seconds: number): Bin[] {
  const bins: Bin[] = Array.from({ length: seconds + 1 }, () => ({ ok: 0, fail: 0, info: 0, latencies: [] }));
  for (const op of ops) {
    const bin = bins[Math.min(seconds, Math.floor(op.completeMs / 1000))];
    if (bin === undefined) continue;
    bin[op.outcome]++;
    if (op.outcome === 'ok' && bin.latencies.length < LATENCIES_PER_BIN_MAX) bin.latencies.push(op.completeMs - op.invokeMs);
  }
  return bins;
}

/** Messages consumers finished per second (queue workload), or null when there were none. */
function processedPerSecond(events: readonly HistoryEvent[], seconds: number): number[] | null {
  const bins = new Array<number>(seconds + 1).fill(0);
  let any = false;
  for (const e of events) {
    if (e.type !== 'consume' || e.phase !== 'processed') continue;
    any = true;
    const k = Math.min(seconds, Math.floor(e.timeMs / 1000));
    bins[k] = (bins[k] ?? 0) + 1;
  }
  return any ? bins : null;
}

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? null;
}

/** For each failing checker, its first violations as a table of the operations involved. */
function violationTables(checkers: readonly CheckerResult[]): string {
  const failing = checkers.filter((c) => !c.valid && c.examples.length > 0);
  if (failing.length === 0) return '';
  const tables = failing.map((c) => {
    const rows = c.examples.map((e) => (e !== null && typeof e === 'object' ? (e as Record<string, unknown>) : { example: e }));
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 10);
    const cell = (v: unknown): string => esc(typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v) ?? '');
    const body = rows.map((r) => `<tr>${keys.map((k) => `<td>${cell(r[k])}</td>`).join('')}</tr>`).join('\n');
    return `<h3>${esc(c.name)}</h3>\n<table class="violations"><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr>\n${body}\n</table>`;
  });
  return `<h2>Violations</h2>\n${tables.join('\n')}`;
}
