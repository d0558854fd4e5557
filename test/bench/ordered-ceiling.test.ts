import * as fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

import { importBuilt } from '../harness/build.js';
import { tempDir } from '../harness/temp-dir.js';

/** Small synced zeros for the tests (the bench writes over 128 MiB): the loop starts over them as it reaches their end. */
const DATA_BYTES = 1024 * 1024;

type CeilingModule = typeof import('../../storage/bench/ordered-ceiling.js');

/** The built module (dist/): its 'worker' case starts the compiled ceiling-worker.js. */
describe('the ordered mark\'s ceiling (storage bench --ceiling)', () => {
  let orderedCeilingRate: CeilingModule['orderedCeilingRate'];
  beforeAll(async () => {
    ({ orderedCeilingRate } = await importBuilt<CeilingModule>('storage', 'bench', 'ordered-ceiling.js'));
  });

  it.each(['event-loop', 'thread-pool', 'worker'] as const)('measures with the fdatasyncs %s, and leaves no file behind', async (syncs) => {
    const dir = tempDir('quorumlog-ceiling-');
    const rate = await orderedCeilingRate({ dir, payloadBytes: 128, appenders: 8, caseMs: 150, syncs, groupCpuMicros: 0, dataBytes: DATA_BYTES });
    // At least one group of 8 counted, with its two syncs: a rate of 8 over the run's time,
    // which a stalled disk may stretch well past the 150 ms window (here up to 3 s).
    expect(rate).toBeGreaterThanOrEqual(8 / 0.15 / 20);
    expect(Number.isFinite(rate)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.each(['zeros-ahead', 'direct'] as const)('measures with the records written %s, and leaves no file behind', async (recordWrites) => {
    const dir = tempDir('quorumlog-ceiling-');
    const rate = await orderedCeilingRate({ dir, payloadBytes: 1024, appenders: 8, caseMs: 150, syncs: 'thread-pool', groupCpuMicros: 0, dataBytes: DATA_BYTES, recordWrites });
    expect(rate).toBeGreaterThanOrEqual(8 / 0.15 / 20);
    expect(Number.isFinite(rate)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('spends the busy time it is given on every group', async () => {
    const dir = tempDir('quorumlog-ceiling-');
    // 20 ms of CPU a group: at most 150 / 20 + 1 groups of 4 fit in 150 ms, whatever the disk.
    const rate = await orderedCeilingRate({ dir, payloadBytes: 128, appenders: 4, caseMs: 150, syncs: 'event-loop', groupCpuMicros: 20_000, dataBytes: DATA_BYTES });
    expect(rate * 0.15).toBeLessThanOrEqual(4 * 9);
  });
});
