import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Index, NodeId, Term } from '../../raft/types.js';
import { CorruptHardStateError, MemoryFileSystem } from '../../storage/index.js';
import {
  decodeStateSlot,
  encodeStateSlot,
  INITIAL_STATE,
  type PersistedState,
  StateFile,
} from '../../storage/state-file.js';

const stateArb: fc.Arbitrary<PersistedState> = fc.record({
  hardState: fc.record({
    term: fc.nat().map((n) => n as Term),
    vote: fc.option(fc.string({ minLength: 1, maxLength: 40 }).map((s) => s as NodeId), { nil: null }),
    commit: fc.nat().map((n) => n as Index),
  }),
  mark: fc.record({ index: fc.nat().map((n) => n as Index), term: fc.nat().map((n) => n as Term) }),
  compacted: fc.record({ index: fc.nat().map((n) => n as Index), term: fc.nat().map((n) => n as Term) }),
});

const DIR = '/data';

async function freshFile(): Promise<{ fs: MemoryFileSystem; file: StateFile }> {
  const fs = new MemoryFileSystem();
  fs.mkdir(DIR);
  return { fs, file: await StateFile.create(fs, DIR, INITIAL_STATE) };
}

describe('state slot codec', () => {
  it('round-trips term, vote, commit, mark and compaction point', () => {
    fc.assert(
      fc.property(stateArb, fc.nat(), (state, sequence) => {
        expect(decodeStateSlot(encodeStateSlot(state, sequence))).toEqual({ state, sequence });
      }),
    );
  });

  it('rejects any flipped bit', () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const slot = encodeStateSlot(state, 7);
        for (let bit = 0; bit < slot.length * 8; bit += 3) {
          const damaged = slot.slice();
          damaged[bit >> 3] = (damaged[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          expect(decodeStateSlot(damaged)).toBeNull();
        }
      }),
      { numRuns: 10 },
    );
  });
});

describe('state file', () => {
  it('loads the newest durable state after a clean restart', async () => {
    const { fs, file } = await freshFile();
    const state = { ...INITIAL_STATE, hardState: { term: 3 as Term, vote: 'n2' as NodeId, commit: 9 as Index } };
    await file.update(() => state);
    await file.update((s) => ({ ...s, mark: { index: 12 as Index, term: 3 as Term } }));
    expect(StateFile.load(fs.crash(), DIR)?.durable).toEqual({ ...state, mark: { index: 12, term: 3 } });
  });

  it('keeps the old value when a crash tears the new one at any byte', async () => {
    for (let atByte = 0; atByte <= 256; atByte += 8) {
      const { fs, file } = await freshFile();
      const old = { ...INITIAL_STATE, hardState: { term: 4 as Term, vote: 'n1' as NodeId, commit: 2 as Index } };
      await file.update(() => old);
      const next = { ...old, hardState: { term: 5 as Term, vote: 'n3' as NodeId, commit: 3 as Index } };
      void file.update(() => next).catch(() => undefined);
      const loaded = StateFile.load(fs.crash({ tearLastWrite: { atByte } }), DIR)?.durable;
      // Old or new, never a mix. (A tear past the last non-zero byte leaves the whole new
      // slot, since the bytes it did not write were zero before and after.)
      if (atByte < 8) expect(loaded).toEqual(old);
      else expect([old, next]).toContainEqual(loaded);
    }
  });

  it('coalesces concurrent updates into fewer syncs, resolving each once durable', async () => {
    const { fs, file } = await freshFile();
    const before = fs.stats.fdatasyncs;
    const updates = Array.from({ length: 50 }, (_, k) =>
      file.update((s) => ({ ...s, hardState: { ...s.hardState, commit: k as Index } })),
    );
    await Promise.all(updates);
    expect(fs.stats.fdatasyncs - before).toBeLessThanOrEqual(2);
    expect(file.durable.hardState.commit).toBe(49);
  });

  it('reports both slots bad as CorruptHardStateError', async () => {
    const { fs, file } = await freshFile();
    await file.update((s) => s);
    fs.flipBit(`${DIR}/state`, 20, 1);
    fs.flipBit(`${DIR}/state`, 4096 + 20, 1);
    expect(() => StateFile.load(fs, DIR)).toThrow(CorruptHardStateError);
  });

  it('survives one damaged slot', async () => {
    const { fs, file } = await freshFile();
    const state = { ...INITIAL_STATE, hardState: { term: 8 as Term, vote: null, commit: 1 as Index } };
    await file.update(() => state);
    await file.update(() => state);
    fs.flipBit(`${DIR}/state`, 30, 0);
    expect(StateFile.load(fs, DIR)?.durable).toEqual(state);
  });
});
