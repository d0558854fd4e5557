import { WireReader, WireType } from './wire-reader.js';

/** What every request on a pipelined stream (AppendStream, ProduceStream) carries besides its body. */
export interface PipelinedRequest {
  /** Chosen by the client, unique among its requests in flight on the stream. */
  readonly id: number;
  /** 0: the node's own limit. */
  readonly timeoutMs: number;
}

/** A failed call on a pipelined stream: the status the unary call would have ended with. */
export interface CallErrorMessage {
  readonly code: number;
  readonly details: string;
  /** The trailing metadata's values; '' when absent. */
  readonly errorCode: string;
  readonly leaderId: string;
  readonly leaderAddress: string;
}
/** The answer to one request on a pipelined stream: exactly one of `ok` and `error`. */
export interface PipelinedResponse<Res> {
  readonly id: number;
  readonly ok?: Res | null;
  readonly error?: CallErrorMessage | null;
}
/** A pipelined stream's request as read: its id, its timeout, and its body (null when absent). */
export interface PipelinedRequestRead<Body> extends PipelinedRequest {
  readonly body: Body | null;
}

/**
 * Reads a request of a pipelined stream (client.proto's AppendStreamRequest and
 * ProduceStreamRequest share the layout: uint64 id = 1, the body = 2, uint32 timeout_ms = 3)
 * as protobufjs reads it: unknown fields skipped, the last id and timeout kept, a second body
 * merged into the first (as protobufjs 8 merges a singular message field that comes again).
 * `names` say what the fields are in errors; `readBody` reads the body from the reader's
 * position to `end`, merged into the body read before (`into`, null the first time); bytes
 * protobufjs would not read throw MalformedMessageError.
 */
export function readPipelinedRequest<Body>(bytes: Uint8Array, names: { readonly message: string; readonly body: string }, readBody: (r: WireReader, end: number, into: Body | null) => Body): PipelinedRequestRead<Body> {
  const r = new WireReader(bytes);
  const end = bytes.length;
  let id = 0;
  let timeoutMs = 0;
  let body: Body | null = null;
  // Bounded by the bytes: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, names.message)) {
      case 1:
        r.expect(tag, WireType.varint, `id (field 1) of ${names.message}`);
        id = r.uint64(end);
        break;
      case 2:
        r.expect(tag, WireType.lengthDelimited, `${names.body} (field 2) of ${names.message}`);
        body = readBody(r, r.nestedEnd(end), body);
        break;
      case 3:
        r.expect(tag, WireType.varint, `timeoutMs (field 3) of ${names.message}`);
        timeoutMs = r.uint32(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { id, timeoutMs, body };
}
