/**
 * ConsumeResponse, framed and read by hand: it carries every message a consumer gets. The
 * leader encodes it (below); the consumer reads it, where protobufjs's decode and its
 * wire-type walk (protobuf-check.ts) made a message instance per Delivery and Message and a
 * Buffer through Buffer.slice per bytes field. Both follow client.proto exactly
 * as protobufjs does (consume-codec.test.ts checks each against it): zero scalars and empty
 * bytes are left out when writing; when reading, unknown fields are skipped, the last value
 * of a scalar wins, a Delivery's message that comes again is merged into the first, repeated
 * fields append, bytes are Buffer views (as
 * protobufjs's are: what a consumer's application sees), and what protobufjs or
 * WireTypeCheck refuses is refused (MalformedMessageError). One refusal of our own: a
 * Delivery without its message, which protobufjs reads as null and a consumer cannot use
 * (the leader always writes it).
 */
import type { BrokerMessage } from './broker-message.js';
import { readBrokerMessage } from './broker-message-reader.js';
import { brokerMessageBytes, writeBrokerMessage } from './broker-message-writer.js';
import { MalformedMessageError } from './errors.js';
import { scalarBytes, varintLength, writeScalar, writeVarint } from './protobuf-wire.js';
import { WireReader, WireType } from './wire-reader.js';

export interface DeliveryMessage {
  readonly offset: number;
  readonly delivery: number;
  readonly deadlineMs: number;
  readonly message: BrokerMessage;
}
export interface ConsumeResponseMessage {
  readonly deliveries: readonly DeliveryMessage[];
}

/** ConsumeResponse and Delivery field tags (field number << 3 | wire type). */
const CONSUME_TAG = { deliveries: (1 << 3) | 2 } as const;
const DELIVERY_TAG = { offset: (1 << 3) | 0, delivery: (2 << 3) | 0, deadlineMs: (3 << 3) | 0, message: (4 << 3) | 2 } as const;

/**
 * The protobuf encoding of a ConsumeResponse, as protobufjs decodes it (zero scalars and
 * empty bytes left out), in one allocation with each payload copied once. The leader sends
 * a drain's every message through here; protobufjs's writer copied each payload twice and
 * was a sixth of the leader's busy time in a group drain.
 */
export function encodeConsumeResponse(response: ConsumeResponseMessage): Buffer {
  const sizes = new Array<number>(response.deliveries.length * 2);
  let total = 0;
  response.deliveries.forEach((d, k) => {
    const message = brokerMessageBytes(d.message);
    const delivery = scalarBytes(d.offset) + scalarBytes(d.delivery) + scalarBytes(d.deadlineMs) + 1 + varintLength(message) + message;
    sizes[2 * k] = delivery;
    sizes[2 * k + 1] = message;
    total += 1 + varintLength(delivery) + delivery;
  });
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  response.deliveries.forEach((d, k) => {
    out[at++] = CONSUME_TAG.deliveries;
    at = writeVarint(out, at, sizes[2 * k] ?? 0);
    at = writeScalar(out, at, DELIVERY_TAG.offset, d.offset);
    at = writeScalar(out, at, DELIVERY_TAG.delivery, d.delivery);
    at = writeScalar(out, at, DELIVERY_TAG.deadlineMs, d.deadlineMs);
    out[at++] = DELIVERY_TAG.message;
    at = writeVarint(out, at, sizes[2 * k + 1] ?? 0);
    at = writeBrokerMessage(out, at, d.message);
  });
  if (at !== total) throw new Error(`encodeConsumeResponse: wrote ${at} bytes, sized ${total}`);
  return out;
}

/** Reads a ConsumeResponse; bytes that protobufjs would not read as one (or a Delivery without its message) throw MalformedMessageError. */
export function decodeConsumeResponse(bytes: Buffer): ConsumeResponseMessage {
  const r = new WireReader(bytes, 'buffer');
  const end = bytes.length;
  const deliveries: DeliveryMessage[] = [];
  // Bounded by the bytes: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    if (r.field(tag, 'ConsumeResponse') === 1) {
      r.expect(tag, WireType.lengthDelimited, 'deliveries (field 1) of ConsumeResponse');
      deliveries.push(readDelivery(r, r.nestedEnd(end)));
    } else r.skip(tag, end);
  }
  return { deliveries };
}

function readDelivery(r: WireReader, end: number): DeliveryMessage {
  const start = r.at;
  let offset = 0;
  let delivery = 0;
  let deadlineMs = 0;
  let message: BrokerMessage | null = null;
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'Delivery')) {
      case 1:
        r.expect(tag, WireType.varint, 'offset (field 1) of Delivery');
        offset = r.uint64(end);
        break;
      case 2:
        r.expect(tag, WireType.varint, 'delivery (field 2) of Delivery');
        delivery = r.uint32(end);
        break;
      case 3:
        r.expect(tag, WireType.varint, 'deadlineMs (field 3) of Delivery');
        deadlineMs = r.uint64(end);
        break;
      case 4:
        r.expect(tag, WireType.lengthDelimited, 'message (field 4) of Delivery');
        message = readBrokerMessage(r, r.nestedEnd(end), message);
        break;
      default:
        r.skip(tag, end);
    }
  }
  if (message === null) throw new MalformedMessageError(`the Delivery at byte ${start} has no message`);
  return { offset, delivery, deadlineMs, message };
}
