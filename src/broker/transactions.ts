import type { EndSource, EndTransaction, HalfMessage, Header, MessageRecord } from './commands.js';
import { ErrorCode } from '../../errors/index.js';
import { BrokerError } from './errors.js';
import type { TopicLog } from './topic-log.js';

export const TRANSACTION_DEFAULTS = {
  /** RocketMQ's defaults: first check-back a minute after the half, then every minute, 15 times. */
  checkDelayMs: 60_000,
  checkIntervalMs: 60_000,
  checkMax: 15,
  /** The most check-backs a transaction may ask for. */
  checkMaxCeiling: 1_000,
  /** Undecided transactions at once; a half beyond that is refused (RESOURCE_EXHAUSTED). */
  preparedMax: 10_000,
  /**
   * Decided transactions remembered (oldest forgotten first), so a retried commit or rollback
   * is answered with the original outcome; a retry after that is "unknown transaction".
   */
  decidedKept: 10_000,
  /** Where a transaction rolled back after its last check-back leaves its messages, for audit. */
  auditTopic: '__tx_rollbacks',
  txIdCharsMax: 128,
  producerGroupCharsMax: 249,
} as const;

/** Header names on an audit copy: where the rolled-back message came from. */
export const AuditHeader = {
  topic: 'quorumlog-tx-topic',
  txId: 'quorumlog-tx-id',
  producerGroup: 'quorumlog-tx-producer-group',
  checkCount: 'quorumlog-tx-check-count',
} as const;

export const TransactionState = { prepared: 'prepared', committed: 'committed', rolledBack: 'rolledBack' } as const;
export type TransactionState = (typeof TransactionState)[keyof typeof TransactionState];

/** Who decided: an EndTransaction's source, or the state machine itself. */
export type DecisionSource = EndSource | 'checkExhausted' | 'topicDeleted';

export interface TransactionView {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messageCount: number;
  /** The half entry: it holds the messages (and their audit copies). */
  readonly logIndex: number;
  readonly preparedAtMs: number;
  readonly state: TransactionState;
  readonly checkCount: number;
  readonly checkMax: number;
  /** Log time of the next check-back (or of the rollback, after the last); Infinity once decided. */
  readonly nextCheckMs: number;
  readonly decidedBy: DecisionSource | null;
  /** The topic offset of the first message once committed, else -1. */
  readonly firstOffset: number;
}

export type TransactionApplyResult =
  | { readonly kind: 'halfPrepared'; readonly txId: string; readonly duplicate: boolean; readonly state: TransactionState; readonly logIndex: number }
  | {
      readonly kind: 'transactionEnded';
      readonly txId: string;
      readonly state: 'committed' | 'rolledBack';
      readonly topic: string;
      readonly firstOffset: number;
      readonly count: number;
      /** It had been decided so before: nothing changed. */
      readonly duplicate: boolean;
    };

/** What the table needs of the broker's topics: a narrow handle, not the whole state. */
export interface TopicAccess {
  topic(name: string): TopicLog | undefined;
  /** The audit topic, created at `logIndex` if it does not exist. */
  auditTopic(logIndex: number): TopicLog;
  /** Throws a BrokerError if the messages do not suit a topic taking `messageBytesMax`. */
  checkMessages(messages: readonly MessageRecord[], messageBytesMax: number): void;
}

/** Everything a TransactionTable holds, as plain data (see toSnapshot). */
/** What TransactionTableSnapshot holds, as views of the live maps (keyed by transaction id, in the same orders). */
export interface TransactionTableSource {
  readonly prepared: ReadonlyMap<string, Readonly<Transaction>>;
  readonly decided: ReadonlyMap<string, Readonly<Transaction>>;
  readonly earliestDueMs: number;
}

export interface TransactionTableSnapshot {
  /** Undecided, in the order their halves were written. */
  readonly prepared: readonly Readonly<Transaction>[];
  /** Decided and remembered, oldest decision first. */
  readonly decided: readonly Readonly<Transaction>[];
  /** As the table holds it: the earliest check time among the prepared, Infinity if none. */
  readonly earliestDueMs: number;
}

export interface Transaction {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  /** The topic's incarnation (its id) when the half was written. */
  readonly topicId: number;
  readonly count: number;
  readonly logIndex: number;
  readonly preparedAtMs: number;
  readonly checkIntervalMs: number;
  readonly checkMax: number;
  state: TransactionState;
  checkCount: number;
  nextCheckMs: number;
  decidedBy: DecisionSource | null;
  firstOffset: number;
}

const NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The transactions of the broker's state machine: prepared (half written, invisible) ->
 * committed (offsets assigned, visible) | rolled back (never visible). Changed only by
 * apply, in log order, with the log clock, so every replica holds the same table and a new
 * leader continues the check-backs where the old one was.
 */
export class TransactionTable {
  /** Undecided, in the order their halves were written (iteration order is the same on every replica). */
  private readonly prepared = new Map<string, Transaction>();
  /** Decided and still remembered, oldest decision first. */
  private readonly decided = new Map<string, Transaction>();
  /** The earliest nextCheckMs among the prepared; Infinity if none. */
  private earliestDueMs = Infinity;

  constructor(
    private readonly topics: TopicAccess,
    private readonly limits: { readonly preparedMax: number; readonly decidedKept: number } = TRANSACTION_DEFAULTS,
  ) {}

  nextDueMs(): number {
    return this.earliestDueMs;
  }

  /** The table's live maps, for an encoder that runs while nothing is applied (no copies). */
  snapshotSource(): TransactionTableSource {
    return { prepared: this.prepared, decided: this.decided, earliestDueMs: this.earliestDueMs };
  }

  /** Fills an empty table with copies of a snapshot's transactions, in their order. */
  load(s: TransactionTableSnapshot): void {
    if (this.prepared.size !== 0 || this.decided.size !== 0) throw new Error('broker: a transaction table is loaded from a snapshot only when empty');
    for (const tx of s.prepared) {
      if (tx.state !== TransactionState.prepared || this.prepared.has(tx.txId)) throw new Error(`broker: snapshot's undecided transaction ${tx.txId} is ${tx.state} or twice`);
      this.prepared.set(tx.txId, { ...tx });
    }
    for (const tx of s.decided) {
      if (tx.state === TransactionState.prepared || this.decided.has(tx.txId) || this.prepared.has(tx.txId)) throw new Error(`broker: snapshot's decided transaction ${tx.txId} is undecided or twice`);
      this.decided.set(tx.txId, { ...tx });
    }
    this.earliestDueMs = s.earliestDueMs;
  }

  /** The lowest log index of an undecided transaction's half entry (its messages are owed), or Infinity. */
  lowestPreparedLogIndex(): number {
    let lowest = Infinity;
    for (const tx of this.prepared.values()) lowest = Math.min(lowest, tx.logIndex);
    return lowest;
  }

  get(txId: string): TransactionView | undefined {
    const tx = this.prepared.get(txId) ?? this.decided.get(txId);
    return tx === undefined ? undefined : view(tx);
  }

  /** Undecided transactions, oldest first. */
  undecided(): TransactionView[] {
    return [...this.prepared.values()].map(view);
  }

  /** Every transaction remembered, undecided first then decided, each in log order. */
  all(): TransactionView[] {
    return [...this.prepared.values(), ...this.decided.values()].map(view);
  }

  half(logIndex: number, nowMs: number, command: HalfMessage): TransactionApplyResult {
    checkHalf(command);
    const known = this.decided.get(command.txId) ?? this.prepared.get(command.txId);
    if (known !== undefined) {
      if (known.producerGroup !== command.producerGroup || known.topic !== command.topic || known.count !== command.messages.length) {
        throw new BrokerError(ErrorCode.invalidArgument, `transaction id ${command.txId} is already used by another half message (group ${known.producerGroup}, topic ${known.topic})`);
      }
      return { kind: 'halfPrepared', txId: known.txId, duplicate: true, state: known.state, logIndex: known.logIndex };
    }
    const topic = this.topics.topic(command.topic);
    if (topic === undefined) throw new BrokerError(ErrorCode.notFound, `topic ${command.topic} does not exist`);
    this.topics.checkMessages(command.messages, topic.messageBytesMax);
    if (this.prepared.size >= this.limits.preparedMax) {
      throw new BrokerError(ErrorCode.resourceExhausted, `${this.prepared.size} transactions are undecided, the most the broker holds; commit or roll back some first`);
    }
    const tx: Transaction = {
      txId: command.txId,
      producerGroup: command.producerGroup,
      topic: topic.name,
      topicId: topic.id,
      count: command.messages.length,
      logIndex,
      preparedAtMs: nowMs,
      checkIntervalMs: command.checkIntervalMs,
      checkMax: command.checkMax,
      state: TransactionState.prepared,
      checkCount: 0,
      nextCheckMs: nowMs + command.checkDelayMs,
      decidedBy: null,
      firstOffset: -1,
    };
    this.prepared.set(tx.txId, tx);
    this.earliestDueMs = Math.min(this.earliestDueMs, tx.nextCheckMs);
    return { kind: 'halfPrepared', txId: tx.txId, duplicate: false, state: tx.state, logIndex };
  }

  /**
   * Commits or rolls back. Deciding again the way it was decided answers the original
   * outcome (a retry); the other way, or an unknown id, is refused and changes nothing.
   */
  end(nowMs: number, command: EndTransaction): TransactionApplyResult {
    const wanted = command.outcome === 'commit' ? TransactionState.committed : TransactionState.rolledBack;
    const tx = this.prepared.get(command.txId) ?? this.decided.get(command.txId);
    if (tx === undefined) {
      throw new BrokerError(ErrorCode.notFound, `transaction ${command.txId} is unknown: never prepared, or decided so long ago that it is forgotten`);
    }
    if (tx.state === wanted) return ended(tx, { duplicate: true });
    if (tx.state !== TransactionState.prepared) {
      const was = tx.state === TransactionState.committed ? 'committed' : 'rolled back';
      throw new BrokerError(ErrorCode.transactionDecided, `cannot ${command.outcome} transaction ${tx.txId}: it was already ${was} (by ${tx.decidedBy ?? 'unknown'})`);
    }
    if (wanted === TransactionState.committed) {
      const topic = this.topics.topic(tx.topic);
      // A deleted topic rolls back its transactions (topicDeleted), so the incarnation holds.
      if (topic === undefined || topic.id !== tx.topicId) throw new Error(`broker: transaction ${tx.txId} outlived its topic ${tx.topic}`);
      tx.firstOffset = topic.append(tx.logIndex, tx.count, nowMs, 0);
    }
    this.decide(tx, wanted, command.source);
    return ended(tx, { duplicate: false });
  }

  /**
   * Due work at log time `nowMs`, before the entry at `logIndex` is applied: each prepared
   * transaction whose check time has come counts a check-back (the leader asks the producer
   * group after applying it) or, after its last, is rolled back with its messages recorded
   * in the audit topic. A check counts whether or not a producer of the group is connected.
   */
  advance(logIndex: number, nowMs: number): void {
    if (nowMs < this.earliestDueMs) return;
    // Bounded by preparedMax; a copy, since a rollback leaves the map.
    for (const tx of [...this.prepared.values()]) {
      if (tx.nextCheckMs > nowMs) continue;
      if (tx.checkCount >= tx.checkMax) {
        this.decide(tx, TransactionState.rolledBack, 'checkExhausted');
        // Positions count..2*count-1 of the half entry are the audit copies (messagesHeld).
        this.topics.auditTopic(logIndex).append(tx.logIndex, tx.count, nowMs, tx.count);
      } else {
        tx.checkCount++;
        tx.nextCheckMs = nowMs + tx.checkIntervalMs;
      }
    }
    this.recomputeDue();
  }

  /** A topic was deleted: its undecided transactions can never be committed; they are rolled back. */
  topicDeleted(name: string): void {
    for (const tx of [...this.prepared.values()]) if (tx.topic === name) this.decide(tx, TransactionState.rolledBack, 'topicDeleted');
    this.recomputeDue();
  }

  private decide(tx: Transaction, state: 'committed' | 'rolledBack', by: DecisionSource): void {
    if (tx.state !== TransactionState.prepared) throw new Error(`broker: transaction ${tx.txId} decided twice`);
    tx.state = state;
    tx.decidedBy = by;
    tx.nextCheckMs = Infinity;
    this.prepared.delete(tx.txId);
    this.decided.set(tx.txId, tx);
    // Bounded: at most one is forgotten per decision.
    if (this.decided.size > this.limits.decidedKept) {
      const oldest = this.decided.keys().next().value;
      if (oldest !== undefined) this.decided.delete(oldest);
    }
  }

  private recomputeDue(): void {
    let due = Infinity;
    for (const tx of this.prepared.values()) due = Math.min(due, tx.nextCheckMs);
    this.earliestDueMs = due;
  }
}

/** Checks what needs no state: the same on every replica, and on the leader before it proposes. */
export function halfProblem(command: Omit<HalfMessage, 'kind' | 'messages'> & { readonly messageCount: number }): string | null {
  const { txId, producerGroup, checkDelayMs, checkIntervalMs, checkMax } = command;
  if (!(txId.length >= 1 && txId.length <= TRANSACTION_DEFAULTS.txIdCharsMax && NAME.test(txId))) {
    return `a transaction id is 1-${TRANSACTION_DEFAULTS.txIdCharsMax} of letters, digits, '.', '_' and '-', not "${txId}"`;
  }
  if (!(producerGroup.length >= 1 && producerGroup.length <= TRANSACTION_DEFAULTS.producerGroupCharsMax && NAME.test(producerGroup))) {
    return `a producer group is 1-${TRANSACTION_DEFAULTS.producerGroupCharsMax} of letters, digits, '.', '_' and '-', not "${producerGroup}"`;
  }
  if (!(Number.isSafeInteger(checkDelayMs) && checkDelayMs >= 1 && Number.isSafeInteger(checkIntervalMs) && checkIntervalMs >= 1)) {
    return `check-back delay and interval must be at least 1 ms, not ${checkDelayMs} and ${checkIntervalMs}`;
  }
  if (!(Number.isSafeInteger(checkMax) && checkMax >= 1 && checkMax <= TRANSACTION_DEFAULTS.checkMaxCeiling)) {
    return `check-backs must number 1..${TRANSACTION_DEFAULTS.checkMaxCeiling}, not ${checkMax}`;
  }
  if (command.messageCount === 0) return 'a half message needs at least one message';
  return null;
}

function checkHalf(command: HalfMessage): void {
  const problem = halfProblem({ ...command, messageCount: command.messages.length });
  if (problem !== null) throw new BrokerError(ErrorCode.invalidArgument, problem);
}

const encoder = new TextEncoder();

/**
 * The audit copies of a half entry's messages: each message with headers naming where it
 * came from. A pure function of the entry, so every node serves the same copies, and the
 * check count is checkMax because only the last check-back's rollback records them.
 */
export function auditCopies(command: HalfMessage): MessageRecord[] {
  const origin: Header[] = [
    { name: AuditHeader.topic, value: encoder.encode(command.topic) },
    { name: AuditHeader.txId, value: encoder.encode(command.txId) },
    { name: AuditHeader.producerGroup, value: encoder.encode(command.producerGroup) },
    { name: AuditHeader.checkCount, value: encoder.encode(String(command.checkMax)) },
  ];
  return command.messages.map((m) => ({ key: m.key, headers: [...m.headers, ...origin], payload: m.payload, timestampMs: m.timestampMs }));
}

/** `duplicate`: the transaction was already decided this way, so this end is a retry. */
function ended(tx: Transaction, outcome: { readonly duplicate: boolean }): TransactionApplyResult {
  if (tx.state === TransactionState.prepared) throw new Error(`broker: transaction ${tx.txId} is not decided`);
  return { kind: 'transactionEnded', txId: tx.txId, state: tx.state, topic: tx.topic, firstOffset: tx.firstOffset, count: tx.count, duplicate: outcome.duplicate };
}

function view(tx: Transaction): TransactionView {
  return {
    txId: tx.txId,
    producerGroup: tx.producerGroup,
    topic: tx.topic,
    messageCount: tx.count,
    logIndex: tx.logIndex,
    preparedAtMs: tx.preparedAtMs,
    state: tx.state,
    checkCount: tx.checkCount,
    checkMax: tx.checkMax,
    nextCheckMs: tx.nextCheckMs,
    decidedBy: tx.decidedBy,
    firstOffset: tx.firstOffset,
  };
}
