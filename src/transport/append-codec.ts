/**
 * The append requests, read by hand: a leader reads one per client batch, and protobufjs
 * spent a wire-type walk (protobuf-check.ts) and a message instance on each, a Buffer per
 * record. Both functions read client.proto's AppendRequest and AppendStreamRequest exactly
 * as protobufjs does, refusing (MalformedMessageError) what either protobufjs or WireTypeCheck
 * refuses (client-codec.test.ts checks each against them). Records are views into the
 * request's buffer.
 */
import { readPipelinedRequest, type PipelinedRequest } from './pipelined-request-codec.js';
import { WireReader, WireType } from './wire-reader.js';

export interface AppendRequestMessage {
  readonly records: readonly Uint8Array[];
  /** AcksCode; absent or 0 means all. */
  readonly acks?: number;
}

/** An append on the AppendStream. */
export interface AppendStreamRequestMessage extends PipelinedRequest {
  /** Absent only in a request that names no append (the server answers INVALID_ARGUMENT). */
  readonly append?: AppendRequestMessage | null;
}

/** Reads an AppendRequest; bytes protobufjs would not read as one throw MalformedMessageError. */
export function decodeAppendRequest(bytes: Uint8Array): AppendRequestMessage {
  return readAppendRequest(new WireReader(bytes), bytes.length, null);
}

/** Reads an AppendStreamRequest; bytes protobufjs would not read as one throw MalformedMessageError. */
export function decodeAppendStreamRequest(bytes: Uint8Array): AppendStreamRequestMessage {
  const { id, timeoutMs, body } = readPipelinedRequest(bytes, { message: 'AppendStreamRequest', body: 'append' }, readAppendRequest);
  return { id, timeoutMs, append: body };
}

/** An AppendRequest, merged into `into` when not null (records appended, acks replaced). */
function readAppendRequest(r: WireReader, end: number, into: AppendRequestMessage | null): AppendRequestMessage {
  const records: Uint8Array[] = into === null ? [] : [...into.records];
  let acks = into?.acks ?? 0;
  // Bounded by the message: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'AppendRequest')) {
      case 1:
        r.expect(tag, WireType.lengthDelimited, 'records (field 1) of AppendRequest');
        records.push(r.bytes(end));
        break;
      case 2:
        r.expect(tag, WireType.varint, 'acks (field 2) of AppendRequest');
        acks = r.uint32(end) | 0;
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { records, acks };
}
