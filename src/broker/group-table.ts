import type { CreateGroup, GroupCommand, OffsetRange, ResetGroup } from './commands.js';
import {
  ConsumerGroup,
  type ConsumerGroupSnapshot,
  type ConsumerGroupSource,
  deadLetterTopicOf,
  GROUP_DEFAULTS,
  groupNameProblem,
  groupSettingsProblem,
  isDelay,
  type AckOutcome,
  type DeadLetterCandidate,
  type DeliveredMessage,
  type GroupDescription,
  type LeaseDelivery,
} from './consumer-groups.js';
import { ErrorCode } from '../../errors/index.js';
import { BrokerError } from './errors.js';
import type { TopicLog } from './topic-log.js';

export type GroupResult =
  | { readonly kind: 'groupCreated'; readonly group: string; readonly created: boolean }
  | { readonly kind: 'groupDeleted'; readonly group: string }
  | { readonly kind: 'delivered'; readonly group: string; readonly topic: string; readonly messages: readonly DeliveredMessage[] }
  | { readonly kind: 'acked'; readonly group: string; readonly outcomes: readonly AckOutcome[] }
  | { readonly kind: 'nacked'; readonly group: string; readonly offset: number; readonly deadLettered: boolean; readonly retryAtMs: number }
  | { readonly kind: 'extended'; readonly group: string; readonly offset: number; readonly deadlineMs: number }
  | { readonly kind: 'released'; readonly group: string; readonly count: number }
  /** counted: seen deliveries released as failed; returned: unseen ones released without counting. */
  | { readonly kind: 'left'; readonly group: string; readonly counted: number; readonly returned: number }
  | { readonly kind: 'deadLettered'; readonly group: string; readonly topic: string; readonly offset: number }
  /** committedOffset: where the group now starts; forgotten: unfinished deliveries it dropped. */
  | { readonly kind: 'groupReset'; readonly group: string; readonly committedOffset: number; readonly previousCommittedOffset: number; readonly forgotten: number };

/** What the group table needs of the topics: looking them up, and creating a dead-letter topic. */
export interface TopicDirectory {
  get(name: string): TopicLog | undefined;
  /** The first offset of `topic` every node still reads (BrokerState.earliestOffset): where "earliest" starts. */
  earliestOffset(topic: TopicLog): number;
  /** The topic named `name`, created (at this entry) if it does not exist. */
  ensure(name: string, logIndex: number): TopicLog;
}

const CONSUMER_ID_MAX_CHARS = 128;

/** Acks each range's offsets in order; a range that is empty or runs past 2^53, or more offsets in all than ackOffsetsMax, is refused before any is acked. */
function ackRanges(group: ConsumerGroup, ranges: readonly OffsetRange[]): AckOutcome[] {
  let total = 0;
  for (const { offset, count } of ranges) {
    if (!(count >= 1 && offset <= Number.MAX_SAFE_INTEGER - (count - 1))) throw new BrokerError(ErrorCode.invalidArgument, `an ack range of ${count} from offset ${offset}`);
    total += count;
  }
  if (total > GROUP_DEFAULTS.ackOffsetsMax) throw new BrokerError(ErrorCode.invalidArgument, `one ack entry takes at most ${GROUP_DEFAULTS.ackOffsetsMax} offsets, not ${total}`);
  const outcomes: AckOutcome[] = [];
  // Bounded by ackOffsetsMax.
  for (const { offset, count } of ranges) for (let k = 0; k < count; k++) outcomes.push(group.ack(offset + k));
  return outcomes;
}

/**
 * The consumer groups of the broker's state machine. Every change comes from a committed
 * command at a log time; refusals are BrokerErrors thrown before anything changed.
 */
export class GroupTable {
  private readonly groups = new Map<string, ConsumerGroup>();

  constructor(private readonly topics: TopicDirectory) {}

  /** The groups, in the table's order, as views of their live state (see ConsumerGroup.snapshotSource). */
  snapshotSources(): ConsumerGroupSource[] {
    return [...this.groups.values()].map((g) => g.snapshotSource());
  }

  /** Fills an empty table with the groups of a snapshot, in their order. */
  load(groups: readonly ConsumerGroupSnapshot[]): void {
    if (this.groups.size !== 0) throw new Error('broker: a group table is loaded from a snapshot only when empty');
    for (const s of groups) {
      if (this.groups.has(s.name)) throw new Error(`broker: group ${s.name} twice in a snapshot`);
      this.groups.set(s.name, ConsumerGroup.fromSnapshot(s));
    }
  }

  /**
   * The lowest log index holding a message some group has handed out and not finished
   * (in flight, waiting for a retry, ready again, or dead and waiting for its dead-letter
   * copy, which the leader makes from the original); Infinity if none. A group whose topic
   * was deleted owes nothing: its messages can never go out again.
   */
  lowestOwedLogIndex(): number {
    let lowest = Infinity;
    for (const g of this.groups.values()) {
      const topic = this.liveTopic(g);
      if (topic !== undefined) lowest = Math.min(lowest, topic.lowestLogIndexOf(g.unfinishedOffsets()));
    }
    return lowest;
  }

  /**
   * The lowest log index holding a message at or after some group's committed offset: what
   * a group has not yet finished, including what it has not been handed (Infinity if none).
   */
  lowestUnconsumedLogIndex(): number {
    let lowest = Infinity;
    for (const g of this.groups.values()) lowest = Math.min(lowest, this.liveTopic(g)?.lowestLogIndexFrom(g.committedOffset) ?? Infinity);
    return lowest;
  }

  /** Applies deadlines and retry times that log time `nowMs` has reached, in every group. */
  advance(nowMs: number): void {
    for (const g of this.groups.values()) g.advance(nowMs);
  }

  nextDueMs(): number {
    let due = Infinity;
    for (const g of this.groups.values()) due = Math.min(due, g.nextDueMs);
    return due;
  }

  apply(logIndex: number, nowMs: number, command: GroupCommand): GroupResult {
    if (command.kind === 'createGroup') return this.create(command, nowMs);
    const group = this.get(command.group);
    switch (command.kind) {
      case 'deleteGroup':
        this.groups.delete(group.name);
        return { kind: 'groupDeleted', group: group.name };
      case 'deliver': {
        consumerIdCheck(command.consumer);
        const topic = this.topicOf(group);
        const max = Math.min(command.max, GROUP_DEFAULTS.deliverBatchMax);
        return { kind: 'delivered', group: group.name, topic: topic.name, messages: group.deliver(command.consumer, max, nowMs, topic) };
      }
      case 'lease': {
        consumerIdCheck(command.consumer);
        const topic = this.topicOf(group);
        // A lease is at most the largest prefetch: what one consumer may hold at once.
        const max = Math.min(command.max, GROUP_DEFAULTS.maxSeenOnLeave);
        return { kind: 'delivered', group: group.name, topic: topic.name, messages: group.lease(command.consumer, max, GROUP_DEFAULTS.deliverBatchMax, nowMs, topic) };
      }
      case 'ack':
        return { kind: 'acked', group: group.name, outcomes: command.offsets.map((offset) => group.ack(offset)) };
      case 'ackRanges':
        return { kind: 'acked', group: group.name, outcomes: ackRanges(group, command.ranges) };
      case 'nack': {
        if (!(command.delayMs === -1 || isDelay(command.delayMs))) {
          throw new BrokerError(ErrorCode.invalidArgument, `a nack delay must be 0..${GROUP_DEFAULTS.delayMsMax} ms, not ${command.delayMs}`);
        }
        const reason = command.reason.slice(0, GROUP_DEFAULTS.reasonBytesMax);
        const d = group.nack(command.offset, command.delivery, reason, command.delayMs === -1 ? null : command.delayMs, nowMs);
        return { kind: 'nacked', group: group.name, offset: command.offset, deadLettered: d.state === 'dead', retryAtMs: d.state === 'dead' ? 0 : d.dueMs };
      }
      case 'extend': {
        if (!(isDelay(command.extendMs) && command.extendMs >= 1)) {
          throw new BrokerError(ErrorCode.invalidArgument, `an extension must be 1..${GROUP_DEFAULTS.delayMsMax} ms, not ${command.extendMs}`);
        }
        return { kind: 'extended', group: group.name, offset: command.offset, deadlineMs: group.extend(command.offset, command.delivery, command.extendMs, nowMs) };
      }
      case 'release':
        consumerIdCheck(command.consumer);
        return { kind: 'released', group: group.name, count: group.release(command.consumer) };
      case 'leave': {
        consumerIdCheck(command.consumer);
        if (command.seen.length > GROUP_DEFAULTS.maxSeenOnLeave) {
          throw new BrokerError(ErrorCode.invalidArgument, `a consumer leaves with at most ${GROUP_DEFAULTS.maxSeenOnLeave} unfinished deliveries (its largest prefetch), not ${command.seen.length}`);
        }
        return { kind: 'left', group: group.name, ...group.leave(command.consumer, command.seen) };
      }
      case 'resetGroup':
        return this.reset(group, command, nowMs);
      case 'deadLetter': {
        group.deadLettered(command.offset);
        const dlq = this.topics.ensure(deadLetterTopicOf(group.name), logIndex);
        const offset = dlq.append(logIndex, 1, nowMs);
        return { kind: 'deadLettered', group: group.name, topic: dlq.name, offset };
      }
    }
  }

  /**
   * Hands what entries made visible to the groups' standing leases (ConsumerGroup.fillLeases):
   * called after every applied entry, at its log time.
   */
  fillLeases(nowMs: number): LeaseDelivery[] {
    const handed: LeaseDelivery[] = [];
    // Bounded by the number of groups; a group without leases costs one check.
    for (const g of this.groups.values()) {
      if (g.leaseCount === 0) continue;
      const topic = this.liveTopic(g);
      if (topic !== undefined && topic.nextOffset > g.nextOffset) handed.push(...g.fillLeases(nowMs, topic));
    }
    return handed;
  }

  describe(name: string): GroupDescription | undefined {
    const g = this.groups.get(name);
    if (g === undefined) return undefined;
    return g.describe(this.liveTopic(g)?.nextOffset ?? g.committedOffset, deadLetterTopicOf(g.name));
  }

  list(): GroupDescription[] {
    return [...this.groups.keys()].sort().map((name) => this.describe(name) as GroupDescription);
  }

  /** The group's raw deliveries, for tests and checkers. */
  group(name: string): ConsumerGroup | undefined {
    return this.groups.get(name);
  }

  /** How many messages a deliver entry for the group could hand out now at most (0 for an unknown group or a deleted topic). */
  deliverableCount(name: string): number {
    const g = this.groups.get(name);
    const topic = g === undefined ? undefined : this.liveTopic(g);
    return g === undefined || topic === undefined ? 0 : g.deliverableCount(topic.nextOffset);
  }

  /** Dead messages waiting for their dead-letter entry, across groups, at most `max`. */
  deadLetterCandidates(max: number): DeadLetterCandidate[] {
    const out: DeadLetterCandidate[] = [];
    for (const g of this.groups.values()) {
      if (out.length >= max) break;
      out.push(...g.deadLetterCandidates(max - out.length, deadLetterTopicOf(g.name)));
    }
    return out;
  }

  private create(command: CreateGroup, nowMs: number): GroupResult {
    const nameProblem = groupNameProblem(command.group) ?? groupSettingsProblem(command.settings);
    if (nameProblem !== null) throw new BrokerError(ErrorCode.invalidArgument, nameProblem);
    const topic = this.topics.get(command.topic);
    if (topic === undefined) throw new BrokerError(ErrorCode.notFound, `topic ${command.topic} does not exist`);
    const existing = this.groups.get(command.group);
    if (existing !== undefined) {
      if (!command.ifAbsent) throw new BrokerError(ErrorCode.alreadyExists, `group ${command.group} already exists`);
      if (existing.topicId !== topic.id) {
        throw new BrokerError(ErrorCode.failedPrecondition, `group ${command.group} reads topic ${existing.topicName}${existing.topicName === topic.name ? ' as it was before it was deleted' : ''}, not ${command.topic}`);
      }
      return { kind: 'groupCreated', group: command.group, created: false };
    }
    const start = startOffset(command, topic, this.topics.earliestOffset(topic), nowMs);
    this.groups.set(command.group, new ConsumerGroup(command.group, topic.id, topic.name, command.settings, start));
    return { kind: 'groupCreated', group: command.group, created: true };
  }

  /**
   * Moves the group to the command's target. Without `force` it is refused while the group
   * has messages in flight (consumers are working on them: Kafka refuses to reset an active
   * group) or dead messages whose dead-letter copy is not written yet (forgetting them would
   * lose that copy). Waiting and ready retries are forgotten without asking: the target
   * says what is consumed (below it) and what goes out again (from it on).
   */
  private reset(group: ConsumerGroup, command: ResetGroup, nowMs: number): GroupResult {
    const topic = this.topicOf(group);
    const offset = resetOffset(command, topic, this.topics.earliestOffset(topic), nowMs);
    if (!command.force) {
      const busy = group.describe(topic.nextOffset, deadLetterTopicOf(group.name));
      if (busy.inflight > 0 || busy.dead > 0) throw new BrokerError(ErrorCode.failedPrecondition, busyMessage(busy));
    }
    const previousCommittedOffset = group.committedOffset;
    const forgotten = group.reset(offset);
    return { kind: 'groupReset', group: group.name, committedOffset: offset, previousCommittedOffset, forgotten };
  }

  private get(name: string): ConsumerGroup {
    const g = this.groups.get(name);
    if (g === undefined) throw new BrokerError(ErrorCode.notFound, `group ${name} does not exist`);
    return g;
  }

  private liveTopic(g: ConsumerGroup): TopicLog | undefined {
    const topic = this.topics.get(g.topicName);
    return topic?.id === g.topicId ? topic : undefined;
  }

  private topicOf(g: ConsumerGroup): TopicLog {
    const topic = this.liveTopic(g);
    if (topic === undefined) throw new BrokerError(ErrorCode.notFound, `topic ${g.topicName} of group ${g.name} was deleted`);
    return topic;
  }
}

/** Where a new group starts; `earliest` is the topic's (what a trim left: 0 before any). */
function startOffset(command: CreateGroup, topic: TopicLog, earliest: number, nowMs: number): number {
  const start = command.start;
  switch (start.kind) {
    case 'earliest':
      return earliest;
    case 'latest':
      return topic.nextOffset;
    case 'offset':
      if (!(Number.isSafeInteger(start.offset) && start.offset >= 0 && start.offset <= topic.nextOffset)) {
        throw new BrokerError(ErrorCode.invalidArgument, `start offset ${start.offset} is outside topic ${topic.name} (0..${topic.nextOffset})`);
      }
      return start.offset;
    case 'time':
      if (!(Number.isSafeInteger(start.timeMs) && start.timeMs >= 0 && start.timeMs <= nowMs + GROUP_DEFAULTS.delayMsMax)) {
        throw new BrokerError(ErrorCode.invalidArgument, `start time ${start.timeMs} is not a time in ms since 1970`);
      }
      return topic.offsetAtTime(start.timeMs);
  }
}

/**
 * The offset a reset moves to: a concrete offset within what the proposing leader keeps
 * (command.earliestOffset) up to the topic's end; the end; or the first offset made visible
 * at or after a time, never below what the leader keeps (Kafka's lookup by time searches
 * only the log it has, too). Never below `earliest`, what every node keeps since the last
 * trim, whatever the command carries (a leader that had not applied that trim yet).
 */
function resetOffset(command: ResetGroup, topic: TopicLog, earliest: number, nowMs: number): number {
  const to = command.to;
  const end = topic.nextOffset;
  const floor = Math.min(Math.max(command.earliestOffset, earliest), end);
  switch (to.kind) {
    case 'offset':
      if (!(Number.isSafeInteger(to.offset) && to.offset >= floor && to.offset <= end)) {
        throw new BrokerError(ErrorCode.invalidArgument, `offset ${to.offset} is outside what topic ${topic.name} keeps (${floor}..${end})`);
      }
      return to.offset;
    case 'latest':
      return end;
    case 'time':
      if (!(Number.isSafeInteger(to.timeMs) && to.timeMs >= 0 && to.timeMs <= nowMs + GROUP_DEFAULTS.delayMsMax)) {
        throw new BrokerError(ErrorCode.invalidArgument, `reset time ${to.timeMs} is not a time in ms since 1970`);
      }
      return Math.max(topic.offsetAtTime(to.timeMs), floor);
  }
}

const BUSY_CONSUMERS_NAMED = 5;

function busyMessage(g: GroupDescription): string {
  const named = [...g.consumers.keys()].slice(0, BUSY_CONSUMERS_NAMED);
  const more = g.consumers.size > named.length ? ` and ${g.consumers.size - named.length} more` : '';
  const parts = [
    ...(g.inflight > 0 ? [`${g.inflight} message(s) in flight to consumer(s) ${named.join(', ')}${more}`] : []),
    ...(g.dead > 0 ? [`${g.dead} dead message(s) waiting for their copy in ${g.deadLetterTopic}`] : []),
  ];
  return `group ${g.name} has ${parts.join(' and ')}; a reset would forget them: stop its consumers (or wait for the dead-letter copies) and reset again, or force the reset`;
}

function consumerIdCheck(consumer: string): void {
  if (consumer.length === 0 || consumer.length > CONSUMER_ID_MAX_CHARS) {
    throw new BrokerError(ErrorCode.invalidArgument, `a consumer id has 1..${CONSUMER_ID_MAX_CHARS} characters, not ${consumer.length}`);
  }
}
