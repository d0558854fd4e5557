import protobuf from 'protobufjs';

/**
 * protobufjs skips a known field that arrives with another wire type than the schema's, as
 * if it were unknown, so the field reads as its default: an AppendRequest whose records come
 * as a varint decodes as "no records", a ReadRequest whose `from` comes length-delimited as
 * from 0. A request that says something other than what it means is malformed; this walk
 * finds the first such field (nested messages included) before protobufjs decodes it.
 */

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'group start', 'group end', 'fixed32', 'wire type 6', 'wire type 7'] as const;
const LENGTH_DELIMITED = 2;
/** Our schemas nest a few levels; anything deeper is not one of our messages. */
const DEPTH_MAX = 16;

/**
 * The first problem with `bytes` as an encoding of `type`: a known field of the wrong wire
 * type, a length past the end, a wire type protobuf does not have. Null when the walk
 * finds none (protobufjs still decodes, and may still refuse, what this passes). Unknown
 * fields are skipped, as protobuf requires. Bounded: each step consumes at least one byte.
 */
export function wireTypeProblem(type: protobuf.Type, bytes: Uint8Array): string | null {
  return walk(type, bytes, 0, bytes.length, 0);
}

function walk(type: protobuf.Type, bytes: Uint8Array, start: number, end: number, depth: number): string | null {
  if (depth > DEPTH_MAX) return `${type.name} is nested more than ${DEPTH_MAX} deep`;
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    if (tag === null) return `${type.name} ends inside a field tag at byte ${at}`;
    at = tag.next;
    const fieldNumber = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (fieldNumber === 0) return `${type.name} has a field numbered 0 at byte ${at}`;
    const field = type.fieldsById[fieldNumber];
    if (field !== undefined && !acceptedWireTypes(field).includes(wireType)) {
      const expected = acceptedWireTypes(field)[0] ?? LENGTH_DELIMITED;
      return `${field.name} (field ${fieldNumber}) of ${type.name} arrives as ${WIRE_NAMES[wireType] ?? 'unknown'} (wire type ${wireType}); it is ${WIRE_NAMES[expected] ?? 'unknown'} (wire type ${expected})`;
    }
    const skipped = skip(bytes, at, end, wireType);
    if (typeof skipped === 'string') return `${type.name}: ${skipped}`;
    if (field !== undefined && field.resolvedType instanceof protobuf.Type && wireType === LENGTH_DELIMITED) {
      const problem = walk(field.resolvedType, bytes, skipped.contentStart, skipped.next, depth + 1);
      if (problem !== null) return problem;
    }
    at = skipped.next;
  }
  return null;
}

/** The wire types a field may arrive with; the first is the one it is encoded with unpacked. */
function acceptedWireTypes(field: protobuf.Field): readonly number[] {
  if (field.map || field.resolvedType instanceof protobuf.Type) return [LENGTH_DELIMITED];
  const scalar = field.resolvedType instanceof protobuf.Enum ? 0 : (protobuf.types.basic as Record<string, number | undefined>)[field.type];
  if (scalar === undefined) return [LENGTH_DELIMITED];
  const packable = field.repeated && scalar !== LENGTH_DELIMITED;
  return packable ? [scalar, LENGTH_DELIMITED] : [scalar];
}

/** Where the value of a field of `wireType` starting at `at` ends, or what is wrong with it. */
function skip(bytes: Uint8Array, at: number, end: number, wireType: number): { readonly contentStart: number; readonly next: number } | string {
  switch (wireType) {
    case 0: {
      const value = readVarint(bytes, at, end);
      return value === null ? `a varint runs past the end at byte ${at}` : { contentStart: at, next: value.next };
    }
    case 1:
    case 5: {
      const next = at + (wireType === 1 ? 8 : 4);
      return next > end ? `a fixed-size value runs past the end at byte ${at}` : { contentStart: at, next };
    }
    case LENGTH_DELIMITED: {
      const length = readVarint(bytes, at, end);
      if (length === null) return `a length runs past the end at byte ${at}`;
      if (length.value > end - length.next) return `a field of ${length.value} bytes at byte ${at} runs past the end`;
      return { contentStart: length.next, next: length.next + length.value };
    }
    default:
      return `wire type ${wireType} at byte ${at} is not one our messages use`;
  }
}

/** A varint of up to 10 bytes at `at`, exact below 2^53; null when it runs past `end`. */
function readVarint(bytes: Uint8Array, at: number, end: number): { readonly value: number; readonly next: number } | null {
  let value = 0;
  let scale = 1;
  for (let k = 0; k < 10 && at + k < end; k++) {
    const byte = bytes[at + k] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: at + k + 1 };
    scale *= 0x80;
  }
  return null;
}
