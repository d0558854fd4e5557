import { BinaryReader, BinaryWriter } from './binary.js';
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
export const CommandKind = { createTopic: 1, deleteTopic: 2, initProducer: 3, produce: 4, clock: 5 } as const;
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

export type BrokerCommand = CreateTopic | DeleteTopic | InitProducer | Produce | Clock;

/**
 * The messages an entry's command holds, by position: what a topic's offset runs point at.
 * Empty for commands that hold none.
 */
export function messagesHeld(command: BrokerCommand): readonly MessageRecord[] {
  switch (command.kind) {
    case 'produce':
      return command.messages;
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
      w.string(command.topic).u53(command.producerId).u53(command.firstSequence).u32(command.messages.length);
      for (const m of command.messages) {
        w.bytes(m.key).u32(m.headers.length);
        for (const h of m.headers) w.string(h.name).bytes(h.value);
        w.bytes(m.payload).u53(m.timestampMs);
      }
      break;
    case 'clock':
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
      const count = r.u32();
      const messages: MessageRecord[] = [];
      // Bounded by the entry's size: each message takes at least 20 bytes to encode.
      for (let k = 0; k < count; k++) messages.push(decodeMessage(r));
      return { kind: 'produce', topic, producerId, firstSequence, messages };
    }
    case CommandKind.clock:
      return { kind: 'clock' };
    default:
      throw new MalformedCommandError(`unknown broker command kind ${kind}`);
  }
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
  if (command.kind !== 'produce') return 64;
  let bytes = command.topic.length * 3;
  for (const m of command.messages) bytes += 32 + m.key.length + m.payload.length + m.headers.length * 40;
  return bytes;
}
