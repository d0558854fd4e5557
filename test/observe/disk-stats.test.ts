import { describe, expect, it } from 'vitest';

import { DiskStatsCache } from '../../src/observe/index.js';

/** A statfs that answers with `free` blocks of 4 KiB out of 1,000 and counts its calls. */
function fakeStatfs(state: { free: number; calls: number; fail: boolean }) {
  return async (_dir: string) => {
    state.calls++;
    if (state.fail) throw new Error('ENOENT');
    return { bavail: state.free, blocks: 1_000, bsize: 4096 };
  };
}

describe('DiskStatsCache', () => {
  it('asks statfs at most once per maxAgeMs and shows the new free space once that has passed', async () => {
    const state = { free: 500, calls: 0, fail: false };
    const cache = new DiskStatsCache({ maxAgeMs: 5_000, statfs: fakeStatfs(state) });
    expect(await cache.read('/d', 0)).toEqual({ freeBytes: 500 * 4096, sizeBytes: 1_000 * 4096 });
    state.free = 400;
    expect((await cache.read('/d', 4_999)).freeBytes).toBe(500 * 4096);
    expect(state.calls).toBe(1);
    expect((await cache.read('/d', 5_000)).freeBytes).toBe(400 * 4096);
    expect(state.calls).toBe(2);
  });

  it('asks again for another directory, for a clock that went back, and after a failure', async () => {
    const state = { free: 500, calls: 0, fail: false };
    const cache = new DiskStatsCache({ maxAgeMs: 5_000, statfs: fakeStatfs(state) });
    await cache.read('/d', 1_000);
    await cache.read('/e', 1_001);
    expect(state.calls).toBe(2);
    await cache.read('/e', 500);
    expect(state.calls).toBe(3);
    state.fail = true;
    await expect(cache.read('/f', 600)).rejects.toThrow('ENOENT');
    await expect(cache.read('/f', 601)).rejects.toThrow('ENOENT');
    expect(state.calls).toBe(5);
  });

  it('shares one call among concurrent reads', async () => {
    const state = { free: 7, calls: 0, fail: false };
    const cache = new DiskStatsCache({ statfs: fakeStatfs(state) });
    const [a, b] = await Promise.all([cache.read('/d', 0), cache.read('/d', 0)]);
    expect(a).toEqual(b);
    expect(state.calls).toBe(1);
  });
});
