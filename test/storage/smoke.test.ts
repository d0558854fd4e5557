import { describe, expect, it } from 'vitest';
import { openLog, MemoryFileSystem } from '../../storage/index.js';
import type { Entry, Index, Term } from '../../raft/types.js';

const e = (i: number, t: number, p = `p${i}`): Entry => ({ index: i as Index, term: t as Term, kind: 1, payload: Buffer.from(p) });

describe('smoke', () => {
  it('appends reads reopens', async () => {
    const fs = new MemoryFileSystem();
    let log = await openLog({ dir: '/d', fs, segmentBytes: 1024 });
    for (let i = 1; i <= 100; i++) await log.append([e(i, 1 + Math.floor(i / 30))]);
    expect(log.lastIndex()).toBe(100);
    expect(log.entries(1 as Index, 101 as Index, 1e9).map((x) => x.index)).toEqual(Array.from({ length: 100 }, (_, k) => k + 1));
    await log.close();
    log = await openLog({ dir: '/d', fs, segmentBytes: 1024 });
    expect(log.lastIndex()).toBe(100);
    expect(log.term(50 as Index)).toBe(2);
    expect(Buffer.from(log.entries(50 as Index, 51 as Index, 0)[0]!.payload).toString()).toBe('p50');
    await log.truncateAfter(10 as Index);
    expect(log.lastIndex()).toBe(10);
    await log.append([e(11, 5)]);
    fs.crash();
    log = await openLog({ dir: '/d', fs, segmentBytes: 1024 });
    expect(log.lastIndex()).toBe(11);
    expect(log.recovery.lostEntries).toBe(false);
    console.log(fs.list('/d'), log.recovery);
  });
});
