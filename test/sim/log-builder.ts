import { EntryKind, type Entry, type HardState, type Index, type NodeId, type Term } from '../../raft/types.js';
import { MemoryLog } from './memory-log.js';

/** A normal entry whose payload names its position, so equal (index, term) means equal content. */
export function entryAt(at: number, t: number, payload = `e${at}t${t}`): Entry {
  return { index: at as Index, term: t as Term, kind: EntryKind.normal, payload: Buffer.from(payload, 'latin1') };
}

/** A log whose entry k (from firstIndex) has term terms[k]: the paper's figures written as rows of terms. */
export function logOfTerms(terms: readonly number[], options: { firstIndex?: number; compactedTerm?: number } = {}): MemoryLog {
  const first = options.firstIndex ?? 1;
  return MemoryLog.of(
    terms.map((t, k) => entryAt(first + k, t)),
    { firstIndex: first as Index, compactedTerm: (options.compactedTerm ?? 0) as Term },
  );
}

export function hardState(t: number, vote: string | null = null, commit = 0): HardState {
  return { term: t as Term, vote: vote as NodeId | null, commit: commit as Index };
}
