import * as fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Event-loop delay of a bench's nodes, measured in each node process and read by the bench.
 *
 * A node started with `--event-loop-file FILE` runs perf_hooks' monitorEventLoopDelay (a
 * libuv timer every LOOP_DELAY_RESOLUTION_MS, sampled in native code: no JavaScript runs for
 * it) and appends one JSON line to FILE every LOOP_DELAY_INTERVAL_MS with that interval's
 * distribution, then starts the next interval afresh. The bench reads the lines whose
 * interval overlaps its measured window and merges them. Nothing goes through the node's
 * RPCs or metrics, so a node without --http-port keeps no metrics.
 *
 * A sample is how late the timer fired beyond its interval: a loop held for S ms reads
 * between S - LOOP_DELAY_RESOLUTION_MS and S.
 */

/** The monitor's timer interval. Its cost on an idle node: about 17 ms of CPU a second (10 ms: 5; 1 ms: 29); a busy loop wakes anyway. */
export const LOOP_DELAY_RESOLUTION_MS = 2;
/** How often a node appends a line (and starts a fresh interval). */
export const LOOP_DELAY_INTERVAL_MS = 500;

/** One interval of one node, as a line of the file. */
export interface LoopDelayLine {
  /** Wall-clock end of the interval (Date.now()). */
  readonly atMs: number;
  readonly intervalMs: number;
  readonly samples: number;
  /** Largest delay in the interval, beyond the resolution. */
  readonly maxMs: number;
  /** The distribution: [delayMs, fraction of the samples at or below it], delays ascending. */
  readonly cdf: readonly (readonly [number, number])[];
  /**
   * How long the main thread waited, runnable, for a CPU in the interval (Linux schedstat;
   * null elsewhere): a delay that this explains is the machine's load, not a blocking call.
   */
  readonly runQueueMs: number | null;
}

/** One node's delay over a window. */
export interface LoopDelaySummary {
  readonly samples: number;
  readonly maxMs: number;
  /** The 99th percentile of every sample in the window (merged from the intervals' distributions, HDR precision). */
  readonly p99Ms: number;
  /**
   * Intervals whose max exceeded STALL_MS, each as [wall-clock end, maxMs, runQueueMs]: where
   * to look, and how much of it the main thread spent waiting for a CPU (-1: unknown).
   */
  readonly stalls: readonly (readonly [number, number, number])[];
  /** Milliseconds a second the main thread waited, runnable, for a CPU over the window (null: unknown). */
  readonly runQueueMsPerSecond: number | null;
}

/** A delay above this counts as a stall (issue 23, target 5). */
export const STALL_MS = 10;

const NS_PER_MS = 1e6;

/** A running recorder; stop() writes the last interval and ends the monitor. */
export interface LoopDelayRecorder {
  stop(): void;
}

/** Starts recording this process's event-loop delay into `file` (appended to, created if missing). */
export function startLoopDelayRecorder(file: string): LoopDelayRecorder {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  histogram.enable();
  let from = Date.now();
  let waitedNs = runQueueNs();
  const flush = (): void => {
    const atMs = Date.now();
    const waitedNowNs = runQueueNs();
    const runQueueMs = waitedNs === null || waitedNowNs === null ? null : round3((waitedNowNs - waitedNs) / NS_PER_MS);
    const line = { ...lineOf(histogram, atMs, atMs - from), runQueueMs };
    histogram.reset();
    from = atMs;
    waitedNs = waitedNowNs;
    // A few hundred bytes into the page cache, twice a second; never fails the node.
    try {
      fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // The bench reports a node without lines as unmeasured.
    }
  };
  const timer = setInterval(flush, LOOP_DELAY_INTERVAL_MS);
  timer.unref();
  return {
    stop(): void {
      clearInterval(timer);
      flush();
      histogram.disable();
    },
  };
}

/**
 * Nanoseconds the main thread has spent runnable but waiting for a CPU (second field of
 * /proc/self/task/TID/schedstat; the main thread's TID is the pid), or null where unreadable.
 */
function runQueueNs(): number | null {
  try {
    const fields = fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ');
    const ns = Number(fields[1]);
    return Number.isFinite(ns) ? ns : null;
  } catch {
    return null;
  }
}

interface DelayHistogram {
  readonly count: number;
  readonly max: number;
  readonly percentiles: Map<number, number>;
}

/** An interval's line; delays are beyond the resolution, never negative. */
export function lineOf(histogram: DelayHistogram, atMs: number, intervalMs: number): Omit<LoopDelayLine, 'runQueueMs'> {
  const beyond = (ns: number): number => Math.max(0, round3(ns / NS_PER_MS - LOOP_DELAY_RESOLUTION_MS));
  if (histogram.count === 0) return { atMs, intervalMs, samples: 0, maxMs: 0, cdf: [] };
  const cdf: [number, number][] = [];
  for (const [percent, ns] of histogram.percentiles) {
    const delayMs = beyond(ns);
    const fraction = percent / 100;
    const last = cdf.at(-1);
    // Several percentiles with one value: keep the highest fraction for it.
    if (last !== undefined && last[0] === delayMs) last[1] = Math.max(last[1], fraction);
    else cdf.push([delayMs, fraction]);
  }
  return { atMs, intervalMs, samples: histogram.count, maxMs: beyond(histogram.max), cdf };
}

/** The lines of a node's file; unreadable or torn lines are skipped. */
export function readLoopDelayLines(file: string): LoopDelayLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines: LoopDelayLine[] = [];
  for (const row of text.split('\n')) {
    if (row.trim() === '') continue;
    try {
      const parsed = JSON.parse(row) as LoopDelayLine;
      if (typeof parsed.atMs === 'number' && typeof parsed.samples === 'number' && Array.isArray(parsed.cdf)) lines.push(parsed);
    } catch {
      // A line cut by the node's exit.
    }
  }
  return lines;
}

/**
 * Merges the intervals that overlap [fromMs, toMs] (wall clock) into one summary, or null
 * when none has a sample. The p99 is the smallest recorded delay at or below which 99% of
 * all the window's samples lie, each interval weighted by its sample count.
 */
export function summarizeLoopDelay(lines: readonly LoopDelayLine[], fromMs: number, toMs: number): LoopDelaySummary | null {
  const inWindow = lines.filter((l) => l.samples > 0 && l.atMs > fromMs && l.atMs - l.intervalMs < toMs);
  const samples = inWindow.reduce((sum, l) => sum + l.samples, 0);
  if (samples === 0) return null;
  const maxMs = Math.max(...inWindow.map((l) => l.maxMs));
  const stalls = inWindow.filter((l) => l.maxMs > STALL_MS).map((l) => [l.atMs, l.maxMs, l.runQueueMs ?? -1] as const);
  const known = inWindow.filter((l) => typeof l.runQueueMs === 'number');
  const knownMs = known.reduce((sum, l) => sum + l.intervalMs, 0);
  const runQueueMsPerSecond = known.length === inWindow.length && knownMs > 0 ? round3((known.reduce((sum, l) => sum + (l.runQueueMs ?? 0), 0) * 1000) / knownMs) : null;
  const candidates = [...new Set(inWindow.flatMap((l) => l.cdf.map(([delayMs]) => delayMs)))].sort((a, b) => a - b);
  let p99Ms = maxMs;
  for (const delayMs of candidates) {
    const below = inWindow.reduce((sum, l) => sum + l.samples * fractionAtOrBelow(l, delayMs), 0);
    if (below >= 0.99 * samples) {
      p99Ms = delayMs;
      break;
    }
  }
  return { samples, maxMs, p99Ms, stalls, runQueueMsPerSecond };
}

/** The fraction of an interval's samples at or below `delayMs` (its distribution's last point there). */
function fractionAtOrBelow(line: LoopDelayLine, delayMs: number): number {
  let fraction = 0;
  for (const [at, f] of line.cdf) {
    if (at > delayMs) break;
    fraction = f;
  }
  return fraction;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
