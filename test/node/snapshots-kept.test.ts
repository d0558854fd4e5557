import { describe, expect, it } from 'vitest';
import { SNAPSHOTS_BETWEEN_MAX, snapshotsNotKept } from '../../src/node/node-snapshots.js';

const at = (...indexes: number[]) => indexes.map((index) => ({ index, term: 1 }));

describe('which snapshots a node keeps', () => {
  it('keeps the two newest and the compaction snapshot, and drops what is older than it', () => {
    expect(snapshotsNotKept(at(10, 20, 30, 40), { index: 20, term: 1 })).toEqual(at(10));
    expect(snapshotsNotKept(at(10, 20), null)).toEqual([]);
  });

  it('keeps at most SNAPSHOTS_BETWEEN_MAX between, spread out: it drops the one whose neighbours are closest', () => {
    const stored = at(...Array.from({ length: 30 }, (_, k) => (k + 1) * 10));
    const removed = snapshotsNotKept(stored, { index: 10, term: 1 });
    const kept = stored.filter((s) => !removed.some((r) => r.index === s.index)).map((s) => s.index);
    expect(kept.length).toBe(1 + SNAPSHOTS_BETWEEN_MAX + 2);
    expect(kept.slice(-2)).toEqual([290, 300]);
    expect(kept[0]).toBe(10);
    // Spread: no gap between kept snapshots is more than twice the even spacing.
    const gaps = kept.slice(1).map((index, k) => index - (kept[k] as number));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * Math.ceil((290 - 10) / (SNAPSHOTS_BETWEEN_MAX + 1)) + 10);
  });
});
