import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from '../../src/encoding/index.js';
import { BROKER_SNAPSHOT_FORMAT, BrokerSnapshotError, BrokerState, decodeBrokerSnapshot, encodeBrokerSnapshot, type ApplyResult } from '../../src/broker/index.js';
import { plainResult, scenarioArb, ScenarioDriver, stateView, type Step } from './broker-scenario.js';

/**
 * A snapshot is the whole state: a state decoded from one and then given the rest of the
 * log applies and answers exactly as the state it was taken of. Deterministic: a fixed seed
 * unless SNAPSHOT_SEED (and SNAPSHOT_PATH, from a failure report) say otherwise.
 */

const seed = Number(process.env['SNAPSHOT_SEED'] ?? 20_261_206);
const path = process.env['SNAPSHOT_PATH'];
const numRuns = Number(process.env['SNAPSHOT_RUNS'] ?? 150);

type Stats = Record<string, number>;

function count(stats: Stats, name: string, when: boolean): void {
  if (when) stats[name] = (stats[name] ?? 0) + 1;
}

/** What the state held at the cut: the parts a snapshot must carry for the check to mean something. */
function countAtCut(stats: Stats, a: BrokerState): void {
  const rows = a.groupList().flatMap((g) => a.consumerGroups.group(g.name)?.snapshot() ?? []);
  for (const state of ['inflight', 'waiting', 'ready', 'dead'] as const) count(stats, `cut with ${state} deliveries`, rows.some((r) => r.state === state));
  count(stats, 'cut with a retried delivery', rows.some((r) => r.deliveries > 1));
  count(stats, 'cut with delayed messages', a.topics().some((t) => t.scheduledMessages > 0));
  count(stats, 'cut with a checked-back half', a.undecidedTransactions().some((t) => t.checkCount > 0));
  count(stats, 'cut with a decided transaction', a.transactions().some((t) => t.state !== 'prepared'));
  count(stats, 'cut with producers', a.producerCount > 0);
  count(stats, 'cut with a dead-letter topic', a.topics().some((t) => t.name.endsWith('.dlq')));
  count(stats, 'cut after a trim', a.trimmedBelowLogIndex > 0);
  count(stats, 'cut with a lease', a.groupList().some((g) => (a.consumerGroups.group(g.name)?.leaseCount ?? 0) > 0));
}

function countResult(stats: Stats, result: ApplyResult, producersBefore: number, producersAfter: number): void {
  count(stats, 'delivered after the cut', result.kind === 'delivered' && result.messages.some((m) => m.delivery > 1));
  count(stats, 'nacked to a retry after the cut', result.kind === 'nacked' && !result.deadLettered);
  count(stats, 'dead-lettered after the cut', result.kind === 'deadLettered');
  count(stats, 'group reset after the cut', result.kind === 'groupReset' && result.forgotten > 0);
  count(stats, 'duplicate produce after the cut', result.kind === 'produced' && result.duplicate);
  count(stats, 'producer expired after the cut', producersAfter < producersBefore);
  count(stats, 'transaction committed after the cut', result.kind === 'transactionEnded' && result.state === 'committed' && !result.duplicate);
  count(stats, 'offset runs trimmed after the cut', result.kind === 'logTrimmed' && result.runsDropped > 0);
}

/** Applies `steps` to A, snapshots it at `cut` into B, applies the rest to both, comparing everything. */
function runScenario(steps: readonly Step[], cut: number): Stats {
  const stats: Stats = {};
  const driver = new ScenarioDriver();
  const a = new BrokerState();
  const apply = (step: Step, states: readonly BrokerState[]): void => {
    const primary = states[0] as BrokerState;
    const entry = driver.next(step, primary);
    const producersBefore = primary.producerCount;
    const exhaustedBefore = primary.transactions().filter((t) => t.decidedBy === 'checkExhausted').length;
    const results = states.map((s) => s.apply(entry.logIndex, entry.leaderTimeMs, entry.command));
    driver.learn(entry.command, results[0] as ApplyResult);
    if (states.length > 1) {
      expect((states[1] as BrokerState).leaseDeliveries, `lease deliveries at ${JSON.stringify(entry.command)}`).toEqual(primary.leaseDeliveries);
      count(stats, 'handed out by a lease after the cut', entry.command.kind !== 'lease' && primary.leaseDeliveries.length > 0);
      expect(plainResult(results[1] as ApplyResult), `result of ${JSON.stringify(entry.command)}`).toEqual(plainResult(results[0] as ApplyResult));
      countResult(stats, results[0] as ApplyResult, producersBefore, primary.producerCount);
      count(stats, 'checkExhausted after the cut', primary.transactions().filter((t) => t.decidedBy === 'checkExhausted').length > exhaustedBefore);
    }
  };
  for (const step of steps.slice(0, cut)) apply(step, [a]);
  countAtCut(stats, a);
  const bytes = encodeBrokerSnapshot(a);
  const b = decodeBrokerSnapshot(bytes);
  expect(stateView(b)).toEqual(stateView(a));
  expect(encodeBrokerSnapshot(b)).toEqual(bytes);
  for (const [k, step] of steps.slice(cut).entries()) {
    try {
      apply(step, [a, b]);
    } catch (error) {
      throw new Error(`step ${cut + k} after a cut at ${cut}: ${(error as Error).message}`, { cause: error });
    }
  }
  expect(stateView(b)).toEqual(stateView(a));
  expect(encodeBrokerSnapshot(b)).toEqual(encodeBrokerSnapshot(a));
  return stats;
}

const scenarioWithCut = scenarioArb.chain((steps) => fc.tuple(fc.constant(steps), fc.nat({ max: steps.length })));

describe('broker snapshot', () => {
  it(`a state decoded from a snapshot applies the rest of the log exactly as the original (seed ${seed})`, () => {
    try {
      fc.assert(
        fc.property(scenarioWithCut, ([steps, cut]) => void runScenario(steps, cut)),
        { seed, numRuns, ...(path === undefined ? {} : { path }), ...(process.env['SNAPSHOT_NO_SHRINK'] === undefined ? {} : { endOnFailure: true }) },
      );
    } catch (error) {
      throw new Error(`SNAPSHOT_SEED=${seed} reproduces this (SNAPSHOT_PATH from the report below skips to it):\n${(error as Error).message}`, { cause: error });
    }
  });

  it('the scenarios reach every part of the state at the cut and every kind of change after it', () => {
    const total: Stats = {};
    for (const [steps, cut] of fc.sample(scenarioWithCut, { seed, numRuns })) {
      for (const [name, n] of Object.entries(runScenario(steps, cut))) total[name] = (total[name] ?? 0) + n;
    }
    const expected = [
      'cut with inflight deliveries', 'cut with waiting deliveries', 'cut with ready deliveries', 'cut with dead deliveries', 'cut with a retried delivery',
      'cut with delayed messages', 'cut with a checked-back half', 'cut with a decided transaction', 'cut with producers', 'cut with a dead-letter topic',
      'delivered after the cut', 'nacked to a retry after the cut', 'dead-lettered after the cut', 'group reset after the cut', 'duplicate produce after the cut',
      'producer expired after the cut', 'transaction committed after the cut', 'checkExhausted after the cut', 'cut after a trim', 'offset runs trimmed after the cut',
      'cut with a lease', 'handed out by a lease after the cut',
    ];
    for (const name of expected) expect(total[name] ?? 0, `${name} in ${numRuns} runs (seed ${seed}): ${JSON.stringify(total)}`).toBeGreaterThanOrEqual(3);
  });

  it('an empty state round-trips', () => {
    const bytes = encodeBrokerSnapshot(new BrokerState());
    expect(stateView(decodeBrokerSnapshot(bytes))).toEqual(stateView(new BrokerState()));
    expect(new BinaryReader(bytes).u32()).toBe(BROKER_SNAPSHOT_FORMAT);
  });
});

describe('broker snapshot: bytes that are not one', () => {
  /** A state with something in every part, as bytes. */
  function busySnapshot(): Uint8Array {
    const [steps] = fc.sample(scenarioArb, { seed: seed + 1, numRuns: 1 });
    const driver = new ScenarioDriver();
    const state = new BrokerState();
    for (const step of steps ?? []) {
      const entry = driver.next(step, state);
      driver.learn(entry.command, state.apply(entry.logIndex, entry.leaderTimeMs, entry.command));
    }
    expect(state.topics().length).toBeGreaterThan(0);
    return encodeBrokerSnapshot(state);
  }

  it('an unknown format version is refused, naming it', () => {
    const bytes = Uint8Array.from(busySnapshot());
    new DataView(bytes.buffer).setUint32(0, BROKER_SNAPSHOT_FORMAT + 1, true);
    expect(() => decodeBrokerSnapshot(bytes)).toThrow(BrokerSnapshotError);
    expect(() => decodeBrokerSnapshot(bytes)).toThrow(new RegExp(`format ${BROKER_SNAPSHOT_FORMAT + 1} is not known`));
  });

  it('every truncation is refused with a BrokerSnapshotError', () => {
    const bytes = busySnapshot();
    // Every cut point of a few-KiB snapshot: bounded by its length.
    for (let length = 0; length < bytes.length; length++) {
      expect(() => decodeBrokerSnapshot(bytes.subarray(0, length)), `cut to ${length} of ${bytes.length} bytes`).toThrow(BrokerSnapshotError);
    }
  });

  it('trailing bytes are refused', () => {
    const bytes = busySnapshot();
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeBrokerSnapshot(longer)).toThrow(/1 bytes after its end/);
  });

  it('a flipped byte decodes (a string may change) or throws BrokerSnapshotError: never another error, never a hang', () => {
    const bytes = busySnapshot();
    let refused = 0;
    // Each byte once, with the bit pattern varying by position: bounded by the length.
    for (let at = 0; at < bytes.length; at++) {
      const flipped = Uint8Array.from(bytes);
      flipped[at] = (flipped[at] ?? 0) ^ (1 << at % 8);
      try {
        decodeBrokerSnapshot(flipped);
      } catch (error) {
        expect(error, `byte ${at}`).toBeInstanceOf(BrokerSnapshotError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('a count larger than the bytes left is refused before anything is allocated for it', () => {
    const w = new BinaryWriter();
    w.u32(BROKER_SNAPSHOT_FORMAT).u53(1).u53(0).u53(0).f64(Infinity).u32(0xffff_ffff);
    expect(() => decodeBrokerSnapshot(w.finish())).toThrow(/topics cannot fit/);
  });
});
