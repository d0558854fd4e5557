import type { ConsumeEvent, GroupEvent, Op } from '../history.js';
import { nothingToCheck, Violations, type CheckerResult } from './checker-result.js';
import type { LogEntry } from './log-checkers.js';

/** One node's final description of the group, or why it gave none. */
export type FinalGroup =
  | { readonly node: string; readonly committedOffset: number; readonly lag: number; readonly dead: number }
  | { readonly node: string; readonly error: string };

/** What the consumer checker looks at. */
export interface ConsumerCheckInput {
  /** Acknowledged and other sends (f 'send'); an ok send carries its offset as `index`. */
  readonly sends: readonly Op[];
  /** Acks the consumers made (f 'ack', `index` = offset); ok, fail (refused) or info (unknown). */
  readonly acks: readonly Op[];
  readonly consumes: readonly ConsumeEvent[];
  /** describeGroup answers seen during the run. */
  readonly groupViews: readonly GroupEvent[];
  /** The topic read back after the group finished (offsets as indexes). */
  readonly finalTopic: readonly LogEntry[];
  readonly finalGroups: readonly FinalGroup[];
}

/**
 * consumer: every message the group has finished (below its final committed offset) was
 * processed by some consumer at least once (one that compaction deleted from every node is
 * known only by its acknowledged send), so was every acknowledged send; an ack of a
 * delivered message is never answered "not delivered"; the group's committed offset never
 * moves backwards (within each start of each node, and nothing seen during the run is above
 * the final one); after recovery every node describes the group alike. Processing twice is
 * at-least-once delivery, counted but allowed.
 */
export function checkConsumer(input: ConsumerCheckInput): CheckerResult {
  const processed = input.consumes.filter((c) => c.phase === 'processed');
  const ackedSends = input.sends.filter((op): op is Op & { index: number } => op.outcome === 'ok' && op.index !== undefined);
  if (processed.length === 0 || ackedSends.length === 0) return nothingToCheck('consumer', 'no processed message or no acknowledged send');
  const bad = new Violations();
  const processedOffsets = new Set(processed.map((c) => c.offset));
  const readable = input.finalGroups.filter((g): g is Extract<FinalGroup, { committedOffset: number }> => 'committedOffset' in g);
  for (const g of input.finalGroups) if ('error' in g) bad.add({ kind: 'group-unreadable', node: g.node, error: g.error });
  if (readable.length === 0) bad.add({ kind: 'group-unreadable', node: 'every node' });
  const committed = Math.max(-1, ...readable.map((g) => g.committedOffset));
  if (new Set(readable.map((g) => `${g.committedOffset}/${g.lag}/${g.dead}`)).size > 1) bad.add({ kind: 'nodes-disagree', groups: readable });
  const firstReceived = new Map<number, ConsumeEvent>();
  for (const c of input.consumes) if (!firstReceived.has(c.offset)) firstReceived.set(c.offset, c);
  let finishedUnprocessed = 0;
  for (const e of input.finalTopic) {
    if (e.index >= committed || processedOffsets.has(e.index)) continue;
    finishedUnprocessed++;
    const received = firstReceived.get(e.index);
    bad.add({ kind: 'acked-never-processed', offset: e.index, value: e.value, committedOffset: committed, received: received === undefined ? null : { process: received.process, delivery: received.delivery, timeMs: received.timeMs } });
  }
  let sendsUnprocessed = 0;
  let deletedUnprocessed = 0;
  const inTopic = new Set(input.finalTopic.map((e) => e.index));
  for (const op of ackedSends) {
    if (processedOffsets.has(op.index)) continue;
    sendsUnprocessed++;
    if (op.index >= committed) bad.add({ kind: 'sent-never-processed', value: op.value, offset: op.index, committedOffset: committed });
    else if (!inTopic.has(op.index)) {
      // Below the committed offset, so acked; deleted from every node, so the loop over the
      // final topic above cannot see it: the acknowledged send stands in for it.
      deletedUnprocessed++;
      bad.add({ kind: 'deleted-never-processed', value: op.value, offset: op.index, committedOffset: committed });
    }
  }
  let refusedAcks = 0;
  for (const op of input.acks) {
    if (op.outcome !== 'fail') continue;
    refusedAcks++;
    bad.add({ kind: 'ack-refused', process: op.process, offset: op.index, error: op.error });
  }
  const backwards = committedOffsetWentBack(input.groupViews, committed, bad);
  const distinct = new Set(processed.map((c) => c.offset)).size;
  return {
    name: 'consumer',
    valid: bad.count === 0,
    counts: {
      acknowledgedSends: ackedSends.length,
      processed: processed.length,
      distinctProcessed: distinct,
      processedMoreThanOnce: processed.length - distinct,
      received: input.consumes.length - processed.length,
      acks: input.acks.length,
      acksOk: input.acks.filter((op) => op.outcome === 'ok').length,
      acksUnknown: input.acks.filter((op) => op.outcome === 'info').length,
      finalCommittedOffset: committed,
      finishedUnprocessed,
      sendsUnprocessed,
      deletedUnprocessed,
      refusedAcks,
      offsetWentBack: backwards,
      groupViews: input.groupViews.length,
      violations: bad.count,
    },
    examples: bad.examples,
  };
}

/** Counts (and records) a committed offset lower than an earlier view from the same start of the same node, or than any view vs the final one. */
function committedOffsetWentBack(views: readonly GroupEvent[], finalCommitted: number, bad: Violations): number {
  let count = 0;
  const last = new Map<string, GroupEvent>();
  for (const v of views) {
    const key = `${v.node}#${v.incarnation}`;
    const before = last.get(key);
    if (before !== undefined && v.committedOffset < before.committedOffset) {
      count++;
      bad.add({ kind: 'committed-offset-went-back', node: v.node, incarnation: v.incarnation, from: before.committedOffset, to: v.committedOffset, atMs: v.timeMs });
    }
    if (before === undefined || v.committedOffset >= before.committedOffset) last.set(key, v);
  }
  const highest = views.reduce<GroupEvent | null>((best, v) => (best === null || v.committedOffset > best.committedOffset ? v : best), null);
  if (highest !== null && finalCommitted >= 0 && highest.committedOffset > finalCommitted) {
    count++;
    bad.add({ kind: 'committed-offset-went-back', node: highest.node, seen: highest.committedOffset, atMs: highest.timeMs, final: finalCommitted });
  }
  return count;
}
