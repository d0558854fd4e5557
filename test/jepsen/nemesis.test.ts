import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { checkAvailability } from '../../jepsen-style/checkers/availability.js';
import { checkFaultSchedule } from '../../jepsen-style/checkers/fault-schedule.js';
import type { StartOutcome } from '../../jepsen-style/cluster.js';
import { faultWindows, History, pairOps } from '../../jepsen-style/history.js';
import type { LinkMode } from '../../jepsen-style/link-proxy.js';
import type { LogClient } from '../../src/client/index.js';
import { runNemesis, type NemesisCluster, type NemesisKind, type PlannedFault } from '../../jepsen-style/nemesis.js';
import { writeReport } from '../../jepsen-style/report.js';

/**
 * The nemesis against a fake cluster whose every action moves a fake clock, so the history
 * shows exactly where a fault's window lies relative to what the fault did.
 */

/** Each action of the fake takes this long on the fake clock. */
const ACTION_MS = 100;
/** A restart takes longer, as a real one does (start, recover, report ready). */
const RESTART_MS = 1_000;

interface Action {
  readonly what: string;
  readonly id: string;
  readonly calledMs: number;
  readonly doneMs: number;
}

class FakeCluster implements NemesisCluster {
  readonly ids = ['n1', 'n2', 'n3'];
  readonly config = { runDir: '/nonexistent' };
  readonly actions: Action[] = [];
  readonly #down = new Set<string>();
  readonly #paused = new Set<string>();
  nowMs = 0;
  /** Called when a node is cut off or brought back (a test records client operations there). */
  onAction: (what: string, id: string) => void = () => undefined;
  leaderError: Error | null = null;

  readonly history = new History(1_000, () => this.nowMs);

  #act(what: string, id: string, tookMs: number): void {
    const calledMs = this.history.nowMs();
    this.onAction(what, id);
    this.nowMs += tookMs;
    this.actions.push({ what, id, calledMs, doneMs: this.history.nowMs() });
  }

  leader(): Promise<string | null> {
    if (this.leaderError !== null) return Promise.reject(this.leaderError);
    return Promise.resolve(this.ids.find((id) => !this.#down.has(id) && !this.#paused.has(id)) ?? null);
  }

  kill(id: string): Promise<void> {
    this.#down.add(id);
    this.#act('kill', id, ACTION_MS);
    return Promise.resolve();
  }

  startNode(id: string): Promise<StartOutcome> {
    this.#act('start', id, RESTART_MS);
    this.#down.delete(id);
    return Promise.resolve({ ok: true });
  }

  pause(id: string): void {
    this.#paused.add(id);
    this.#act('pause', id, ACTION_MS);
  }

  resume(id: string): void {
    this.#act('resume', id, ACTION_MS);
    this.#paused.delete(id);
  }

  partition(groups: readonly (readonly string[])[]): void {
    this.#act('partition', groups.map((g) => g.join(',')).join('|'), ACTION_MS);
  }

  setLink(from: string, to: string, mode: LinkMode): void {
    this.#act(`link ${mode.kind}`, `${from}->${to}`, ACTION_MS);
  }

  healLinks(): void {
    this.#act('heal-links', '*', ACTION_MS);
  }

  dataDir(id: string): string {
    return path.join(this.config.runDir, id);
  }

  process(): undefined {
    return undefined;
  }

  nodeClient(): Pick<LogClient, 'status' | 'close'> {
    return { status: () => Promise.reject(new Error('the fake serves no status')), close: () => Promise.resolve() };
  }

  brokers(ids: readonly string[]): string[] {
    return ids.map((id) => `fake:${id}`);
  }
}

function fault(faultId: number, kind: NemesisKind, variant: string, atMs = 0): PlannedFault {
  return { faultId, kind, variant, atMs, holdMs: 1, seed: 1_000 + faultId };
}

function nemesisOf(cluster: FakeCluster) {
  return { cluster, history: cluster.history, flush: 'sync' as const, log: () => undefined };
}

describe('the nemesis records each fault from its first action to its heal', () => {
  const shapes: readonly [NemesisKind, string][] = [
    ['kill', 'one'], ['kill', 'majority'], ['pause', 'leader'], ['partition', 'halves'], ['partition', 'delay'],
    ['power', 'all'], ['power', 'one-while-paused'], ['power', 'majority-survivor-paused'],
  ];
  for (const [kind, variant] of shapes) {
    it(`${kind}:${variant}: the window opens before the first action completes and closes after the heal`, async () => {
      const cluster = new FakeCluster();
      const missed = await runNemesis(nemesisOf(cluster), [fault(1, kind, variant)], new AbortController().signal);
      const [window, ...others] = faultWindows(cluster.history.events);
      const first = cluster.actions[0];
      const last = cluster.actions.at(-1);
      if (window === undefined || first === undefined || last === undefined) throw new Error('no window or no action');
      expect(others).toEqual([]);
      expect(window.startMs, `${JSON.stringify(window)} vs first action ${JSON.stringify(first)}`).toBeLessThanOrEqual(first.calledMs);
      expect(window.startMs).toBeLessThan(first.doneMs);
      expect(window.endMs, `${JSON.stringify(window)} vs last action ${JSON.stringify(last)}`).toBeGreaterThanOrEqual(last.doneMs);
      expect(window.targets.length).toBeGreaterThan(0);
      expect(missed).toEqual([]);
    });
  }

  it('a power loss counts against the fault the writes invoked during the outage, which is the fault\'s own start', async () => {
    const cluster = new FakeCluster();
    const { history } = cluster;
    // One write acknowledged before the fault; one invoked as the power is cut, unanswered until the restart.
    history.add({ type: 'invoke', process: 'p1', f: 'append', opId: 1, value: 'before' });
    history.add({ type: 'ok', process: 'p1', f: 'append', opId: 1, value: 'before', index: 2 });
    cluster.onAction = (what) => {
      if (what === 'kill' && !history.events.some((e) => e.type === 'invoke' && e.opId === 2)) history.add({ type: 'invoke', process: 'p2', f: 'append', opId: 2, value: 'cut-off' });
      if (what === 'start' && !history.events.some((e) => e.type === 'info')) history.add({ type: 'info', process: 'p2', f: 'append', opId: 2, value: 'cut-off', error: 'OutcomeUnknownError' });
    };
    cluster.nowMs += 500;
    await runNemesis(nemesisOf(cluster), [fault(1, 'power', 'majority-survivor-paused')], new AbortController().signal);
    cluster.nowMs += 500;
    const faults = faultWindows(history.events);
    const result = checkAvailability({ ops: pairOps(history.events), faults, workloadStartMs: 0, workloadEndMs: history.nowMs(), recovered: true, recoveryNote: 'ok', singleNodeOutageMaxMs: null });
    expect(result.perKind).toHaveLength(1);
    expect(result.perKind[0]).toMatchObject({ kind: 'power', windows: 1, ops: 1, ok: 0, okFraction: 0 });
    expect(result.perKind[0]?.longestNoWriteMs).toBe(faults[0] === undefined ? -1 : faults[0].endMs - faults[0].startMs);
  });
});

describe('scheduled faults that did not run', () => {
  it('are returned with their due time and why: could not start, or the run ended first', async () => {
    const cluster = new FakeCluster();
    const stop = new AbortController();
    cluster.leaderError = new Error('no node answered');
    // Fault 2 runs; healing it ends the run, so fault 3 never gets its turn.
    cluster.onAction = (what) => {
      if (what === 'resume') stop.abort();
    };
    const plan = [fault(1, 'kill', 'leader', 0), fault(2, 'pause', 'one', 0), fault(3, 'kill', 'one', 17_000)];
    const missed = await runNemesis(nemesisOf(cluster), plan, stop.signal);
    expect(missed).toEqual([
      { faultId: 1, kind: 'kill', variant: 'leader', dueMs: 0, holdMs: 1, reason: 'could not start: no node answered' },
      { faultId: 3, kind: 'kill', variant: 'one', dueMs: 17_000, holdMs: 1, reason: 'the run ended first' },
    ]);
    expect(faultWindows(cluster.history.events).map((w) => w.faultId)).toEqual([2]);
    expect(cluster.actions.some((a) => a.what === 'kill')).toBe(false);
  });

  it('include a disk fault that found no log to damage: it ran (a window) but did not apply', async () => {
    const cluster = new FakeCluster();
    const missed = await runNemesis(nemesisOf(cluster), [fault(1, 'disk', 'flip-last', 0)], new AbortController().signal);
    expect(missed).toEqual([{ faultId: 1, kind: 'disk', variant: 'flip-last', dueMs: 0, holdMs: 1, reason: 'did not apply: log too short to damage' }]);
    expect(faultWindows(cluster.history.events).map((w) => w.faultId)).toEqual([1]);
  });

  it('fail the faults checker when they were required, with one readable line each; are listed either way', () => {
    const plan = [fault(1, 'power', 'majority-survivor-paused', 2_000), fault(4, 'power', 'majority-survivor-paused', 17_026)];
    const missed = [{ faultId: 4, kind: 'power', variant: 'majority-survivor-paused', dueMs: 17_026, holdMs: 1_019, reason: 'the run ended first' }];
    const required = checkFaultSchedule({ scheduled: plan, missed, required: true });
    expect(required.valid).toBe(false);
    expect(required.counts).toEqual({ scheduled: 2, ran: 1, missed: 1 });
    expect(required.note).toBe('1 of 2 scheduled faults did not run: fault 4 power:majority-survivor-paused due at 17.0 s: the run ended first');
    expect(required.examples).toEqual(missed);
    const optional = checkFaultSchedule({ scheduled: plan, missed, required: false });
    expect(optional.valid).toBe(true);
    expect(optional.note).toContain('fault 4 power:majority-survivor-paused due at 17.0 s: the run ended first');
    expect(checkFaultSchedule({ scheduled: plan, missed: [], required: true })).toMatchObject({ valid: true, counts: { scheduled: 2, ran: 2, missed: 0 } });
  });

  it('are listed in the report with their due time and why', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-report-'));
    try {
      const file = path.join(dir, 'report.html');
      const missed = [{ faultId: 4, kind: 'power', variant: 'majority-survivor-paused', dueMs: 17_026, holdMs: 1_019, reason: 'the run ended first' }];
      writeReport(file, { summary: { valid: false, seed: 7, command: 'npm run jepsen --' }, events: [], writeFunction: 'append', faults: [], checkers: [], perKind: [], missedFaults: missed });
      const html = fs.readFileSync(file, 'utf8');
      expect(html).toContain('Scheduled faults that did not run');
      expect(html).toMatch(/<td>4<\/td><td>17\.03 s<\/td><td>power<\/td><td>majority-survivor-paused<\/td><td>1019 ms<\/td><td>the run ended first<\/td>/);
      writeReport(file, { summary: { valid: true, seed: 7, command: 'npm run jepsen --' }, events: [], writeFunction: 'append', faults: [], checkers: [], perKind: [], missedFaults: [] });
      expect(fs.readFileSync(file, 'utf8')).toContain('Every scheduled fault ran.');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
