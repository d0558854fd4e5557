/**
 * The produce stream's requests, framed and read by hand: they carry the messages, so they
 * are most of a producer's bytes, and protobufjs builds a list of write operations per field
 * when encoding (several objects per message) and a message instance per message, after a
 * separate wire-type walk (protobuf-check.ts), when decoding. Both functions follow
 * client.proto's ProduceStreamRequest exactly as protobufjs does (client-codec.test.ts
 * checks each against it): zero scalars and empty bytes are left out when writing; when
 * reading, unknown fields are skipped, the last value of a scalar wins, repeated messages
 * append, and what either protobufjs or WireTypeCheck refuses is refused
 * (MalformedMessageError): a known field of the wrong wire type, a tag of more than 32 bits,
 * a length of more than 31, a string that is not UTF-8, anything that runs past the end of
 * its message.
 */
import type { BrokerMessage, MessageHeaderMessage } from './broker-message.js';
import { MalformedMessageError } from './errors.js';
import { bytesFieldBytes, scalarBytes, varint64Length, writeBytesField, writeScalar, writeVarint64 } from './protobuf-wire.js';

export interface ProduceRequestMessage {
  readonly topic: string;
  readonly producerId: number;
  readonly firstSequence: number;
  readonly messages: readonly BrokerMessage[];
  /** AcksCode (client-codec.ts). */
  readonly acks: number;
}

/** A PipelinedRequest (client-codec.ts) carrying a produce batch. */
export interface ProduceStreamRequestMessage {
  readonly id: number;
  readonly timeoutMs: number;
  readonly produce?: ProduceRequestMessage | null;
}

/** ProduceStreamRequest: id (varint), produce (ProduceRequest), timeout_ms (varint). */
const PRODUCE_STREAM_TAG = { id: (1 << 3) | 0, produce: (2 << 3) | 2, timeoutMs: (3 << 3) | 0 } as const;
/** ProduceRequest: topic (string), producer_id, first_sequence (varints), messages (Message), acks (enum). */
const PRODUCE_TAG = { topic: (1 << 3) | 2, producerId: (2 << 3) | 0, firstSequence: (3 << 3) | 0, messages: (4 << 3) | 2, acks: (5 << 3) | 0 } as const;
/** Message: key, headers (MessageHeader), payload (bytes), timestamp_ms (varint). */
const MESSAGE_TAG = { key: (1 << 3) | 2, headers: (2 << 3) | 2, payload: (3 << 3) | 2, timestampMs: (4 << 3) | 0 } as const;
/** MessageHeader: name (string), value (bytes). */
const HEADER_TAG = { name: (1 << 3) | 2, value: (2 << 3) | 2 } as const;

/** One buffer, the produce request framed in place (no copy of it). */
export function encodeProduceStreamRequest(request: ProduceStreamRequestMessage): Buffer {
  const produce = request.produce;
  const produceBytes = produce === null || produce === undefined ? -1 : produceRequestBytes(produce);
  const total = scalarBytes(request.id) + (produceBytes < 0 ? 0 : 1 + varint64Length(produceBytes) + produceBytes) + scalarBytes(request.timeoutMs);
  const out = Buffer.allocUnsafe(total);
  let at = writeScalar(out, 0, PRODUCE_STREAM_TAG.id, request.id);
  if (produce !== null && produce !== undefined) {
    out[at++] = PRODUCE_STREAM_TAG.produce;
    at = writeVarint64(out, at, produceBytes);
    at = writeProduceRequest(out, at, produce);
  }
  at = writeScalar(out, at, PRODUCE_STREAM_TAG.timeoutMs, request.timeoutMs);
  if (at !== total) throw new Error(`encodeProduceStreamRequest: wrote ${at} bytes, sized ${total}`);
  return out;
}

function produceRequestBytes(request: ProduceRequestMessage): number {
  let total = stringFieldBytes(request.topic) + scalarBytes(request.producerId) + scalarBytes(request.firstSequence) + scalarBytes(request.acks);
  for (const message of request.messages) total += nestedBytes(messageFieldBytes(message));
  return total;
}

function writeProduceRequest(out: Buffer, at: number, request: ProduceRequestMessage): number {
  at = writeStringField(out, at, PRODUCE_TAG.topic, request.topic);
  at = writeScalar(out, at, PRODUCE_TAG.producerId, request.producerId);
  at = writeScalar(out, at, PRODUCE_TAG.firstSequence, request.firstSequence);
  for (const message of request.messages) {
    out[at++] = PRODUCE_TAG.messages;
    at = writeVarint64(out, at, messageFieldBytes(message));
    at = writeMessage(out, at, message);
  }
  return writeScalar(out, at, PRODUCE_TAG.acks, request.acks);
}

function messageFieldBytes(message: BrokerMessage): number {
  let total = bytesFieldBytes(message.key) + bytesFieldBytes(message.payload) + scalarBytes(message.timestampMs);
  for (const header of message.headers) total += nestedBytes(stringFieldBytes(header.name) + bytesFieldBytes(header.value));
  return total;
}

function writeMessage(out: Buffer, at: number, message: BrokerMessage): number {
  at = writeBytesField(out, at, MESSAGE_TAG.key, message.key);
  for (const header of message.headers) {
    out[at++] = MESSAGE_TAG.headers;
    at = writeVarint64(out, at, stringFieldBytes(header.name) + bytesFieldBytes(header.value));
    at = writeStringField(out, at, HEADER_TAG.name, header.name);
    at = writeBytesField(out, at, HEADER_TAG.value, header.value);
  }
  at = writeBytesField(out, at, MESSAGE_TAG.payload, message.payload);
  return writeScalar(out, at, MESSAGE_TAG.timestampMs, message.timestampMs);
}

/** A length-delimited field of `bytes` content: tag, length, content (written even when empty: a message in a repeated field counts). */
function nestedBytes(bytes: number): number {
  return 1 + varint64Length(bytes) + bytes;
}

function stringFieldBytes(value: string): number {
  if (value.length === 0) return 0;
  const bytes = Buffer.byteLength(value, 'utf8');
  return 1 + varint64Length(bytes) + bytes;
}

function writeStringField(out: Buffer, at: number, tag: number, value: string): number {
  if (value.length === 0) return at;
  const bytes = Buffer.byteLength(value, 'utf8');
  out[at++] = tag;
  at = writeVarint64(out, at, bytes);
  return at + out.write(value, at, bytes, 'utf8');
}

const Wire = { varint: 0, fixed64: 1, lengthDelimited: 2, fixed32: 5 } as const;
/** What a message without headers holds: shared, as it cannot be changed. */
const NO_HEADERS: readonly MessageHeaderMessage[] = Object.freeze([]);
const NO_BYTES = new Uint8Array(0);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads a ProduceStreamRequest; bytes that protobufjs would not read as one throw MalformedMessageError. */
export function decodeProduceStreamRequest(bytes: Buffer): ProduceStreamRequestMessage {
  const r = new WireReader(bytes);
  const end = bytes.length;
  let id = 0;
  let timeoutMs = 0;
  let produce: ProduceRequestMessage | null = null;
  // Bounded by the bytes: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'ProduceStreamRequest')) {
      case 1:
        r.expect(tag, Wire.varint, 'id of ProduceStreamRequest');
        id = r.uint64(end);
        break;
      case 2:
        r.expect(tag, Wire.lengthDelimited, 'produce of ProduceStreamRequest');
        produce = readProduceRequest(r, r.nestedEnd(end));
        break;
      case 3:
        r.expect(tag, Wire.varint, 'timeoutMs of ProduceStreamRequest');
        timeoutMs = r.uint32(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { id, timeoutMs, produce };
}

function readProduceRequest(r: WireReader, end: number): ProduceRequestMessage {
  let topic = '';
  let producerId = 0;
  let firstSequence = 0;
  let acks = 0;
  const messages: BrokerMessage[] = [];
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'ProduceRequest')) {
      case 1:
        r.expect(tag, Wire.lengthDelimited, 'topic of ProduceRequest');
        topic = r.string(end);
        break;
      case 2:
        r.expect(tag, Wire.varint, 'producerId of ProduceRequest');
        producerId = r.uint64(end);
        break;
      case 3:
        r.expect(tag, Wire.varint, 'firstSequence of ProduceRequest');
        firstSequence = r.uint64(end);
        break;
      case 4:
        r.expect(tag, Wire.lengthDelimited, 'messages of ProduceRequest');
        messages.push(readMessage(r, r.nestedEnd(end)));
        break;
      case 5:
        r.expect(tag, Wire.varint, 'acks of ProduceRequest');
        acks = r.uint32(end) | 0;
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { topic, producerId, firstSequence, messages, acks };
}

function readMessage(r: WireReader, end: number): BrokerMessage {
  let key: Uint8Array = NO_BYTES;
  let payload: Uint8Array = NO_BYTES;
  let timestampMs = 0;
  let headers: MessageHeaderMessage[] | null = null;
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'Message')) {
      case 1:
        r.expect(tag, Wire.lengthDelimited, 'key of Message');
        key = r.bytes(end);
        break;
      case 2:
        r.expect(tag, Wire.lengthDelimited, 'headers of Message');
        (headers ??= []).push(readHeader(r, r.nestedEnd(end)));
        break;
      case 3:
        r.expect(tag, Wire.lengthDelimited, 'payload of Message');
        payload = r.bytes(end);
        break;
      case 4:
        r.expect(tag, Wire.varint, 'timestampMs of Message');
        timestampMs = r.uint64(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { key, headers: headers ?? NO_HEADERS, payload, timestampMs };
}

function readHeader(r: WireReader, end: number): MessageHeaderMessage {
  let name = '';
  let value: Uint8Array = NO_BYTES;
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'MessageHeader')) {
      case 1:
        r.expect(tag, Wire.lengthDelimited, 'name of MessageHeader');
        name = r.string(end);
        break;
      case 2:
        r.expect(tag, Wire.lengthDelimited, 'value of MessageHeader');
        value = r.bytes(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { name, value };
}

/**
 * A cursor over protobuf wire bytes. Every read is bounded by the `end` of the message it is
 * in (a nested message's own end), and anything past it is MalformedMessageError. Bytes
 * fields are views into the request's buffer, as protobufjs's are (Uint8Arrays, not Buffers).
 */
class WireReader {
  at = 0;
  /** The high 32 bits of the varint uint64Low read last. */
  #high = 0;

  constructor(private readonly data: Buffer) {}

  /** A field tag, as protobufjs reads one: at most 5 bytes, below 2^32. */
  tag(end: number): number {
    return this.varint32(end, 0x0f, 'tag');
  }

  /** A length, as protobufjs reads one: at most 5 bytes, below 2^31. */
  size(end: number): number {
    return this.varint32(end, 0x07, 'length');
  }

  /** A varint of at most 5 bytes whose fifth byte is at most `fifthMax`. */
  private varint32(end: number, fifthMax: number, what: string): number {
    let value = 0;
    for (let k = 0; k < 4; k++) {
      const bits = this.byte(end);
      value |= (bits & 0x7f) << (7 * k);
      if (bits < 0x80) return value >>> 0;
    }
    const fifth = this.byte(end);
    if (fifth > fifthMax) throw new MalformedMessageError(`invalid ${what} encoding at byte ${this.at - 5}`);
    return (value | (fifth << 28)) >>> 0;
  }

  /** A uint64 as protobufjs reads one without a Long library: its two 32-bit halves as one number. */
  uint64(end: number): number {
    const low = this.uint64Low(end);
    return (this.#high >>> 0) * 0x1_0000_0000 + (low >>> 0);
  }

  /** A uint32 (or, `| 0`, an int32 or enum) as protobufjs reads one: the low 32 bits of a varint of up to 10 bytes. */
  uint32(end: number): number {
    return this.uint64Low(end) >>> 0;
  }

  /** Reads a varint of up to 10 bytes; returns its low 32 bits and keeps the high ones for uint64. */
  uint64Low(end: number): number {
    let low = 0;
    let high = 0;
    for (let k = 0; k < 10; k++) {
      const bits = this.byte(end);
      const shift = 7 * k;
      if (shift < 28) low |= (bits & 0x7f) << shift;
      else if (shift === 28) {
        low |= (bits & 0x0f) << 28;
        high |= (bits & 0x7f) >>> 4;
      } else high |= (bits & 0x7f) << (shift - 32);
      if (bits < 0x80) {
        this.#high = high;
        return low;
      }
    }
    throw new MalformedMessageError(`a varint at byte ${this.at - 10} runs over 10 bytes`);
  }

  /** The end of a length-delimited field starting here, after reading its length. */
  nestedEnd(end: number): number {
    const length = this.size(end);
    if (length > end - this.at) throw new MalformedMessageError(`a field of ${length} bytes at byte ${this.at} runs past the end of its message`);
    return this.at + length;
  }

  /** A plain Uint8Array view: Buffer.subarray costs several times as much (a Buffer made through its species). */
  bytes(end: number): Uint8Array {
    const fieldEnd = this.nestedEnd(end);
    const value = new Uint8Array(this.data.buffer, this.data.byteOffset + this.at, fieldEnd - this.at);
    this.at = fieldEnd;
    return value;
  }

  /** UTF-8, refused when it is not (protobufjs reads proto3 strings strictly), a leading BOM kept. */
  string(end: number): string {
    const fieldEnd = this.nestedEnd(end);
    let value: string;
    try {
      value = strictUtf8.decode(new Uint8Array(this.data.buffer, this.data.byteOffset + this.at, fieldEnd - this.at));
    } catch (error) {
      throw new MalformedMessageError(`a string field at byte ${this.at} is not UTF-8`, { cause: error });
    }
    this.at = fieldEnd;
    return value;
  }

  /** The field number of a tag; 0 is no field. */
  field(tag: number, typeName: string): number {
    const field = tag >>> 3;
    if (field === 0) throw new MalformedMessageError(`${typeName} has a field numbered 0 at byte ${this.at}`);
    return field;
  }

  /** Refuses a known field that arrives with another wire type than the schema's. */
  expect(tag: number, wireType: number, name: string): void {
    if ((tag & 7) !== wireType) throw new MalformedMessageError(`${name} arrives as wire type ${tag & 7}; it is wire type ${wireType}`);
  }

  /** Moves past an unknown field's value. */
  skip(tag: number, end: number): void {
    const wireType = tag & 7;
    if (wireType === Wire.varint) this.uint64Low(end);
    else if (wireType === Wire.lengthDelimited) this.at = this.nestedEnd(end);
    else if (wireType === Wire.fixed64 || wireType === Wire.fixed32) {
      this.at += wireType === Wire.fixed64 ? 8 : 4;
      if (this.at > end) throw new MalformedMessageError('a fixed-size value runs past the end of its message');
    } else throw new MalformedMessageError(`wire type ${wireType} at byte ${this.at} is not one our messages use`);
  }

  byte(end: number): number {
    if (this.at >= end) throw new MalformedMessageError(`the message ends inside a value at byte ${this.at}`);
    return this.data[this.at++] ?? 0;
  }
}
