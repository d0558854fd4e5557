import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { orderedCeilingRate } from '../../storage/bench/ordered-ceiling.js';

describe('the ordered mark\'s ceiling (storage bench --ceiling)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(['event-loop', 'thread-pool'] as const)('measures with the fdatasyncs %s, and leaves no file behind', async (syncs) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-ceiling-'));
    dirs.push(dir);
    const rate = await orderedCeilingRate({ dir, payloadBytes: 128, appenders: 8, caseMs: 150, syncs, groupCpuMicros: 0 });
    // At least one group of 8 in the 150 ms window (and its two syncs), and a finite rate.
    expect(rate).toBeGreaterThanOrEqual(8 / 0.15 / 20);
    expect(Number.isFinite(rate)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('spends the busy time it is given on every group', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-ceiling-'));
    dirs.push(dir);
    // 20 ms of CPU a group: at most 150 / 20 + 1 groups of 4 fit in 150 ms, whatever the disk.
    const rate = await orderedCeilingRate({ dir, payloadBytes: 128, appenders: 4, caseMs: 150, syncs: 'event-loop', groupCpuMicros: 20_000 });
    expect(rate * 0.15).toBeLessThanOrEqual(4 * 9);
  });
});
