import { BrokerState, GROUP_DEFAULTS, type BrokerCommand, type MessageRecord } from '../broker/index.js';

/**
 * Broker states large enough that encoding a snapshot of them takes long: built in process
 * by applying commands, as the log would, so the structures are the ones a node holds.
 */

/** The shapes the snapshot encoding bench takes. */
export const BIG_STATE_KINDS = ['deliveries', 'runs'] as const;
export type BigStateKind = (typeof BIG_STATE_KINDS)[number];

const EMPTY = new Uint8Array(0);
const MESSAGE: MessageRecord = { key: EMPTY, headers: [], payload: EMPTY, timestampMs: 0 };

/** Applies commands one entry each, in log order, at a log time that moves 1 ms an entry. */
class StateBuilder {
  readonly state = new BrokerState();
  private logIndex = 0;

  apply(command: BrokerCommand): void {
    this.logIndex++;
    const result = this.state.apply(this.logIndex, 1_000_000 + this.logIndex, command);
    if (result.kind === 'rejected') throw new Error(`building a bench state: ${result.error.message}`);
  }
}

/**
 * `deliveries` in-flight deliveries: one topic of that many messages, read by groups of
 * GROUP_DEFAULTS.unfinishedMax in flight each (ten consumers a group), none acked, with
 * an ack deadline of a day so nothing times out.
 */
export function stateWithDeliveries(deliveries: number): BrokerState {
  const b = new StateBuilder();
  b.apply({ kind: 'createTopic', name: 'bench', messageBytesMax: 1024 });
  const batch = GROUP_DEFAULTS.deliverBatchMax;
  const perGroup = GROUP_DEFAULTS.unfinishedMax;
  // Bounded by `deliveries`: each pass produces one batch.
  for (let produced = 0; produced < perGroup; produced += batch) {
    b.apply({ kind: 'produce', topic: 'bench', producerId: 0, firstSequence: 0, messages: new Array<MessageRecord>(Math.min(batch, perGroup - produced)).fill(MESSAGE) });
  }
  const settings = { ackDeadlineMs: GROUP_DEFAULTS.delayMsMax, retriesMax: GROUP_DEFAULTS.retriesMax, retryDelaysMs: GROUP_DEFAULTS.retryDelaysMs };
  // Bounded by `deliveries`: each group takes up to unfinishedMax of them.
  for (let g = 0; g * perGroup < deliveries; g++) {
    const group = `group-${g}`;
    b.apply({ kind: 'createGroup', group, topic: 'bench', start: { kind: 'earliest' }, settings, ifAbsent: false });
    const wanted = Math.min(perGroup, deliveries - g * perGroup);
    for (let taken = 0, k = 0; taken < wanted; taken += batch, k++) {
      b.apply({ kind: 'deliver', group, consumer: `consumer-${k % 10}`, max: Math.min(batch, wanted - taken) });
    }
  }
  return b.state;
}

/** `runs` one-message produce entries: as many offset runs, 24 bytes each in a snapshot. */
export function stateWithRuns(runs: number): BrokerState {
  const b = new StateBuilder();
  b.apply({ kind: 'createTopic', name: 'bench', messageBytesMax: 1024 });
  // Bounded by `runs`.
  for (let k = 0; k < runs; k++) b.apply({ kind: 'produce', topic: 'bench', producerId: 0, firstSequence: 0, messages: [MESSAGE] });
  return b.state;
}

export function bigState(kind: BigStateKind, size: number): BrokerState {
  return kind === 'deliveries' ? stateWithDeliveries(size) : stateWithRuns(size);
}
