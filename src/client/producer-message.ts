/** What send() makes of a ProducerMessage: the broker's record, its size in a batch and the delivery time it asks for. */

import { InvalidArgumentError } from './errors.js';
import type { BrokerMessage } from './log-client.js';
import type { ProducerMessage } from './producer-options.js';

type Header = BrokerMessage['headers'][number];

const encoder = new TextEncoder();
const bytesOf = (value: Uint8Array | string): Uint8Array => (typeof value === 'string' ? encoder.encode(value) : value);

export function messageBytes(m: BrokerMessage): number {
  let bytes = m.key.length + m.payload.length;
  for (const h of m.headers) bytes += h.name.length + h.value.length;
  return bytes;
}

/** What a message without a key or without headers holds instead: shared, as neither can be changed. */
const NO_KEY = new Uint8Array(0);
const NO_HEADERS: readonly Header[] = Object.freeze([]);

/** Bytes a message's framing may add in a produce request beyond messageBytes (field tags, lengths, timestamp). */
const MESSAGE_FRAMING_BYTES = 32;
const HEADER_FRAMING_BYTES = 16;
/** What the rest of a produce request (topic, ids, acks, the stream's request id and budget) may take. */
export const REQUEST_ENVELOPE_BYTES = 4096;

/** An upper bound of what the message adds to a produce request on the wire; `bytes` is its messageBytes. */
export function requestBytesOf(m: BrokerMessage, bytes: number): number {
  return bytes + MESSAGE_FRAMING_BYTES + HEADER_FRAMING_BYTES * m.headers.length;
}

const DELIVER_AT_HEADER = 'quorumlog-deliver-at-ms';

/** The delivery time a message asks for ('' for none): messages of one batch must agree. */
export function deliverAtOf(message: BrokerMessage | undefined): string {
  if (message === undefined || message.headers.length === 0) return '';
  const header = message.headers.find((h) => h.name === DELIVER_AT_HEADER);
  return header === undefined ? '' : Buffer.from(header.value).toString('latin1');
}

/**
 * The broker's record for a message, or InvalidArgumentError saying what is wrong with it
 * (send() takes what JavaScript callers pass, not only what the types allow).
 */
export function toRecord(message: ProducerMessage): BrokerMessage {
  checkShape(message);
  const delay = message.deliverAtMs;
  if (delay !== undefined && !(Number.isSafeInteger(delay) && delay >= 0)) throw new InvalidArgumentError(`deliverAtMs must be a time in ms since 1970, not ${delay}`);
  return {
    key: message.key === undefined ? NO_KEY : bytesOf(message.key),
    headers: headersOf(message, delay),
    payload: bytesOf(message.payload),
    timestampMs: message.timestampMs ?? Date.now(),
  };
}

/** The message's headers as bytes, the delivery time's last (replacing one the caller set); NO_HEADERS for none. */
function headersOf(message: ProducerMessage, delay: number | undefined): readonly Header[] {
  const given = message.headers;
  if ((given === undefined || given.length === 0) && delay === undefined) return NO_HEADERS;
  const headers = (given ?? []).filter((h) => delay === undefined || h.name !== DELIVER_AT_HEADER).map((h) => ({ name: h.name, value: bytesOf(h.value) }));
  if (delay !== undefined) headers.push({ name: DELIVER_AT_HEADER, value: bytesOf(String(delay)) });
  return headers;
}

const isBytes = (value: unknown): value is Uint8Array | string => typeof value === 'string' || value instanceof Uint8Array;
const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

function checkShape(message: unknown): asserts message is ProducerMessage {
  if (typeof message !== 'object' || message === null) throw new InvalidArgumentError(`send: a message must be an object with a payload, not ${kindOf(message)}`);
  const m = message as Record<string, unknown>;
  if (!isBytes(m['payload'])) throw new InvalidArgumentError(`send: the payload must be a string or a Uint8Array, not ${kindOf(m['payload'])}`);
  if (m['key'] !== undefined && !isBytes(m['key'])) throw new InvalidArgumentError(`send: the key must be a string or a Uint8Array, not ${kindOf(m['key'])}`);
  const headers = m['headers'];
  if (headers !== undefined) {
    if (!Array.isArray(headers)) throw new InvalidArgumentError(`send: headers must be a list of { name, value }, not ${kindOf(headers)}`);
    headers.forEach((h: unknown, k) => {
      const header = (typeof h === 'object' && h !== null ? h : {}) as Record<string, unknown>;
      if (typeof header['name'] !== 'string' || !isBytes(header['value'])) throw new InvalidArgumentError(`send: header ${k} must be { name: string, value: string | Uint8Array }`);
    });
  }
  const timestamp = m['timestampMs'];
  if (timestamp !== undefined && !(Number.isSafeInteger(timestamp) && (timestamp as number) >= 0)) throw new InvalidArgumentError(`send: timestampMs must be a whole number of ms since 1970, not ${String(timestamp)}`);
}
