import { describe, expect, it } from 'vitest';

import { checkAvailability, longestGap, longestOutageFrom, singleNodeOutageBoundMs } from '../../jepsen-style/checkers/availability.js';
import { checkDamagedNodes, DiskObservation } from '../../jepsen-style/checkers/damaged-node.js';
import {
  checkAbortedRead,
  checkDuplicated,
  checkLost,
  checkOffsets,
  checkProducerOrder,
  checkRealtime,
  checkReplicaAgreement,
  mergeNodeLogs,
  type LogCheckInput,
  type LogEntry,
} from '../../jepsen-style/checkers/log-checkers.js';
import { checkConsumer, type ConsumerCheckInput } from '../../jepsen-style/checkers/queue-checkers.js';
import { faultWindows, pairOps, type ConsumeEvent, type GroupEvent, type HistoryEvent, type Op, type ReadEvent, type ReadGapEvent } from '../../jepsen-style/history.js';
import { hashEntries } from '../../jepsen-style/log-workload.js';

/** Hand-made histories: each checker flags its violation, passes the clean history, and fails an empty one. */

let opIds = 0;
function op(process: string, value: string, invokeMs: number, completeMs: number, outcome: Op['outcome'], index?: number): Op {
  return { opId: ++opIds, process, f: 'append', value, invokeMs, completeMs, outcome, ...(index === undefined ? {} : { index }) };
}
function entry(index: number, value: string, term = 1): LogEntry {
  return { index, term, value };
}
function read(process: string, index: number, value: string, timeMs = 0): ReadEvent {
  return { type: 'read', process, index, value, timeMs };
}

/** Two sequential producers, a no-op at index 1 (not a record), four acknowledged appends, one unknown that did commit. */
function clean(): LogCheckInput {
  const ops = [
    op('p1', 'p1-1', 0, 10, 'ok', 2),
    op('p2', 'p2-1', 5, 20, 'ok', 3),
    op('p1', 'p1-2', 11, 30, 'ok', 4),
    op('p2', 'p2-2', 21, 40, 'info'),
    op('p1', 'p1-3', 31, 50, 'ok', 6),
    op('p2', 'p2-3', 41, 45, 'fail'),
  ];
  const finalLog = [entry(2, 'p1-1'), entry(3, 'p2-1'), entry(4, 'p1-2'), entry(5, 'p2-2'), entry(6, 'p1-3')];
  return {
    ops,
    reads: [read('r1', 2, 'p1-1'), read('r1', 3, 'p2-1'), read('r1', 4, 'p1-2')],
    finalLog,
    nodeLogs: ['n1', 'n2', 'n3'].map((node) => ({ node, entries: finalLog, commitIndex: 6 })),
  };
}

const empty: LogCheckInput = { ops: [], reads: [], finalLog: [], nodeLogs: [] };

describe('checkers on hand-made histories', () => {
  it('every checker passes the clean history', () => {
    const input = clean();
    for (const result of [checkLost(input), checkDuplicated(input), checkProducerOrder(input), checkOffsets(input), checkAbortedRead(input), checkRealtime(input), checkReplicaAgreement(input, hashEntries)]) {
      expect(result.valid, `${result.name}: ${JSON.stringify(result)}`).toBe(true);
    }
  });

  it('every checker fails an empty history (nothing checked proves nothing)', () => {
    for (const result of [checkLost(empty), checkDuplicated(empty), checkProducerOrder(empty), checkOffsets(empty), checkAbortedRead(empty), checkRealtime(empty), checkReplicaAgreement(empty, hashEntries)]) {
      expect(result.valid, result.name).toBe(false);
      expect(result.note, result.name).toMatch(/nothing to check/);
    }
    const availability = checkAvailability({ ops: [], faults: [], workloadStartMs: 0, workloadEndMs: 1000, recovered: true, recoveryNote: '', singleNodeOutageMaxMs: null });
    expect(availability.valid).toBe(false);
    expect(checkDamagedNodes([]).valid).toBe(false);
  });

  it('lost: an acknowledged append missing from the final log and from every node', () => {
    const input = clean();
    const without = input.finalLog.filter((e) => e.value !== 'p1-2');
    const result = checkLost({ ...input, finalLog: without, nodeLogs: input.nodeLogs.map((n) => ({ ...n, entries: without })) });
    expect(result.valid).toBe(false);
    expect(result.counts['lost']).toBe(1);
    expect(result.examples[0]).toMatchObject({ value: 'p1-2', ackedIndex: 4 });
  });

  it('lost: an acknowledged append that one node read back lacks, though its log spans that index (a member added later), fails; below its first index it is not asked for', () => {
    const input = clean();
    const n5 = { node: 'n5', entries: input.finalLog.filter((e) => e.value !== 'p1-2'), commitIndex: 6 };
    const result = checkLost({ ...input, nodeLogs: [...input.nodeLogs, n5] });
    expect(result.valid).toBe(false);
    expect(result.counts).toMatchObject({ lost: 0, missingOnANode: 1 });
    expect(result.examples[0]).toMatchObject({ value: 'p1-2', node: 'n5', ackedIndex: 4 });
    // A snapshot installed up to 4: the node holds entries from 5 on, the write is in its snapshot.
    const fromSnapshot = { node: 'n5', entries: input.finalLog.filter((e) => e.index >= 5), commitIndex: 6, firstIndex: 5 };
    expect(checkLost({ ...input, nodeLogs: [...input.nodeLogs, fromSnapshot] }).valid).toBe(true);
  });

  it('duplicated: a value at two indexes, in the final log or in what a reader saw', () => {
    const input = clean();
    const twice = checkDuplicated({ ...input, finalLog: [...input.finalLog, entry(7, 'p2-1')] });
    expect(twice.valid).toBe(false);
    expect(twice.examples[0]).toMatchObject({ value: 'p2-1', indexes: [3, 7] });
    const readerSawTwice = checkDuplicated({ ...input, reads: [...input.reads, read('r1', 8, 'p1-1')] });
    expect(readerSawTwice.valid).toBe(false);
  });

  it('producer order: a sequential producer\'s later value before an earlier one', () => {
    const input = clean();
    const swapped = input.finalLog.map((e) => (e.value === 'p1-1' ? { ...e, value: 'p1-2' } : e.value === 'p1-2' ? { ...e, value: 'p1-1' } : e));
    const result = checkProducerOrder({ ...input, finalLog: swapped });
    expect(result.valid).toBe(false);
    expect(result.examples[0]).toMatchObject({ process: 'p1', earlier: { value: 'p1-1', index: 4 }, later: { value: 'p1-2', index: 2 } });
  });

  it('offsets: one index read with two values (a node, a reader or an acknowledgement disagreeing)', () => {
    const input = clean();
    const nodeDisagrees = checkOffsets({ ...input, nodeLogs: [{ node: 'n2', entries: [entry(2, 'p1-1'), entry(3, 'other')], commitIndex: 3 }] });
    expect(nodeDisagrees.valid).toBe(false);
    expect(nodeDisagrees.examples[0]).toMatchObject({ index: 3 });
    const ackElsewhere = checkOffsets({ ...input, ops: [...input.ops, op('p3', 'p1-3', 0, 1, 'ok', 5)] });
    expect(ackElsewhere.valid).toBe(false);
  });

  it('aborted read: a definitely failed append that is visible; and a phantom nobody sent', () => {
    const input = clean();
    const visibleFailure = checkAbortedRead({ ...input, finalLog: [...input.finalLog, entry(7, 'p2-3')] });
    expect(visibleFailure.valid).toBe(false);
    expect(visibleFailure.examples[0]).toMatchObject({ value: 'p2-3', visibleAt: 'final@7' });
    const phantom = checkAbortedRead({ ...input, reads: [...input.reads, read('r1', 9, 'ghost')] });
    expect(phantom.valid).toBe(false);
    expect(phantom.counts['phantoms']).toBe(1);
  });

  it('realtime: an append acknowledged before another began has the lower index; readers never skip or go back', () => {
    const input = clean();
    const late = checkRealtime({ ...input, ops: [...input.ops, op('p3', 'p3-1', 60, 70, 'ok', 5)] });
    expect(late.valid).toBe(false);
    expect(late.examples[0]).toMatchObject({ kind: 'ack-order', earlier: { value: 'p1-3', index: 6 }, later: { value: 'p3-1', index: 5 } });
    const skipped = checkRealtime({ ...input, reads: [read('r1', 2, 'p1-1'), read('r1', 4, 'p1-2')] });
    expect(skipped.examples[0]).toMatchObject({ kind: 'reader-skipped', skippedIndex: 3 });
    const back = checkRealtime({ ...input, reads: [read('r2', 2, 'p1-1'), read('r2', 3, 'p2-1'), read('r2', 2, 'p1-1')] });
    expect(back.examples[0]).toMatchObject({ kind: 'reader-went-back', process: 'r2' });
    const concurrentIsFine = checkRealtime({ ...input, ops: [...input.ops.filter((o) => o.value !== 'p1-3'), op('p3', 'x', 45, 60, 'ok', 6), op('p4', 'y', 44, 61, 'ok', 5)] });
    expect(concurrentIsFine.valid, JSON.stringify(concurrentIsFine.examples)).toBe(true);
  });

  it('replica agreement: diverged committed prefixes, unequal commits or an unreadable node', () => {
    const input = clean();
    const diverged = input.finalLog.map((e) => (e.index === 5 ? { ...e, term: 2 } : e));
    const result = checkReplicaAgreement({ ...input, nodeLogs: [{ node: 'n1', entries: input.finalLog, commitIndex: 6 }, { node: 'n2', entries: diverged, commitIndex: 6 }] }, hashEntries);
    expect(result.valid).toBe(false);
    expect(JSON.stringify(result.examples)).toContain('"position":3');
    const lagging = checkReplicaAgreement({ ...input, nodeLogs: [{ node: 'n1', entries: input.finalLog, commitIndex: 6 }, { node: 'n2', entries: input.finalLog.slice(0, 2), commitIndex: 3 }] }, hashEntries);
    expect(lagging.valid).toBe(false);
    const unreadable = checkReplicaAgreement({ ...input, nodeLogs: [{ node: 'n1', entries: input.finalLog, commitIndex: 6 }, { node: 'n2', entries: null, commitIndex: -1, error: 'down' }] }, hashEntries);
    expect(unreadable.valid).toBe(false);
  });

  it('after compaction: the final log is what any node still holds, the nodes are compared where they overlap', () => {
    const input = clean();
    // n1 deleted below 4, n2 below 3, n3 below 5: together they still hold 3..6.
    const nodeLogs = [4, 3, 5].map((first, k) => ({ node: `n${k + 1}`, entries: input.finalLog.filter((e) => e.index >= first), commitIndex: 6, firstIndex: first }));
    expect(mergeNodeLogs(nodeLogs).map((e) => e.index)).toEqual([3, 4, 5, 6]);
    const agree = checkReplicaAgreement({ ...input, nodeLogs }, hashEntries);
    expect(agree.valid, JSON.stringify(agree.examples)).toBe(true);
    expect(agree.counts).toMatchObject({ comparedFrom: 5, comparedEntries: 2 });
    // Index 4 differs on n2, but n3 deleted it: not comparable. Index 5 differing is flagged.
    const below = nodeLogs.map((n) => (n.node === 'n2' ? { ...n, entries: n.entries.map((e) => (e.index === 4 ? { ...e, term: 9 } : e)) } : n));
    expect(checkReplicaAgreement({ ...input, nodeLogs: below }, hashEntries).valid).toBe(true);
    const within = nodeLogs.map((n) => (n.node === 'n2' ? { ...n, entries: n.entries.map((e) => (e.index === 5 ? { ...e, term: 9 } : e)) } : n));
    const diverged = checkReplicaAgreement({ ...input, nodeLogs: within }, hashEntries);
    expect(diverged.valid).toBe(false);
    expect(diverged.examples[0]).toMatchObject({ comparedFrom: 5 });
  });

  it('lost after compaction: held by any node, or deleted below every node\'s first index (counted, not checked); missing above that is lost', () => {
    const input = clean();
    const nodeLogs = [4, 3, 5].map((first, k) => ({ node: `n${k + 1}`, entries: input.finalLog.filter((e) => e.index >= first), commitIndex: 6, firstIndex: first }));
    const compacted = { ...input, nodeLogs, finalLog: mergeNodeLogs(nodeLogs) };
    const result = checkLost(compacted);
    expect(result.valid, JSON.stringify(result.examples)).toBe(true);
    // p1-1 at 2 is below every node's first index (3); r1 saw it there before it went.
    expect(result.counts).toMatchObject({ acknowledged: 4, deletedEverywhere: 1, deletedSeenByReader: 1, lost: 0 });
    expect(result.note).toMatch(/1 acknowledged writes lie below every node's first index \(3\)/);
    // p2-1 at 3: n2 is the only node that still held it. Had n2 lost it, it would be lost.
    const n2Lost = nodeLogs.map((n) => (n.node === 'n2' ? { ...n, entries: n.entries.filter((e) => e.index !== 3) } : n));
    const lost = checkLost({ ...input, nodeLogs: n2Lost, finalLog: mergeNodeLogs(n2Lost) });
    expect(lost.valid).toBe(false);
    expect(lost.examples[0]).toMatchObject({ value: 'p2-1', ackedIndex: 3 });
    // Retention may not delete at or above 2 (keep-unconsumed, the group acked only below 2): deleted there is lost.
    const notAllowed = checkLost({ ...compacted, deletionAllowedBelow: 2 });
    expect(notAllowed.valid).toBe(false);
    expect(notAllowed.examples[0]).toMatchObject({ value: 'p1-1', deletedEverywhereBelow: 3, butRetentionKeepsFrom: 2 });
  });

  it('realtime after compaction: a reader told its next index was deleted may go on from the earliest kept; a skip it was not told of is flagged', () => {
    const input = clean();
    const reads = [read('r2', 2, 'p1-1'), read('r2', 5, 'p2-2'), read('r2', 6, 'p1-3')];
    const gap: ReadGapEvent = { type: 'read-gap', timeMs: 0, process: 'r2', fromIndex: 3, toIndex: 5 };
    expect(checkRealtime({ ...input, reads }).examples[0]).toMatchObject({ kind: 'reader-skipped', skippedIndex: 3 });
    const told = checkRealtime({ ...input, reads, readerGaps: [gap] });
    expect(told.valid, JSON.stringify(told.examples)).toBe(true);
    // A gap of another reader, or one that does not reach the skipped index, excuses nothing.
    expect(checkRealtime({ ...input, reads, readerGaps: [{ ...gap, process: 'r1' }] }).valid).toBe(false);
    expect(checkRealtime({ ...input, reads, readerGaps: [{ ...gap, toIndex: 4 }] }).examples[0]).toMatchObject({ kind: 'reader-skipped', skippedIndex: 4 });
  });

  it('availability: per fault kind, and it fails when the cluster never took writes again', () => {
    const ops = [op('p1', 'a', 0, 100, 'ok', 2), op('p1', 'b', 100, 1_100, 'info'), op('p1', 'c', 1_100, 3_000, 'ok', 4), op('p1', 'd', 3_000, 3_100, 'fail')];
    const faults = faultWindows([
      { type: 'nemesis', phase: 'start', timeMs: 150, kind: 'kill', variant: 'leader', faultId: 1, targets: ['n1'] },
      { type: 'nemesis', phase: 'end', timeMs: 2_500, kind: 'kill', variant: 'leader', faultId: 1, targets: ['n1'] },
    ]);
    const result = checkAvailability({ ops, faults, workloadStartMs: 0, workloadEndMs: 3_200, recovered: true, recoveryNote: 'ok', singleNodeOutageMaxMs: null });
    expect(result.valid).toBe(true);
    expect(result.counts).toMatchObject({ appends: 4, ok: 2, failed: 1, unknown: 1, longestNoWriteMs: 2_900 });
    expect(result.perKind).toEqual([{ kind: 'kill', windows: 1, faultMs: 2_350, ops: 1, ok: 1, okFraction: 1, longestNoWriteMs: 2_350 }]);
    expect(checkAvailability({ ops, faults, workloadStartMs: 0, workloadEndMs: 3_200, recovered: false, recoveryNote: 'no leader', singleNodeOutageMaxMs: null }).valid).toBe(false);
    expect(longestGap([], 10, 30)).toBe(20);
  });

  it('availability: a single-node fault with a longer window without an acknowledgement than the bound fails the run, one within it passes', () => {
    // Writes every 100 ms until a paused leader at 1,000 ms stalls them; they resume at `resumeMs`, the leader still paused until 5,000.
    const history = (resumeMs: number): Op[] => {
      const ops: Op[] = [];
      for (let t = 0; t < 6_000; t += 100) if (t <= 1_000 || t >= resumeMs) ops.push(op('p1', `v${t}`, t, t + 5, 'ok', t + 1));
      ops.push(op('p2', 'stuck', 1_000, resumeMs, 'info'));
      return ops;
    };
    const pause = faultWindows([
      { type: 'nemesis', phase: 'start', timeMs: 1_010, kind: 'pause', variant: 'leader', faultId: 1, targets: ['n2'] },
      { type: 'nemesis', phase: 'end', timeMs: 5_000, kind: 'pause', variant: 'leader', faultId: 1, targets: ['n2'] },
    ]);
    const input = { faults: pause, workloadStartMs: 0, workloadEndMs: 6_000, recovered: true, recoveryNote: 'ok', singleNodeOutageMaxMs: 2_100 };
    const stalled = checkAvailability({ ...input, ops: history(4_300) });
    expect(stalled.valid).toBe(false);
    // From the fault's start (not the last acknowledgement before it) to the first acknowledgement after.
    expect(stalled.counts).toMatchObject({ singleNodeFaults: 1, singleNodeOutageMaxMs: 2_100, longestSingleNodeOutageMs: 4_305 - 1_010, singleNodeOutagesOverBound: 1 });
    expect(stalled.examples).toEqual([{ faultId: 1, fault: 'pause:leader', targets: ['n2'], startMs: 1_010, endMs: 5_000, noAckFromMs: 1_010, noAckToMs: 4_305, noAckMs: 3_295 }]);
    expect(stalled.note).toMatch(/fault 1 pause:leader on n2: 3295 ms without an acknowledged append \(bound 2100 ms\)/);
    const resumed = checkAvailability({ ...input, ops: history(2_500) });
    expect(resumed.valid, resumed.note).toBe(true);
    expect(resumed.counts).toMatchObject({ longestSingleNodeOutageMs: 2_505 - 1_010, singleNodeOutagesOverBound: 0 });
    // Without a bound it is a measure only; a fault that takes out more than one node is never bounded.
    expect(checkAvailability({ ...input, singleNodeOutageMaxMs: null, ops: history(4_300) }).valid).toBe(true);
    const majority = faultWindows([
      { type: 'nemesis', phase: 'start', timeMs: 1_010, kind: 'kill', variant: 'majority', faultId: 1, targets: ['n1', 'n2'] },
      { type: 'nemesis', phase: 'end', timeMs: 5_000, kind: 'kill', variant: 'majority', faultId: 1, targets: ['n1', 'n2'] },
    ]);
    expect(checkAvailability({ ...input, faults: majority, ops: history(4_300) }).valid).toBe(true);
    // Nor is one that overlaps a membership change (the leader removed while a follower is paused).
    const withMembers = faultWindows([
      { type: 'nemesis', phase: 'start', timeMs: 500, kind: 'members', variant: 'remove-leader', faultId: 2, targets: ['n1'] },
      { type: 'nemesis', phase: 'end', timeMs: 1_500, kind: 'members', variant: 'remove-leader', faultId: 2, targets: ['n1'] },
    ]);
    const overlapped = checkAvailability({ ...input, faults: [...pause, ...withMembers], ops: history(4_300) });
    expect(overlapped.valid, overlapped.note).toBe(true);
    expect(overlapped.counts).toMatchObject({ singleNodeFaults: 0 });
  });

  it('availability: a single-node fault is charged only up to the start of the next fault (a kill of every node before writes resumed is that fault\'s outage)', () => {
    // Writes every 100 ms until 1,000; a follower paused 1,010..2,400; every node killed 3,000..5,000; writes again from 6,000.
    const ops: Op[] = [];
    for (let t = 0; t < 8_000; t += 100) if (t <= 1_000 || t >= 6_000) ops.push(op('p1', `v${t}`, t, t + 5, 'ok', t + 1));
    const faults = faultWindows([
      { type: 'nemesis', phase: 'start', timeMs: 1_010, kind: 'pause', variant: 'one', faultId: 1, targets: ['n2'] },
      { type: 'nemesis', phase: 'end', timeMs: 2_400, kind: 'pause', variant: 'one', faultId: 1, targets: ['n2'] },
      { type: 'nemesis', phase: 'start', timeMs: 3_000, kind: 'kill', variant: 'all', faultId: 2, targets: ['n1', 'n2', 'n3'] },
      { type: 'nemesis', phase: 'end', timeMs: 5_000, kind: 'kill', variant: 'all', faultId: 2, targets: ['n1', 'n2', 'n3'] },
    ]);
    const input = { ops, faults, workloadStartMs: 0, workloadEndMs: 8_000, recovered: true, recoveryNote: 'ok' };
    const within = checkAvailability({ ...input, singleNodeOutageMaxMs: 2_100 });
    expect(within.valid, within.note).toBe(true);
    expect(within.counts).toMatchObject({ longestSingleNodeOutageMs: 3_000 - 1_010, singleNodeOutagesOverBound: 0 });
    // Charged up to the kill, the pause still left writes stalled for longer than a tighter bound.
    const over = checkAvailability({ ...input, singleNodeOutageMaxMs: 1_500 });
    expect(over.valid).toBe(false);
    expect(over.examples).toEqual([{ faultId: 1, fault: 'pause:one', targets: ['n2'], startMs: 1_010, endMs: 2_400, noAckFromMs: 1_010, noAckToMs: 3_000, noAckMs: 1_990 }]);
  });

  it('availability: the window without an acknowledgement starts in the fault and runs to the next acknowledgement, wherever it falls', () => {
    expect(longestOutageFrom([100, 900, 1_000, 4_000], 150, 2_000, 5_000)).toBe(3_000);
    expect(longestOutageFrom([100, 900], 150, 2_000, 5_000)).toBe(4_100);
    expect(longestOutageFrom([100, 300, 400, 3_000], 150, 500, 5_000)).toBe(2_600);
    expect(longestOutageFrom([], 150, 500, 800)).toBe(650);
    // The cluster's election timeout is drawn from [electionTicks, 2 * electionTicks) ticks: its upper end plus 1.5 s.
    expect(singleNodeOutageBoundMs({ tickMs: 30, electionTicks: 10 })).toBe(2_100);
    expect(singleNodeOutageBoundMs({ tickMs: 50, electionTicks: 10 })).toBe(2_500);
  });

  it('damaged node: unnoticed damage to durable records, a start that needed hand repair, or leading with a blocked vote', () => {
    const at = (what: string, faultId = 1): HistoryEvent => ({ type: 'observe', timeMs: 0, node: 'n2', what, faultId });
    expect(checkDamagedNodes([at(DiskObservation.damageBelowMark), at(DiskObservation.damageCut), at(DiskObservation.lossReported), at(DiskObservation.votingBlocked)]).valid).toBe(true);
    const refused = checkDamagedNodes([at(DiskObservation.damageBelowMark), at(DiskObservation.refusedStart), at(DiskObservation.lossReported), at(DiskObservation.votingBlocked)]);
    expect(refused.valid).toBe(false);
    const unnoticed = checkDamagedNodes([at(DiskObservation.damageBelowMark), at(DiskObservation.votingUnblocked)]);
    expect(unnoticed.valid).toBe(false);
    const led = checkDamagedNodes([at(DiskObservation.damageBelowMark), at(DiskObservation.lossReported), at(DiskObservation.ledWhileBlocked)]);
    expect(led.valid).toBe(false);
  });

  it('pairOps: an invoke without a completion counts as unknown', () => {
    const events: HistoryEvent[] = [
      { type: 'invoke', timeMs: 1, process: 'p1', f: 'append', opId: 1, value: 'a' },
      { type: 'invoke', timeMs: 2, process: 'p2', f: 'append', opId: 2, value: 'b' },
      { type: 'ok', timeMs: 3, process: 'p1', f: 'append', opId: 1, value: 'a', index: 2 },
    ];
    expect(pairOps(events).map((o) => [o.value, o.outcome])).toEqual([['a', 'ok'], ['b', 'info']]);
  });
});

describe('the consumer checker on hand-made queue histories', () => {
  function send(value: string, offset: number | undefined, outcome: Op['outcome'] = 'ok'): Op {
    return { opId: ++opIds, process: 'p1', f: 'send', value, invokeMs: 0, completeMs: 1, outcome, ...(offset === undefined ? {} : { index: offset }) };
  }
  function ack(offset: number, outcome: Op['outcome'] = 'ok', error?: string): Op {
    return { opId: ++opIds, process: 'c1.1', f: 'ack', value: `v${offset}`, invokeMs: 0, completeMs: 1, outcome, index: offset, ...(error === undefined ? {} : { error }) };
  }
  function consumed(offset: number, phase: ConsumeEvent['phase'] = 'processed', delivery = 1, process = 'c1.1'): ConsumeEvent {
    return { type: 'consume', phase, timeMs: offset, process, offset, value: `v${offset}`, delivery };
  }
  function view(node: string, incarnation: number, committedOffset: number, timeMs = 0): GroupEvent {
    return { type: 'group', timeMs, node, incarnation, group: 'g', committedOffset, lag: 0 };
  }
  /** Three messages at offsets 0..2, all processed and acked; offset 1 processed twice (a redelivery), which is allowed. */
  function cleanQueue(): ConsumerCheckInput {
    return {
      sends: [send('v0', 0), send('v1', 1), send('v2', 2), send('lost-in-flight', undefined, 'info')],
      acks: [ack(0), ack(1, 'info'), ack(1), ack(2)],
      consumes: [consumed(0, 'received'), consumed(0), consumed(1), consumed(1, 'processed', 2, 'c2.1'), consumed(2)],
      groupViews: [view('n1', 1, 0), view('n1', 1, 2), view('n2', 1, 1), view('n2', 2, 0), view('n2', 2, 3)],
      finalTopic: [0, 1, 2].map((k) => ({ index: k, term: 0, value: `v${k}` })),
      finalGroups: ['n1', 'n2', 'n3'].map((node) => ({ node, committedOffset: 3, lag: 0, dead: 0 })),
    };
  }

  it('passes a clean history (a restarted node may start lower), and counts redeliveries without failing', () => {
    const result = checkConsumer(cleanQueue());
    expect(result.valid, JSON.stringify(result.examples)).toBe(true);
    expect(result.counts).toMatchObject({ processed: 4, distinctProcessed: 3, processedMoreThanOnce: 1, finalCommittedOffset: 3 });
  });

  it('fails when there is nothing to check', () => {
    expect(checkConsumer({ sends: [], acks: [], consumes: [], groupViews: [], finalTopic: [], finalGroups: [] }).valid).toBe(false);
    expect(checkConsumer({ ...cleanQueue(), consumes: [] }).note).toMatch(/nothing to check/);
  });

  it('flags a message the group finished that nobody processed (auto-ack, then a crash)', () => {
    const input = cleanQueue();
    const result = checkConsumer({ ...input, consumes: input.consumes.filter((c) => !(c.offset === 0 && c.phase === 'processed')) });
    expect(result.valid).toBe(false);
    expect(result.counts['finishedUnprocessed']).toBe(1);
    expect(result.examples[0]).toMatchObject({ kind: 'acked-never-processed', offset: 0, received: { process: 'c1.1' } });
  });

  it('flags an acknowledged send never processed when the group did not finish', () => {
    const input = cleanQueue();
    const result = checkConsumer({ ...input, consumes: input.consumes.filter((c) => c.offset !== 2), finalGroups: input.finalGroups.map((g) => ({ ...g, committedOffset: 2, lag: 1 })) });
    expect(result.valid).toBe(false);
    expect(result.examples[0]).toMatchObject({ kind: 'sent-never-processed', offset: 2 });
  });

  it('after compaction: a message the group finished that every node deleted is known by its send, and flagged if nobody processed it', () => {
    const input = cleanQueue();
    const compacted = { ...input, finalTopic: input.finalTopic.filter((e) => e.index >= 2) };
    expect(checkConsumer(compacted).valid).toBe(true);
    const result = checkConsumer({ ...compacted, consumes: input.consumes.filter((c) => c.offset !== 0) });
    expect(result.valid).toBe(false);
    expect(result.counts['deletedUnprocessed']).toBe(1);
    expect(result.examples[0]).toMatchObject({ kind: 'deleted-never-processed', offset: 0 });
  });

  it('flags a committed offset that moves backwards within one start of a node, or above the final one', () => {
    const input = cleanQueue();
    const back = checkConsumer({ ...input, groupViews: [...input.groupViews, view('n1', 1, 1, 9)] });
    expect(back.valid).toBe(false);
    expect(back.examples[0]).toMatchObject({ kind: 'committed-offset-went-back', node: 'n1', from: 2, to: 1 });
    const aboveFinal = checkConsumer({ ...input, groupViews: [view('n3', 1, 5)] });
    expect(aboveFinal.valid).toBe(false);
    expect(aboveFinal.examples[0]).toMatchObject({ seen: 5, final: 3 });
  });

  it('flags an ack refused as not delivered, nodes that disagree on the group, and an unreadable group', () => {
    const input = cleanQueue();
    expect(checkConsumer({ ...input, acks: [...input.acks, ack(2, 'fail', 'notDelivered')] }).examples[0]).toMatchObject({ kind: 'ack-refused', offset: 2 });
    expect(checkConsumer({ ...input, finalGroups: [{ node: 'n1', committedOffset: 3, lag: 0, dead: 0 }, { node: 'n2', committedOffset: 2, lag: 1, dead: 0 }] }).examples[0]).toMatchObject({ kind: 'nodes-disagree' });
    expect(checkConsumer({ ...input, finalGroups: [{ node: 'n1', error: 'down' }] }).valid).toBe(false);
  });
});
