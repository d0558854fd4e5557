/** What send() makes of a ProducerMessage: the broker's record, its size in a batch and the delivery time it asks for. */

import { InvalidArgumentError } from './errors.js';
import type { BrokerMessage } from './log-client.js';
import type { ProducerMessage } from './producer-options.js';

const encoder = new TextEncoder();
const bytesOf = (value: Uint8Array | string): Uint8Array => (typeof value === 'string' ? encoder.encode(value) : value);

export function messageBytes(m: BrokerMessage): number {
  return m.key.length + m.payload.length + m.headers.reduce((n, h) => n + h.name.length + h.value.length, 0);
}

/** Bytes a message's framing may add in a produce request beyond messageBytes (field tags, lengths, timestamp). */
const MESSAGE_FRAMING_BYTES = 32;
const HEADER_FRAMING_BYTES = 16;
/** What the rest of a produce request (topic, ids, acks, the stream's request id and budget) may take. */
export const REQUEST_ENVELOPE_BYTES = 4096;

/** An upper bound of what the message adds to a produce request on the wire. */
export function requestBytesOf(m: BrokerMessage): number {
  return messageBytes(m) + MESSAGE_FRAMING_BYTES + HEADER_FRAMING_BYTES * m.headers.length;
}

const DELIVER_AT_HEADER = 'quorumlog-deliver-at-ms';

/** The delivery time a message asks for ('' for none): messages of one batch must agree. */
export function deliverAtOf(message: BrokerMessage | undefined): string {
  const header = message?.headers.find((h) => h.name === DELIVER_AT_HEADER);
  return header === undefined ? '' : Buffer.from(header.value).toString('latin1');
}

export function toRecord(message: ProducerMessage): BrokerMessage {
  const delay = message.deliverAtMs;
  if (delay !== undefined && !(Number.isSafeInteger(delay) && delay >= 0)) throw new InvalidArgumentError(`deliverAtMs must be a time in ms since 1970, not ${delay}`);
  const headers = (message.headers ?? []).filter((h) => delay === undefined || h.name !== DELIVER_AT_HEADER).map((h) => ({ name: h.name, value: bytesOf(h.value) }));
  if (delay !== undefined) headers.push({ name: DELIVER_AT_HEADER, value: bytesOf(String(delay)) });
  return {
    key: message.key === undefined ? new Uint8Array(0) : bytesOf(message.key),
    headers,
    payload: bytesOf(message.payload),
    timestampMs: message.timestampMs ?? Date.now(),
  };
}
