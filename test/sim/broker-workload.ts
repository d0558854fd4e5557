import type { NodeId } from '../../raft/index.js';
import { DeadLetterHeader, decodeCommand } from '../../src/broker/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { BrokerRefusedError } from '../../src/transport/index.js';
import {
  BrokerCheckFailed,
  BrokerInvariant,
  checkDeliveries,
  checkProduced,
  checkTransactions,
  type ConsumerEvent,
  type DeadLetterCopy,
  type GroupFinal,
  type ProducedMessage,
  type TopicContents,
  type TransactionRecord,
  type VisibleObservation,
} from './broker-checkers.js';
import { BROKER_SIM, ClientEnv, describeError, ConsumerClient, ProducerClient, TransactionClient } from './broker-clients.js';
import type { NodeCluster } from './node-cluster.js';
import type { Prng } from './prng.js';

/**
 * The broker workload of a simulated run: idempotent producers (some messages delayed, some
 * poison), a consumer group whose consumers ack, nack and let deliveries expire (so retry
 * levels and the dead-letter topic come into play), and transactional producers (commit,
 * rollback, check-back, forgotten halves), all through the production services of the
 * nodes NodeCluster runs, beside whatever else the run does.
 *
 * `start()` before the run; after the run has healed (NodeCluster.checkRecovery),
 * `finish()` lets the clients drain (producers finish what they sent, consumers ack
 * everything but poison, transactions get decided), then reads every node's final state and
 * runs the checkers of broker-checkers.ts, throwing BrokerCheckFailed at the first violation.
 */
export interface BrokerWorkloadOptions {
  readonly producers?: number;
  readonly consumers?: number;
  readonly transactionalProducers?: number;
}

export interface BrokerWorkloadStats {
  /** Messages acknowledged to producers, and of those delayed ones. */
  readonly acked: number;
  readonly delayed: number;
  /** Produce retries the broker answered as duplicates (an earlier attempt had written the batch). */
  readonly duplicatesAnswered: number;
  /** Deliveries after the first of a message (nacks, missed deadlines, broken streams). */
  readonly redeliveries: number;
  /** Offsets a consumer's ack was confirmed for. */
  readonly consumerAcks: number;
  readonly deadLettered: number;
  readonly committed: number;
  readonly rolledBack: number;
  readonly checksAnswered: number;
  /** Transaction messages seen visible during the run (each checked against its commit). */
  readonly visibleSeen: number;
}

const SETUP_ATTEMPTS_MAX = 1_000;
const FETCH_PAGES_MAX = 10_000;

export class BrokerWorkload {
  readonly produced: ProducedMessage[] = [];
  readonly events: ConsumerEvent[] = [];
  readonly transactions: TransactionRecord[] = [];
  readonly observations: VisibleObservation[] = [];
  private readonly env: ClientEnv;
  private readonly producers: ProducerClient[];
  private readonly consumers: ConsumerClient[];
  private readonly transactionClients: TransactionClient[];
  private ready = false;
  /** Why creating the topics failed for good, for the report. */
  private setupFailure: string | null = null;
  private deadLettered = 0;
  /** Every dead-letter copy committed, by the log index of its entry. */
  private readonly deadLetterEntries = new Map<number, Omit<DeadLetterCopy, 'node'>>();

  constructor(
    private readonly cluster: NodeCluster,
    private readonly random: Prng,
    options: BrokerWorkloadOptions = {},
  ) {
    this.env = new ClientEnv(cluster);
    this.producers = Array.from({ length: options.producers ?? 2 }, (_, k) => new ProducerClient(this.env, `p${k + 1}`, random.fork(), this.produced));
    this.consumers = Array.from({ length: options.consumers ?? 2 }, (_, k) => new ConsumerClient(this.env, `c${k + 1}`, random.fork(), this.events));
    // Dead-letter copies as the log commits them (by log index: a restart applies some again,
    // and a node that installed a snapshot skipped them), since retention may delete them from
    // the dead-letter topic before the end.
    cluster.onApply((_node, entry, result) => {
      if (result?.kind !== 'deadLettered' || this.deadLetterEntries.has(entry.index)) return;
      const command = decodeCommand(entry.payload.subarray(1)).command;
      if (command.kind !== 'deadLetter') return;
      const header = (name: string): number => Number(Buffer.from(command.message.headers.find((h) => h.name === name)?.value ?? []).toString('latin1'));
      this.deadLetterEntries.set(entry.index, { offset: command.offset, id: Buffer.from(command.message.payload).toString('latin1'), deliveries: header(DeadLetterHeader.deliveries) });
    });
    this.transactionClients = Array.from(
      { length: options.transactionalProducers ?? 1 },
      (_, k) => new TransactionClient(this.env, `t${k + 1}`, random.fork(), this.transactions, this.observations),
    );
  }

  /** Creates the topics (retrying through failovers), then starts every client. */
  start(): void {
    this.env.scheduler.soon(() => void this.setUp());
  }

  private async setUp(): Promise<void> {
    for (const topic of [BROKER_SIM.topic, BROKER_SIM.transactionTopic]) {
      const created = await this.env.retry(this.random, SETUP_ATTEMPTS_MAX, (node) => node.broker.createTopic(topic, 0, { timeoutMs: BROKER_SIM.callTimeoutMs }));
      // A retry of a creation that was written meets the topic it made.
      if (!created.ok && !(created.error instanceof BrokerRefusedError && created.error.code === 'alreadyExists')) {
        this.setupFailure = `creating topic ${topic}: ${describeError(created.error)}`;
        return;
      }
    }
    this.ready = true;
    const producing = (): boolean => !this.cluster.recovering;
    for (const p of this.producers) void p.run(producing);
    for (const c of this.consumers) void c.run(() => true);
    for (const t of this.transactionClients) {
      void t.run(producing);
      void t.answerChecks(() => true);
    }
  }

  /**
   * After healing: lets the clients drain for at most `boundMs` (a violation if they cannot:
   * something acknowledged is stuck), then checks every node's final state.
   */
  async finish(boundMs: number): Promise<void> {
    for (const c of this.consumers) c.draining = true;
    const drained = await this.cluster.runUntil(() => this.drained(), boundMs);
    if (!drained) this.fail(BrokerInvariant.deliveredUntilAcked, `the broker did not drain within ${boundMs}ms of healing: ${this.pendingWork()}`);
    const violations = this.check();
    const first = violations[0];
    if (first !== undefined) this.fail(first.invariant, violations.length > 1 ? `${first.message} (and ${violations.length - 1} more)` : first.message);
  }

  stats(): BrokerWorkloadStats {
    return {
      acked: this.produced.filter((m) => m.state === 'acked').length,
      delayed: this.produced.filter((m) => m.state === 'acked' && m.delayed).length,
      duplicatesAnswered: this.producers.reduce((sum, p) => sum + p.duplicatesAnswered, 0),
      redeliveries: this.events.filter((e) => e.kind === 'delivered' && e.delivery > 1).length,
      consumerAcks: new Set(this.events.filter((e) => e.kind === 'acked').map((e) => e.offset)).size,
      deadLettered: this.deadLettered,
      committed: this.transactions.filter((t) => t.learnt === 'committed').length,
      rolledBack: this.transactions.filter((t) => t.learnt === 'rolledBack').length,
      checksAnswered: this.transactionClients.reduce((sum, t) => sum + t.checksAnswered, 0),
      visibleSeen: this.observations.length,
    };
  }

  private fail(invariant: BrokerInvariant, detail: string): never {
    throw new BrokerCheckFailed(invariant, detail, this.cluster.nowMs);
  }

  /**
   * Nothing is left to do: no client has a request on its way, and the leader's broker has
   * nothing due (no delayed message, delivery, retry or undecided transaction) and every
   * offset of the group finished, applied on every node. Checked after every task, so cheap.
   */
  private drained(): boolean {
    if (!this.ready || [...this.producers, ...this.consumers, ...this.transactionClients].some((c) => c.busy)) return false;
    const leader = this.cluster.leader();
    const node = leader === null ? null : this.cluster.node(leader).node;
    if (node === null) return false;
    const broker = node.stateMachine.broker;
    if (broker.nextDueMs() !== Infinity) return false;
    const group = broker.group(BROKER_SIM.group);
    const end = broker.topic(BROKER_SIM.topic)?.nextOffset ?? 0;
    if (group === undefined ? end > 0 : group.committedOffset !== end || group.dead > 0) return false;
    const applied = broker.lastApplied;
    return this.cluster.ids.every((id) => (this.cluster.node(id).node?.stateMachine.broker.lastApplied ?? -1) >= applied);
  }

  private pendingWork(): string {
    const leader = this.cluster.leader();
    const node = leader === null ? null : this.cluster.node(leader).node;
    const busy = [...this.producers, ...this.consumers, ...this.transactionClients].filter((c) => c.busy).map((c) => c.name);
    if (node === null) return `no leader; busy clients: ${busy.join(',') || 'none'}`;
    const broker = node.stateMachine.broker;
    const group = broker.group(BROKER_SIM.group);
    const g = group === undefined ? 'no group' : `group committed ${group.committedOffset} of ${broker.topic(BROKER_SIM.topic)?.nextOffset ?? 0}, inflight ${group.inflight}, waiting ${group.waiting}, dead ${group.dead}`;
    return `leader ${leader ?? '?'}: ${g}, ${broker.undecidedTransactions().length} undecided transactions, next due ${broker.nextDueMs()} (log clock ${broker.nowMs}); busy clients: ${busy.join(',') || 'none'}; ${this.ready ? 'topics created' : `topics not created (${this.setupFailure ?? 'still trying'})`}`;
  }

  /** Every checker over the clients' history and every node's final state. */
  private check(): ReturnType<typeof checkProduced> {
    const nodes = this.cluster.ids.flatMap((id) => {
      const node = this.cluster.node(id).node;
      return node === null ? [] : [{ id, node }];
    });
    const orders = nodes.map(({ id, node }) => contents(id, node, BROKER_SIM.topic));
    const deadLetters = nodes.flatMap(({ id }) => [...this.deadLetterEntries.values()].map((copy) => ({ node: id, ...copy })));
    this.deadLettered = deadLetters.filter((c) => c.node === nodes[0]?.id).length;
    return [
      ...checkProduced(this.produced, orders),
      ...checkDeliveries({
        produced: this.produced,
        topics: orders,
        events: this.events,
        deadLetters,
        groups: nodes.map(({ id, node }) => groupFinal(id, node)),
        retriesMax: BROKER_SIM.groupSettings.retriesMax,
      }),
      ...checkTransactions({
        transactions: this.transactions,
        observations: this.observations,
        topics: nodes.map(({ id, node }) => contents(id, node, BROKER_SIM.transactionTopic)),
        states: nodes.map(({ id, node }) => ({ node: id, state: new Map(node.stateMachine.broker.transactions().map((t) => [t.txId, t.state])) })),
      }),
    ];
  }
}

/** A topic's messages on one node, as payload texts by offset (empty if the topic does not exist). */
function contents(id: NodeId, node: AssembledNode, topic: string): TopicContents {
  const ids: string[] = [];
  for (const m of readTopic(node, topic)) ids[m.offset] = Buffer.from(m.payload).toString('latin1');
  return { node: id, firstOffset: node.broker.listTopics().some((t) => t.name === topic) ? node.broker.earliestOffset(topic) : 0, ids };
}

/** The messages of a topic this node's log still holds (from the earliest offset retention kept). */
function readTopic(node: AssembledNode, topic: string): ReturnType<AssembledNode['broker']['fetch']>['messages'][number][] {
  if (node.broker.listTopics().every((t) => t.name !== topic)) return [];
  const out: ReturnType<AssembledNode['broker']['fetch']>['messages'][number][] = [];
  let from = node.broker.earliestOffset(topic);
  // Bounded: every page moves `from` on by at least one message, up to the topic's end.
  for (let page = 0; page < FETCH_PAGES_MAX; page++) {
    const fetched = node.broker.fetch(topic, from, 1 << 20);
    out.push(...fetched.messages);
    if (fetched.messages.length === 0 || fetched.nextOffset >= fetched.endOffset) break;
    from = fetched.nextOffset;
  }
  return out;
}

function groupFinal(id: NodeId, node: AssembledNode): GroupFinal {
  const topicEnd = node.stateMachine.broker.topic(BROKER_SIM.topic)?.nextOffset ?? 0;
  const group = node.stateMachine.broker.group(BROKER_SIM.group);
  if (group === undefined) return { node: id, committedOffset: 0, topicEnd, inflight: 0, waiting: 0, dead: 0 };
  return { node: id, committedOffset: group.committedOffset, topicEnd, inflight: group.inflight, waiting: group.waiting, dead: group.dead };
}
