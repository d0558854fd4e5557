/**
 * The produce stream's requests, framed and read by hand, and its answers read by hand (one a
 * batch, read by every producer; their encoding on the node is still protobufjs's). Requests
 * carry the messages, so they are most of a producer's bytes, and protobufjs builds a list of write operations per field
 * when encoding (several objects per message) and a message instance per message, after a
 * separate wire-type walk (protobuf-check.ts), when decoding. Both functions follow
 * client.proto's ProduceStreamRequest exactly as protobufjs does (client-codec.test.ts
 * checks each against it): zero scalars and empty bytes are left out when writing; when
 * reading, unknown fields are skipped, the last value of a scalar wins, repeated messages
 * append, a singular message that comes again is merged into the first, and what either protobufjs or WireTypeCheck refuses is refused
 * (MalformedMessageError): a known field of the wrong wire type, a tag of more than 32 bits,
 * a length of more than 31, a string that is not UTF-8, anything that runs past the end of
 * its message.
 */
import type { BrokerMessage } from './broker-message.js';
import { readBrokerMessage } from './broker-message-reader.js';
import { brokerMessageBytes, writeBrokerMessage } from './broker-message-writer.js';
import { nestedFieldBytes, scalarBytes, stringFieldBytes, varint64Length, writeScalar, writeStringField, writeVarint64 } from './protobuf-wire.js';
import { readPipelinedRequest, type PipelinedRequest, type PipelinedResponse } from './pipelined-request-codec.js';
import { readPipelinedResponse } from './pipelined-response-reader.js';
import { WireType, type WireReader } from './wire-reader.js';

export interface ProduceRequestMessage {
  readonly topic: string;
  readonly producerId: number;
  readonly firstSequence: number;
  readonly messages: readonly BrokerMessage[];
  /** AcksCode (client-codec.ts). */
  readonly acks: number;
}

/** client.proto's ProduceResponse. */
export interface ProduceResponseMessage {
  readonly firstOffset: number;
  readonly count: number;
  readonly duplicate: boolean;
  readonly logIndex: number;
  readonly deliverAtMs: number;
}
export type ProduceStreamResponseMessage = PipelinedResponse<ProduceResponseMessage>;

/** A produce batch on the ProduceStream. */
export interface ProduceStreamRequestMessage extends PipelinedRequest {
  readonly produce?: ProduceRequestMessage | null;
}

/** ProduceStreamRequest: id (varint), produce (ProduceRequest), timeout_ms (varint). */
const PRODUCE_STREAM_TAG = { id: (1 << 3) | 0, produce: (2 << 3) | 2, timeoutMs: (3 << 3) | 0 } as const;
/** ProduceRequest: topic (string), producer_id, first_sequence (varints), messages (Message), acks (enum). */
const PRODUCE_TAG = { topic: (1 << 3) | 2, producerId: (2 << 3) | 0, firstSequence: (3 << 3) | 0, messages: (4 << 3) | 2, acks: (5 << 3) | 0 } as const;

/** One buffer, the produce request framed in place (no copy of it). */
export function encodeProduceStreamRequest(request: ProduceStreamRequestMessage): Buffer {
  const produce = request.produce;
  // Each message sized once, for its length prefix and the request's.
  const messageSizes = produce === null || produce === undefined ? [] : produce.messages.map(brokerMessageBytes);
  const produceBytes = produce === null || produce === undefined ? -1 : produceRequestBytes(produce, messageSizes);
  const total = scalarBytes(request.id) + (produceBytes < 0 ? 0 : 1 + varint64Length(produceBytes) + produceBytes) + scalarBytes(request.timeoutMs);
  const out = Buffer.allocUnsafe(total);
  let at = writeScalar(out, 0, PRODUCE_STREAM_TAG.id, request.id);
  if (produce !== null && produce !== undefined) {
    out[at++] = PRODUCE_STREAM_TAG.produce;
    at = writeVarint64(out, at, produceBytes);
    at = writeProduceRequest(out, at, produce, messageSizes);
  }
  at = writeScalar(out, at, PRODUCE_STREAM_TAG.timeoutMs, request.timeoutMs);
  if (at !== total) throw new Error(`encodeProduceStreamRequest: wrote ${at} bytes, sized ${total}`);
  return out;
}

/** `messageSizes`: brokerMessageBytes of each message, in order. */
function produceRequestBytes(request: ProduceRequestMessage, messageSizes: readonly number[]): number {
  let total = stringFieldBytes(request.topic) + scalarBytes(request.producerId) + scalarBytes(request.firstSequence) + scalarBytes(request.acks);
  for (const size of messageSizes) total += nestedFieldBytes(size);
  return total;
}

function writeProduceRequest(out: Buffer, at: number, request: ProduceRequestMessage, messageSizes: readonly number[]): number {
  at = writeStringField(out, at, PRODUCE_TAG.topic, request.topic);
  at = writeScalar(out, at, PRODUCE_TAG.producerId, request.producerId);
  at = writeScalar(out, at, PRODUCE_TAG.firstSequence, request.firstSequence);
  request.messages.forEach((message, k) => {
    out[at++] = PRODUCE_TAG.messages;
    at = writeVarint64(out, at, messageSizes[k] ?? 0);
    at = writeBrokerMessage(out, at, message);
  });
  return writeScalar(out, at, PRODUCE_TAG.acks, request.acks);
}


/** Reads a ProduceStreamRequest; bytes that protobufjs would not read as one throw MalformedMessageError. */
export function decodeProduceStreamRequest(bytes: Buffer): ProduceStreamRequestMessage {
  const { id, timeoutMs, body } = readPipelinedRequest(bytes, { message: 'ProduceStreamRequest', body: 'produce' }, readProduceRequest);
  return { id, timeoutMs, produce: body };
}

/** A ProduceRequest, merged into `into` when not null (its scalars replaced, messages appended). */
function readProduceRequest(r: WireReader, end: number, into: ProduceRequestMessage | null): ProduceRequestMessage {
  let topic = into?.topic ?? '';
  let producerId = into?.producerId ?? 0;
  let firstSequence = into?.firstSequence ?? 0;
  let acks = into?.acks ?? 0;
  const messages: BrokerMessage[] = into === null ? [] : [...into.messages];
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'ProduceRequest')) {
      case 1:
        r.expect(tag, WireType.lengthDelimited, 'topic (field 1) of ProduceRequest');
        topic = r.string(end);
        break;
      case 2:
        r.expect(tag, WireType.varint, 'producerId (field 2) of ProduceRequest');
        producerId = r.uint64(end);
        break;
      case 3:
        r.expect(tag, WireType.varint, 'firstSequence (field 3) of ProduceRequest');
        firstSequence = r.uint64(end);
        break;
      case 4:
        r.expect(tag, WireType.lengthDelimited, 'messages (field 4) of ProduceRequest');
        messages.push(readBrokerMessage(r, r.nestedEnd(end), null));
        break;
      case 5:
        r.expect(tag, WireType.varint, 'acks (field 5) of ProduceRequest');
        acks = r.uint32(end) | 0;
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { topic, producerId, firstSequence, messages, acks };
}

/**
 * Reads a ProduceStreamResponse, the answer to one batch, as protobufjs reads it (see the
 * file's comment); bytes it would not read as one throw MalformedMessageError.
 */
export function decodeProduceStreamResponse(bytes: Buffer): ProduceStreamResponseMessage {
  return readPipelinedResponse(bytes, 'ProduceStreamResponse', readProduceResponse);
}

/** ProduceResponse: first_offset (uint64), count (uint32), duplicate (bool), log_index, deliver_at_ms (uint64); merged into `into` when not null. */
function readProduceResponse(r: WireReader, end: number, into: ProduceResponseMessage | null): ProduceResponseMessage {
  let firstOffset = into?.firstOffset ?? 0;
  let count = into?.count ?? 0;
  let duplicate = into?.duplicate ?? false;
  let logIndex = into?.logIndex ?? 0;
  let deliverAtMs = into?.deliverAtMs ?? 0;
  while (r.at < end) {
    const tag = r.tag(end);
    const field = r.field(tag, 'ProduceResponse');
    if (field >= 1 && field <= 5) r.expect(tag, WireType.varint, `${PRODUCE_RESPONSE_FIELDS[field - 1] ?? 'a field'} (field ${field}) of ProduceResponse`);
    switch (field) {
      case 1:
        firstOffset = r.uint64(end);
        break;
      case 2:
        count = r.uint32(end);
        break;
      case 3:
        duplicate = r.bool(end);
        break;
      case 4:
        logIndex = r.uint64(end);
        break;
      case 5:
        deliverAtMs = r.uint64(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { firstOffset, count, duplicate, logIndex, deliverAtMs };
}

const PRODUCE_RESPONSE_FIELDS = ['firstOffset', 'count', 'duplicate', 'logIndex', 'deliverAtMs'] as const;
