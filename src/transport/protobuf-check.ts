import protobuf from 'protobufjs';

import { WIRE_TYPE_NAMES } from './wire-reader.js';

/**
 * protobufjs skips a known field that arrives with another wire type than the schema's, as
 * if it were unknown, so the field reads as its default: an AppendRequest whose records come
 * as a varint decodes as "no records", a ReadRequest whose `from` comes length-delimited as
 * from 0. A request that says something other than what it means is malformed; this walk
 * finds the first such field (nested messages included) before protobufjs decodes it.
 */

const LENGTH_DELIMITED = 2;
/** Our schemas nest a few levels; anything deeper is not one of our messages. */
const DEPTH_MAX = 16;

/** What the walk needs of one known field, computed once per field. */
interface FieldPlan {
  readonly name: string;
  /** Bit k set: wire type k is accepted. */
  readonly acceptedMask: number;
  /** The wire type the field is encoded with unpacked, for the message. */
  readonly expected: number;
  /** A message field's type, walked into; null for scalars, strings and bytes. */
  readonly nested: protobuf.Type | null;
}

/**
 * Finds the first problem with bytes as an encoding of a message type: a known field of the
 * wrong wire type, a length past the end, a wire type protobuf does not have. Null when the
 * walk finds none (protobufjs still decodes, and may still refuse, what this passes).
 * Unknown fields are skipped, as protobuf requires. Bounded: each step consumes at least one
 * byte. Build one per codec: it keeps each type's field plans, computed on first use.
 */
export class WireTypeCheck {
  readonly #plans = new Map<protobuf.Type, ReadonlyMap<number, FieldPlan>>();
  /** The walk's position in the bytes (the walk is synchronous: one at a time per instance). */
  #at = 0;

  problem(type: protobuf.Type, bytes: Uint8Array): string | null {
    this.#at = 0;
    return this.#walk(type, bytes, bytes.length, 0);
  }

  /** Walks the fields from #at to `end`, leaving #at at `end` when it finds no problem. */
  #walk(type: protobuf.Type, bytes: Uint8Array, end: number, depth: number): string | null {
    if (depth > DEPTH_MAX) return `${type.name} is nested more than ${DEPTH_MAX} deep`;
    const plans = this.#plansOf(type);
    while (this.#at < end) {
      const tagAt = this.#at;
      const tag = this.#varint(bytes, end);
      if (tag < 0) return `${type.name} ends inside a field tag at byte ${tagAt}`;
      const fieldNumber = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (fieldNumber === 0) return `${type.name} has a field numbered 0 at byte ${tagAt}`;
      const plan = plans.get(fieldNumber);
      if (plan !== undefined && (plan.acceptedMask & (1 << wireType)) === 0) {
        return `${plan.name} (field ${fieldNumber}) of ${type.name} arrives as ${WIRE_TYPE_NAMES[wireType] ?? 'unknown'} (wire type ${wireType}); it is ${WIRE_TYPE_NAMES[plan.expected] ?? 'unknown'} (wire type ${plan.expected})`;
      }
      const problem = plan?.nested != null && wireType === LENGTH_DELIMITED ? this.#nested(plan.nested, bytes, end, depth) : this.#skip(type.name, bytes, end, wireType);
      if (problem !== null) return problem;
    }
    return null;
  }

  /** A length-delimited message field at #at: its length, then its own fields. */
  #nested(type: protobuf.Type, bytes: Uint8Array, end: number, depth: number): string | null {
    const lengthAt = this.#at;
    const length = this.#varint(bytes, end);
    if (length < 0) return `${type.name}: its length runs past the end at byte ${lengthAt}`;
    if (length > end - this.#at) return `${type.name} of ${length} bytes at byte ${lengthAt} runs past the end`;
    return this.#walk(type, bytes, this.#at + length, depth + 1);
  }

  /** Moves #at past a value of `wireType`, or says what is wrong with it. */
  #skip(typeName: string, bytes: Uint8Array, end: number, wireType: number): string | null {
    const valueAt = this.#at;
    switch (wireType) {
      case 0:
        return this.#varint(bytes, end) < 0 ? `${typeName}: a varint runs past the end at byte ${valueAt}` : null;
      case 1:
      case 5:
        this.#at += wireType === 1 ? 8 : 4;
        return this.#at > end ? `${typeName}: a fixed-size value runs past the end at byte ${valueAt}` : null;
      case LENGTH_DELIMITED: {
        const length = this.#varint(bytes, end);
        if (length < 0) return `${typeName}: a length runs past the end at byte ${valueAt}`;
        if (length > end - this.#at) return `${typeName}: a field of ${length} bytes at byte ${valueAt} runs past the end`;
        this.#at += length;
        return null;
      }
      default:
        return `${typeName}: wire type ${wireType} at byte ${valueAt} is not one our messages use`;
    }
  }

  /** A varint of up to 10 bytes at #at (exact below 2^53), moving #at past it; -1 when it runs past `end`. */
  #varint(bytes: Uint8Array, end: number): number {
    let value = 0;
    let scale = 1;
    for (let k = 0; k < 10 && this.#at < end; k++) {
      const byte = bytes[this.#at++] ?? 0;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    return -1;
  }

  #plansOf(type: protobuf.Type): ReadonlyMap<number, FieldPlan> {
    let plans = this.#plans.get(type);
    if (plans === undefined) {
      plans = new Map(type.fieldsArray.map((field) => [field.id, fieldPlan(field)]));
      this.#plans.set(type, plans);
    }
    return plans;
  }
}

function fieldPlan(field: protobuf.Field): FieldPlan {
  field.resolve();
  const nested = field.resolvedType instanceof protobuf.Type ? field.resolvedType : null;
  if (field.map || nested !== null) return { name: field.name, acceptedMask: 1 << LENGTH_DELIMITED, expected: LENGTH_DELIMITED, nested };
  const scalar = field.resolvedType instanceof protobuf.Enum ? 0 : (protobuf.types.basic as Record<string, number | undefined>)[field.type] ?? LENGTH_DELIMITED;
  // A repeated scalar may also arrive packed (length-delimited).
  const packable = field.repeated && scalar !== LENGTH_DELIMITED;
  return { name: field.name, acceptedMask: (1 << scalar) | (packable ? 1 << LENGTH_DELIMITED : 0), expected: scalar, nested: null };
}
