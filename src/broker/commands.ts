import { BinaryReader, BinaryWriter, MalformedBinaryError } from '../encoding/index.js';
import type { GroupSettings, GroupStart } from './consumer-groups.js';
import { readAclRule, writeAclRule, type AclRule } from './acl.js';
import { MalformedCommandError } from './errors.js';

/**
 * The broker's replicated commands: the payloads of the log entries that change broker
 * state. Every replica applies the same commands in the same order, so every replica
 * reaches the same state; anything time-dependent uses `leaderTimeMs`, the proposing
 * leader's clock written into the entry, never a replica's own clock.
 *
 * Wire format (little-endian): version u8 (=1), kind u8, leaderTimeMs u64, then the body.
 * Kinds are numbers that are never reused.
 */
export const CommandKind = {
  createTopic: 1,
  deleteTopic: 2,
  initProducer: 3,
  produce: 4,
  clock: 5,
  trimLog: 6,
  createGroup: 10,
  deleteGroup: 11,
  deliver: 12,
  ack: 13,
  nack: 14,
  extend: 15,
  release: 16,
  deadLetter: 17,
  leave: 18,
  resetGroup: 19,
  halfMessage: 20,
  endTransaction: 21,
  lease: 22,
  ackRanges: 23,
  aclAdd: 30,
  aclRemove: 31,
} as const;
export type CommandKind = (typeof CommandKind)[keyof typeof CommandKind];

const FORMAT_VERSION = 1;

export interface Header {
  readonly name: string;
  readonly value: Uint8Array;
}

/** One message as a producer sent it. */
export interface MessageRecord {
  readonly key: Uint8Array;
  readonly headers: readonly Header[];
  readonly payload: Uint8Array;
  /** The producer's clock when it created the message. */
  readonly timestampMs: number;
}

export interface CreateTopic {
  readonly kind: 'createTopic';
  readonly name: string;
  readonly messageBytesMax: number;
}

export interface DeleteTopic {
  readonly kind: 'deleteTopic';
  readonly name: string;
}

/**
 * Asks for a producer id; the id granted is the log index of this entry. The idle time after
 * which it expires travels in the entry (the proposing leader's setting), so every replica
 * expires it at the same point of the log whatever its own configuration says.
 */
export interface InitProducer {
  readonly kind: 'initProducer';
  readonly idleExpiryMs: number;
}

export interface Produce {
  readonly kind: 'produce';
  readonly topic: string;
  /** 0 for a producer without idempotence: no sequence check, no dedupe. */
  readonly producerId: number;
  /** The producer's sequence number of messages[0] on this topic; the rest follow it. */
  readonly firstSequence: number;
  readonly messages: readonly MessageRecord[];
}

/**
 * Carries nothing but the proposing leader's time: proposed when something in the state falls
 * due (BrokerState.nextDueMs) and no other entry is moving the log clock.
 */
export interface Clock {
  readonly kind: 'clock';
}

/**
 * Drops the broker state that only describes log entries below `beforeLogIndex`: the topics'
 * offset runs there (a topic's earliest offset moves up) and the log time samples no longer
 * needed. Proposed by the leader at the point it compacted its log below, so the state stops
 * growing with history. Applied at min(beforeLogIndex, the lowest entry the broker still
 * owes) on every node alike; at or below the point already trimmed it changes nothing.
 */
export interface TrimLog {
  readonly kind: 'trimLog';
  readonly beforeLogIndex: number;
}

/** Creates a consumer group on a topic; with `ifAbsent` an existing group on the same topic is fine. */
export interface CreateGroup {
  readonly kind: 'createGroup';
  readonly group: string;
  readonly topic: string;
  readonly start: GroupStart;
  readonly settings: GroupSettings;
  readonly ifAbsent: boolean;
}

export interface DeleteGroup {
  readonly kind: 'deleteGroup';
  readonly group: string;
}

/**
 * Hands up to `max` messages of the group to `consumer`; the leader sends them once this
 * commits. The node proposes `lease` instead; this is applied as ever from logs that hold it.
 */
export interface Deliver {
  readonly kind: 'deliver';
  readonly group: string;
  readonly consumer: string;
  readonly max: number;
}

/**
 * Hands up to `max` messages of the group to `consumer` now, as deliver does, and leaves the
 * rest of `max` to it as a standing lease: new offsets of the topic go to it as the entries
 * that make them visible apply, with no deliver entry of their own (ConsumerGroup.lease).
 */
export interface Lease {
  readonly kind: 'lease';
  readonly group: string;
  readonly consumer: string;
  readonly max: number;
}

/** The node proposes `ackRanges` instead; this is applied as ever from logs that hold it. */
export interface Ack {
  readonly kind: 'ack';
  readonly group: string;
  readonly offsets: readonly number[];
}

/** Consecutive offsets `offset`..`offset + count - 1`. */
export interface OffsetRange {
  readonly offset: number;
  readonly count: number;
}

/**
 * Acks as runs of consecutive offsets: what an ack with the ranges' offsets, in order, does
 * (the outcomes come in the same order). The leader puts the acks of several requests for
 * one group in one of these.
 */
export interface AckRanges {
  readonly kind: 'ackRanges';
  readonly group: string;
  readonly ranges: readonly OffsetRange[];
}

/** `delayMs` -1: the group's delay for the message's retry level. */
export interface Nack {
  readonly kind: 'nack';
  readonly group: string;
  readonly offset: number;
  readonly delivery: number;
  readonly reason: string;
  readonly delayMs: number;
}

export interface Extend {
  readonly kind: 'extend';
  readonly group: string;
  readonly offset: number;
  readonly delivery: number;
  readonly extendMs: number;
}

/** The consumer is gone (closed, or its connection broke): its messages may go out again now. */
export interface Release {
  readonly kind: 'release';
  readonly group: string;
  readonly consumer: string;
}

/** One delivery of one message, as a consumer names it. */
export interface DeliveryRef {
  readonly offset: number;
  readonly delivery: number;
}

/**
 * The consumer leaves cleanly (closed, or its iteration ended): everything it holds may go
 * out again now. The deliveries it handed to its application and did not finish (`seen`)
 * count as failed deliveries, as with a release; the ones it never handed out (prefetched,
 * or still on the wire) do not count, so a clean close never moves a message toward the
 * dead-letter topic.
 */
export interface Leave {
  readonly kind: 'leave';
  readonly group: string;
  readonly consumer: string;
  readonly seen: readonly DeliveryRef[];
}

/**
 * Writes a message that failed every delivery to the group's dead-letter topic: a copy with
 * headers saying where it came from, made by the leader from the original.
 */
export interface DeadLetter {
  readonly kind: 'deadLetter';
  readonly group: string;
  readonly offset: number;
  readonly message: MessageRecord;
}

/**
 * Where a reset moves a group, as the log carries it: a concrete offset, the topic's end at
 * apply time, or the first offset made visible at or after a time (at apply time). The
 * client's "earliest" is not here: each node's log keeps a different prefix, so the leader
 * turns it into an offset (its earliest kept) before it proposes.
 */
export type ResetTarget = { readonly kind: 'offset'; readonly offset: number } | { readonly kind: 'latest' } | { readonly kind: 'time'; readonly timeMs: number };

/**
 * Moves a group's committed and next offset to `to` (Kafka's --reset-offsets, RocketMQ's
 * resetOffsetByTime) and forgets every unfinished delivery: in flight, waiting for a retry,
 * ready, dead. Refused (failedPrecondition) while messages are in flight to consumers or
 * dead ones wait for their dead-letter copy, unless `force`.
 */
export interface ResetGroup {
  readonly kind: 'resetGroup';
  readonly group: string;
  readonly to: ResetTarget;
  /**
   * The proposing leader's earliest kept offset of the group's topic (retention may have
   * deleted what is below): a time target resolves to no offset below it, an offset target
   * below it is refused. In the entry, so every replica resolves alike.
   */
  readonly earliestOffset: number;
  readonly force: boolean;
}

export type GroupCommand = CreateGroup | DeleteGroup | Deliver | Lease | Ack | AckRanges | Nack | Extend | Release | Leave | DeadLetter | ResetGroup;

/**
 * A transaction's half message(s): held durably, invisible until an EndTransaction commits
 * them (they then get consecutive offsets of `topic`). The check-back schedule travels in
 * the entry, so every replica checks and gives up at the same point of the log.
 */
export interface HalfMessage {
  readonly kind: 'halfMessage';
  /** Chosen by the producer (a UUID): a retried half with the same id is answered, not written twice. */
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  /** Log time after the half before the first check-back. */
  readonly checkDelayMs: number;
  /** Log time between check-backs. */
  readonly checkIntervalMs: number;
  /** Check-backs before the transaction is rolled back (and its messages recorded for audit). */
  readonly checkMax: number;
  readonly messages: readonly MessageRecord[];
}

/** Who decided a transaction in an EndTransaction entry. */
export const EndSource = { producer: 1, checkBack: 2, admin: 3 } as const;
export type EndSource = keyof typeof EndSource;

export interface EndTransaction {
  readonly kind: 'endTransaction';
  readonly txId: string;
  readonly outcome: 'commit' | 'rollback';
  readonly source: EndSource;
}

/** Grants the rule's operations (adds them to the rule of the same principal and resource, if any). */
export interface AclAdd {
  readonly kind: 'aclAdd';
  readonly rule: AclRule;
}

/** Takes the rule's operations away from the rule of the same principal and resource. */
export interface AclRemove {
  readonly kind: 'aclRemove';
  readonly rule: AclRule;
}

export type BrokerCommand = CreateTopic | DeleteTopic | InitProducer | Produce | Clock | TrimLog | GroupCommand | HalfMessage | EndTransaction | AclAdd | AclRemove;

/**
 * A message header asking for delayed delivery: the time (ms since 1970, decimal ASCII) at
 * which it becomes visible. All messages of one batch must agree; the Producer sends a
 * delayed message in a batch of its own.
 */
export const DELIVER_AT_HEADER = 'quorumlog-deliver-at-ms';

/** The header by which a message asks to be delivered later, if it has one. */
export function deliverAtHeaderOf(message: { readonly headers: readonly { readonly name: string; readonly value: Uint8Array }[] }): { readonly value: Uint8Array } | undefined {
  return message.headers.find((h) => h.name === DELIVER_AT_HEADER);
}

/**
 * A produce as the broker state applies it: all it reads of the messages is their sizes and
 * delivery headers, so a node applying a produce entry reads those from the entry
 * (decodeAppliedCommand) and builds no message. The state applies it exactly as the Produce
 * it was encoded from (summarizeProduce gives the same summary of that Produce).
 */
export interface ProduceSummary {
  readonly kind: 'produceSummary';
  readonly topic: string;
  readonly producerId: number;
  readonly firstSequence: number;
  /** Each message's messageBytes, in order: one per message. */
  readonly messageSizes: readonly number[];
  /** Each message's DELIVER_AT_HEADER value (undefined: it has none), in order; null when no message has one. */
  readonly deliverAtValues: readonly (Uint8Array | undefined)[] | null;
}

/** What BrokerState.apply takes: a command, or a produce entry read as its summary. */
export type AppliedCommand = BrokerCommand | ProduceSummary;

/** The summary a Produce's entry reads as: how the state applies a produce given as a command (tests, the simulator). */
export function summarizeProduce(command: Produce): ProduceSummary {
  const values = command.messages.map((m) => deliverAtHeaderOf(m)?.value);
  return {
    kind: 'produceSummary',
    topic: command.topic,
    producerId: command.producerId,
    firstSequence: command.firstSequence,
    messageSizes: command.messages.map(messageBytes),
    deliverAtValues: values.some((v) => v !== undefined) ? values : null,
  };
}

/** A message's size as topic limits and response budgets count it: key, headers and payload. */
export function messageBytes(m: MessageRecord): number {
  let bytes = m.key.length + m.payload.length;
  for (const h of m.headers) bytes += h.name.length + h.value.length;
  return bytes;
}

export interface CommandEnvelope {
  readonly leaderTimeMs: number;
  readonly command: BrokerCommand;
}

/**
 * The command's bytes. `leadingByte`, when given, is written before them in the same buffer
 * (the node's payload tag), so the caller needs no second copy to put it in front.
 */
export function encodeCommand(envelope: CommandEnvelope, leadingByte?: number): Uint8Array {
  const { command } = envelope;
  const w = new BinaryWriter(65 + estimateBytes(command));
  if (leadingByte !== undefined) w.u8(leadingByte);
  w.u8(FORMAT_VERSION).u8(CommandKind[command.kind]).u53(envelope.leaderTimeMs);
  switch (command.kind) {
    case 'createTopic':
      w.string(command.name).u32(command.messageBytesMax);
      break;
    case 'deleteTopic':
      w.string(command.name);
      break;
    case 'initProducer':
      w.u53(command.idleExpiryMs);
      break;
    case 'produce':
      w.string(command.topic).u53(command.producerId).u53(command.firstSequence);
      encodeMessages(w, command.messages);
      break;
    case 'clock':
      break;
    case 'trimLog':
      w.u53(command.beforeLogIndex);
      break;
    case 'halfMessage':
      w.string(command.txId).string(command.producerGroup).string(command.topic);
      w.u53(command.checkDelayMs).u53(command.checkIntervalMs).u32(command.checkMax);
      encodeMessages(w, command.messages);
      break;
    case 'endTransaction':
      w.string(command.txId).u8(command.outcome === 'commit' ? 1 : 2).u8(EndSource[command.source]);
      break;
    case 'aclAdd':
    case 'aclRemove':
      writeAclRule(w, command.rule);
      break;
    default:
      encodeGroupCommand(w, command);
  }
  return w.finish();
}

function encodeMessage(w: BinaryWriter, m: MessageRecord): void {
  w.bytes(m.key).u32(m.headers.length);
  for (const h of m.headers) w.string(h.name).bytes(h.value);
  w.bytes(m.payload).u53(m.timestampMs);
}

const StartKind = { earliest: 0, latest: 1, offset: 2, time: 3 } as const;

function encodeGroupCommand(w: BinaryWriter, command: GroupCommand): void {
  w.string(command.group);
  switch (command.kind) {
    case 'createGroup': {
      const start = command.start;
      w.string(command.topic).u8(StartKind[start.kind]).u53(start.kind === 'offset' ? start.offset : start.kind === 'time' ? start.timeMs : 0);
      w.u53(command.settings.ackDeadlineMs).u32(command.settings.retriesMax).u32(command.settings.retryDelaysMs.length);
      for (const d of command.settings.retryDelaysMs) w.u53(d);
      w.u8(command.ifAbsent ? 1 : 0);
      break;
    }
    case 'deleteGroup':
      break;
    case 'deliver':
    case 'lease':
      w.string(command.consumer).u32(command.max);
      break;
    case 'ack':
      w.u32(command.offsets.length);
      for (const o of command.offsets) w.u53(o);
      break;
    case 'ackRanges':
      w.u32(command.ranges.length);
      for (const range of command.ranges) w.u53(range.offset).u32(range.count);
      break;
    case 'nack':
      // -1 travels as 2^53 - 1: "the level's delay".
      w.u53(command.offset).u32(command.delivery).string(command.reason).u53(command.delayMs < 0 ? Number.MAX_SAFE_INTEGER : command.delayMs);
      break;
    case 'extend':
      w.u53(command.offset).u32(command.delivery).u53(command.extendMs);
      break;
    case 'release':
      w.string(command.consumer);
      break;
    case 'leave':
      w.string(command.consumer).u32(command.seen.length);
      for (const d of command.seen) w.u53(d.offset).u32(d.delivery);
      break;
    case 'deadLetter':
      w.u53(command.offset);
      encodeMessage(w, command.message);
      break;
    case 'resetGroup': {
      const to = command.to;
      w.u8(StartKind[to.kind]).u53(to.kind === 'offset' ? to.offset : to.kind === 'time' ? to.timeMs : 0);
      w.u53(command.earliestOffset).u8(command.force ? 1 : 0);
      break;
    }
  }
}

function decodeGroupCommand(kind: number, r: BinaryReader): GroupCommand {
  const group = r.string();
  switch (kind) {
    case CommandKind.createGroup: {
      const topic = r.string();
      const start = decodeStart(r.u8(), r.u53());
      const ackDeadlineMs = r.u53();
      const retriesMax = r.u32();
      const levels = r.u32();
      if (levels > 1024) throw new MalformedCommandError(`a group with ${levels} retry levels`);
      const retryDelaysMs: number[] = [];
      for (let k = 0; k < levels; k++) retryDelaysMs.push(r.u53());
      const ifAbsent = r.u8() === 1;
      return { kind: 'createGroup', group, topic, start, settings: { ackDeadlineMs, retriesMax, retryDelaysMs }, ifAbsent };
    }
    case CommandKind.deleteGroup:
      return { kind: 'deleteGroup', group };
    case CommandKind.deliver:
      return { kind: 'deliver', group, consumer: r.string(), max: r.u32() };
    case CommandKind.lease:
      return { kind: 'lease', group, consumer: r.string(), max: r.u32() };
    case CommandKind.ack: {
      const count = r.u32();
      const offsets: number[] = [];
      // Bounded by the entry's size: each offset takes 8 bytes.
      for (let k = 0; k < count; k++) offsets.push(r.u53());
      return { kind: 'ack', group, offsets };
    }
    case CommandKind.ackRanges: {
      const count = r.u32();
      const ranges: OffsetRange[] = [];
      // Bounded by the entry's size: each range takes 12 bytes.
      for (let k = 0; k < count; k++) ranges.push({ offset: r.u53(), count: r.u32() });
      return { kind: 'ackRanges', group, ranges };
    }
    case CommandKind.nack: {
      const offset = r.u53();
      const delivery = r.u32();
      const reason = r.string();
      const delay = r.u53();
      return { kind: 'nack', group, offset, delivery, reason, delayMs: delay === Number.MAX_SAFE_INTEGER ? -1 : delay };
    }
    case CommandKind.extend:
      return { kind: 'extend', group, offset: r.u53(), delivery: r.u32(), extendMs: r.u53() };
    case CommandKind.release:
      return { kind: 'release', group, consumer: r.string() };
    case CommandKind.leave: {
      const consumer = r.string();
      const count = r.u32();
      const seen: DeliveryRef[] = [];
      // Bounded by the entry's size: each pair takes 12 bytes.
      for (let k = 0; k < count; k++) seen.push({ offset: r.u53(), delivery: r.u32() });
      return { kind: 'leave', group, consumer, seen };
    }
    case CommandKind.deadLetter:
      return { kind: 'deadLetter', group, offset: r.u53(), message: decodeMessage(r) };
    case CommandKind.resetGroup:
      return decodeResetGroup(group, r);
    default:
      throw new MalformedCommandError(`unknown broker command kind ${kind}`);
  }
}

function decodeResetGroup(group: string, r: BinaryReader): ResetGroup {
  const to = decodeStart(r.u8(), r.u53());
  if (to.kind === 'earliest') throw new MalformedCommandError('a group reset carries a concrete offset, not "earliest"');
  const earliestOffset = r.u53();
  const force = r.u8();
  if (force > 1) throw new MalformedCommandError(`a group reset's force flag is ${force}, not 0 or 1`);
  return { kind: 'resetGroup', group, to, earliestOffset, force: force === 1 };
}

function decodeStart(kind: number, value: number): GroupStart {
  switch (kind) {
    case StartKind.earliest:
      return { kind: 'earliest' };
    case StartKind.latest:
      return { kind: 'latest' };
    case StartKind.offset:
      return { kind: 'offset', offset: value };
    case StartKind.time:
      return { kind: 'time', timeMs: value };
    default:
      throw new MalformedCommandError(`unknown group start kind ${kind}`);
  }
}

/** Decodes a log entry's broker command; bytes that are not one throw MalformedCommandError. */
export function decodeCommand(data: Uint8Array): CommandEnvelope {
  return decodeWith(data, decodeBody);
}

export interface AppliedCommandEnvelope {
  readonly leaderTimeMs: number;
  readonly command: AppliedCommand;
}

/**
 * Decodes a log entry's broker command for the state to apply: a produce as its
 * ProduceSummary, any other command as decodeCommand does. It refuses exactly the bytes
 * decodeCommand refuses, with the same message: it reads every field in the same order with
 * the same checks, and steps over the bytes it does not need.
 */
export function decodeAppliedCommand(data: Uint8Array): AppliedCommandEnvelope {
  return decodeWith(data, (kind, r) => (kind === CommandKind.produce ? decodeProduceSummary(r) : decodeBody(kind, r)));
}

function decodeWith<C extends AppliedCommand>(data: Uint8Array, body: (kind: number, r: BinaryReader) => C): { leaderTimeMs: number; command: C } {
  try {
    return decodeEnvelope(new BinaryReader(data), body);
  } catch (error) {
    if (error instanceof MalformedBinaryError) throw new MalformedCommandError(`broker command: ${error.message}`, { cause: error });
    throw error;
  }
}

function decodeEnvelope<C extends AppliedCommand>(r: BinaryReader, body: (kind: number, r: BinaryReader) => C): { leaderTimeMs: number; command: C } {
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new MalformedCommandError(`broker command format ${version} is not known to this version`);
  const kind = r.u8();
  const leaderTimeMs = r.u53();
  const command = body(kind, r);
  if (!r.done) throw new MalformedCommandError('trailing bytes after a broker command');
  return { leaderTimeMs, command };
}

/** A produce's body as decodeBody reads it (the same fields, order and checks), kept as sizes and delivery headers. */
function decodeProduceSummary(r: BinaryReader): ProduceSummary {
  const topic = r.string();
  const producerId = r.u53();
  const firstSequence = r.u53();
  const count = r.u32();
  const messageSizes: number[] = [];
  let deliverAtValues: (Uint8Array | undefined)[] | null = null;
  // Bounded by the entry's size, as in decodeMessages.
  for (let k = 0; k < count; k++) {
    let bytes = r.skipBytes();
    const headerCount = r.u32();
    let deliverAt: Uint8Array | undefined;
    for (let h = 0; h < headerCount; h++) {
      // The name is decoded as decodeHeaders does: its UTF-8 checked, its length in UTF-16 units as messageBytes counts it.
      const name = r.string();
      if (deliverAt === undefined && name === DELIVER_AT_HEADER) {
        deliverAt = r.bytes();
        bytes += name.length + deliverAt.length;
      } else {
        bytes += name.length + r.skipBytes();
      }
    }
    bytes += r.skipBytes();
    r.u53();
    messageSizes.push(bytes);
    if (deliverAt !== undefined) (deliverAtValues ??= Array.from({ length: k }, () => undefined)).push(deliverAt);
    else if (deliverAtValues !== null) deliverAtValues.push(undefined);
  }
  return { kind: 'produceSummary', topic, producerId, firstSequence, messageSizes, deliverAtValues };
}

function decodeBody(kind: number, r: BinaryReader): BrokerCommand {
  switch (kind) {
    case CommandKind.createTopic:
      return { kind: 'createTopic', name: r.string(), messageBytesMax: r.u32() };
    case CommandKind.deleteTopic:
      return { kind: 'deleteTopic', name: r.string() };
    case CommandKind.initProducer:
      return { kind: 'initProducer', idleExpiryMs: r.u53() };
    case CommandKind.produce: {
      const topic = r.string();
      const producerId = r.u53();
      const firstSequence = r.u53();
      return { kind: 'produce', topic, producerId, firstSequence, messages: decodeMessages(r) };
    }
    case CommandKind.clock:
      return { kind: 'clock' };
    case CommandKind.trimLog:
      return { kind: 'trimLog', beforeLogIndex: r.u53() };
    case CommandKind.halfMessage: {
      const txId = r.string();
      const producerGroup = r.string();
      const topic = r.string();
      const checkDelayMs = r.u53();
      const checkIntervalMs = r.u53();
      const checkMax = r.u32();
      return { kind: 'halfMessage', txId, producerGroup, topic, checkDelayMs, checkIntervalMs, checkMax, messages: decodeMessages(r) };
    }
    case CommandKind.endTransaction:
      return decodeEndTransaction(r);
    case CommandKind.aclAdd:
      return { kind: 'aclAdd', rule: readAclRule(r, (message) => new MalformedCommandError(message)) };
    case CommandKind.aclRemove:
      return { kind: 'aclRemove', rule: readAclRule(r, (message) => new MalformedCommandError(message)) };
    default:
      return decodeGroupCommand(kind, r);
  }
}

function decodeEndTransaction(r: BinaryReader): EndTransaction {
  const txId = r.string();
  const outcome = r.u8();
  const source = r.u8();
  if (outcome !== 1 && outcome !== 2) throw new MalformedCommandError(`unknown transaction outcome ${outcome}`);
  const sourceName = (Object.keys(EndSource) as EndSource[]).find((name) => EndSource[name] === source);
  if (sourceName === undefined) throw new MalformedCommandError(`unknown transaction decision source ${source}`);
  return { kind: 'endTransaction', txId, outcome: outcome === 1 ? 'commit' : 'rollback', source: sourceName };
}

function encodeMessages(w: BinaryWriter, messages: readonly MessageRecord[]): void {
  w.u32(messages.length);
  for (const m of messages) encodeMessage(w, m);
}

function decodeMessages(r: BinaryReader): MessageRecord[] {
  const count = r.u32();
  const messages: MessageRecord[] = [];
  // Bounded by the entry's size: each message takes at least 20 bytes to encode.
  for (let k = 0; k < count; k++) messages.push(decodeMessage(r));
  return messages;
}

/** The headers of a decoded message that has none: shared, as it cannot be changed (most messages have none). */
const NO_HEADERS: readonly Header[] = Object.freeze([]);

function decodeMessage(r: BinaryReader): MessageRecord {
  const key = r.bytes();
  const headerCount = r.u32();
  const headers: readonly Header[] = headerCount === 0 ? NO_HEADERS : decodeHeaders(r, headerCount);
  const payload = r.bytes();
  return { key, headers, payload, timestampMs: r.u53() };
}

function decodeHeaders(r: BinaryReader, count: number): Header[] {
  const headers: Header[] = [];
  // Bounded by the entry's size: each header takes at least 8 bytes.
  for (let k = 0; k < count; k++) headers.push({ name: r.string(), value: r.bytes() });
  return headers;
}

function estimateBytes(command: BrokerCommand): number {
  if (command.kind === 'deadLetter') return 512 + command.message.payload.length + command.message.key.length;
  if (command.kind === 'ack') return 64 + command.offsets.length * 8;
  if (command.kind === 'ackRanges') return 64 + command.ranges.length * 12;
  if (command.kind !== 'produce' && command.kind !== 'halfMessage') return 256;
  // An upper bound that is close: a produce's payload is a view into this buffer, so what is
  // over is kept with the entry. Strings take at most 3 bytes of UTF-8 per UTF-16 unit.
  let bytes = command.topic.length * 3 + (command.kind === 'halfMessage' ? (command.txId.length + command.producerGroup.length) * 3 : 0);
  for (const m of command.messages) {
    // key and payload with their lengths, the header count, the timestamp.
    bytes += 20 + m.key.length + m.payload.length;
    for (const h of m.headers) bytes += 8 + h.name.length * 3 + h.value.length;
  }
  return bytes;
}
