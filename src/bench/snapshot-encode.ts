import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { index, nodeId, term } from '../../raft/index.js';
import { NodeFileSystem, openSnapshotStore, realScheduler, type Scheduler } from '../../storage/index.js';
import { BrokerSnapshotEncoder, encodeBrokerSnapshot, type BrokerState } from '../broker/index.js';
import { encodeInSlices, SNAPSHOT_ENCODE_SLICE } from '../node/index.js';
import { bigState, type BigStateKind } from './big-broker-state.js';
import { median } from './stats.js';

/** monitorEventLoopDelay's sampling interval here: a loop that never pauses reads about this. */
export const ENCODE_LOOP_RESOLUTION_MS = 1;

export interface EncodeShape {
  readonly kind: BigStateKind;
  /** In-flight deliveries, or offset runs (one-message produce entries). */
  readonly size: number;
}

/** One round on one state: the event loop while idle, while a snapshot is written in slices, and the one-shot encoding's pause. */
export interface EncodeRound {
  /** Largest event-loop delay beyond the 1 ms sampling interval over 300 ms of doing nothing, just before or after. */
  readonly idleMaxDelayMs: number;
  /**
   * The same over a window as long as the sliced write, busy in 2 ms slices of spinning
   * with a turn between: on a shared machine a busy process is preempted more than an idle
   * one, and this is the delay that alone brings, snapshot or not.
   */
  readonly busyMaxDelayMs: number;
  /** The same while the snapshot was encoded in slices and written to its file (publish and fdatasync included). */
  readonly slicedMaxDelayMs: number;
  readonly slicedP99DelayMs: number;
  /** The longest slice, from its turn starting to its bytes in the file's writer: the part this code bounds. */
  readonly sliceMaxMs: number;
  /** From the first slice to the file published: what applies are held for, plus the final fdatasync. */
  readonly slicedMs: number;
  readonly slices: number;
  /** The whole payload encoded at once (the node did this before): the event loop stops for all of it. */
  readonly oneShotMs: number;
}

export interface EncodeCase {
  readonly shape: EncodeShape;
  readonly payloadBytes: number;
  readonly buildMs: number;
  readonly rounds: readonly EncodeRound[];
  /** Medians over the rounds. */
  readonly idleMaxDelayMs: number;
  readonly busyMaxDelayMs: number;
  readonly slicedMaxDelayMs: number;
  readonly sliceMaxMs: number;
  readonly oneShotMs: number;
}

export interface EncodeResult {
  readonly cases: readonly EncodeCase[];
}

export interface EncodeOptions {
  readonly root: string;
  readonly shapes: readonly EncodeShape[];
  readonly rounds: number;
  readonly onPhase?: (phase: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Taking a snapshot must not stall the node. In this process (no cluster: the figure is the
 * event loop's own), for each shape a broker state is built by applying commands, then per
 * round: the event loop's delay is sampled (monitorEventLoopDelay, 1 ms) over writing a
 * snapshot of the state the way a node does (the encoder in ~2 ms slices, a turn each, into
 * a snapshot file on disk) and over an idle window before or after it; at the end the
 * one-shot encoding is timed for reference.
 */
export async function runEncodeCases(options: EncodeOptions): Promise<EncodeResult> {
  const cases: EncodeCase[] = [];
  const dir = fs.mkdtempSync(path.join(options.root, 'encode-'));
  const aborted = (): boolean => options.signal?.aborted === true;
  try {
    for (const shape of options.shapes) {
      if (aborted()) break;
      options.onPhase?.(`encode: building a state of ${shape.size.toLocaleString('en-US')} ${shape.kind}`);
      const started = performance.now();
      const state = bigState(shape.kind, shape.size);
      const buildMs = performance.now() - started;
      const rounds: Omit<EncodeRound, 'oneShotMs'>[] = [];
      let payloadBytes = 0;
      for (let k = 0; k < options.rounds && !aborted(); k++) {
        options.onPhase?.(`encode: ${shape.kind} round ${k + 1} of ${options.rounds}`);
        // The idle window first in odd rounds, second in even ones, as the throughput pairs alternate.
        const round = await slicedRound(state, path.join(dir, `${shape.kind}-${k}`), k + 1, k % 2 === 0);
        rounds.push(round.round);
        payloadBytes = round.payloadBytes;
      }
      // Last: the one-shot encodings leave tens of MB of buffers for the collector, which
      // would pause the windows measured after them.
      const oneShot = rounds.map(() => timeOneShotMs(state));
      cases.push({
        shape,
        payloadBytes,
        buildMs,
        rounds: rounds.map((r, k) => ({ ...r, oneShotMs: oneShot[k] ?? 0 })),
        idleMaxDelayMs: median(rounds.map((r) => r.idleMaxDelayMs)),
        busyMaxDelayMs: median(rounds.map((r) => r.busyMaxDelayMs)),
        slicedMaxDelayMs: median(rounds.map((r) => r.slicedMaxDelayMs)),
        sliceMaxMs: median(rounds.map((r) => r.sliceMaxMs)),
        oneShotMs: median(oneShot),
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { cases };
}

async function slicedRound(state: BrokerState, dir: string, snapshotIndex: number, idleFirst: boolean): Promise<{ round: Omit<EncodeRound, 'oneShotMs'>; payloadBytes: number }> {
  const store = await openSnapshotStore({ fs: new NodeFileSystem(), dir });
  try {
    const idleWindowMs = 300;
    const idleBefore = idleFirst ? await idleMaxDelayMs(idleWindowMs) : null;
    const sliced = monitorEventLoopDelay({ resolution: ENCODE_LOOP_RESOLUTION_MS });
    sliced.enable();
    const started = performance.now();
    const writer = store.create({ index: index(snapshotIndex), term: term(1), voters: [nodeId('n1')] });
    let payloadBytes = 0;
    let sliceStarted = started;
    let sliceMaxMs = 0;
    const sink = (bytes: Uint8Array): void => {
      payloadBytes += bytes.length;
      writer.write(bytes);
      sliceMaxMs = Math.max(sliceMaxMs, performance.now() - sliceStarted);
    };
    // The real scheduler, noting when each slice's turn begins.
    const scheduler: Scheduler = { ...realScheduler, soon: (run) => realScheduler.soon(() => ((sliceStarted = performance.now()), run())) };
    const slices = await encodeInSlices(new BrokerSnapshotEncoder(state), sink, scheduler, SNAPSHOT_ENCODE_SLICE);
    await writer.finish();
    const slicedMs = performance.now() - started;
    sliced.disable();
    const busy = await busyMaxDelayMs(slicedMs);
    const idle = idleBefore ?? (await idleMaxDelayMs(idleWindowMs));
    return {
      payloadBytes,
      round: { idleMaxDelayMs: idle, busyMaxDelayMs: busy, slicedMaxDelayMs: beyondResolutionMs(sliced.max), slicedP99DelayMs: beyondResolutionMs(sliced.percentile(99)), sliceMaxMs, slicedMs, slices },
    };
  } finally {
    store.close();
  }
}

/** The largest event-loop delay over `windowMs` of doing nothing. */
async function idleMaxDelayMs(windowMs: number): Promise<number> {
  const idle = monitorEventLoopDelay({ resolution: ENCODE_LOOP_RESOLUTION_MS });
  idle.enable();
  await new Promise<void>((resolve) => setTimeout(resolve, windowMs));
  idle.disable();
  return beyondResolutionMs(idle.max);
}

/** The largest event-loop delay over `windowMs` of spinning 2 ms a turn (SNAPSHOT_ENCODE_SLICE's budget). */
async function busyMaxDelayMs(windowMs: number): Promise<number> {
  const busy = monitorEventLoopDelay({ resolution: ENCODE_LOOP_RESOLUTION_MS });
  busy.enable();
  const endMs = performance.now() + windowMs;
  // Bounded by the window.
  while (performance.now() < endMs) {
    const sliceEndMs = performance.now() + SNAPSHOT_ENCODE_SLICE.sliceMs;
    while (performance.now() < sliceEndMs);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  busy.disable();
  return beyondResolutionMs(busy.max);
}

function timeOneShotMs(state: BrokerState): number {
  const started = performance.now();
  encodeBrokerSnapshot(state);
  return performance.now() - started;
}

/** A histogram value (ns) as ms beyond the sampling interval (0 when it read none). */
function beyondResolutionMs(ns: number): number {
  return Math.max(0, ns / 1e6 - ENCODE_LOOP_RESOLUTION_MS);
}
