import type { BrokerSnapshotEncoder } from '../broker/index.js';
import { SNAPSHOT_STEP_ITEMS } from '../broker/index.js';
import type { Scheduler } from '../../storage/index.js';

/**
 * How a snapshot is encoded: in slices of at most `sliceMs` (on the scheduler's clock) or
 * `stepsMax` steps of `stepItems` items, whichever ends first, each in a turn of its own.
 * The step bound keeps slices short on a clock that does not move within a turn (the
 * simulator's).
 */
export interface SnapshotEncodeSlice {
  readonly sliceMs: number;
  readonly stepsMax: number;
  readonly stepItems: number;
  /**
   * Wait between two slices: 0 (production) is the next turn (Scheduler.soon); the
   * simulator, whose clock does not move while code runs, waits a little so that the
   * encoding spans virtual time the way it spans real time, and the cluster moves on meanwhile.
   */
  readonly pauseMs: number;
}

/**
 * About 2 ms a slice: a step of 256 deliveries takes 0.05-0.1 ms on the machine docs/bench.md
 * measures, so 64 steps end a slice when the clock (1 ms resolution) does not first.
 */
export const SNAPSHOT_ENCODE_SLICE: SnapshotEncodeSlice = { sliceMs: 2, stepsMax: 64, stepItems: SNAPSHOT_STEP_ITEMS, pauseMs: 0 };

/**
 * Encodes `encoder`'s snapshot into `sink` a slice per turn of the event loop, so that the
 * loop serves between two slices; resolves with the number of slices once the last one is
 * in the sink. `sink` must take each slice's bytes before it returns (the next slice reuses
 * the buffer): the snapshot writer copies them into its frame. The caller keeps the state
 * unchanged until this resolves (the node holds applies). Bounded by the state's items:
 * every slice encodes at least one step.
 */
export async function encodeInSlices(encoder: BrokerSnapshotEncoder, sink: (bytes: Uint8Array) => void, scheduler: Scheduler, slice: SnapshotEncodeSlice): Promise<number> {
  for (let slices = 1; ; slices++) {
    const endMs = scheduler.nowMs() + slice.sliceMs;
    let steps = 0;
    sink(encoder.encode(() => ++steps >= slice.stepsMax || scheduler.nowMs() >= endMs));
    if (encoder.done) return slices;
    await new Promise<void>((resolve) => (slice.pauseMs > 0 ? scheduler.after(slice.pauseMs, resolve) : scheduler.soon(resolve)));
  }
}
