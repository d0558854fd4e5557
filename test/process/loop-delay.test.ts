import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { lineOf } from '../../src/process/loop-delay.js';
import { LOOP_DELAY_RESOLUTION_MS, readLoopDelayLines, summarizeLoopDelay, type LoopDelayLine } from '../../src/process/index.js';

const NS = 1e6;

/** An interval of `samples` samples: all at `lowMs` except the `high` largest at `highMs`. */
function interval(atMs: number, samples: number, lowMs: number, high: number, highMs: number, runQueueMs: number | null = 50): LoopDelayLine {
  const below = (samples - high) / samples;
  return { atMs, intervalMs: 500, samples, maxMs: high > 0 ? highMs : lowMs, cdf: high > 0 ? [[lowMs, below], [highMs, 1]] : [[lowMs, 1]], runQueueMs };
}

describe('loop delay lines', () => {
  it('turns a histogram into a line of delays beyond the resolution, one point per delay', () => {
    const r = LOOP_DELAY_RESOLUTION_MS;
    const percentiles = new Map([[0, (r + 0.1) * NS], [50, (r + 0.1) * NS], [99, (r + 3) * NS], [100, (r + 42) * NS]]);
    const line = lineOf({ count: 200, max: (r + 42) * NS, percentiles }, 1_000, 500);
    expect(line).toEqual({ atMs: 1_000, intervalMs: 500, samples: 200, maxMs: 42, cdf: [[0.1, 0.5], [3, 0.99], [42, 1]] });
    // A sample earlier than the resolution (timer coalescing) is no delay, not a negative one.
    expect(lineOf({ count: 1, max: (r - 1) * NS, percentiles: new Map([[100, (r - 1) * NS]]) }, 0, 500).maxMs).toBe(0);
    expect(lineOf({ count: 0, max: 0, percentiles: new Map() }, 5, 500)).toEqual({ atMs: 5, intervalMs: 500, samples: 0, maxMs: 0, cdf: [] });
  });

  it('merges the intervals overlapping the window: max of maxima, p99 over all samples weighted by count', () => {
    const lines = [
      interval(1_000, 250, 0.2, 0, 0), // ends at the window's start: out
      interval(1_500, 250, 0.3, 1, 60, 45), // 1 sample of 250 at 60 ms, 45 ms of the interval waiting for a CPU
      interval(2_000, 250, 0.4, 2, 5), // 2 at 5 ms
      interval(2_500, 250, 0.5, 0, 0),
      interval(3_000, 250, 0.6, 0, 0),
      interval(3_500, 250, 9, 0, 0), // starts at the window's end: out
    ];
    const summary = summarizeLoopDelay(lines, 1_000, 3_000);
    expect(summary).not.toBeNull();
    expect(summary?.samples).toBe(1_000);
    expect(summary?.maxMs).toBe(60);
    // 3 of 1,000 samples above 0.6 ms: the 99th percentile is among the low ones.
    expect(summary?.p99Ms).toBe(0.6);
    expect(summary?.stalls).toEqual([[1_500, 60, 45]]);
    // (45 + 3 x 50 ms) over 2 s of intervals.
    expect(summary?.runQueueMsPerSecond).toBe(97.5);
    // Unknown in any interval (not Linux): unknown for the window.
    expect(summarizeLoopDelay([interval(1_500, 10, 20, 0, 0, null), interval(2_000, 10, 1, 0, 0)], 1_000, 2_000)).toMatchObject({ stalls: [[1_500, 20, -1]], runQueueMsPerSecond: null });
    // Ten samples high of 1,000 (1%) still leave p99 low; eleven lift it.
    const many = [interval(1_500, 500, 0.3, 10, 20), interval(2_000, 500, 0.3, 1, 15)];
    expect(summarizeLoopDelay(many, 1_000, 2_000)?.p99Ms).toBe(15);
    expect(summarizeLoopDelay([interval(1_500, 500, 0.3, 5, 20), interval(2_000, 500, 0.3, 5, 15)], 1_000, 2_000)?.p99Ms).toBe(0.3);
  });

  it('has no summary for a window without samples, and reads back what a node appended, skipping a torn last line', () => {
    expect(summarizeLoopDelay([interval(1_000, 10, 1, 0, 0)], 5_000, 6_000)).toBeNull();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loop-delay-'));
    try {
      const file = path.join(dir, 'n1.jsonl');
      const line = interval(1_500, 100, 0.5, 1, 12);
      fs.writeFileSync(file, `${JSON.stringify(line)}\n${JSON.stringify(line).slice(0, 20)}`);
      expect(readLoopDelayLines(file)).toEqual([line]);
      expect(readLoopDelayLines(path.join(dir, 'missing.jsonl'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
