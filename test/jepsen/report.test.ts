import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import type { HistoryEvent } from '../../jepsen-style/history.js';
import { writeReport } from '../../jepsen-style/report.js';

/**
 * The report's charts, read as a person would: legends apart from titles, a latency axis one
 * spike cannot flatten, every operation a client saw (timed out and refused ones included),
 * heals and recoveries marked, violations as tables, charts that fit the window.
 */

const FAULT = { faultId: 1, kind: 'kill', variant: 'leader', targets: ['n2'], startMs: 4_000, endMs: 6_000, detail: 'kill -9' };

function history(): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  let opId = 0;
  const op = (invokeMs: number, completeMs: number, type: 'ok' | 'fail' | 'info'): void => {
    opId++;
    events.push({ type: 'invoke', timeMs: invokeMs, process: 'p1', f: 'append', opId, value: `v${opId}` });
    events.push({ type, timeMs: completeMs, process: 'p1', f: 'append', opId, value: `v${opId}`, ...(type === 'ok' ? { index: opId } : { error: 'x' }) });
  };
  for (let t = 0; t < 10_000; t += 100) op(t, t + 2, 'ok');
  op(4_100, 4_900, 'ok'); // one 800 ms spike
  op(4_200, 7_200, 'info'); // gave up at its 3 s deadline
  op(5_000, 5_010, 'fail');
  events.push({ type: 'nemesis', phase: 'start', timeMs: FAULT.startMs, kind: FAULT.kind, variant: FAULT.variant, faultId: 1, targets: FAULT.targets, detail: FAULT.detail });
  events.push({ type: 'nemesis', phase: 'end', timeMs: FAULT.endMs, kind: FAULT.kind, variant: FAULT.variant, faultId: 1, targets: FAULT.targets, detail: FAULT.detail });
  return events.sort((a, b) => a.timeMs - b.timeMs);
}

function render(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-report-'));
  try {
    const file = path.join(dir, 'report.html');
    writeReport(file, {
      summary: { valid: false, seed: 3, command: 'npm run jepsen --' },
      events: history(),
      writeFunction: 'append',
      faults: [FAULT],
      missedFaults: [],
      checkers: [{ name: 'lost', valid: false, counts: { lost: 1 }, examples: [{ value: 'v7', index: 7, ackedAtMs: 700 }] }],
      perKind: [],
      snapshots: [{ node: 'n1', snapshotsWritten: 12, snapshotsInstalled: 1, segmentsDeleted: 30, snapshotIndex: 1550, firstIndex: 1501, startsScraped: 3, starts: 3 }],
    });
    return fs.readFileSync(file, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const svgs = (html: string): string[] => [...html.matchAll(/<svg [\s\S]*?<\/svg>/g)].map((m) => m[0]);
const yOf = (fragment: string): number => Number(/ y="([\d.]+)"/.exec(fragment)?.[1]);

describe('the jepsen-style report', () => {
  it('draws three charts that scale to the window, each with its legend on a row below its title', () => {
    const charts = svgs(render());
    expect(charts).toHaveLength(3);
    for (const chart of charts) {
      expect(chart).toMatch(/viewBox="0 0 \d+ \d+" width="100%" style="max-width:\d+px"/);
      const title = /<text class="title"[^>]*>/.exec(chart)?.[0] ?? '';
      const legends = [...chart.matchAll(/<text class="legend"[^>]*>/g)].map((m) => m[0]);
      expect(legends.length).toBeGreaterThan(0);
      for (const legend of legends) expect(yOf(legend)).toBeGreaterThanOrEqual(yOf(title) + 12);
    }
  });

  it('puts latency on a log axis, so an 800 ms spike leaves 2 ms readable', () => {
    const latency = svgs(render())[1] ?? '';
    expect(latency).toContain('ms, log scale');
    const ticks = [...latency.matchAll(/<text class="y-tick"[^>]*>([^<]+)</g)].map((m) => m[1]);
    expect(ticks).toEqual(['1 ms', '10 ms', '100 ms', '1 s']);
  });

  it('draws every operation, the unknown and refused ones included, with heals and recoveries marked', () => {
    const scatter = svgs(render())[2] ?? '';
    expect(scatter.match(/class="op-ok"/g)).toHaveLength(101);
    expect(scatter.match(/class="op-info"/g)).toHaveLength(1);
    expect(scatter.match(/class="op-fail"/g)).toHaveLength(1);
    expect(scatter.match(/class="heal"/g)).toHaveLength(1);
    // The first acknowledgement after the heal at 6.0 s completes at 6.002 s.
    expect(scatter).toContain('first acknowledgement 2 ms after the heal');
  });

  it('labels a fault with its kind, shape and target, explains the shading, and lists violations as a table', () => {
    const html = render();
    expect(svgs(html)[0]).toContain('kill:leader n2');
    expect(html).toMatch(/class="shading-legend">[^<]*<span class="shade"><i style="background:#e57373"><\/i>kill<\/span>/);
    expect(html).toContain('<table class="violations"><tr><th>value</th><th>index</th><th>ackedAtMs</th></tr>');
    expect(html).toContain('<tr><td>v7</td><td>7</td><td>700</td></tr>');
  });

  it('shows per node the snapshots written and installed, the segments deleted and the final first index', () => {
    const html = render();
    expect(html).toContain('<h2>Snapshots and compaction</h2>');
    expect(html).toContain('<th>node</th><th>snapshots written</th><th>snapshots installed</th><th>segments deleted</th><th>final snapshot index</th><th>final first index</th>');
    expect(html).toContain('<tr><td>n1</td><td>12</td><td>1</td><td>30</td><td>1550</td><td>1501</td><td>3 of 3</td></tr>');
  });
});
