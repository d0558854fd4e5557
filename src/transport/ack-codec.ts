/**
 * The AckStream's requests and answers, framed and read by hand: an ack request carries one
 * offset per message a consumer acks and its answer one outcome per offset, and protobufjs
 * made an object per offset on each of the four ends (a LongBits and a write operation when
 * encoding, a LongBits when decoding). All four functions follow client.proto exactly as
 * protobufjs does (ack-codec.test.ts checks each against it): zero scalars, empty strings and
 * empty repeated fields are left out when writing, repeated scalars are written packed; when
 * reading, unknown fields are skipped, the last value of a scalar wins, a request's `ack` or a
 * response's `ok` or `error` that comes twice is merged into the first as protobufjs 8 merges
 * it, repeated scalars are taken packed or not, and what protobufjs or WireTypeCheck refuses is
 * refused (MalformedMessageError). One refusal of our own: a packed run whose last value runs
 * past the run's end, which protobufjs reads on past it, misaligned, into the fields after
 * (no encoder writes one).
 */
import { MalformedMessageError } from './errors.js';
import type { AckRequestMessage, AckResponseMessage, AckStreamRequestMessage } from './group-codec.js';
import { readPipelinedRequest, type CallErrorMessage, type PipelinedResponse } from './pipelined-request-codec.js';
import { nestedFieldBytes, scalarBytes, stringFieldBytes, varint64Length, writeScalar, writeStringField, writeVarint64 } from './protobuf-wire.js';
import { readPipelinedResponse } from './pipelined-response-reader.js';
import { WireType, type WireReader } from './wire-reader.js';

/** AckStreamRequest: id (varint), ack (AckRequest), timeout_ms (varint); AckRequest: group (string), offsets (packed varints). */
const STREAM_REQUEST_TAG = { id: (1 << 3) | 0, ack: (2 << 3) | 2, timeoutMs: (3 << 3) | 0 } as const;
const ACK_REQUEST_TAG = { group: (1 << 3) | 2, offsets: (2 << 3) | 2 } as const;
/** AckStreamResponse: id (varint), ok (AckResponse), error (CallError); AckResponse: outcomes (packed varints). */
const STREAM_RESPONSE_TAG = { id: (1 << 3) | 0, ok: (2 << 3) | 2, error: (3 << 3) | 2 } as const;
const ACK_RESPONSE_TAG = { outcomes: (1 << 3) | 2 } as const;
/** CallError: code (varint), details, error_code, leader_id, leader_address (strings). */
const CALL_ERROR_TAG = { code: (1 << 3) | 0, details: (2 << 3) | 2, errorCode: (3 << 3) | 2, leaderId: (4 << 3) | 2, leaderAddress: (5 << 3) | 2 } as const;

export type AckStreamResponseMessage = PipelinedResponse<AckResponseMessage>;

export function encodeAckStreamRequest(request: AckStreamRequestMessage): Buffer {
  const ack = request.ack;
  const ackBytes = ack === null || ack === undefined ? -1 : ackRequestBytes(ack);
  const total = scalarBytes(request.id) + (ackBytes < 0 ? 0 : nestedFieldBytes(ackBytes)) + scalarBytes(request.timeoutMs);
  const out = Buffer.allocUnsafe(total);
  let at = writeScalar(out, 0, STREAM_REQUEST_TAG.id, request.id);
  if (ack !== null && ack !== undefined) {
    out[at++] = STREAM_REQUEST_TAG.ack;
    at = writeVarint64(out, at, ackBytes);
    at = writeStringField(out, at, ACK_REQUEST_TAG.group, ack.group);
    at = writePacked(out, at, ACK_REQUEST_TAG.offsets, ack.offsets);
  }
  at = writeScalar(out, at, STREAM_REQUEST_TAG.timeoutMs, request.timeoutMs);
  if (at !== total) throw new Error(`encodeAckStreamRequest: wrote ${at} bytes, sized ${total}`);
  return out;
}

export function encodeAckStreamResponse(response: AckStreamResponseMessage): Buffer {
  const { ok, error } = response;
  const okBytes = ok === null || ok === undefined ? -1 : packedFieldBytes(ok.outcomes);
  const errorBytes = error === null || error === undefined ? -1 : callErrorBytes(error);
  const total = scalarBytes(response.id) + (okBytes < 0 ? 0 : nestedFieldBytes(okBytes)) + (errorBytes < 0 ? 0 : nestedFieldBytes(errorBytes));
  const out = Buffer.allocUnsafe(total);
  let at = writeScalar(out, 0, STREAM_RESPONSE_TAG.id, response.id);
  if (ok !== null && ok !== undefined) {
    out[at++] = STREAM_RESPONSE_TAG.ok;
    at = writeVarint64(out, at, okBytes);
    at = writePacked(out, at, ACK_RESPONSE_TAG.outcomes, ok.outcomes);
  }
  if (error !== null && error !== undefined) {
    out[at++] = STREAM_RESPONSE_TAG.error;
    at = writeVarint64(out, at, errorBytes);
    at = writeCallError(out, at, error);
  }
  if (at !== total) throw new Error(`encodeAckStreamResponse: wrote ${at} bytes, sized ${total}`);
  return out;
}

function ackRequestBytes(ack: AckRequestMessage): number {
  return stringFieldBytes(ack.group) + packedFieldBytes(ack.offsets);
}

/**
 * A packed repeated varint field, left out when empty. Values are uint64s below 2^53 or
 * enum values, never negative (a negative int32 would take ten bytes).
 */
function packedFieldBytes(values: readonly number[]): number {
  if (values.length === 0) return 0;
  return nestedFieldBytes(packedBytes(values));
}

function packedBytes(values: readonly number[]): number {
  let bytes = 0;
  for (const value of values) {
    if (!(value >= 0)) throw new Error(`a packed varint field got ${value}: only values from 0 are written`);
    bytes += varint64Length(value);
  }
  return bytes;
}

function writePacked(out: Buffer, at: number, tag: number, values: readonly number[]): number {
  if (values.length === 0) return at;
  out[at++] = tag;
  at = writeVarint64(out, at, packedBytes(values));
  for (const value of values) at = writeVarint64(out, at, value);
  return at;
}

function callErrorBytes(error: CallErrorMessage): number {
  return (
    scalarBytes(error.code) + stringFieldBytes(error.details) + stringFieldBytes(error.errorCode) + stringFieldBytes(error.leaderId) + stringFieldBytes(error.leaderAddress)
  );
}

function writeCallError(out: Buffer, at: number, error: CallErrorMessage): number {
  at = writeScalar(out, at, CALL_ERROR_TAG.code, error.code);
  at = writeStringField(out, at, CALL_ERROR_TAG.details, error.details);
  at = writeStringField(out, at, CALL_ERROR_TAG.errorCode, error.errorCode);
  at = writeStringField(out, at, CALL_ERROR_TAG.leaderId, error.leaderId);
  return writeStringField(out, at, CALL_ERROR_TAG.leaderAddress, error.leaderAddress);
}

/** Reads an AckStreamRequest; bytes that protobufjs would not read as one throw MalformedMessageError. */
export function decodeAckStreamRequest(bytes: Buffer): AckStreamRequestMessage {
  const { id, timeoutMs, body } = readPipelinedRequest(bytes, { message: 'AckStreamRequest', body: 'ack' }, (r, end, into: AckRequestMessage | null) => readAckRequest(r, end, bytes.length, into));
  return { id, timeoutMs, ack: body };
}

/** Reads an AckStreamResponse; bytes that protobufjs would not read as one throw MalformedMessageError. */
export function decodeAckStreamResponse(bytes: Buffer): AckStreamResponseMessage {
  return readPipelinedResponse(bytes, 'AckStreamResponse', (r, end, into) => readAckResponse(r, end, bytes.length, into));
}

/**
 * An AckRequest, merged into `into` when not null (group replaced, offsets appended). `limit`
 * is the end of the whole buffer, which protobufjs's packed reads are bounded by.
 */
function readAckRequest(r: WireReader, end: number, limit: number, into: AckRequestMessage | null): AckRequestMessage {
  let group = into?.group ?? '';
  const offsets: number[] = into === null ? [] : [...into.offsets];
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'AckRequest')) {
      case 1:
        r.expect(tag, WireType.lengthDelimited, 'group (field 1) of AckRequest');
        group = r.string(end);
        break;
      case 2:
        readRepeatedVarint(r, tag, end, limit, 'offsets (field 2) of AckRequest', (reader, bound) => offsets.push(reader.uint64(bound)));
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { group, offsets };
}

/** An AckResponse, its outcomes appended to those of `into` when not null (a second `ok`, merged as protobufjs merges it). */
function readAckResponse(r: WireReader, end: number, limit: number, into: AckResponseMessage | null): AckResponseMessage {
  const outcomes: number[] = into === null ? [] : [...into.outcomes];
  while (r.at < end) {
    const tag = r.tag(end);
    if (r.field(tag, 'AckResponse') === 1) {
      // An enum, read as protobufjs reads one: an int32.
      readRepeatedVarint(r, tag, end, limit, 'outcomes (field 1) of AckResponse', (reader, bound) => outcomes.push(reader.uint32(bound) | 0));
    } else r.skip(tag, end);
  }
  return { outcomes };
}

/**
 * One appearance of a repeated varint field: a packed run (length-delimited) or a single
 * value. A value that runs past the end of the bytes is refused as protobufjs refuses it; one
 * that ends past its run but within the bytes is refused as ours (see the file's comment).
 */
function readRepeatedVarint(r: WireReader, tag: number, end: number, limit: number, name: string, readOne: (r: WireReader, bound: number) => void): void {
  const wireType = tag & 7;
  if (wireType === WireType.varint) {
    readOne(r, end);
    return;
  }
  r.expect(tag, WireType.lengthDelimited, name);
  const runEnd = r.nestedEnd(end);
  // Bounded: each value read moves past at least one byte.
  while (r.at < runEnd) readOne(r, limit);
  if (r.at > runEnd) throw new MalformedMessageError(`a value of ${name} runs past the end of its packed run, at byte ${runEnd}`);
}
