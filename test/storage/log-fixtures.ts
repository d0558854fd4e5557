/** Shared helpers for the storage suites (not a test file itself). */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { expect } from 'vitest';

import type { Entry, EntryKind, Index, Term } from '../../raft/types.js';
import { realScheduler, type CommitLog, type Scheduler } from '../../storage/index.js';

/** A payload that depends on index, term and seed, so a misplaced or stale record is caught. */
export function payloadFor(index: number, term: number, bytes: number, seed = 0): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) out[k] = (index * 31 + term * 17 + seed * 7 + k * 13) & 0xff;
  return out;
}

export function entry(index: number, term: number, bytes = 16, seed = 0): Entry {
  const kind: EntryKind = index % 5 === 0 ? 2 : 1;
  return { index: index as Index, term: term as Term, kind, payload: payloadFor(index, term, bytes, seed) };
}

/** Entries first..first+count-1 all in `term`. */
export function entries(first: number, count: number, term: number, bytes = 16): Entry[] {
  return Array.from({ length: count }, (_, k) => entry(first + k, term, bytes));
}

/**
 * A scheduler whose timers never fire on its own (tests flush explicitly); `soon` is the
 * real next turn, so group commit runs as it does in a node.
 */
export const manualScheduler: Scheduler = {
  nowMs: () => 0,
  after: () => ({ cancel: () => undefined }),
  every: () => ({ cancel: () => undefined }),
  soon: (run) => realScheduler.soon(run),
};

/** Checks the log holds exactly `expected` (firstIndex..lastIndex), through term() and entries(). */
export function expectLogEquals(log: CommitLog, expected: readonly Entry[], firstIndex: number, bytesMax = 1 << 30): void {
  expect(log.firstIndex()).toBe(firstIndex);
  expect(log.lastIndex()).toBe(firstIndex + expected.length - 1);
  for (const want of expected) expect(log.term(want.index)).toBe(want.term);
  expect(log.term((firstIndex + expected.length) as Index)).toBeUndefined();
  const got: Entry[] = [];
  let at = firstIndex;
  // Bounded: each read returns at least one entry.
  while (at <= log.lastIndex()) {
    const batch = log.entries(at as Index, (log.lastIndex() + 1) as Index, bytesMax);
    expect(batch.length).toBeGreaterThan(0);
    got.push(...batch);
    at += batch.length;
  }
  expect(got.length).toBe(expected.length);
  for (let k = 0; k < expected.length; k++) {
    const a = got[k];
    const b = expected[k];
    expect(a?.index).toBe(b?.index);
    expect(a?.term).toBe(b?.term);
    expect(a?.kind).toBe(b?.kind);
    expect(Buffer.from(a?.payload ?? []).equals(Buffer.from(b?.payload ?? []))).toBe(true);
  }
}

/** A fresh directory under the OS temp dir; remove it with `cleanup`. */
export async function tempDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'quorumlog-storage-'));
}

export async function cleanup(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/**
 * A log of five small segments on real files: 40 records of 30-byte payloads (62 bytes each
 * framed), exactly 8 records a segment, so the segments start at 1, 9, 17, 25 and 33.
 */
export const FIVE_SEGMENTS = {
  payloadBytes: 30,
  recordBytes: 32 + 30,
  perSegment: 8,
  segmentBytes: 8 * (32 + 30),
  count: 40,
} as const;

/** The path of the segment file starting at `first` in `dir`, and of its index file. */
export const segmentFilePath = (dir: string, first: number): string => path.join(dir, `${String(first).padStart(20, '0')}.log`);
export const indexFilePath = (dir: string, first: number): string => segmentFilePath(dir, first).replace(/\.log$/, '.idx');
