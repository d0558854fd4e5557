/**
 * End-of-run checkers for the broker workload (broker-workload.ts). Each is a pure function
 * of plain data: what the simulated clients recorded (their history) and what every node
 * holds once faults have healed (final state). So a test can hand one a history that breaks
 * it and see the violation (broker-checkers.test.ts), and the workload feeds it the real one.
 *
 * Messages are identified by their payload text, which the workload makes unique per run.
 */

export const BrokerInvariant = {
  /** Every message acknowledged to a producer is in its topic exactly once, at the acknowledged offset; nothing is written twice. */
  producedOnce: 'producedOnce',
  /** A producer's messages (not delayed) sit in the topic in the order of their sequence numbers. */
  producerOrder: 'producerOrder',
  /** Every acknowledged message is delivered until a consumer acks it or it is dead-lettered; the group ends drained. */
  deliveredUntilAcked: 'deliveredUntilAcked',
  /** A transaction's messages are all visible (committed) or none (rolled back), as its producer was told. */
  transactionAtomic: 'transactionAtomic',
  /** No message of a transaction is visible before its commit was sent. */
  halfInvisible: 'halfInvisible',
} as const;
export type BrokerInvariant = (typeof BrokerInvariant)[keyof typeof BrokerInvariant];

export interface BrokerViolation {
  readonly invariant: BrokerInvariant;
  readonly message: string;
}

/** The checkers' verdict, thrown by the workload when a run breaks one. */
export class BrokerCheckFailed extends Error {
  override readonly name = 'BrokerCheckFailed';
  constructor(
    readonly invariant: BrokerInvariant,
    detail: string,
    readonly atMs: number,
  ) {
    super(`${invariant} violated at t=${atMs}ms: ${detail}`);
  }
}

// ---- producers ---------------------------------------------------------------------------

/**
 * acked: the broker answered (offset known unless delayed); unknown: no answer before the
 * producer gave up, so it may or may not be written; refused: the broker refused a retry of
 * a batch it should have taken or recognised (an idempotence failure in itself).
 */
export type ProducedState = 'pending' | 'acked' | 'unknown' | 'refused';

/** One message an idempotent producer sent, and what it learnt of it. */
export interface ProducedMessage {
  readonly id: string;
  readonly producer: string;
  readonly sequence: number;
  /** Sent with a delivery time: it gets its offset when due, so the acknowledgement has none. */
  readonly delayed: boolean;
  state: ProducedState;
  /** The offset acknowledged (acked and not delayed), else null. */
  offset: number | null;
  /** Why it was refused, for the report. */
  refusal: string | null;
}

/** One node's final copy of a topic: message ids by offset (none below firstOffset). */
export interface TopicContents {
  readonly node: string;
  /** Offsets below it were deleted by retention on this node: their messages cannot be checked here. */
  readonly firstOffset: number;
  readonly ids: readonly string[];
}

/** Where each id sits in a topic (every position, so duplicates show). */
function positions(ids: readonly string[]): Map<string, number[]> {
  const at = new Map<string, number[]>();
  ids.forEach((id, offset) => at.set(id, [...(at.get(id) ?? []), offset]));
  return at;
}

/** Exactly-once and per-producer order of the produced messages, on every node's copy of the topic. */
export function checkProduced(produced: readonly ProducedMessage[], topics: readonly TopicContents[]): BrokerViolation[] {
  const out: BrokerViolation[] = [];
  const once = (message: string): void => void out.push({ invariant: BrokerInvariant.producedOnce, message });
  for (const m of produced) if (m.state === 'refused') once(`producer ${m.producer} was refused sequence ${m.sequence} (${m.id}) on a retry: ${m.refusal ?? ''}`);
  const sent = new Set(produced.map((m) => m.id));
  for (const topic of topics) {
    const at = positions(topic.ids);
    for (const [id, offsets] of at) {
      if (!sent.has(id)) once(`${topic.node} holds ${id} at offset ${offsets.join(',')}, which no producer sent`);
      else if (offsets.length > 1) once(`${topic.node} holds ${id} ${offsets.length} times (offsets ${offsets.join(',')}): a producer duplicate`);
    }
    for (const m of produced) {
      if (m.state !== 'acked') continue;
      const offsets = at.get(m.id) ?? [];
      if (offsets.length === 0 && topic.firstOffset > 0 && (m.offset === null || m.offset < topic.firstOffset)) continue; // deleted by retention
      if (offsets.length === 0) once(`${m.id} was acknowledged to producer ${m.producer}${m.offset === null ? '' : ` at offset ${m.offset}`} but ${topic.node} does not hold it`);
      else if (m.offset !== null && !offsets.includes(m.offset)) once(`${m.id} was acknowledged at offset ${m.offset} but ${topic.node} holds it at ${offsets.join(',')}`);
    }
    out.push(...checkOrder(produced, topic, at));
  }
  return out;
}

function checkOrder(produced: readonly ProducedMessage[], topic: TopicContents, at: ReadonlyMap<string, readonly number[]>): BrokerViolation[] {
  const out: BrokerViolation[] = [];
  const last = new Map<string, { sequence: number; offset: number }>();
  const bySequence = [...produced].filter((m) => !m.delayed).sort((a, b) => a.sequence - b.sequence);
  for (const m of bySequence) {
    const offset = at.get(m.id)?.[0];
    if (offset === undefined) continue;
    const before = last.get(m.producer);
    if (before !== undefined && before.offset > offset) {
      out.push({ invariant: BrokerInvariant.producerOrder, message: `on ${topic.node}, producer ${m.producer}'s sequence ${m.sequence} (${m.id}) is at offset ${offset}, before sequence ${before.sequence} at ${before.offset}` });
    }
    last.set(m.producer, { sequence: m.sequence, offset });
  }
  return out;
}

// ---- consumer groups ---------------------------------------------------------------------

/** What a consumer saw: a delivery pushed to it, or an ack the broker confirmed ('acked' or 'alreadyAcked'). */
export type ConsumerEvent =
  | { readonly kind: 'delivered'; readonly consumer: string; readonly offset: number; readonly delivery: number; readonly id: string }
  | { readonly kind: 'acked'; readonly consumer: string; readonly offset: number };

/** A copy in the group's dead-letter topic, read back through its headers. */
export interface DeadLetterCopy {
  readonly node: string;
  /** The offset of the original in the group's topic. */
  readonly offset: number;
  readonly id: string;
  readonly deliveries: number;
}

/** The group as one node describes it at the end. */
export interface GroupFinal {
  readonly node: string;
  readonly committedOffset: number;
  readonly topicEnd: number;
  readonly inflight: number;
  readonly waiting: number;
  readonly dead: number;
}

export interface DeliveryHistory {
  readonly produced: readonly ProducedMessage[];
  /** The group's topic as the nodes hold it at the end. */
  readonly topics: readonly TopicContents[];
  readonly events: readonly ConsumerEvent[];
  readonly deadLetters: readonly DeadLetterCopy[];
  readonly groups: readonly GroupFinal[];
  readonly retriesMax: number;
}

/**
 * Every acknowledged message was acked by a consumer or dead-lettered (none lost); what was
 * delivered is what the topic holds at that offset; a message is dead-lettered at most once,
 * only after every retry; and every node's group is drained.
 */
export function checkDeliveries(history: DeliveryHistory): BrokerViolation[] {
  const out: BrokerViolation[] = [];
  const fail = (message: string): void => void out.push({ invariant: BrokerInvariant.deliveredUntilAcked, message });
  const reference = history.topics[0];
  if (reference === undefined) return out;
  const acked = new Set<number>();
  const delivered = new Set<string>();
  for (const e of history.events) {
    if (e.kind === 'acked') {
      acked.add(e.offset);
      if (!delivered.has(`${e.consumer}/${e.offset}`)) fail(`consumer ${e.consumer} had offset ${e.offset} acked without its delivery`);
      continue;
    }
    delivered.add(`${e.consumer}/${e.offset}`);
    if (e.offset < reference.firstOffset) continue; // deleted by retention since
    const held = reference.ids[e.offset];
    if (held !== e.id) fail(`consumer ${e.consumer} got ${e.id} as offset ${e.offset} (delivery ${e.delivery}), where ${reference.node} holds ${held ?? 'nothing'}`);
  }
  const dead = new Map<string, DeadLetterCopy[]>();
  for (const copy of history.deadLetters) {
    const key = `${copy.node}/${copy.offset}`;
    dead.set(key, [...(dead.get(key) ?? []), copy]);
    if (copy.offset >= reference.firstOffset && reference.ids[copy.offset] !== copy.id) fail(`${copy.node}'s dead-letter copy of offset ${copy.offset} is ${copy.id}, the topic holds ${reference.ids[copy.offset] ?? 'nothing'}`);
    if (copy.deliveries <= history.retriesMax) fail(`offset ${copy.offset} was dead-lettered after ${copy.deliveries} deliveries; it may be delivered ${history.retriesMax + 1} times`);
  }
  for (const [key, copies] of dead) if (copies.length > 1) fail(`offset ${key} was dead-lettered ${copies.length} times`);
  const deadOffsets = new Set(history.deadLetters.filter((c) => c.node === reference.node).map((c) => c.offset));
  const at = positions(reference.ids);
  for (const m of history.produced) {
    if (m.state !== 'acked') continue;
    // A message retention deleted is known by the offset its producer was told.
    const offset = at.get(m.id)?.[0] ?? (m.offset !== null && m.offset < reference.firstOffset ? m.offset : undefined);
    if (offset === undefined) continue; // checkProduced reports it
    if (!acked.has(offset) && !deadOffsets.has(offset)) {
      const deliveries = history.events.filter((e) => e.kind === 'delivered' && e.offset === offset).length;
      fail(`${m.id} (offset ${offset}) was acknowledged to its producer but never acked by a consumer nor dead-lettered (delivered ${deliveries} times)`);
    }
  }
  for (const g of history.groups) {
    if (g.committedOffset !== g.topicEnd || g.inflight + g.waiting + g.dead > 0) {
      fail(`the group on ${g.node} is not drained: committed ${g.committedOffset} of ${g.topicEnd}, ${g.inflight} in flight, ${g.waiting} waiting, ${g.dead} dead`);
    }
  }
  return out;
}

// ---- transactions ------------------------------------------------------------------------

/** One transaction as its producer knows it. */
export interface TransactionRecord {
  readonly txId: string;
  readonly messageIds: readonly string[];
  /** The broker answered the half message. */
  halfAcked: boolean;
  /** The decision the broker answered to this producer (its own end, or a check-back's answer). */
  learnt: 'committed' | 'rolledBack' | null;
  /** Virtual time a commit was first sent for it (by the producer or answering a check-back). */
  commitSentAtMs: number | null;
}

/** A transaction message a client saw visible in the topic, during the run. */
export interface VisibleObservation {
  readonly atMs: number;
  readonly node: string;
  readonly id: string;
}

export interface TransactionHistory {
  readonly transactions: readonly TransactionRecord[];
  readonly observations: readonly VisibleObservation[];
  /** The transactions' topic at the end, on every node. */
  readonly topics: readonly TopicContents[];
  /** Each node's final state of every transaction it remembers. */
  readonly states: readonly { readonly node: string; readonly state: ReadonlyMap<string, 'prepared' | 'committed' | 'rolledBack'> }[];
}

/** All or nothing, as decided and as told; decided everywhere; never visible before its commit was sent. */
export function checkTransactions(history: TransactionHistory): BrokerViolation[] {
  const out: BrokerViolation[] = [];
  const atomic = (message: string): void => void out.push({ invariant: BrokerInvariant.transactionAtomic, message });
  const owner = new Map<string, TransactionRecord>();
  for (const tx of history.transactions) for (const id of tx.messageIds) owner.set(id, tx);
  for (const topic of history.topics) {
    const at = positions(topic.ids);
    for (const id of at.keys()) if (!owner.has(id)) atomic(`${topic.node} holds ${id}, which no transaction sent`);
    const states = history.states.find((s) => s.node === topic.node)?.state ?? new Map<string, string>();
    for (const tx of history.transactions) {
      const offsets = tx.messageIds.map((id) => at.get(id) ?? []);
      const visible = offsets.filter((o) => o.length > 0).length;
      const state = states.get(tx.txId);
      if (offsets.some((o) => o.length > 1)) atomic(`${topic.node} holds a message of ${tx.txId} more than once`);
      // Retention may have deleted a committed transaction's messages, or the first of them.
      const deletedSome = topic.firstOffset > 0 && (visible === 0 || Math.min(...offsets.flatMap((o) => o.slice(0, 1))) === topic.firstOffset);
      if (deletedSome) continue;
      if (visible !== 0 && visible !== tx.messageIds.length) atomic(`${topic.node} shows ${visible} of ${tx.messageIds.length} messages of ${tx.txId}`);
      const shown = visible === tx.messageIds.length;
      if (visible > 0 && !contiguous(offsets)) atomic(`${topic.node} holds ${tx.txId}'s messages apart, not together`);
      if (tx.halfAcked && state === undefined) atomic(`${topic.node} does not know ${tx.txId}, whose half message was acknowledged`);
      if (state === 'prepared') atomic(`${tx.txId} is still undecided on ${topic.node} after healing`);
      if (state === 'committed' && !shown) atomic(`${tx.txId} is committed on ${topic.node} but ${visible} of its ${tx.messageIds.length} messages are visible`);
      if ((state === 'rolledBack' || state === undefined) && visible > 0) atomic(`${tx.txId} is ${state ?? 'unknown'} on ${topic.node} but its messages are visible`);
      if (tx.learnt === 'committed' && !shown) atomic(`${tx.txId}'s producer was told committed but ${topic.node} shows ${visible} of its messages`);
      if (tx.learnt === 'rolledBack' && visible > 0) atomic(`${tx.txId}'s producer was told rolled back but ${topic.node} shows its messages`);
    }
  }
  for (const seen of history.observations) {
    const tx = owner.get(seen.id);
    if (tx === undefined) continue; // reported above if it stayed
    if (tx.commitSentAtMs === null || tx.commitSentAtMs > seen.atMs) {
      const sent = tx.commitSentAtMs === null ? 'no commit was ever sent' : `its commit was sent at ${tx.commitSentAtMs}ms`;
      out.push({ invariant: BrokerInvariant.halfInvisible, message: `${seen.node} showed ${seen.id} of ${tx.txId} at ${seen.atMs}ms; ${sent}` });
    }
  }
  return out;
}

function contiguous(offsets: readonly (readonly number[])[]): boolean {
  const firsts = offsets.map((o) => o[0] ?? -1).sort((a, b) => a - b);
  return firsts.every((o, k) => k === 0 || o === (firsts[k - 1] ?? 0) + 1);
}
