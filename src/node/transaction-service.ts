import { EntryKind, type Index, type NodeId } from '../../raft/index.js';
import type { CommitLog } from '../../storage/index.js';
import {
  DELIVER_AT_HEADER,
  deliverAtHeaderOf,
  decodeCommand,
  halfProblem,
  TRANSACTION_DEFAULTS,
  topicNameProblem,
  type ApplyResult,
  type MessageRecord,
  type TransactionView,
} from '../broker/index.js';
import type { BrokerMessageView, CheckSink, EndInput, EndOutcome, HalfInput, HalfOutcome, TransactionInfoView, TransactionService, TransactionTopic } from '../transport/index.js';
import type { NodeBrokerService } from './broker-service.js';
import { refusal } from './broker-service.js';
import { NO_PROBE, type NodeProbe } from './node-probe.js';
import { InternalError, InvalidArgumentError, NotLeaderError, ResourceExhaustedError } from '../transport/index.js';
import { PayloadTag, type NodeStateMachine } from './state-machine.js';

export const NODE_TRANSACTION_DEFAULTS = {
  /** Producer groups with a check stream open on this leader at once. */
  groupsMax: 1_024,
  /** Check streams per producer group. */
  streamsPerGroupMax: 64,
} as const;

/** What the service needs to know about leadership: a narrow handle on the replica. */
export interface LeadershipView {
  isLeader(): boolean;
  /** This node leads, has committed an entry of its term, and has applied every committed entry. */
  appliedAllCommitted(): boolean;
  /** The leader to send clients to, when known. */
  leaderRef(): { readonly id: NodeId; readonly clientAddress: string } | null;
}

/**
 * Transactions on one node. Half messages and decisions are broker commands proposed
 * through NodeBrokerService. Check-backs are counted by the state machine (replicated);
 * this class only carries them to the producers: on the leader, after entries are applied,
 * each check the log has counted and this leader has not yet sent goes to one live check
 * stream of the transaction's producer group (round robin). A check with no producer
 * connected still counts. Which checks were sent is this leader's own memory: a new leader
 * sends the latest check of every undecided transaction once, which at worst asks twice.
 */
export class NodeTransactionService implements TransactionService {
  private readonly streams = new Map<string, CheckSink[]>();
  private cursor = 0;
  /** Per undecided transaction, the check count last sent (or found unsendable) by this leader. */
  private sent = new Map<string, number>();
  private scannedApplied = 0;

  constructor(
    private readonly log: CommitLog,
    private readonly stateMachine: NodeStateMachine,
    private readonly broker: NodeBrokerService,
    private readonly leadership: LeadershipView,
    private readonly probe: NodeProbe = NO_PROBE,
  ) {}

  async sendHalf(request: HalfInput, options: { readonly timeoutMs: number }): Promise<HalfOutcome> {
    const topicProblem = topicNameProblem(request.topic);
    if (topicProblem !== null) throw new InvalidArgumentError(topicProblem);
    const schedule = {
      checkDelayMs: request.checkDelayMs || TRANSACTION_DEFAULTS.checkDelayMs,
      checkIntervalMs: request.checkIntervalMs || TRANSACTION_DEFAULTS.checkIntervalMs,
      checkMax: request.checkMax || TRANSACTION_DEFAULTS.checkMax,
    };
    const problem = halfProblem({ txId: request.txId, producerGroup: request.producerGroup, topic: request.topic, ...schedule, messageCount: request.messages.length });
    if (problem !== null) throw new InvalidArgumentError(problem);
    // Checked here, before the entry, not when it is applied: a log written before this check
    // must replay as it did. Commit makes a transaction's messages visible at once.
    const delayed = request.messages.findIndex((m) => deliverAtHeaderOf(m) !== undefined);
    if (delayed >= 0) throw new InvalidArgumentError(`message ${delayed} has a ${DELIVER_AT_HEADER} header: a transaction's messages become visible when it commits and cannot be delayed`);
    const messages = request.messages.map(toRecord);
    this.broker.admitNewMessages();
    const command = { kind: 'halfMessage', txId: request.txId, producerGroup: request.producerGroup, topic: request.topic, ...schedule, messages } as const;
    const result = expectResult(await this.broker.propose(command, options.timeoutMs), 'halfPrepared');
    return { duplicate: result.duplicate, state: result.state, logIndex: result.logIndex };
  }

  async endTransaction(request: EndInput, options: { readonly timeoutMs: number }): Promise<EndOutcome> {
    if (request.txId === '') throw new InvalidArgumentError('which transaction? the transaction id is empty');
    const result = expectResult(await this.broker.propose({ kind: 'endTransaction', ...request }, options.timeoutMs), 'transactionEnded');
    return { state: result.state, topic: result.topic, firstOffset: Math.max(0, result.firstOffset), count: result.count, duplicate: result.duplicate };
  }

  transactionTopic(txId: string): TransactionTopic {
    return { topic: this.stateMachine.broker.transaction(txId)?.topic ?? null, current: this.leadership.appliedAllCommitted() };
  }

  listTransactions(): readonly TransactionInfoView[] {
    return this.stateMachine.broker.undecidedTransactions().map(info);
  }

  subscribeChecks(producerGroup: string, sink: CheckSink): () => void {
    if (!this.leadership.isLeader()) throw new NotLeaderError(this.leadership.leaderRef());
    let sinks = this.streams.get(producerGroup);
    if (sinks === undefined) {
      if (this.streams.size >= NODE_TRANSACTION_DEFAULTS.groupsMax) throw new ResourceExhaustedError(`${this.streams.size} producer groups hold check streams here, the most allowed`);
      sinks = [];
      this.streams.set(producerGroup, sinks);
    }
    if (sinks.length >= NODE_TRANSACTION_DEFAULTS.streamsPerGroupMax) throw new ResourceExhaustedError(`producer group ${producerGroup} holds ${sinks.length} check streams, the most allowed`);
    sinks.push(sink);
    return () => {
      const list = this.streams.get(producerGroup);
      if (list === undefined) return;
      const at = list.indexOf(sink);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.streams.delete(producerGroup);
    };
  }

  /** Called every tick: off the leader, ends the check streams; on it, sends newly counted checks. */
  tick(): void {
    if (!this.leadership.isLeader()) {
      this.endStreams();
      this.sent.clear();
      this.scannedApplied = 0;
      return;
    }
    const applied = this.stateMachine.broker.lastApplied;
    if (applied === this.scannedApplied) return;
    this.scannedApplied = applied;
    const sent = new Map<string, number>();
    // Bounded by the state machine's preparedMax.
    for (const tx of this.stateMachine.broker.undecidedTransactions()) {
      const already = this.sent.get(tx.txId) ?? 0;
      sent.set(tx.txId, Math.max(already, tx.checkCount));
      if (tx.checkCount > already) this.sendCheck(tx);
    }
    this.sent = sent;
  }

  private sendCheck(tx: TransactionView): void {
    const sinks = this.streams.get(tx.producerGroup);
    if (sinks === undefined || sinks.length === 0) return;
    const check = { txId: tx.txId, producerGroup: tx.producerGroup, topic: tx.topic, messages: this.halfMessages(tx.logIndex), checkCount: tx.checkCount, preparedAtMs: tx.preparedAtMs };
    // One producer is asked; if its stream is backed up, the next one (bounded by the list).
    for (let k = 0; k < sinks.length; k++) {
      const sink = sinks[this.cursor++ % sinks.length];
      if (sink?.push(check) === true) {
        this.probe.checkBackSent();
        return;
      }
    }
  }

  private endStreams(): void {
    if (this.streams.size === 0) return;
    const error = new NotLeaderError(this.leadership.leaderRef());
    const all = [...this.streams.values()].flat();
    this.streams.clear();
    for (const sink of all) sink.end(error);
  }

  /** The messages of the half entry at `logIndex`. */
  private halfMessages(logIndex: number): readonly MessageRecord[] {
    const entry = this.log.entries(logIndex as Index, (logIndex + 1) as Index, Number.MAX_SAFE_INTEGER)[0];
    if (entry === undefined || entry.kind !== EntryKind.normal || entry.payload[0] !== PayloadTag.broker) {
      throw new InternalError(`transaction entry ${logIndex} is not a broker entry`);
    }
    const { command } = decodeCommand(entry.payload.subarray(1));
    if (command.kind !== 'halfMessage') throw new InternalError(`transaction entry ${logIndex} is a ${command.kind} command`);
    return command.messages;
  }
}

function info(tx: TransactionView): TransactionInfoView {
  return {
    txId: tx.txId,
    producerGroup: tx.producerGroup,
    topic: tx.topic,
    messageCount: tx.messageCount,
    preparedAtMs: tx.preparedAtMs,
    checkCount: tx.checkCount,
    checkMax: tx.checkMax,
    nextCheckMs: Number.isFinite(tx.nextCheckMs) ? tx.nextCheckMs : 0,
    logIndex: tx.logIndex,
  };
}

function toRecord(message: BrokerMessageView): MessageRecord {
  if (!(Number.isSafeInteger(message.timestampMs) && message.timestampMs >= 0)) throw new InvalidArgumentError(`message timestamp ${message.timestampMs} is out of range`);
  return { key: message.key, headers: message.headers.map((h) => ({ name: h.name, value: h.value })), payload: message.payload, timestampMs: message.timestampMs };
}

function expectResult<K extends ApplyResult['kind']>(result: ApplyResult, kind: K): Extract<ApplyResult, { kind: K }> {
  if (result.kind === kind) return result as Extract<ApplyResult, { kind: K }>;
  if (result.kind === 'rejected') throw refusal(result.error);
  throw new InternalError(`the broker answered ${result.kind} to a command expecting ${kind}`);
}
