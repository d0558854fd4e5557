/**
 * Reads the answers of pipelined streams (client.proto's AppendStreamResponse,
 * ProduceStreamResponse and AckStreamResponse share the layout: uint64 id = 1, the body
 * `ok` = 2, CallError error = 3) by hand, as protobufjs reads them: unknown fields skipped,
 * the last id kept, a second `ok` or `error` merged into the first (protobufjs 8 merges a
 * singular message field that comes again: its scalars replaced, its repeated fields
 * appended), and what protobufjs or WireTypeCheck refuses refused (MalformedMessageError). A
 * client reads one for every batch it sends.
 */
import type { CallErrorMessage, PipelinedResponse } from './pipelined-request-codec.js';
import { WireReader, WireType } from './wire-reader.js';

/**
 * `message` names the response type in errors; `readOk` reads the body from the reader's
 * position to `end`, merged into the body read before (`into`, null the first time).
 */
export function readPipelinedResponse<Ok>(bytes: Uint8Array, message: string, readOk: (r: WireReader, end: number, into: Ok | null) => Ok): PipelinedResponse<Ok> {
  const r = new WireReader(bytes);
  const end = bytes.length;
  let id = 0;
  let ok: Ok | null = null;
  let error: CallErrorMessage | null = null;
  // Bounded by the bytes: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, message)) {
      case 1:
        r.expect(tag, WireType.varint, `id (field 1) of ${message}`);
        id = r.uint64(end);
        break;
      case 2:
        r.expect(tag, WireType.lengthDelimited, `ok (field 2) of ${message}`);
        ok = readOk(r, r.nestedEnd(end), ok);
        break;
      case 3:
        r.expect(tag, WireType.lengthDelimited, `error (field 3) of ${message}`);
        error = readCallError(r, r.nestedEnd(end), error);
        break;
      default:
        r.skip(tag, end);
    }
  }
  return { id, ok, error };
}

/** CallError: code (varint), details, error_code, leader_id, leader_address (strings); merged into `into` when not null. */
function readCallError(r: WireReader, end: number, into: CallErrorMessage | null): CallErrorMessage {
  let code = into?.code ?? 0;
  let details = into?.details ?? '';
  let errorCode = into?.errorCode ?? '';
  let leaderId = into?.leaderId ?? '';
  let leaderAddress = into?.leaderAddress ?? '';
  while (r.at < end) {
    const tag = r.tag(end);
    const field = r.field(tag, 'CallError');
    if (field === 1) {
      r.expect(tag, WireType.varint, 'code (field 1) of CallError');
      code = r.uint32(end);
    } else if (field >= 2 && field <= 5) {
      r.expect(tag, WireType.lengthDelimited, `${CALL_ERROR_STRINGS[field - 2] ?? 'a string'} (field ${field}) of CallError`);
      const value = r.string(end);
      if (field === 2) details = value;
      else if (field === 3) errorCode = value;
      else if (field === 4) leaderId = value;
      else leaderAddress = value;
    } else r.skip(tag, end);
  }
  return { code, details, errorCode, leaderId, leaderAddress };
}

const CALL_ERROR_STRINGS = ['details', 'errorCode', 'leaderId', 'leaderAddress'] as const;
