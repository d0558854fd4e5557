import type { Op, ReadEvent, ReadGapEvent } from '../history.js';
import { nothingToCheck, Violations, type CheckerResult } from './checker-result.js';

/** One committed record as read back (payload decoded as the workload's value). */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly value: string;
}

/** A node's committed log read back after recovery, or why it could not be read. */
export interface NodeLog {
  readonly node: string;
  readonly entries: readonly LogEntry[] | null;
  readonly commitIndex: number;
  /**
   * The first index (topic: offset) the node still held when read, when it had deleted
   * everything below (compaction after a snapshot, as retention allowed). Absent: it deleted
   * nothing.
   */
  readonly firstIndex?: number;
  readonly error?: string;
}

/** What the plain-log checkers look at: the ops, what readers saw, and the final logs. */
export interface LogCheckInput {
  readonly ops: readonly Op[];
  readonly reads: readonly ReadEvent[];
  /** The reference log (every node's agree when replica agreement holds). */
  readonly finalLog: readonly LogEntry[];
  readonly nodeLogs: readonly NodeLog[];
  /** Where a reader was told its next index was deleted (OUT_OF_RANGE) and went on from the earliest kept. */
  readonly readerGaps?: readonly ReadGapEvent[];
  /**
   * An acknowledged write below every node's first index counts as rightly deleted only below
   * this index (the queue under keep-unconsumed: the group's final committed offset, since
   * retention may not delete what the group has not acked past). Absent: any index.
   */
  readonly deletionAllowedBelow?: number;
}

/**
 * The final log as far as any node still holds it: the reference node's entries (the highest
 * commit index), and below its first index, those of the nodes that kept more. Where nodes
 * hold an index both, replica agreement checks they agree.
 */
export function mergeNodeLogs(nodeLogs: readonly NodeLog[]): LogEntry[] {
  const byIndex = new Map<number, LogEntry>();
  const readable = nodeLogs.filter((n) => n.entries !== null).sort((a, b) => b.commitIndex - a.commitIndex);
  for (const n of readable) for (const e of n.entries ?? []) if (!byIndex.has(e.index)) byIndex.set(e.index, e);
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

/** Below this index every readable node has deleted its entries (0: some node deleted nothing, or none was read). */
export function deletedEverywhereBelow(nodeLogs: readonly NodeLog[]): number {
  const readable = nodeLogs.filter((n) => n.entries !== null);
  if (readable.length === 0) return 0;
  return Math.min(...readable.map((n) => n.firstIndex ?? 0));
}

/**
 * The operations that write a value: a log append, or a queue send (whose `index` is the
 * topic offset). The checkers below treat a topic as a log whose indexes are its offsets.
 */
export const WRITE_FUNCTIONS: ReadonlySet<string> = new Set(['append', 'send']);

function appends(ops: readonly Op[]): Op[] {
  return ops.filter((op) => WRITE_FUNCTIONS.has(op.f));
}

function positions(log: readonly LogEntry[]): Map<string, number[]> {
  const at = new Map<string, number[]>();
  for (const e of log) {
    const list = at.get(e.value);
    if (list === undefined) at.set(e.value, [e.index]);
    else list.push(e.index);
  }
  return at;
}

/**
 * lost: every acknowledged append is held by some node (the final log or any node's log), or
 * lies below every node's first index: compaction deleted it on all of them, which is no loss
 * where retention allows it (below `deletionAllowedBelow`) and a loss where it does not. What
 * was deleted everywhere can no longer be checked against a log; it is counted, with how many
 * of those a reader saw at their acknowledged index before they went.
 */
export function checkLost(input: LogCheckInput): CheckerResult {
  const acked = appends(input.ops).filter((op) => op.outcome === 'ok');
  if (acked.length === 0) return nothingToCheck('lost', 'no acknowledged append');
  const held = new Set(input.finalLog.map((e) => e.value));
  for (const n of input.nodeLogs) for (const e of n.entries ?? []) held.add(e.value);
  const readAt = new Set(input.reads.map((r) => `${r.index}\t${r.value}`));
  const deletedBelow = deletedEverywhereBelow(input.nodeLogs);
  const allowedBelow = input.deletionAllowedBelow ?? Infinity;
  const lost = new Violations();
  let deleted = 0;
  let deletedSeen = 0;
  for (const op of acked) {
    if (held.has(op.value)) continue;
    const example = { value: op.value, process: op.process, ackedIndex: op.index, invokeMs: op.invokeMs, completeMs: op.completeMs };
    if (op.index === undefined || op.index >= deletedBelow) lost.add(example);
    else if (op.index >= allowedBelow) lost.add({ ...example, deletedEverywhereBelow: deletedBelow, butRetentionKeepsFrom: allowedBelow });
    else {
      deleted++;
      if (readAt.has(`${op.index}\t${op.value}`)) deletedSeen++;
    }
  }
  const missing = missingOnNodes(acked, input.nodeLogs);
  const note = deleted === 0 ? undefined : `${deleted} acknowledged writes lie below every node's first index (${deletedBelow}): deleted by retention, not checkable against a log; a reader saw ${deletedSeen} of them at their index before`;
  return {
    name: 'lost',
    valid: lost.count === 0 && missing.count === 0,
    counts: { acknowledged: acked.length, finalLogEntries: input.finalLog.length, deletedEverywhere: deleted, deletedSeenByReader: deletedSeen, lost: lost.count, missingOnANode: missing.count },
    examples: [...lost.examples, ...missing.examples],
    ...(note === undefined ? {} : { note }),
  };
}

/**
 * Acknowledged writes some node read back lacks, though its log spans their index (at or
 * above its first index, below or at its commit index): every node read (the final members,
 * after a membership nemesis too) must hold every acknowledged write it has not compacted away.
 */
function missingOnNodes(acked: readonly Op[], nodeLogs: readonly NodeLog[]): Violations {
  const missing = new Violations();
  for (const n of nodeLogs) {
    if (n.entries === null) continue;
    const values = new Set(n.entries.map((e) => e.value));
    for (const op of acked) {
      if (op.index === undefined || op.index < (n.firstIndex ?? 0) || op.index > n.commitIndex || values.has(op.value)) continue;
      missing.add({ value: op.value, node: n.node, ackedIndex: op.index, nodeFirstIndex: n.firstIndex ?? null, nodeCommitIndex: n.commitIndex });
    }
  }
  return missing;
}

/** duplicated: no value at two indexes, in any node's log or in what a reader saw. */
export function checkDuplicated(input: LogCheckInput): CheckerResult {
  if (input.finalLog.length === 0 && input.reads.length === 0) return nothingToCheck('duplicated', 'an empty final log and no reads');
  const dup = new Violations();
  const seen = new Set<string>();
  const sources: { readonly source: string; readonly log: readonly LogEntry[] }[] = [
    { source: 'final', log: input.finalLog },
    ...input.nodeLogs.flatMap((n) => (n.entries === null ? [] : [{ source: n.node, log: n.entries }])),
    ...readersOf(input.reads).map(([process, reads]) => ({ source: process, log: reads.map((r) => ({ index: r.index, term: 0, value: r.value })) })),
  ];
  let finalDuplicates = 0;
  for (const { source, log } of sources) {
    for (const [value, indexes] of positions(log)) {
      if (indexes.length < 2) continue;
      if (source === 'final') finalDuplicates++;
      const key = `${value}@${indexes.join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      dup.add({ value, indexes, seenIn: source });
    }
  }
  return { name: 'duplicated', valid: dup.count === 0, counts: { finalLogEntries: input.finalLog.length, duplicatedValues: finalDuplicates, violations: dup.count }, examples: dup.examples };
}

/**
 * per-producer order: a sequential producer's values sit in the final log in the order it
 * sent them (whatever their outcome: a value with an unknown outcome that did commit must
 * not land before one sent earlier).
 */
export function checkProducerOrder(input: LogCheckInput): CheckerResult {
  const byProcess = new Map<string, Op[]>();
  for (const op of appends(input.ops)) {
    const list = byProcess.get(op.process);
    if (list === undefined) byProcess.set(op.process, [op]);
    else list.push(op);
  }
  if (byProcess.size === 0 || input.finalLog.length === 0) return nothingToCheck('producer-order', 'no appends or an empty final log');
  const at = positions(input.finalLog);
  const bad = new Violations();
  let checked = 0;
  for (const [process, ops] of byProcess) {
    let previous: { value: string; index: number } | null = null;
    for (const op of ops.sort((a, b) => a.opId - b.opId)) {
      const index = at.get(op.value)?.[0];
      if (index === undefined) continue;
      checked++;
      if (previous !== null && index <= previous.index) bad.add({ process, earlier: previous, later: { value: op.value, index } });
      previous = { value: op.value, index };
    }
  }
  return { name: 'producer-order', valid: bad.count === 0 && checked > 0, counts: { producers: byProcess.size, valuesChecked: checked, reordered: bad.count }, examples: bad.examples };
}

/**
 * inconsistent offsets: one index never holds two values, across acknowledgements (the
 * index an ok append was committed at), every node's log and what readers saw.
 */
export function checkOffsets(input: LogCheckInput): CheckerResult {
  const byIndex = new Map<number, { value: string; source: string }>();
  const bad = new Violations();
  let observations = 0;
  const see = (index: number, value: string, source: string): void => {
    observations++;
    const known = byIndex.get(index);
    if (known === undefined) byIndex.set(index, { value, source });
    else if (known.value !== value) bad.add({ index, values: [known, { value, source }] });
  };
  for (const e of input.finalLog) see(e.index, e.value, 'final');
  for (const n of input.nodeLogs) for (const e of n.entries ?? []) see(e.index, e.value, n.node);
  for (const r of input.reads) see(r.index, r.value, r.process);
  for (const op of appends(input.ops)) if (op.outcome === 'ok' && op.index !== undefined) see(op.index, op.value, `ack ${op.process}`);
  if (observations === 0) return nothingToCheck('offsets', 'no index was observed');
  return { name: 'offsets', valid: bad.count === 0, counts: { indexesObserved: byIndex.size, observations, conflicts: bad.count }, examples: bad.examples };
}

/**
 * aborted read: a value whose append definitely failed is never visible; and nothing
 * visible was never sent (a phantom).
 */
export function checkAbortedRead(input: LogCheckInput): CheckerResult {
  const ops = appends(input.ops);
  if (ops.length === 0) return nothingToCheck('aborted-read', 'no appends');
  const sent = new Map(ops.map((op) => [op.value, op]));
  const visible = new Map<string, string>();
  for (const e of input.finalLog) visible.set(e.value, `final@${e.index}`);
  for (const r of input.reads) if (!visible.has(r.value)) visible.set(r.value, `${r.process}@${r.index}`);
  const aborted = new Violations();
  const phantoms = new Violations();
  let failed = 0;
  for (const op of ops) {
    if (op.outcome !== 'fail') continue;
    failed++;
    const where = visible.get(op.value);
    if (where !== undefined) aborted.add({ value: op.value, process: op.process, error: op.error, visibleAt: where });
  }
  for (const [value, where] of visible) if (!sent.has(value)) phantoms.add({ value, visibleAt: where });
  return {
    name: 'aborted-read',
    valid: aborted.count === 0 && phantoms.count === 0,
    counts: { failedAppends: failed, abortedVisible: aborted.count, phantoms: phantoms.count },
    examples: [...aborted.examples, ...phantoms.examples],
  };
}

/**
 * realtime order: an append acknowledged before another was invoked has the lower index;
 * and each reader's successive records neither skip a committed record nor go back.
 */
export function checkRealtime(input: LogCheckInput): CheckerResult {
  const acked = appends(input.ops).filter((op): op is Op & { index: number } => op.outcome === 'ok' && op.index !== undefined);
  if (acked.length === 0) return nothingToCheck('realtime', 'no acknowledged append');
  const bad = new Violations();
  const byCompletion = [...acked].sort((a, b) => a.completeMs - b.completeMs);
  const byInvoke = [...acked].sort((a, b) => a.invokeMs - b.invokeMs);
  let cursor = 0;
  let latest: (Op & { index: number }) | null = null;
  for (const op of byInvoke) {
    for (; cursor < byCompletion.length && (byCompletion[cursor]?.completeMs ?? Infinity) < op.invokeMs; cursor++) {
      const done = byCompletion[cursor];
      if (done !== undefined && (latest === null || done.index > latest.index)) latest = done;
    }
    if (latest !== null && latest.index >= op.index) {
      bad.add({ kind: 'ack-order', earlier: { value: latest.value, index: latest.index, completeMs: latest.completeMs }, later: { value: op.value, index: op.index, invokeMs: op.invokeMs } });
    }
  }
  const finalIndexes = input.finalLog.map((e) => e.index);
  const gapsOf = new Map<string, ReadGapEvent[]>();
  for (const g of input.readerGaps ?? []) gapsOf.set(g.process, [...(gapsOf.get(g.process) ?? []), g]);
  let readsChecked = 0;
  for (const [process, reads] of readersOf(input.reads)) {
    // Below every index and offset (a topic's first offset is 0).
    let previous = -1;
    for (const r of reads) {
      readsChecked++;
      if (r.index <= previous) bad.add({ kind: 'reader-went-back', process, previousIndex: previous, index: r.index });
      else {
        const skipped = firstSkipped(finalIndexes, previous, r.index, gapsOf.get(process) ?? []);
        if (skipped !== null) bad.add({ kind: 'reader-skipped', process, previousIndex: previous, index: r.index, skippedIndex: skipped });
      }
      previous = Math.max(previous, r.index);
    }
  }
  return { name: 'realtime', valid: bad.count === 0, counts: { acknowledged: acked.length, readerRecords: readsChecked, violations: bad.count }, examples: bad.examples };
}

/**
 * replica agreement: after recovery every node has the same commit index and the same
 * committed log where they overlap: from the highest first index among them (below it some
 * node deleted its entries) up to the lowest commit index, hashed.
 */
export function checkReplicaAgreement(input: LogCheckInput, hashOf: (entries: readonly LogEntry[]) => string): CheckerResult {
  if (input.nodeLogs.length === 0) return nothingToCheck('replica-agreement', 'no node log was read');
  const bad = new Violations();
  const readable = input.nodeLogs.filter((n): n is NodeLog & { entries: readonly LogEntry[] } => n.entries !== null);
  for (const n of input.nodeLogs) if (n.entries === null) bad.add({ node: n.node, unreadable: n.error ?? 'unknown' });
  const commits = new Set(input.nodeLogs.map((n) => n.commitIndex));
  if (commits.size > 1) bad.add({ commitIndexes: Object.fromEntries(input.nodeLogs.map((n) => [n.node, n.commitIndex])) });
  const prefix = Math.min(...readable.map((n) => n.commitIndex));
  const from = Math.max(0, ...readable.map((n) => n.firstIndex ?? 0));
  const overlap = (n: { entries: readonly LogEntry[] }): LogEntry[] => n.entries.filter((e) => e.index >= from && e.index <= prefix);
  const hashes = readable.map((n) => ({ node: n.node, entries: overlap(n).length, hash: hashOf(overlap(n)) }));
  if (new Set(hashes.map((h) => h.hash)).size > 1) {
    const first = readable[0];
    const diverged = readable.slice(1).map((n) => ({ node: n.node, vs: first?.node, at: firstDifference(overlap(first ?? { entries: [] }), overlap(n), prefix) }));
    bad.add({ comparedFrom: from, committedPrefix: prefix, hashes, diverged });
  }
  const compared = hashes[0]?.entries ?? 0;
  const note = from > 0 ? `compared ${compared} entries from ${from} (below it some node deleted its log) to ${Number.isFinite(prefix) ? prefix : 0}` : undefined;
  return {
    name: 'replica-agreement',
    valid: bad.count === 0 && readable.length > 0,
    counts: { nodes: input.nodeLogs.length, readable: readable.length, comparedFrom: from, committedPrefix: Number.isFinite(prefix) ? prefix : 0, comparedEntries: compared, violations: bad.count },
    examples: bad.examples,
    ...(note === undefined ? {} : { note }),
  };
}

function firstDifference(a: readonly LogEntry[], b: readonly LogEntry[], upTo: number): unknown {
  const left = a.filter((e) => e.index <= upTo);
  const right = b.filter((e) => e.index <= upTo);
  for (let k = 0; k < Math.max(left.length, right.length); k++) {
    const x = left[k];
    const y = right[k];
    if (x === undefined || y === undefined || x.index !== y.index || x.term !== y.term || x.value !== y.value) return { position: k, a: x ?? null, b: y ?? null };
  }
  return null;
}

function readersOf(reads: readonly ReadEvent[]): [string, ReadEvent[]][] {
  const by = new Map<string, ReadEvent[]>();
  for (const r of reads) {
    const list = by.get(r.process);
    if (list === undefined) by.set(r.process, [r]);
    else list.push(r);
  }
  return [...by];
}

/**
 * The first index of the sorted list strictly between lo and hi that the reader skipped
 * without being told it was deleted (a gap of its own from at or below it to above it), or null.
 */
function firstSkipped(sorted: readonly number[], lo: number, hi: number, gaps: readonly ReadGapEvent[]): number | null {
  let from = lo;
  // Bounded: each turn moves `from` up to an index of the list below hi.
  for (let turns = 0; turns <= sorted.length; turns++) {
    const skipped = firstBetween(sorted, from, hi);
    if (skipped === null) return null;
    const excused = gaps.find((g) => g.fromIndex <= skipped && skipped < g.toIndex);
    if (excused === undefined) return skipped;
    from = excused.toIndex - 1;
  }
  return null;
}

/** The first value of the sorted list strictly between lo and hi, or null. */
function firstBetween(sorted: readonly number[], lo: number, hi: number): number | null {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if ((sorted[mid] ?? Infinity) <= lo) a = mid + 1;
    else b = mid;
  }
  const candidate = sorted[a];
  return candidate !== undefined && candidate < hi ? candidate : null;
}
