import { BinaryReader, BinaryWriter } from './binary.js';
import { MalformedCommandError } from './errors.js';
import { auditCopies } from './transactions.js';

/**
 * The broker's replicated commands: the payloads of the log entries that change broker
 * state. Every replica applies the same commands in the same order, so every replica
 * reaches the same state; anything time-dependent uses `leaderTimeMs`, the proposing
 * leader's clock written into the entry, never a replica's own clock.
 *
 * Wire format (little-endian): version u8 (=1), kind u8, leaderTimeMs u64, then the body.
 * Kinds are numbers that are never reused.
 */
export const CommandKind = { createTopic: 1, deleteTopic: 2, initProducer: 3, produce: 4, clock: 5, halfMessage: 20, endTransaction: 21 } as const;
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
  readonly maxMessageBytes: number;
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

export type BrokerCommand = CreateTopic | DeleteTopic | InitProducer | Produce | Clock | HalfMessage | EndTransaction;

/**
 * The messages an entry's command holds, by position: what a topic's offset runs point at.
 * Empty for commands that hold none.
 */
export function messagesHeld(command: BrokerCommand): readonly MessageRecord[] {
  switch (command.kind) {
    case 'produce':
      return command.messages;
    case 'halfMessage':
      // Positions 0..n-1: the messages a commit makes visible; n..2n-1: their audit copies,
      // which a rollback after the last check-back makes visible in the audit topic.
      return [...command.messages, ...auditCopies(command)];
    default:
      return [];
  }
}

export interface CommandEnvelope {
  readonly leaderTimeMs: number;
  readonly command: BrokerCommand;
}

export function encodeCommand(envelope: CommandEnvelope): Uint8Array {
  const { command } = envelope;
  const w = new BinaryWriter(64 + estimateBytes(command));
  w.u8(FORMAT_VERSION).u8(CommandKind[command.kind]).u53(envelope.leaderTimeMs);
  switch (command.kind) {
    case 'createTopic':
      w.string(command.name).u32(command.maxMessageBytes);
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
    case 'halfMessage':
      w.string(command.txId).string(command.producerGroup).string(command.topic);
      w.u53(command.checkDelayMs).u53(command.checkIntervalMs).u32(command.checkMax);
      encodeMessages(w, command.messages);
      break;
    case 'endTransaction':
      w.string(command.txId).u8(command.outcome === 'commit' ? 1 : 2).u8(EndSource[command.source]);
      break;
  }
  return w.finish();
}

export function decodeCommand(data: Uint8Array): CommandEnvelope {
  const r = new BinaryReader(data);
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new MalformedCommandError(`broker command format ${version} is not known to this version`);
  const kind = r.u8();
  const leaderTimeMs = r.u53();
  const command = decodeBody(kind, r);
  if (!r.done) throw new MalformedCommandError('trailing bytes after a broker command');
  return { leaderTimeMs, command };
}

function decodeBody(kind: number, r: BinaryReader): BrokerCommand {
  switch (kind) {
    case CommandKind.createTopic:
      return { kind: 'createTopic', name: r.string(), maxMessageBytes: r.u32() };
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
    default:
      throw new MalformedCommandError(`unknown broker command kind ${kind}`);
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
  for (const m of messages) {
    w.bytes(m.key).u32(m.headers.length);
    for (const h of m.headers) w.string(h.name).bytes(h.value);
    w.bytes(m.payload).u53(m.timestampMs);
  }
}

function decodeMessages(r: BinaryReader): MessageRecord[] {
  const count = r.u32();
  const messages: MessageRecord[] = [];
  // Bounded by the entry's size: each message takes at least 20 bytes to encode.
  for (let k = 0; k < count; k++) messages.push(decodeMessage(r));
  return messages;
}

function decodeMessage(r: BinaryReader): MessageRecord {
  const key = r.bytes();
  const headerCount = r.u32();
  const headers: Header[] = [];
  for (let k = 0; k < headerCount; k++) headers.push({ name: r.string(), value: r.bytes() });
  const payload = r.bytes();
  return { key, headers, payload, timestampMs: r.u53() };
}

function estimateBytes(command: BrokerCommand): number {
  if (command.kind !== 'produce' && command.kind !== 'halfMessage') return 64;
  let bytes = command.topic.length * 3;
  for (const m of command.messages) bytes += 32 + m.key.length + m.payload.length + m.headers.length * 40;
  return bytes;
}
