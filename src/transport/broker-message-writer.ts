import type { BrokerMessage } from './broker-message.js';
import { bytesFieldBytes, nestedFieldBytes, scalarBytes, stringFieldBytes, writeBytesField, writeScalar, writeStringField, writeVarint64 } from './protobuf-wire.js';

/** Message (client.proto): key, headers (MessageHeader), payload (bytes), timestamp_ms (varint). */
const MESSAGE_TAG = { key: (1 << 3) | 2, headers: (2 << 3) | 2, payload: (3 << 3) | 2, timestampMs: (4 << 3) | 0 } as const;
/** MessageHeader: name (string), value (bytes). */
const HEADER_TAG = { name: (1 << 3) | 2, value: (2 << 3) | 2 } as const;

/**
 * Bytes of a Message's encoding (its content, without its own tag and length), as protobufjs
 * writes it: zero scalars, empty bytes and empty strings left out. What a producer sends and
 * a consumer gets, written by encodeProduceStreamRequest and encodeConsumeResponse alike.
 */
export function brokerMessageBytes(message: BrokerMessage): number {
  let total = bytesFieldBytes(message.key) + bytesFieldBytes(message.payload) + scalarBytes(message.timestampMs);
  for (const header of message.headers) total += nestedFieldBytes(headerBytes(header.name, header.value));
  return total;
}

/** Writes a Message's content (brokerMessageBytes of it) at `at`, each bytes field copied once; returns the offset after it. */
export function writeBrokerMessage(out: Buffer, at: number, message: BrokerMessage): number {
  at = writeBytesField(out, at, MESSAGE_TAG.key, message.key);
  for (const header of message.headers) {
    out[at++] = MESSAGE_TAG.headers;
    at = writeVarint64(out, at, headerBytes(header.name, header.value));
    at = writeStringField(out, at, HEADER_TAG.name, header.name);
    at = writeBytesField(out, at, HEADER_TAG.value, header.value);
  }
  at = writeBytesField(out, at, MESSAGE_TAG.payload, message.payload);
  return writeScalar(out, at, MESSAGE_TAG.timestampMs, message.timestampMs);
}

function headerBytes(name: string, value: Uint8Array): number {
  return stringFieldBytes(name) + bytesFieldBytes(value);
}
