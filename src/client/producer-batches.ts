/**
 * A Producer's bookkeeping per topic: the batches not yet answered, in sequence order, and
 * how they get, share out and move down their sequence numbers. Plain data and functions:
 * the Producer owns the timers, the sending and the settling of send()s.
 */

import { Backoff } from '../transport/index.js';
import type { BrokerMessage } from './log-client.js';
import type { SendResult } from './producer-options.js';

export interface Settle {
  readonly resolve: (value: SendResult) => void;
  readonly reject: (error: Error) => void;
}

type BatchState = 'waiting' | 'inFlight' | 'done';

export interface Batch {
  readonly messages: BrokerMessage[];
  readonly settles: Settle[];
  bytes: number;
  readonly createdMs: number;
  state: BatchState;
  attempts: number;
  /** The producer id and first sequence it was sent with; sequence -1 until first sent. */
  producerId: number;
  firstSequence: number;
  /** Some attempt's outcome is unknown: it may have been written under its sequence. */
  uncertain: boolean;
  /** It was renumbered once after an out-of-order answer; a second one fails it. */
  renumbered: boolean;
  /**
   * Its spool record once spooled (its send()s resolved 'spooled'), else null. A split
   * batch's pieces share the record; it leaves the spool when the last piece is done.
   */
  spool: { readonly id: number; readonly whole: boolean; readonly shared: { remaining: number } } | null;
  /** Loaded from the spool of an earlier run with the identity recorded there, which it keeps until answered. */
  legacy: boolean;
  /**
   * Made while its topic had nothing queued or in flight, under the default linger: it goes
   * at the end of the current turn (taking the sends made in that turn) instead of waiting
   * lingerMs for company that is not coming.
   */
  eager: boolean;
}

/**
 * 'pipelining': up to inFlightPerTopicMax batches in flight, in sequence order.
 * 'recovering': after any failure, wait for everything in flight to be answered, then
 * resend the unanswered batches one at a time in order until none is left that was sent
 * before; the broker's sequence check keeps the order, this keeps the retries short.
 */
type TopicMode = 'pipelining' | 'recovering';

export interface TopicState {
  readonly name: string;
  /** Not yet acknowledged or failed, in send order (= sequence order). */
  readonly queue: Batch[];
  inFlight: number;
  mode: TopicMode;
  /** The producer id this topic's sequence numbers belong to (0 before the first send). */
  producerId: number;
  nextSequence: number;
  /** The end of the highest acknowledged batch: where the broker's sequence stands when nothing later was written. */
  ackedEnd: number;
  readonly backoff: Backoff;
  retryTimer: NodeJS.Timeout | null;
  lingerTimer: NodeJS.Timeout | null;
  /**
   * The topic's largest message as the broker described it: 'unknown' before the producer
   * asked, 'asking' while it does (nothing is sent meanwhile), then the limit, or null when
   * the broker could not say (the broker's own refusal then fails an oversized message).
   */
  messageBytesMax: number | null | 'unknown' | 'asking';
}

export function newTopicState(name: string, retryBackoff: { readonly initialMs: number; readonly maxMs: number }): TopicState {
  return { name, queue: [], inFlight: 0, mode: 'pipelining', producerId: 0, nextSequence: 0, ackedEnd: 0, backoff: new Backoff(retryBackoff), retryTimer: null, lingerTimer: null, messageBytesMax: 'unknown' };
}

export function newBatch(createdMs: number): Batch {
  return { messages: [], settles: [], bytes: 0, createdMs, state: 'waiting', attempts: 0, producerId: 0, firstSequence: -1, uncertain: false, renumbered: false, spool: null, legacy: false, eager: false };
}

/** A batch that can still take messages: never sent, not spooled and not full. */
export function isOpen(batch: Batch, batchMessagesMax: number): boolean {
  return batch.spool === null && batch.attempts === 0 && batch.state === 'waiting' && batch.firstSequence < 0 && batch.messages.length < batchMessagesMax;
}

/** A batch's identity at its first attempt; with idempotence the topic's numbering then belongs to the producer's current id. */
export function assignSequence(state: TopicState, batch: Batch, identity: { readonly producerId: number; readonly idempotent: boolean }): void {
  if (identity.idempotent) {
    state.producerId = identity.producerId;
    batch.producerId = identity.producerId;
    batch.firstSequence = state.nextSequence;
    state.nextSequence += batch.messages.length;
  } else {
    batch.firstSequence = 0;
  }
}

/** Replaces a refused batch by one batch per message, taking over its sequence numbers in order. */
export function splitBatch(state: TopicState, batch: Batch, { idempotent }: { readonly idempotent: boolean }): void {
  const singles = batch.messages.map(
    (message, k): Batch => ({
      messages: [message],
      settles: batch.settles.slice(k, k + 1),
      bytes: 0,
      createdMs: batch.createdMs,
      state: 'waiting',
      attempts: batch.attempts,
      producerId: batch.producerId,
      firstSequence: batch.firstSequence < 0 || !idempotent ? batch.firstSequence : batch.firstSequence + k,
      uncertain: false,
      renumbered: batch.renumbered,
      spool: batch.spool === null ? null : { id: batch.spool.id, whole: false, shared: batch.spool.shared },
      legacy: batch.legacy,
      eager: batch.eager,
    }),
  );
  if (batch.spool !== null) batch.spool.shared.remaining += singles.length - 1;
  state.queue.splice(state.queue.indexOf(batch), 1, ...singles);
}

/** Only when nothing between the acknowledged batches and `first` was written: it and the sent batches after it move down. */
export function renumberFrom(state: TopicState, first: Batch): void {
  let sequence = state.ackedEnd;
  for (const batch of state.queue.slice(state.queue.indexOf(first))) {
    if (batch.firstSequence < 0) break;
    batch.firstSequence = sequence;
    batch.uncertain = false;
    sequence += batch.messages.length;
  }
  first.renumbered = true;
  state.nextSequence = sequence;
}

/**
 * Whether the topic acknowledged a sequence after `batch`'s last one under the id it was
 * sent with (ackedEnd is the end of the highest acknowledged batch of state.producerId).
 */
export function laterSequenceAcknowledged(state: TopicState, batch: Batch): boolean {
  return batch.producerId === state.producerId && state.ackedEnd > batch.firstSequence + batch.messages.length;
}

/**
 * Takes the messages over `bytesMax` out of a batch never sent (so none has a sequence yet)
 * and hands back their settles, so they fail alone before anything is sent.
 */
export function takeOversized(batch: Batch, bytesMax: number, bytesOf: (m: BrokerMessage) => number): { readonly settle: Settle; readonly bytes: number }[] {
  const refused: { settle: Settle; bytes: number }[] = [];
  // Bounded by the batch's messages; walks backwards so splicing keeps the indexes valid.
  for (let k = batch.messages.length - 1; k >= 0; k--) {
    const bytes = bytesOf(batch.messages[k] as BrokerMessage);
    if (bytes <= bytesMax) continue;
    batch.messages.splice(k, 1);
    const [settle] = batch.settles.splice(k, 1);
    if (settle !== undefined) refused.unshift({ settle, bytes });
    batch.bytes -= bytes;
  }
  return refused;
}

export function removeBatch(state: TopicState, batch: Batch): void {
  batch.state = 'done';
  const at = state.queue.indexOf(batch);
  if (at >= 0) state.queue.splice(at, 1);
}
