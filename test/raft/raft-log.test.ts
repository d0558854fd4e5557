import { describe, expect, it } from 'vitest';

import { RaftLog } from '../../raft/raft-log.js';
import type { Entry, Index, LogReader, Term } from '../../raft/types.js';
import { MemoryLog } from '../sim/memory-log.js';

const i = (n: number): Index => n as Index;
const t = (n: number): Term => n as Term;

function entry(index: number, term: number, bytes = 8): Entry {
  return { index: i(index), term: t(term), kind: 1, payload: new Uint8Array(bytes).fill(index & 0xff) };
}

/** A durable log that counts the reads of entries a RaftLog makes from it. */
function counted(log: MemoryLog): { reader: LogReader; reads: () => number } {
  let reads = 0;
  const reader: LogReader = {
    firstIndex: () => log.firstIndex(),
    lastIndex: () => log.lastIndex(),
    term: (at) => log.term(at),
    entries: (from, toExclusive, bytesMax) => {
      reads++;
      return log.entries(from, toExclusive, bytesMax);
    },
  };
  return { reader, reads: () => reads };
}

/** What a driver does with a Ready's entries: writes them, then reports them durable. */
function persist(raftLog: RaftLog, disk: MemoryLog): void {
  const entries = raftLog.takeUnpersisted();
  const first = entries[0];
  const last = entries.at(-1);
  if (first === undefined || last === undefined) return;
  disk.append(entries);
  raftLog.persistedTo(last.index, last.term);
}

describe('RaftLog', () => {
  it('applies entries made durable since they were appended without reading them back', () => {
    const disk = new MemoryLog();
    const { reader, reads } = counted(disk);
    const log = new RaftLog(reader, i(0), i(0));
    log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    persist(log, disk);
    log.commitTo(i(2));
    expect(log.takeEntriesToApply(1 << 20).map((e) => e.index)).toEqual([1, 2]);
    log.commitTo(i(3));
    expect(log.takeEntriesToApply(1 << 20).map((e) => e.index)).toEqual([3]);
    expect(reads()).toBe(0);
  });

  it('after a conflict replaces a durable suffix, serves the new entries and terms, never the replaced copies', () => {
    const disk = new MemoryLog();
    const log = new RaftLog(disk, i(0), i(0));
    log.append([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)]);
    persist(log, disk);
    log.commitTo(i(1));
    expect(log.takeEntriesToApply(1 << 20).map((e) => e.index)).toEqual([1]);
    // A new leader's entries from 3 on, in term 2.
    expect(log.maybeAppend(i(2), t(1), [entry(3, 2, 5), entry(4, 2, 5), entry(5, 2, 5)])).toBe(5);
    expect([2, 3, 4, 5].map((n) => log.term(i(n)))).toEqual([1, 2, 2, 2]);
    persist(log, disk);
    expect([2, 3, 4, 5].map((n) => log.term(i(n)))).toEqual([1, 2, 2, 2]);
    log.commitTo(i(5));
    expect(log.takeEntriesToApply(1 << 20).map((e) => [e.index, e.term, e.payload.length])).toEqual([
      [2, 1, 8],
      [3, 2, 5],
      [4, 2, 5],
      [5, 2, 5],
    ]);
  });

  it('reads entries past its memory cap back from the durable log', () => {
    const disk = new MemoryLog();
    const { reader, reads } = counted(disk);
    const log = new RaftLog(reader, i(0), i(0));
    // 40 entries of 1 MiB: more than the 32 MiB kept in memory.
    log.append(Array.from({ length: 40 }, (_, k) => entry(k + 1, 1, 1 << 20)));
    persist(log, disk);
    log.commitTo(i(40));
    const applied: number[] = [];
    // Bounded: each call hands out at least one entry.
    for (let round = 0; round < 40 && log.hasEntriesToApply(); round++) applied.push(...log.takeEntriesToApply(4 << 20).map((e) => e.index));
    expect(applied).toEqual(Array.from({ length: 40 }, (_, k) => k + 1));
    expect(reads()).toBeGreaterThan(0);
  });
});
