import { MalformedMessageError } from './errors.js';

/** Protobuf wire types, by name. Groups (3, 4) are deprecated and in none of our schemas. */
export const WireType = { varint: 0, fixed64: 1, lengthDelimited: 2, fixed32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'group start', 'group end', 'fixed32', 'wire type 6', 'wire type 7'] as const;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A cursor over protobuf wire bytes. Every read is bounded by the `end` of the message it is
 * in (a nested message's own end), and anything past it is MalformedMessageError. Bytes
 * fields are views into the request's buffer, as protobufjs's are (Uint8Arrays, not Buffers).
 */
export class WireReader {
  at = 0;
  /** The high 32 bits of the varint uint64Low read last. */
  #high = 0;
  readonly #buffers: boolean;

  /**
   * `bytesAs` 'buffer' reads bytes fields as Buffer views, as protobufjs does: for what the
   * client library hands its users (a consumed message's payload), who may use Buffer's
   * methods on it. The node's own readers take the cheaper plain views (the default).
   */
  constructor(
    private readonly data: Uint8Array,
    bytesAs: 'view' | 'buffer' = 'view',
  ) {
    this.#buffers = bytesAs === 'buffer';
  }

  /** A field tag, as protobufjs reads one: at most 5 bytes, below 2^32. */
  tag(end: number): number {
    return this.varint32(end, 0x0f, 'tag');
  }

  /** A length, as protobufjs reads one: at most 5 bytes, below 2^31. */
  size(end: number): number {
    return this.varint32(end, 0x07, 'length');
  }

  /** A varint of at most 5 bytes whose fifth byte is at most `fifthMax`. */
  private varint32(end: number, fifthMax: number, what: string): number {
    let value = 0;
    for (let k = 0; k < 4; k++) {
      const bits = this.byte(end);
      value |= (bits & 0x7f) << (7 * k);
      if (bits < 0x80) return value >>> 0;
    }
    const fifth = this.byte(end);
    if (fifth > fifthMax) throw new MalformedMessageError(`invalid ${what} encoding at byte ${this.at - 5}`);
    return (value | (fifth << 28)) >>> 0;
  }

  /** A uint64 as protobufjs reads one without a Long library: its two 32-bit halves as one number. */
  uint64(end: number): number {
    const low = this.uint64Low(end);
    return (this.#high >>> 0) * 0x1_0000_0000 + (low >>> 0);
  }

  /** A uint32 (or, `| 0`, an int32 or enum) as protobufjs reads one: the low 32 bits of a varint of up to 10 bytes. */
  uint32(end: number): number {
    return this.uint64Low(end) >>> 0;
  }

  /** A bool as protobufjs reads one: true when any value bit of its varint (up to 10 bytes) is set, not only the low 32. */
  bool(end: number): boolean {
    let value = false;
    for (let k = 0; k < 10; k++) {
      const bits = this.byte(end);
      if ((bits & 0x7f) !== 0) value = true;
      if (bits < 0x80) return value;
    }
    throw new MalformedMessageError(`a varint at byte ${this.at - 10} runs over 10 bytes`);
  }

  /** Reads a varint of up to 10 bytes; returns its low 32 bits and keeps the high ones for uint64. */
  private uint64Low(end: number): number {
    let low = 0;
    let high = 0;
    for (let k = 0; k < 10; k++) {
      const bits = this.byte(end);
      const shift = 7 * k;
      if (shift < 28) low |= (bits & 0x7f) << shift;
      else if (shift === 28) {
        low |= (bits & 0x0f) << 28;
        high |= (bits & 0x7f) >>> 4;
      } else high |= (bits & 0x7f) << (shift - 32);
      if (bits < 0x80) {
        this.#high = high;
        return low;
      }
    }
    throw new MalformedMessageError(`a varint at byte ${this.at - 10} runs over 10 bytes`);
  }

  /** The end of a length-delimited field starting here, after reading its length. */
  nestedEnd(end: number): number {
    const length = this.size(end);
    if (length > end - this.at) throw new MalformedMessageError(`a field of ${length} bytes at byte ${this.at} runs past the end of its message`);
    return this.at + length;
  }

  /**
   * A plain Uint8Array view, or a Buffer view (see the constructor), made directly:
   * Buffer.subarray costs several times as much (a Buffer made through its species).
   */
  bytes(end: number): Uint8Array {
    const fieldEnd = this.nestedEnd(end);
    const offset = this.data.byteOffset + this.at;
    const value = this.#buffers ? Buffer.from(this.data.buffer, offset, fieldEnd - this.at) : new Uint8Array(this.data.buffer, offset, fieldEnd - this.at);
    this.at = fieldEnd;
    return value;
  }

  /** UTF-8, refused when it is not (protobufjs reads proto3 strings strictly), a leading BOM kept. */
  string(end: number): string {
    const fieldEnd = this.nestedEnd(end);
    let value: string;
    try {
      value = strictUtf8.decode(new Uint8Array(this.data.buffer, this.data.byteOffset + this.at, fieldEnd - this.at));
    } catch (error) {
      throw new MalformedMessageError(`a string field at byte ${this.at} is not UTF-8`, { cause: error });
    }
    this.at = fieldEnd;
    return value;
  }

  /** The field number of a tag; 0 is no field. */
  field(tag: number, typeName: string): number {
    const field = tag >>> 3;
    if (field === 0) throw new MalformedMessageError(`${typeName} has a field numbered 0 at byte ${this.at}`);
    return field;
  }

  /**
   * Refuses a known field that arrives with another wire type than the schema's, which
   * protobufjs would skip as unknown and read as the field's default. `name` says which, as
   * "records (field 1) of AppendRequest".
   */
  expect(tag: number, wireType: number, name: string): void {
    const got = tag & 7;
    if (got !== wireType) throw new MalformedMessageError(`${name} arrives as ${WIRE_TYPE_NAMES[got] ?? 'unknown'} (wire type ${got}); it is ${WIRE_TYPE_NAMES[wireType] ?? 'unknown'} (wire type ${wireType})`);
  }

  /** Moves past an unknown field's value. */
  skip(tag: number, end: number): void {
    const wireType = tag & 7;
    if (wireType === WireType.varint) this.uint64Low(end);
    else if (wireType === WireType.lengthDelimited) this.at = this.nestedEnd(end);
    else if (wireType === WireType.fixed64 || wireType === WireType.fixed32) {
      this.at += wireType === WireType.fixed64 ? 8 : 4;
      if (this.at > end) throw new MalformedMessageError('a fixed-size value runs past the end of its message');
    } else throw new MalformedMessageError(`wire type ${wireType} at byte ${this.at} is not one our messages use`);
  }

  private byte(end: number): number {
    if (this.at >= end) throw new MalformedMessageError(`the message ends inside a value at byte ${this.at}`);
    return this.data[this.at++] ?? 0;
  }
}
