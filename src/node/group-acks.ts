import { GROUP_DEFAULTS, type OffsetRange } from '../broker/index.js';
import type { AckOutcomeView } from '../transport/index.js';
import { ResourceExhaustedError } from '../transport/index.js';

export const GROUP_ACKS_DEFAULTS = {
  /** Offsets waiting, per group, for the ack entry in flight to settle: past it an ack is refused. */
  queuedOffsetsMax: 1_000_000,
} as const;

/** Proposes one ackRanges entry and answers with its outcomes once it is applied here (or throws). */
export type ProposeAckRanges = (group: string, ranges: readonly OffsetRange[], timeoutMs: number) => Promise<readonly AckOutcomeView[]>;

/** One ack request waiting for its entry. */
interface QueuedAck {
  readonly offsets: readonly number[];
  readonly timeoutMs: number;
  readonly resolve: (outcomes: readonly AckOutcomeView[]) => void;
  readonly reject: (error: unknown) => void;
}

/** One group's acks: the entry in flight, and the requests that go in the next. */
interface GroupQueue {
  inFlight: boolean;
  readonly queued: QueuedAck[];
  queuedOffsets: number;
}

/**
 * The leader's group commit of acks: per group, one ack entry in flight at a time; the ack
 * requests that arrive meanwhile, from any consumer of the group, go together in the next
 * entry, their offsets as runs of consecutive offsets (ackRanges). A request is answered only
 * when the entry holding it is applied here, with the outcomes of its own offsets, exactly
 * as if it had had an entry of its own in that place of the log; if the entry fails, every
 * request in it fails the same way (the client retries, as after any failed ack).
 */
export class GroupAcks {
  /** Groups with an ack entry in flight or requests queued; dropped when both are done. */
  private readonly groups = new Map<string, GroupQueue>();

  constructor(private readonly propose: ProposeAckRanges) {}

  /**
   * Acks `offsets` of `group` (already checked: whole numbers, at most ackOffsetsMax). An
   * empty list is answered at once, with no entry: there is nothing to make durable.
   */
  ack(group: string, offsets: readonly number[], timeoutMs: number): Promise<readonly AckOutcomeView[]> {
    if (offsets.length === 0) return Promise.resolve([]);
    let queue = this.groups.get(group);
    if (queue === undefined) {
      queue = { inFlight: false, queued: [], queuedOffsets: 0 };
      this.groups.set(group, queue);
    }
    if (queue.queuedOffsets + offsets.length > GROUP_ACKS_DEFAULTS.queuedOffsetsMax) {
      return Promise.reject(new ResourceExhaustedError(`group ${group} has ${queue.queuedOffsets} acked offsets waiting for their entry; try again`));
    }
    const waiting = queue;
    return new Promise((resolve, reject) => {
      waiting.queued.push({ offsets, timeoutMs, resolve, reject });
      waiting.queuedOffsets += offsets.length;
      this.pump(group, waiting);
    });
  }

  /** Proposes the next entry of `group` if none is in flight: the queued requests, up to ackOffsetsMax offsets. */
  private pump(group: string, queue: GroupQueue): void {
    if (queue.inFlight) return;
    if (queue.queued.length === 0) {
      this.groups.delete(group);
      return;
    }
    const batch: QueuedAck[] = [];
    let offsets = 0;
    // Bounded by the queue; the first request always goes (each has at most ackOffsetsMax).
    while (queue.queued.length > 0) {
      const next = queue.queued[0] as QueuedAck;
      if (batch.length > 0 && offsets + next.offsets.length > GROUP_DEFAULTS.ackOffsetsMax) break;
      batch.push(next);
      queue.queued.shift();
      offsets += next.offsets.length;
    }
    queue.queuedOffsets -= offsets;
    queue.inFlight = true;
    let timeoutMs = Infinity;
    for (const a of batch) timeoutMs = Math.min(timeoutMs, a.timeoutMs);
    this.propose(group, rangesOf(batch), timeoutMs)
      .then(
        (outcomes) => {
          let at = 0;
          for (const a of batch) {
            a.resolve(outcomes.slice(at, at + a.offsets.length));
            at += a.offsets.length;
          }
        },
        (error: unknown) => batch.forEach((a) => a.reject(error)),
      )
      .finally(() => {
        queue.inFlight = false;
        this.pump(group, queue);
      });
  }
}

/** The requests' offsets, in order, as runs of consecutive offsets. */
export function rangesOf(batch: readonly { readonly offsets: readonly number[] }[]): OffsetRange[] {
  const ranges: { offset: number; count: number }[] = [];
  let last: { offset: number; count: number } | undefined;
  for (const a of batch) {
    for (const offset of a.offsets) {
      if (last !== undefined && offset === last.offset + last.count) last.count++;
      else {
        last = { offset, count: 1 };
        ranges.push(last);
      }
    }
  }
  return ranges;
}
