import type { BrokerMessage, MessageHeaderMessage } from './broker-message.js';
import { WireType, type WireReader } from './wire-reader.js';

/** What a message without headers holds: shared, as it cannot be changed. */
const NO_HEADERS: readonly MessageHeaderMessage[] = Object.freeze([]);
const NO_BYTES = new Uint8Array(0);

/**
 * Reads a Message (client.proto) as protobufjs does: unknown fields skipped, the last key,
 * payload and timestamp kept, headers appended; bytes as the reader's form (WireReader).
 * Absent bytes fields share one empty array, as protobufjs's defaults do. Merged into `into`
 * when not null: a singular Message field that comes again (a Delivery's), as protobufjs 8
 * merges it.
 */
export function readBrokerMessage(r: WireReader, end: number, into: BrokerMessage | null): BrokerMessage {
  let key: Uint8Array = into?.key ?? NO_BYTES;
  let payload: Uint8Array = into?.payload ?? NO_BYTES;
  let timestampMs = into?.timestampMs ?? 0;
  let headers: MessageHeaderMessage[] | null = into === null || into.headers.length === 0 ? null : [...into.headers];
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'Message')) {
      case 1:
        r.expect(tag, WireType.lengthDelimited, 'key (field 1) of Message');
        key = singularBytes(r, end);
        break;
      case 2:
        r.expect(tag, WireType.lengthDelimited, 'headers (field 2) of Message');
        (headers ??= []).push(readHeader(r, r.nestedEnd(end)));
        break;
      case 3:
        r.expect(tag, WireType.lengthDelimited, 'payload (field 3) of Message');
        payload = singularBytes(r, end);
        break;
      case 4:
        r.expect(tag, WireType.varint, 'timestampMs (field 4) of Message');
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
        r.expect(tag, WireType.lengthDelimited, 'name (field 1) of MessageHeader');
        name = r.string(end);
        break;
      case 2:
        r.expect(tag, WireType.lengthDelimited, 'value (field 2) of MessageHeader');
        value = singularBytes(r, end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { name, value };
}

/**
 * A singular bytes field: an empty one leaves the field at its default (the shared empty
 * array), as protobufjs reads a proto3 field of implicit presence, where the reader's form
 * (a Buffer for the client) would make a present empty field differ from an absent one.
 */
function singularBytes(r: WireReader, end: number): Uint8Array {
  const value = r.bytes(end);
  return value.length === 0 ? NO_BYTES : value;
}
