import type { NodeId } from '../../raft/index.js';
import { DELIVER_AT_HEADER } from '../../src/broker/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { BrokerRefusedError, DeadlineExceededError, InternalError, NotLeaderError, ResourceExhaustedError, UnavailableError } from '../../src/transport/index.js';
import type { BrokerMessageView, CheckView, DeliveryView } from '../../src/transport/index.js';
import type { ConsumerEvent, ProducedMessage, TransactionRecord, VisibleObservation } from './broker-checkers.js';
import type { NodeCluster } from './node-cluster.js';
import type { Prng } from './prng.js';
import { SimProcess, SimScheduler } from './sim-scheduler.js';

/**
 * The simulated broker clients: idempotent producers, group consumers and transactional
 * producers, doing what src/client does (retry with the same sequence, ack/nack/let expire,
 * answer check-backs) by calling the services of the nodes' AssembledNode, as the gRPC
 * handlers do. They run on one never-crashing process of the SimWorld and draw every choice
 * from a Prng, so a run stays a pure function of its seed. What they learn goes into the
 * histories broker-checkers.ts reads.
 */

/** The broker settings the simulation uses: short enough that retries, dead letters and check-backs happen within a run. */
export const BROKER_SIM = {
  topic: 'orders',
  group: 'g',
  transactionTopic: 'tx',
  producerGroup: 'txg',
  groupSettings: { ackDeadlineMs: 250, retryDelaysMs: [40, 120], retriesMax: 2 },
  checkDelayMs: 150,
  checkIntervalMs: 100,
  checkMax: 3,
  callTimeoutMs: 1_000,
  /** A client gives up on an answer this long after its node's own timeout (the node may have died). */
  clientGraceMs: 300,
  pollMs: 50,
} as const;

/** The client's own timeout: the node died or never answered; the outcome is unknown. */
export class ClientTimeoutError extends Error {
  override readonly name = 'ClientTimeoutError';
}

export type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Failures after which the same request may succeed later (the real clients' list). */
export function retriable(error: unknown): boolean {
  return (
    error instanceof NotLeaderError ||
    error instanceof UnavailableError ||
    error instanceof DeadlineExceededError ||
    error instanceof ResourceExhaustedError ||
    error instanceof InternalError ||
    error instanceof ClientTimeoutError
  );
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What every simulated client shares: the cluster, the clients' process and scheduler. */
export class ClientEnv {
  readonly scheduler: SimScheduler;

  constructor(readonly cluster: NodeCluster) {
    this.scheduler = new SimScheduler(cluster.world, new SimProcess('broker-clients'));
  }

  get nowMs(): number {
    return this.cluster.nowMs;
  }

  /** The clients' wall clock, on the nodes' scale (their origin, without skew): what a delivery time is written in. */
  get wallClockMs(): number {
    return (this.cluster.options.clockOriginMs ?? 0) + this.cluster.nowMs;
  }

  sleep(ms: number): Promise<void> {
    return this.scheduler.sleep(ms);
  }

  /** The node a client talks to: the leader, or with none known a running node the client picks. */
  target(random: Prng): { readonly id: NodeId; readonly node: AssembledNode } | null {
    const leader = this.cluster.leader();
    if (leader !== null) {
      const node = this.cluster.node(leader).node;
      if (node !== null) return { id: leader, node };
    }
    const up = this.cluster.ids.filter((id) => this.cluster.node(id).node !== null);
    if (up.length === 0) return null;
    const id = random.pick(up);
    const node = this.cluster.node(id).node;
    return node === null ? null : { id, node };
  }

  /** The process that `node` belongs to is still running (not crashed, not restarted since). */
  alive(id: NodeId, node: AssembledNode): boolean {
    return this.cluster.node(id).node === node;
  }

  /** One request to the client's target, ended by the client's own timeout if no answer comes. */
  call<T>(random: Prng, run: (node: AssembledNode) => Promise<T>): Promise<Attempt<T>> {
    const target = this.target(random);
    if (target === null) return Promise.resolve({ ok: false, error: new UnavailableError('no node is running') });
    return this.callNode(target.node, run);
  }

  /** One request to `node`, ended by the client's own timeout if no answer comes (the node may die meanwhile). */
  async callNode<T>(node: AssembledNode, run: (node: AssembledNode) => Promise<T>): Promise<Attempt<T>> {
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<Attempt<T>>((resolve) => {
      timer = this.scheduler.after(BROKER_SIM.callTimeoutMs + BROKER_SIM.clientGraceMs, () => resolve({ ok: false, error: new ClientTimeoutError('no answer') }));
    });
    const answer = (async (): Promise<Attempt<T>> => {
      try {
        return { ok: true, value: await run(node) };
      } catch (error) {
        return { ok: false, error };
      }
    })();
    const outcome = await Promise.race([answer, timeout]);
    timer?.cancel();
    return outcome;
  }

  /**
   * Calls until answered or refused for good, backing off between tries; at most `attemptsMax`
   * tries. `retryAlso` names refusals the caller expects to clear by themselves.
   */
  async retry<T>(random: Prng, attemptsMax: number, run: (node: AssembledNode) => Promise<T>, retryAlso: (error: unknown) => boolean = () => false): Promise<Attempt<T>> {
    let last: Attempt<T> = { ok: false, error: new UnavailableError('never tried') };
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      last = await this.call(random, run);
      if (last.ok || !(retriable(last.error) || retryAlso(last.error))) return last;
      await this.sleep(Math.min(200, 10 * 2 ** Math.min(attempt, 5)) + random.nextInt(20));
    }
    return last;
  }
}

const text = (value: string): Uint8Array => Buffer.from(value, 'latin1');

function message(id: string, headers: BrokerMessageView['headers'] = []): BrokerMessageView {
  return { key: text(id), headers, payload: text(id), timestampMs: 0 };
}

/** A poison message: consumers always fail it, so it ends in the dead-letter topic. */
export function isPoison(id: string): boolean {
  return id.endsWith('!');
}

// ---- producers ---------------------------------------------------------------------------

const PRODUCER = { batchesMax: 400, attemptsMax: 300, everyMinMs: 20, everyMaxMs: 90, inFlightMax: 3 } as const;

interface ProducerBatch {
  readonly messages: ProducedMessage[];
  readonly views: BrokerMessageView[];
}

/**
 * An idempotent producer with batches in flight, in sequence order: it numbers its messages,
 * and retries each batch with the same sequence on every retriable failure (no leader, leader
 * changed, timeout, node gone) until the broker answers, as src/client/producer.ts does. A
 * batch refused as out of order is retried too, unless an earlier batch ended unwritten: the
 * earlier one was not yet written where this one landed in the log (lost with a deposed
 * leader's suffix and retried, say), and this one's turn comes after it. The refusal may
 * arrive after the earlier batch's acknowledgement. A new batch goes out only within PRODUCER.inFlightMax batches of the
 * oldest unanswered one, so a late retry of that one finds it among the batches the broker
 * remembers (BROKER_DEFAULTS.recentBatchesKept), not written "long ago".
 */
export class ProducerClient {
  /** Duplicate answers: retries the broker recognised as already written. */
  duplicatesAnswered = 0;
  private producerId = 0;
  private nextSequence = 0;
  private initializing = false;
  /** The batches sent and not yet answered: first sequence by batch number. */
  private readonly unanswered = new Map<number, number>();
  /** Resolves the run loop's wait for a free slot. */
  private slotFreed: (() => void) | null = null;
  /** Set when the producer can no longer continue its sequence (refused, or gave up): it stops. */
  private stopped = false;
  /** A batch was given up unanswered: later batches refused as out of order are unknown, not refused. */
  private gaveUp = false;

  constructor(
    private readonly env: ClientEnv,
    readonly name: string,
    private readonly random: Prng,
    private readonly produced: ProducedMessage[],
  ) {}

  /** A batch or the producer id request is on its way (the drain waits for it). */
  get busy(): boolean {
    return this.initializing || this.unanswered.size > 0;
  }

  async run(producing: () => boolean): Promise<void> {
    for (let n = 0; n < PRODUCER.batchesMax && !this.stopped && producing(); n++) {
      await this.env.sleep(this.random.between(PRODUCER.everyMinMs, PRODUCER.everyMaxMs));
      // Bounded: every batch in flight is answered or given up after attemptsMax tries.
      while (n - Math.min(n, ...this.unanswered.keys()) >= PRODUCER.inFlightMax) await new Promise<void>((resolve) => (this.slotFreed = resolve));
      if (!producing() || this.stopped) return;
      if (this.producerId === 0 && !(await this.initProducer())) return;
      void this.send(n, this.nextBatch());
    }
  }

  private async initProducer(): Promise<boolean> {
    this.initializing = true;
    const granted = await this.env.retry(this.random, PRODUCER.attemptsMax, (node) => node.broker.initProducer({ timeoutMs: BROKER_SIM.callTimeoutMs }));
    this.initializing = false;
    if (granted.ok) this.producerId = granted.value;
    else this.stopped = true;
    return granted.ok;
  }

  private nextBatch(): ProducerBatch {
    const delayed = this.random.chance(0.1);
    const count = delayed ? 1 : this.random.between(1, 3);
    const messages: ProducedMessage[] = [];
    const views: BrokerMessageView[] = [];
    const deliverAtMs = this.env.wallClockMs + this.random.between(50, 400);
    for (let k = 0; k < count; k++) {
      const sequence = this.nextSequence++;
      const id = `${this.name}-${sequence}${this.random.chance(0.1) ? '!' : ''}`;
      messages.push({ id, producer: this.name, sequence, delayed, state: 'pending', offset: null, refusal: null });
      views.push(message(id, delayed ? [{ name: DELIVER_AT_HEADER, value: text(String(deliverAtMs)) }] : []));
    }
    this.produced.push(...messages);
    return { messages, views };
  }

  /** Sends one batch until the broker answers it, always with the same producer id and sequence. */
  private async send(batchNumber: number, batch: ProducerBatch): Promise<void> {
    const first = batch.messages[0];
    if (first === undefined) return;
    this.unanswered.set(batchNumber, first.sequence);
    const request = { topic: BROKER_SIM.topic, producerId: this.producerId, firstSequence: first.sequence, messages: batch.views };
    // Out of order: an earlier batch had not been written where this one was; unless an
    // earlier batch ended unwritten (the producer then stops), it is written or on its way.
    const earlierOnItsWay = (error: unknown): boolean => error instanceof BrokerRefusedError && error.code === 'outOfOrderSequence' && !this.stopped;
    const answer = await this.env.retry(this.random, PRODUCER.attemptsMax, (node) => node.broker.produce(request, { timeoutMs: BROKER_SIM.callTimeoutMs }), earlierOnItsWay);
    const afterGap = !answer.ok && this.gaveUp && answer.error instanceof BrokerRefusedError && answer.error.code === 'outOfOrderSequence';
    if (answer.ok && answer.value.duplicate) this.duplicatesAnswered++;
    batch.messages.forEach((m, k) => {
      if (answer.ok) {
        m.state = 'acked';
        m.offset = answer.value.deliverAtMs > 0 ? null : answer.value.firstOffset + k;
      } else if (retriable(answer.error) || afterGap) {
        m.state = 'unknown';
      } else {
        m.state = 'refused';
        m.refusal = describeError(answer.error);
      }
    });
    // Without an answer the next batch's sequence could not be right; the real producer would retry on.
    if (!answer.ok) {
      this.stopped = true;
      this.gaveUp ||= retriable(answer.error);
    }
    this.unanswered.delete(batchNumber);
    this.slotFreed?.();
    this.slotFreed = null;
  }
}

// ---- consumers ---------------------------------------------------------------------------

const CONSUMER = { sessionsMax: 400, prefetch: 8, ackFlushMs: 20, ackAttemptsMax: 300, sessionMinMs: 300, sessionMaxMs: 2_000 } as const;

/**
 * A group consumer: opens a consume stream on the leader, and for each delivery acks, nacks
 * or lets the ack deadline pass (poison messages are always failed). When its stream's node
 * dies or stops leading it reconnects under a new consumer id, as a client whose connection
 * broke; after a while it also ends a session itself, by leaving cleanly (naming the
 * deliveries it handed to its application and did not finish) or by dropping the stream.
 * Draining (after healing), it acks everything but poison.
 */
export class ConsumerClient {
  draining = false;
  private pendingAcks: { consumer: string; offset: number }[] = [];
  private flushing = false;
  private acksInFlight = 0;
  /** Per session (consumer id): deliveries handed to the application and neither acked nor nacked, by offset. */
  private readonly seen = new Map<string, Map<number, number>>();

  constructor(
    private readonly env: ClientEnv,
    readonly name: string,
    private readonly random: Prng,
    private readonly events: ConsumerEvent[],
  ) {}

  /** Acks are gathered or on their way (the drain waits for their answers). */
  get busy(): boolean {
    return this.flushing || this.acksInFlight > 0;
  }

  async run(consuming: () => boolean): Promise<void> {
    for (let session = 0; session < CONSUMER.sessionsMax && consuming(); session++) {
      await this.env.sleep(session === 0 ? 0 : this.random.between(20, 120));
      const target = this.env.target(this.random);
      if (target === null) continue;
      const consumerId = `${this.name}.${session}`;
      const controller = new AbortController();
      const input = {
        group: BROKER_SIM.group,
        topic: BROKER_SIM.topic,
        consumerId,
        prefetch: CONSUMER.prefetch,
        start: { kind: 'earliest' },
        settings: BROKER_SIM.groupSettings,
        bytesMax: 64 * 1024,
      } as const;
      let ended = false;
      target.node.groups.consume(input, (deliveries) => this.received(consumerId, deliveries), controller.signal).then(
        () => (ended = true),
        () => (ended = true),
      );
      const polls = Math.ceil(this.random.between(CONSUMER.sessionMinMs, CONSUMER.sessionMaxMs) / BROKER_SIM.pollMs);
      // Bounded by the session's polls: the stream ends, its node dies, or the session is over.
      for (let k = 0; k < polls && !ended && consuming() && this.env.alive(target.id, target.node); k++) await this.env.sleep(BROKER_SIM.pollMs);
      // A dead node's code must not run again: only a live node's stream is ended (leave, or cancel: it then releases).
      if (!ended && this.env.alive(target.id, target.node)) await this.endSession(target.node, consumerId, controller);
      this.seen.delete(consumerId);
    }
  }

  private async endSession(node: AssembledNode, consumerId: string, controller: AbortController): Promise<void> {
    if (this.random.chance(0.5)) {
      const seen = [...(this.seen.get(consumerId) ?? new Map<number, number>())].map(([offset, delivery]) => ({ offset, delivery }));
      await this.env.callNode(node, (n) => n.groups.leave({ group: BROKER_SIM.group, consumerId, seen }, { timeoutMs: BROKER_SIM.callTimeoutMs }));
    }
    controller.abort();
  }

  private received(consumer: string, deliveries: readonly DeliveryView[]): Promise<void> {
    for (const d of deliveries) {
      const id = Buffer.from(d.message.payload).toString('latin1');
      this.events.push({ kind: 'delivered', consumer, offset: d.offset, delivery: d.delivery, id });
      this.env.scheduler.after(this.random.between(0, 30), () => this.handle(consumer, d.offset, d.delivery, id));
    }
    return Promise.resolve();
  }

  private handle(consumer: string, offset: number, delivery: number, id: string): void {
    const roll = this.random.nextInt(100);
    const finish = isPoison(id) ? (this.draining || roll < 70 ? 'nack' : null) : this.draining || roll < 65 ? 'ack' : roll < 75 ? 'nack' : null;
    if (finish === 'ack') this.ack(consumer, offset);
    else if (finish === 'nack') this.nack(offset, delivery);
    else {
      // Handed to the application, which lets its ack deadline pass.
      const session = this.seen.get(consumer) ?? new Map<number, number>();
      session.set(offset, delivery);
      this.seen.set(consumer, session);
    }
  }

  private ack(consumer: string, offset: number): void {
    this.pendingAcks.push({ consumer, offset });
    if (!this.flushing) {
      this.flushing = true;
      this.env.scheduler.after(CONSUMER.ackFlushMs, () => void this.flush());
    }
  }

  /** Sends the acks gathered meanwhile in one request; an ack that fails is redelivered later. */
  private async flush(): Promise<void> {
    const acks = this.pendingAcks;
    this.pendingAcks = [];
    this.flushing = false;
    const offsets = acks.map((a) => a.offset);
    this.acksInFlight++;
    // Retried until answered: an attempt whose answer was lost may have finished the offsets,
    // which then never come back, and a repeated ack is answered 'alreadyAcked'.
    const answer = await this.env.retry(this.random, CONSUMER.ackAttemptsMax, (node) => node.groups.ack(BROKER_SIM.group, offsets, { timeoutMs: BROKER_SIM.callTimeoutMs }));
    this.acksInFlight--;
    if (!answer.ok) return;
    answer.value.forEach((outcome, k) => {
      const a = acks[k];
      if (a !== undefined && outcome !== 'notDelivered') this.events.push({ kind: 'acked', consumer: a.consumer, offset: a.offset });
    });
  }

  private nack(offset: number, delivery: number): void {
    void this.env.call(this.random, (node) => node.groups.nack({ group: BROKER_SIM.group, offset, delivery, reason: 'poison', delayMs: -1 }, { timeoutMs: BROKER_SIM.callTimeoutMs }));
  }
}

// ---- transactions ------------------------------------------------------------------------

/** A check stream the transactional producer holds open on a node it took for the leader. */
interface CheckStream {
  readonly id: NodeId;
  readonly node: AssembledNode;
  close: () => void;
  ended: boolean;
}

/** What the producer's local transaction decided, and who tells the broker: the producer, a check-back, or nobody. */
type Intent = 'commit' | 'rollback' | 'commitOnCheck' | 'rollbackOnCheck' | 'forget';
const INTENTS: readonly Intent[] = ['commit', 'commit', 'commit', 'rollback', 'rollback', 'commitOnCheck', 'rollbackOnCheck', 'forget'];
const TRANSACTIONS = { max: 200, openMax: 3, attemptsMax: 300, everyMinMs: 60, everyMaxMs: 200, watchesMax: 20_000 } as const;

/**
 * A transactional producer with up to TRANSACTIONS.openMax transactions open at once: for
 * each it sends a half message, then commits or rolls back, or leaves the decision to the
 * broker's check-back (which it answers on a check stream it keeps open on the leader), or
 * forgets it (the broker rolls it back after its last check). It also watches the
 * transactions' topic on random nodes, recording every message it sees visible.
 */
export class TransactionClient {
  /** Check-backs this producer answered. */
  checksAnswered = 0;
  private readonly intents = new Map<string, { readonly intent: Intent; readonly record: TransactionRecord }>();
  private readonly cursors = new Map<AssembledNode, number>();
  /** Transactions begun and not yet through their half message and the producer's own decision. */
  private open = 0;
  /** Resolves the run loop's wait for room under TRANSACTIONS.openMax. */
  private roomFreed: (() => void) | null = null;

  constructor(
    private readonly env: ClientEnv,
    readonly name: string,
    private readonly random: Prng,
    private readonly transactions: TransactionRecord[],
    private readonly observations: VisibleObservation[],
  ) {}

  /** A transaction's half or its decision is on its way (the drain waits for it). */
  get busy(): boolean {
    return this.open > 0;
  }

  /** Begins a transaction every so often, up to TRANSACTIONS.openMax at once (an application's concurrent work). */
  async run(active: () => boolean): Promise<void> {
    for (let n = 0; n < TRANSACTIONS.max && active(); n++) {
      await this.env.sleep(this.random.between(TRANSACTIONS.everyMinMs, TRANSACTIONS.everyMaxMs));
      // Bounded: every transaction's calls end after attemptsMax tries.
      while (this.open >= TRANSACTIONS.openMax) await new Promise<void>((resolve) => (this.roomFreed = resolve));
      if (!active()) return;
      this.open++;
      void this.transaction(`${this.name}-${n}`).finally(() => {
        this.open--;
        this.roomFreed?.();
        this.roomFreed = null;
      });
    }
  }

  private async transaction(txId: string): Promise<void> {
    const count = this.random.between(1, 3);
    const record: TransactionRecord = { txId, messageIds: Array.from({ length: count }, (_, k) => `${txId}.${k}`), halfAcked: false, learnt: null, commitSentAtMs: null };
    const intent = this.random.pick(INTENTS);
    this.transactions.push(record);
    this.intents.set(txId, { intent, record });
    const half = {
      txId,
      producerGroup: BROKER_SIM.producerGroup,
      topic: BROKER_SIM.transactionTopic,
      messages: record.messageIds.map((id) => message(id)),
      checkDelayMs: BROKER_SIM.checkDelayMs,
      checkIntervalMs: BROKER_SIM.checkIntervalMs,
      checkMax: BROKER_SIM.checkMax,
    };
    const prepared = await this.env.retry(this.random, TRANSACTIONS.attemptsMax, (node) => node.transactions.sendHalf(half, { timeoutMs: BROKER_SIM.callTimeoutMs }));
    if (!prepared.ok) return; // the check-back (if it was written) decides
    record.halfAcked = true;
    if (intent === 'commit' || intent === 'rollback') await this.end(record, intent, 'producer', TRANSACTIONS.attemptsMax);
  }

  private async end(record: TransactionRecord, outcome: 'commit' | 'rollback', source: 'producer' | 'checkBack', attemptsMax: number): Promise<void> {
    if (outcome === 'commit') record.commitSentAtMs ??= this.env.nowMs;
    const answer = await this.env.retry(this.random, attemptsMax, (node) => node.transactions.endTransaction({ txId: record.txId, outcome, source }, { timeoutMs: BROKER_SIM.callTimeoutMs }));
    if (answer.ok) record.learnt = answer.value.state;
    // Refused because it was decided the other way (its last check-back passed unanswered, say).
    else if (answer.error instanceof BrokerRefusedError && answer.error.code === 'transactionDecided') record.learnt = outcome === 'commit' ? 'rolledBack' : 'committed';
  }

  /** Keeps one check stream open on the leader and answers each check-back from the local decision. */
  async answerChecks(active: () => boolean): Promise<void> {
    let stream: CheckStream | null = null;
    // Bounded by watchesMax polls.
    for (let k = 0; k < TRANSACTIONS.watchesMax && active(); k++) {
      if (stream !== null && (stream.ended || !this.env.alive(stream.id, stream.node))) {
        if (this.env.alive(stream.id, stream.node)) stream.close();
        stream = null;
      }
      if (stream === null) stream = this.subscribe();
      this.observe();
      await this.env.sleep(BROKER_SIM.pollMs);
    }
    if (stream !== null && this.env.alive(stream.id, stream.node)) stream.close();
  }

  private subscribe(): CheckStream | null {
    const leader = this.env.cluster.leader();
    const node = leader === null ? null : this.env.cluster.node(leader).node;
    if (leader === null || node === null) return null;
    const stream: CheckStream = { id: leader, node, close: () => undefined, ended: false };
    try {
      stream.close = node.transactions.subscribeChecks(BROKER_SIM.producerGroup, {
        push: (check) => {
          this.env.scheduler.soon(() => void this.answer(check));
          return true;
        },
        end: () => {
          stream.ended = true;
        },
      });
    } catch {
      return null; // not the leader after all
    }
    return stream;
  }

  private async answer(check: CheckView): Promise<void> {
    const known = this.intents.get(check.txId);
    if (known === undefined || known.intent === 'forget') return;
    const outcome = known.intent === 'commit' || known.intent === 'commitOnCheck' ? 'commit' : 'rollback';
    this.checksAnswered++;
    await this.end(known.record, outcome, 'checkBack', 1);
  }

  /** Reads what a random running node shows of the transactions' topic since it was last read there. */
  private observe(): void {
    const up = this.env.cluster.ids.filter((id) => this.env.cluster.node(id).node !== null);
    if (up.length === 0) return;
    const id = this.random.pick(up);
    const node = this.env.cluster.node(id).node;
    if (node === null) return;
    let from = this.cursors.get(node) ?? 0;
    // Bounded: each page moves `from` on by at least one message.
    for (let page = 0; page < 100; page++) {
      let fetched;
      try {
        fetched = node.broker.fetch(BROKER_SIM.transactionTopic, from, 64 * 1024);
      } catch {
        return; // the topic does not exist there yet
      }
      for (const m of fetched.messages) this.observations.push({ atMs: this.env.nowMs, node: id, id: Buffer.from(m.payload).toString('latin1') });
      if (fetched.messages.length === 0) break;
      from = fetched.nextOffset;
    }
    this.cursors.set(node, from);
  }
}
