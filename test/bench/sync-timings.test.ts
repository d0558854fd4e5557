import { describe, expect, it } from 'vitest';

import type { Entry, Index, Term } from '../../raft/index.js';
import { groupTimings, type SyncEvent, SyncTimingFileSystem } from '../../storage/bench/sync-timings.js';
import { openLog } from '../../storage/index.js';
import { tempDir } from '../harness/temp-dir.js';

describe('the storage bench\'s --group-timings', () => {
  it('splits groups into their data sync, mark sync and the gaps between, medians in microseconds', () => {
    // Two groups: data 0-0.3 ms, mark 0.32-0.5, data 0.6-0.9, mark 0.92-1.1, and a third data sync
    // that starts before the mark before it ends (overlapping, kept out of the gaps).
    const events: SyncEvent[] = [
      { startMs: 0.6, endMs: 0.9, mark: false },
      { startMs: 0, endMs: 0.3, mark: false },
      { startMs: 0.32, endMs: 0.5, mark: true },
      { startMs: 0.92, endMs: 1.1, mark: true },
      { startMs: 1.05, endMs: 1.3, mark: false },
    ];
    const t = groupTimings(events);
    expect(t.groups).toBe(1);
    expect(t.overlapping).toBe(1);
    expect(t.dataSyncMicros).toBeCloseTo(300, 6);
    expect(t.markSyncMicros).toBeCloseTo(180, 6);
    expect(t.dataToMarkMicros).toBeCloseTo(20, 6);
    expect(t.markToDataMicros).toBeCloseTo(100, 6);
  });

  it('records a real log\'s syncs only while recording, the mark\'s told apart by its file', async () => {
    const dir = tempDir('quorumlog-timings-');
    const timed = new SyncTimingFileSystem();
    const log = await openLog({ dir, fs: timed, flush: { mode: 'sync', mark: 'ordered' } });
    try {
      const entry = (index: number): Entry => ({ index: index as Index, term: 1 as Term, kind: 1, payload: new Uint8Array(16) });
      await log.append([entry(1)]);
      expect(timed.events).toEqual([]);
      timed.recording = true;
      for (let index = 2; index <= 4; index++) await log.append([entry(index)]);
      timed.recording = false;
      await log.append([entry(5)]);
    } finally {
      await log.close();
    }
    // Three awaited appends: three groups, each a data sync then a mark sync.
    expect(timed.events.map((one) => one.mark)).toEqual([false, true, false, true, false, true]);
    for (const one of timed.events) expect(one.endMs).toBeGreaterThanOrEqual(one.startMs);
    expect(groupTimings(timed.events).groups).toBe(2);
  });
});
