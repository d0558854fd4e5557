import { AclTable, aclRuleProblem, type AclAccess, type AclRule } from './acl.js';
import { DELIVER_AT_HEADER, messageBytes, summarizeProduce, type AclAdd, type AppliedCommand, type CreateTopic, type MessageRecord, type ProduceSummary, type TrimLog } from './commands.js';
import type { ConsumerGroupSnapshot, ConsumerGroupSource, DeadLetterCandidate, GroupDescription, LeaseDelivery } from './consumer-groups.js';
import { ErrorCode } from '../../errors/index.js';
import { BrokerError } from './errors.js';
import { GroupTable, type GroupResult } from './group-table.js';
import { LogTimeIndex } from './log-time-index.js';
import { TopicLog, type MessageLocation, type TopicLogSnapshot } from './topic-log.js';
import { topicNameProblem } from './topic-name.js';
import { TRANSACTION_DEFAULTS, TransactionTable, type TransactionApplyResult, type TransactionTableSnapshot, type TransactionTableSource, type TransactionView } from './transactions.js';

const NO_LEASE_DELIVERIES: readonly LeaseDelivery[] = Object.freeze([]);

export const BROKER_DEFAULTS = {
  /** A producer id unused this long (by the leaders' clocks in the log) is forgotten. */
  producerIdleExpiryMs: 24 * 60 * 60 * 1000,
  /** How often, in log time, idle producers are looked for. */
  expiryScanIntervalMs: 1000,
  /** Batches per producer and topic whose offsets are kept to answer a retried duplicate. */
  recentBatchesKept: 5,
  defaultMaxMessageBytes: 1024 * 1024,
  messageBytesMaxCeiling: 64 * 1024 * 1024,
  /** The furthest ahead a producer may schedule a message. */
  deliverDelayMsMax: 30 * 24 * 60 * 60 * 1000,
} as const;

export interface BrokerStateOptions {
  readonly recentBatchesKept?: number;
}

export interface RecentBatch {
  readonly firstSequence: number;
  readonly count: number;
  readonly firstOffset: number;
}

export interface ProducerTopicState {
  /** The sequence number the next new batch must start at. */
  nextSequence: number;
  /** The last few accepted batches, oldest first: a retry of one gets its original offsets. */
  readonly recent: RecentBatch[];
}

export interface ProducerState {
  lastActiveMs: number;
  /** From the InitProducer entry that granted the id. */
  readonly idleExpiryMs: number;
  /** Keyed by topic id, so a deleted and re-created topic starts its sequences afresh. */
  readonly topics: Map<number, ProducerTopicState>;
}

/**
 * Everything a BrokerState holds, as plain data: what a snapshot carries. Producers, topics,
 * groups and transactions are in the state's own (insertion) order, which a state rebuilt
 * from it keeps, so it iterates as the original would.
 */
export interface BrokerStateSnapshot {
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly nextExpiryScanMs: number;
  /** Infinity when nothing is scheduled. */
  readonly nextScheduledMs: number;
  readonly topics: readonly TopicLogSnapshot[];
  readonly producers: readonly (readonly [number, Readonly<ProducerState>])[];
  readonly groups: readonly ConsumerGroupSnapshot[];
  readonly transactions: TransactionTableSnapshot;
  readonly timeIndex: { readonly indexes: readonly number[]; readonly times: readonly number[] };
  /** The log index the state was last trimmed below (0: never). */
  readonly trimmedBelow: number;
  /** The access rules, in the table's order. */
  readonly acls: readonly AclRule[];
}

/**
 * What BrokerStateSnapshot holds, as views of the live structures: what a snapshot encoder
 * reads when it runs across several turns of the event loop. Taking it copies nothing; it
 * is valid only while nothing is applied (BrokerSnapshotEncoder checks that it is not).
 */
export interface BrokerStateSource {
  readonly appliedIndex: number;
  readonly clockMs: number;
  readonly nextExpiryScanMs: number;
  readonly nextScheduledMs: number;
  /** Each a view of its topic (its runs are the live array). */
  readonly topics: readonly TopicLogSnapshot[];
  readonly producers: ReadonlyMap<number, Readonly<ProducerState>>;
  readonly groups: readonly ConsumerGroupSource[];
  readonly transactions: TransactionTableSource;
  readonly timeIndex: { readonly indexes: readonly number[]; readonly times: readonly number[] };
  /** The log index the state was last trimmed below (0: never). */
  readonly trimmedBelow: number;
  readonly acls: readonly AclRule[];
}

export type ApplyResult =
  | { readonly kind: 'topicCreated'; readonly name: string }
  | { readonly kind: 'topicDeleted'; readonly name: string }
  | { readonly kind: 'producerGranted'; readonly producerId: number }
  /** firstOffset -1: the batch is delayed and gets its offsets when it falls due, at `deliverAtMs`. */
  | { readonly kind: 'produced'; readonly topic: string; readonly firstOffset: number; readonly count: number; readonly duplicate: boolean; readonly deliverAtMs: number }
  | { readonly kind: 'clockAdvanced'; readonly nowMs: number }
  /** trimmedBelow: the trim point now (unchanged by a trim at or below it); runsDropped: offset runs dropped, all topics. */
  | { readonly kind: 'logTrimmed'; readonly trimmedBelow: number; readonly runsDropped: number }
  /** changed: false when the rule already granted every operation named (or, for a removal, granted none). */
  | { readonly kind: 'aclAdded'; readonly changed: boolean }
  | { readonly kind: 'aclRemoved'; readonly changed: boolean }
  | GroupResult
  | TransactionApplyResult
  | { readonly kind: 'rejected'; readonly error: BrokerError };

export interface TopicDescription {
  readonly name: string;
  readonly id: number;
  readonly messageBytesMax: number;
  readonly nextOffset: number;
  /**
   * The first offset from which every message is held at or after the log index the state was
   * trimmed below: what all nodes answer reads below with OUT_OF_RANGE (a node whose own log
   * was compacted further may answer from a later one).
   */
  readonly earliestOffset: number;
  /** Delayed messages held back until their delivery time (they have no offset yet). */
  readonly scheduledMessages: number;
}

/**
 * The broker's replicated state machine: topics, their offsets, and the producers' dedupe
 * windows. It changes only by `apply`, in log order, and depends on nothing but the entries
 * (time is the leaders' clock carried in each entry), so every replica that applies the
 * same log holds the same state, and a new leader after failover knows every retry.
 */
export class BrokerState {
  private readonly topicsByName = new Map<string, TopicLog>();
  private readonly producers = new Map<number, ProducerState>();
  private readonly recentBatchesKept: number;
  private readonly groups: GroupTable;
  /** No topic's delayed batch falls due before this (a lower bound). */
  private nextScheduledMs = Infinity;
  /** The latest leader time seen in the log; never goes back, even if a new leader's clock does. */
  private clockMs = 0;
  private nextExpiryScanMs = 0;
  private appliedIndex = 0;
  private timeIndex = new LogTimeIndex();
  /**
   * The state says nothing more of entries below this index than what the broker still owed
   * when it was trimmed (0: never trimmed). Only grows; the same on every replica.
   */
  private trimmedBelow = 0;
  private readonly acls = new AclTable();
  private lastLeaseDeliveries: readonly LeaseDelivery[] = NO_LEASE_DELIVERIES;
  private readonly txs = new TransactionTable({
    topic: (name) => this.topicsByName.get(name),
    auditTopic: (logIndex) => this.auditTopic(logIndex),
    checkMessages,
  });

  constructor(options: BrokerStateOptions = {}) {
    this.recentBatchesKept = options.recentBatchesKept ?? BROKER_DEFAULTS.recentBatchesKept;
    this.groups = new GroupTable({
      get: (name) => this.topicsByName.get(name),
      earliestOffset: (topic) => topic.firstOffsetAtOrAfter(this.trimmedBelow),
      ensure: (name, logIndex) => this.topicsByName.get(name) ?? this.addTopic(logIndex, name, BROKER_DEFAULTS.messageBytesMaxCeiling),
    });
  }

  get lastApplied(): number {
    return this.appliedIndex;
  }

  /** The whole state as views of the live structures, for an encoder that runs across turns (see BrokerStateSource). */
  snapshotSource(): BrokerStateSource {
    return {
      appliedIndex: this.appliedIndex,
      clockMs: this.clockMs,
      nextExpiryScanMs: this.nextExpiryScanMs,
      nextScheduledMs: this.nextScheduledMs,
      topics: [...this.topicsByName.values()].map((t) => t.toSnapshot()),
      producers: this.producers,
      groups: this.groups.snapshotSources(),
      transactions: this.txs.snapshotSource(),
      timeIndex: this.timeIndex.toSnapshot(),
      trimmedBelow: this.trimmedBelow,
      acls: this.acls.list(),
    };
  }

  /**
   * The state a snapshot describes: applying the entries after `appliedIndex` to it gives
   * what applying the whole log gives. Producer windows longer than this state's
   * `recentBatchesKept` are cut to it (as a replay with that setting would have kept).
   */
  static fromSnapshot(s: BrokerStateSnapshot, options: BrokerStateOptions = {}): BrokerState {
    const state = new BrokerState(options);
    state.appliedIndex = s.appliedIndex;
    state.clockMs = s.clockMs;
    state.nextExpiryScanMs = s.nextExpiryScanMs;
    state.nextScheduledMs = s.nextScheduledMs;
    for (const t of s.topics) {
      if (state.topicsByName.has(t.name)) throw new Error(`broker: topic ${t.name} twice in a snapshot`);
      state.topicsByName.set(t.name, TopicLog.fromSnapshot(t));
    }
    for (const [id, p] of s.producers) {
      const topics = new Map<number, ProducerTopicState>();
      for (const [topicId, t] of p.topics) topics.set(topicId, { nextSequence: t.nextSequence, recent: t.recent.slice(Math.max(0, t.recent.length - state.recentBatchesKept)) });
      state.producers.set(id, { lastActiveMs: p.lastActiveMs, idleExpiryMs: p.idleExpiryMs, topics });
    }
    state.groups.load(s.groups);
    state.txs.load(s.transactions);
    state.timeIndex = LogTimeIndex.fromSnapshot(s.timeIndex);
    state.trimmedBelow = s.trimmedBelow;
    for (const rule of s.acls) {
      const problem = aclRuleProblem(rule);
      if (problem !== null) throw new Error(`broker: a snapshot's ACL rule: ${problem}`);
      if (state.acls.add(rule) !== true) throw new Error(`broker: a snapshot's ACL rule for ${rule.principal} on ${rule.resource.kind} ${rule.resource.pattern} twice, or past the table's limit`);
    }
    return state;
  }

  /**
   * Applies the command of the log entry at `logIndex`. Entries must come in log order. A
   * produce may come as its ProduceSummary (decodeAppliedCommand): the same result and state.
   */
  apply(logIndex: number, leaderTimeMs: number, command: AppliedCommand): ApplyResult {
    if (logIndex <= this.appliedIndex) throw new Error(`broker: entry ${logIndex} applied after ${this.appliedIndex}`);
    this.appliedIndex = logIndex;
    this.clockMs = Math.max(this.clockMs, leaderTimeMs);
    this.timeIndex.record(logIndex, this.clockMs);
    this.expireIdleProducers();
    this.releaseScheduled();
    this.groups.advance(this.clockMs);
    this.txs.advance(logIndex, this.clockMs);
    let result: ApplyResult;
    try {
      result = this.applyCommand(logIndex, command);
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      result = { kind: 'rejected', error };
    }
    this.handOutLeased(command, result);
    return result;
  }

  /**
   * What standing leases handed out at the last applied entry, per consumer: a lease entry's
   * own deliveries first, then the new offsets that entry made visible (a refused entry too:
   * the time it carries may have released a delayed batch). The leader sends them to the
   * consumers; every replica holds them the same, until the next entry.
   */
  get leaseDeliveries(): readonly LeaseDelivery[] {
    return this.lastLeaseDeliveries;
  }

  private handOutLeased(command: AppliedCommand, result: ApplyResult): void {
    const filled = this.groups.fillLeases(this.clockMs);
    const own = command.kind === 'lease' && result.kind === 'delivered' && result.messages.length > 0;
    if (own) filled.unshift({ group: result.group, topic: result.topic, consumer: command.consumer, messages: result.messages });
    this.lastLeaseDeliveries = filled.length === 0 ? NO_LEASE_DELIVERIES : filled;
  }

  /** Whether an ACL rule grants `principal` the access (superusers are the node's business, not the state's). */
  aclAllows(principal: string, access: AclAccess): boolean {
    return this.acls.allows(principal, access);
  }

  /** Every ACL rule, in the order first added. */
  aclRules(): AclRule[] {
    return this.acls.list();
  }

  topic(name: string): TopicDescription | undefined {
    const t = this.topicsByName.get(name);
    return t === undefined ? undefined : this.describe(t);
  }

  topics(): TopicDescription[] {
    return [...this.topicsByName.values()].map((t) => this.describe(t)).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The log index this state was last trimmed below (0: never): it describes nothing below but what was owed then. */
  get trimmedBelowLogIndex(): number {
    return this.trimmedBelow;
  }

  /**
   * The first offset of `topic` every node still answers reads from: every message from it on
   * is held at or after the trim point (TopicDescription.earliestOffset). Undefined for an
   * unknown topic.
   */
  earliestOffset(topic: string): number | undefined {
    return this.topicsByName.get(topic)?.firstOffsetAtOrAfter(this.trimmedBelow);
  }

  /** Where the message at `offset` of `topic` is in the log, or undefined if there is none. */
  locate(topic: string, offset: number): MessageLocation | undefined {
    return this.topicsByName.get(topic)?.locate(offset);
  }

  /** The log clock: the latest leader time applied. */
  get nowMs(): number {
    return this.clockMs;
  }

  /**
   * The highest log index applied at a log time before `timeMs` (0: none known to be).
   * Entries without a time of their own (plain records) count from the broker entry after
   * them, so they are never taken for older than they are.
   */
  logIndexBefore(timeMs: number): number {
    return this.timeIndex.logIndexBefore(timeMs);
  }

  /**
   * The earliest log time at which something in this state falls due (a delayed message, a
   * redelivery, an ack deadline), or Infinity. Time only moves when an entry is applied, so
   * the leader proposes a clock entry once its own clock passes this; nothing is due on a
   * replica before an entry says the time has come.
   */
  nextDueMs(): number {
    return Math.min(this.nextScheduledMs, this.groups.nextDueMs(), this.txs.nextDueMs());
  }

  group(name: string): GroupDescription | undefined {
    return this.groups.describe(name);
  }

  groupList(): GroupDescription[] {
    return this.groups.list();
  }

  /** The group table itself, for the node's delivery loop, tests and checkers (read only by convention). */
  get consumerGroups(): GroupTable {
    return this.groups;
  }

  /** Dead messages whose dead-letter entry the leader should propose, at most `max`. */
  deadLetterCandidates(max: number): DeadLetterCandidate[] {
    return this.groups.deadLetterCandidates(max);
  }

  /** Undecided transactions, oldest first (what `quorumlog tx list` shows). */
  undecidedTransactions(): TransactionView[] {
    return this.txs.undecided();
  }

  /** Every transaction remembered, undecided and decided. */
  transactions(): TransactionView[] {
    return this.txs.all();
  }

  transaction(txId: string): TransactionView | undefined {
    return this.txs.get(txId);
  }

  get producerCount(): number {
    return this.producers.size;
  }

  /**
   * The lowest log index holding a message the broker still owes whatever the retention
   * policy: a delayed batch not yet due, a message a group handed out and has not finished
   * (in flight, waiting for a retry, ready again, dead before its dead-letter copy), or an
   * undecided transaction's half. Infinity if none: deleting the log below it loses none of them.
   */
  lowestOwedLogIndex(): number {
    let lowest = Math.min(this.groups.lowestOwedLogIndex(), this.txs.lowestPreparedLogIndex());
    for (const topic of this.topicsByName.values()) lowest = Math.min(lowest, topic.lowestScheduledLogIndex);
    return lowest;
  }

  /**
   * The lowest log index holding a message at or after some consumer group's committed
   * offset on its topic: what a group has yet to finish (Infinity if none). Not just the
   * committed offset's own entry: a later offset may sit in an older entry (a delayed
   * batch, a committed transaction).
   */
  lowestUnconsumedLogIndex(): number {
    return this.groups.lowestUnconsumedLogIndex();
  }

  /**
   * The first offset of `topic` from which every message is held at `logIndex` or later:
   * after the log below `logIndex` is deleted, a read below it is out of range. Undefined
   * for an unknown topic.
   */
  earliestOffsetAtOrAfter(topic: string, logIndex: number): number | undefined {
    return this.topicsByName.get(topic)?.firstOffsetAtOrAfter(logIndex);
  }

  private applyCommand(logIndex: number, command: AppliedCommand): ApplyResult {
    switch (command.kind) {
      case 'createTopic':
        return this.createTopic(logIndex, command);
      case 'deleteTopic': {
        if (!this.topicsByName.delete(command.name)) throw new BrokerError(ErrorCode.notFound, `topic ${command.name} does not exist`);
        this.txs.topicDeleted(command.name);
        return { kind: 'topicDeleted', name: command.name };
      }
      case 'initProducer':
        // The entry's own index is unique, never reused, and the same on every replica.
        if (!(Number.isSafeInteger(command.idleExpiryMs) && command.idleExpiryMs >= 1)) {
          throw new BrokerError(ErrorCode.invalidArgument, `a producer's idle expiry must be at least 1 ms, not ${command.idleExpiryMs}`);
        }
        this.producers.set(logIndex, { lastActiveMs: this.clockMs, idleExpiryMs: command.idleExpiryMs, topics: new Map() });
        return { kind: 'producerGranted', producerId: logIndex };
      case 'produce':
        return this.produce(logIndex, summarizeProduce(command));
      case 'produceSummary':
        return this.produce(logIndex, command);
      case 'clock':
        // Nothing but the time it carries, which apply() has already taken in.
        return { kind: 'clockAdvanced', nowMs: this.clockMs };
      case 'trimLog':
        return this.trimLog(logIndex, command);
      case 'halfMessage':
        return this.txs.half(logIndex, this.clockMs, command);
      case 'endTransaction':
        return this.txs.end(this.clockMs, command);
      case 'aclAdd':
        return this.aclAdd(command);
      case 'aclRemove': {
        const problem = aclRuleProblem(command.rule);
        if (problem !== null) throw new BrokerError(ErrorCode.invalidArgument, problem);
        return { kind: 'aclRemoved', changed: this.acls.remove(command.rule) };
      }
      default:
        return this.groups.apply(logIndex, this.clockMs, command);
    }
  }

  /**
   * Drops what only describes entries below the command's index, never what is still owed
   * (delayed, in flight or retrying, undecided: lowestOwedLogIndex), and never past the entry
   * itself. The same on every replica: it depends on the state and the entry alone.
   */
  private trimLog(logIndex: number, command: TrimLog): ApplyResult {
    const before = command.beforeLogIndex;
    if (!(Number.isSafeInteger(before) && before >= 0 && before <= logIndex)) {
      throw new BrokerError(ErrorCode.invalidArgument, `entry ${logIndex} cannot trim the log below ${before}: only entries before it`);
    }
    const bound = Math.min(before, this.lowestOwedLogIndex());
    if (bound <= this.trimmedBelow) return { kind: 'logTrimmed', trimmedBelow: this.trimmedBelow, runsDropped: 0 };
    this.trimmedBelow = bound;
    let runsDropped = 0;
    for (const topic of this.topicsByName.values()) runsDropped += topic.trimBelow(bound);
    this.timeIndex.trimBelow(bound);
    return { kind: 'logTrimmed', trimmedBelow: bound, runsDropped };
  }

  private aclAdd(command: AclAdd): ApplyResult {
    const problem = aclRuleProblem(command.rule);
    if (problem !== null) throw new BrokerError(ErrorCode.invalidArgument, problem);
    const changed = this.acls.add(command.rule);
    if (changed === 'full') throw new BrokerError(ErrorCode.resourceExhausted, `the ACL table is full (${this.acls.size} rules): remove rules, or grant by prefix`);
    return { kind: 'aclAdded', changed };
  }

  private describe(t: TopicLog): TopicDescription {
    return {
      name: t.name,
      id: t.id,
      messageBytesMax: t.messageBytesMax,
      nextOffset: t.nextOffset,
      earliestOffset: t.firstOffsetAtOrAfter(this.trimmedBelow),
      scheduledMessages: t.scheduledCount,
    };
  }

  /** The transactions' audit topic, created (by the entry at `logIndex`) when first needed. */
  private auditTopic(logIndex: number): TopicLog {
    const name = TRANSACTION_DEFAULTS.auditTopic;
    let topic = this.topicsByName.get(name);
    if (topic === undefined) {
      topic = new TopicLog(logIndex, name, BROKER_DEFAULTS.messageBytesMaxCeiling);
      this.topicsByName.set(name, topic);
    }
    return topic;
  }

  private createTopic(logIndex: number, command: CreateTopic): ApplyResult {
    const problem = topicNameProblem(command.name);
    if (problem !== null) throw new BrokerError(ErrorCode.invalidArgument, problem);
    const max = command.messageBytesMax;
    if (!Number.isSafeInteger(max) || max < 1 || max > BROKER_DEFAULTS.messageBytesMaxCeiling) {
      throw new BrokerError(ErrorCode.invalidArgument, `max message size must be 1..${BROKER_DEFAULTS.messageBytesMaxCeiling} bytes, not ${max}`);
    }
    if (this.topicsByName.has(command.name)) throw new BrokerError(ErrorCode.alreadyExists, `topic ${command.name} already exists`);
    this.addTopic(logIndex, command.name, max);
    return { kind: 'topicCreated', name: command.name };
  }

  private addTopic(logIndex: number, name: string, messageBytesMax: number): TopicLog {
    const topic = new TopicLog(logIndex, name, messageBytesMax);
    this.topicsByName.set(name, topic);
    return topic;
  }

  private releaseScheduled(): void {
    if (this.clockMs < this.nextScheduledMs) return;
    let next = Infinity;
    for (const topic of this.topicsByName.values()) {
      topic.releaseDue(this.clockMs);
      next = Math.min(next, topic.nextScheduledMs);
    }
    this.nextScheduledMs = next;
  }

  /** Gives the batch its offsets now, or holds it back until its delivery time; the first offset or -1. */
  private place(topic: TopicLog, logIndex: number, count: number, deliverAtMs: number): number {
    if (deliverAtMs <= this.clockMs) return topic.append(logIndex, count, this.clockMs);
    topic.schedule(logIndex, count, deliverAtMs);
    this.nextScheduledMs = Math.min(this.nextScheduledMs, deliverAtMs);
    return -1;
  }

  private produce(logIndex: number, command: ProduceSummary): ApplyResult {
    const topic = this.topicsByName.get(command.topic);
    if (topic === undefined) throw new BrokerError(ErrorCode.notFound, `topic ${command.topic} does not exist`);
    checkSizes(command.messageSizes, topic.messageBytesMax);
    // null: no message has the header, so each reads as "0" and the batch is due now.
    const deliverAtMs = command.deliverAtValues === null ? 0 : batchDeliverAtMs(command.deliverAtValues, this.clockMs);
    const count = command.messageSizes.length;
    if (command.producerId === 0) {
      return { kind: 'produced', topic: topic.name, firstOffset: this.place(topic, logIndex, count, deliverAtMs), count, duplicate: false, deliverAtMs };
    }
    const producer = this.producers.get(command.producerId);
    if (producer === undefined) {
      throw new BrokerError(ErrorCode.unknownProducer, `producer id ${command.producerId} was never granted, or expired after being idle; ask for a new one`);
    }
    producer.lastActiveMs = this.clockMs;
    let state = producer.topics.get(topic.id);
    if (state === undefined) {
      state = { nextSequence: 0, recent: [] };
      producer.topics.set(topic.id, state);
    }
    const duplicate = this.findDuplicate(state, command.firstSequence, count);
    if (duplicate !== null) return { kind: 'produced', topic: topic.name, firstOffset: duplicate.firstOffset, count, duplicate: true, deliverAtMs };
    const firstOffset = this.place(topic, logIndex, count, deliverAtMs);
    state.recent.push({ firstSequence: command.firstSequence, count, firstOffset });
    if (state.recent.length > this.recentBatchesKept) state.recent.shift();
    state.nextSequence = command.firstSequence + count;
    return { kind: 'produced', topic: topic.name, firstOffset, count, duplicate: false, deliverAtMs };
  }

  /**
   * A batch starting where the producer's sequence stands is new (null). One starting earlier
   * is a retry of a batch already written: its original offsets if it is one of the recent
   * batches, an error otherwise. One starting later means a batch in between is missing.
   */
  private findDuplicate(state: ProducerTopicState, firstSequence: number, count: number): RecentBatch | null {
    if (firstSequence === state.nextSequence) return null;
    if (firstSequence > state.nextSequence) {
      throw new BrokerError(ErrorCode.outOfOrderSequence, `expected sequence ${state.nextSequence}, got ${firstSequence}: an earlier batch has not arrived`);
    }
    const match = state.recent.find((b) => b.firstSequence === firstSequence);
    if (match !== undefined && match.count === count) return match;
    if (match === undefined && firstSequence + count <= (state.recent[0]?.firstSequence ?? state.nextSequence)) {
      throw new BrokerError(ErrorCode.duplicateTooOld, `sequence ${firstSequence} was written long ago; its offsets are no longer remembered`);
    }
    throw new BrokerError(ErrorCode.outOfOrderSequence, `sequences ${firstSequence}..${firstSequence + count - 1} overlap batches already written differently`);
  }

  private expireIdleProducers(): void {
    if (this.clockMs < this.nextExpiryScanMs) return;
    // One scan per second of log time, so the cost per entry stays small; an id may outlive
    // its expiry by up to that second.
    this.nextExpiryScanMs = this.clockMs + BROKER_DEFAULTS.expiryScanIntervalMs;
    for (const [id, producer] of this.producers) {
      if (producer.lastActiveMs + producer.idleExpiryMs <= this.clockMs) this.producers.delete(id);
    }
  }
}

function checkMessages(messages: readonly MessageRecord[], messageBytesMax: number): void {
  checkSizes(messages.map(messageBytes), messageBytesMax);
}

/** Refuses a batch of no messages, or one with a message (of these messageBytes) over the topic's limit. */
function checkSizes(sizes: readonly number[], messageBytesMax: number): void {
  if (sizes.length === 0) throw new BrokerError(ErrorCode.invalidArgument, 'a produce request needs at least one message');
  for (let k = 0; k < sizes.length; k++) {
    const bytes = sizes[k] ?? 0;
    if (bytes > messageBytesMax) {
      throw new BrokerError(ErrorCode.invalidArgument, `message ${k} is ${bytes} bytes; this topic takes at most ${messageBytesMax}`);
    }
  }
}

/** The batch's delivery time from its messages' DELIVER_AT_HEADER values (undefined: none, read as "0": now); all must agree. */
function batchDeliverAtMs(values: readonly (Uint8Array | undefined)[], nowMs: number): number {
  let batchMs: number | null = null;
  for (const [k, value] of values.entries()) {
    const text = value === undefined ? '0' : Buffer.from(value).toString('latin1');
    if (!/^[0-9]{1,16}$/.test(text)) throw new BrokerError(ErrorCode.invalidArgument, `message ${k}: ${DELIVER_AT_HEADER} must be a time in ms since 1970, not "${text.slice(0, 40)}"`);
    const atMs = Number(text);
    if (atMs > nowMs + BROKER_DEFAULTS.deliverDelayMsMax) {
      throw new BrokerError(ErrorCode.invalidArgument, `message ${k}: delivery at ${atMs} is more than ${BROKER_DEFAULTS.deliverDelayMsMax / 86_400_000} days ahead`);
    }
    if (batchMs !== null && batchMs !== atMs) throw new BrokerError(ErrorCode.invalidArgument, `messages of one batch must share one delivery time; message ${k} differs`);
    batchMs = atMs;
  }
  return batchMs ?? 0;
}
