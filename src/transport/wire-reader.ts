import { MalformedMessageError } from './errors.js';

/** Protobuf wire types, by name. Groups (3, 4) are deprecated and in none of our schemas. */
export const WireType = { varint: 0, fixed64: 1, lengthDelimited: 2, fixed32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'group start', 'group end', 'fixed32', 'wire type 6', 'wire type 7'] as const;

/** A uint64 takes at most ten bytes as a varint. */
const VARINT_BYTES_MAX = 10;

/**
 * Protobuf wire format read by hand, for the hot messages whose decoding protobufjs spent a
 * walk and several objects on. Every read checks its bounds: bytes that run past the end,
 * a varint longer than ten bytes, or a field of a wire type our messages do not use throw
 * MalformedMessageError ("<what> does not decode: ..."), as protobufjs's own errors are
 * reported. The caller reads a tag, dispatches on its field number, and reads the value with
 * the method of the field's wire type after checking it with `expect`.
 */
export class WireReader {
  /** The next byte to read. */
  at: number;

  private readonly bytes: Buffer;

  constructor(
    bytes: Uint8Array,
    /** Names the message in errors, e.g. "peer batch". */
    private readonly what: string,
    start = 0,
    /** One past the last byte of the message being read. */
    readonly end: number = bytes.byteLength,
  ) {
    this.bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  /**
   * A varint of up to ten bytes, exact below 2^53; above that a number that is no safe
   * integer (the caller's range check refuses it), never a wrapped one.
   */
  varint(): number {
    let value = 0;
    let scale = 1;
    const started = this.at;
    for (let k = 0; k < VARINT_BYTES_MAX; k++) {
      if (this.at >= this.end) this.fail(`a varint runs past the end at byte ${started}`);
      const byte = this.bytes[this.at++] ?? 0;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    return this.fail(`a varint at byte ${started} is longer than ${VARINT_BYTES_MAX} bytes`);
  }

  /** A field's tag: its field number times 8 plus its wire type; a field number of 0 is refused. */
  tag(): number {
    const at = this.at;
    const tag = this.varint();
    if (tag < 8) this.fail(`a field numbered 0 at byte ${at}`);
    return tag;
  }

  /** The end of a length-delimited value starting here (its length read, `at` moved to its first byte). */
  lengthDelimitedEnd(): number {
    const at = this.at;
    const length = this.varint();
    if (length > this.end - this.at) this.fail(`a field of ${length} bytes at byte ${at} runs past the end`);
    return this.at + length;
  }

  /**
   * A bytes field's value: a view of the bytes read (no copy), valid while they are. A plain
   * Uint8Array, not a Buffer: making a Buffer view costs several times as much.
   */
  bytesView(): Uint8Array {
    const end = this.lengthDelimitedEnd();
    const view = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.at, end - this.at);
    this.at = end;
    return view;
  }

  string(): string {
    const end = this.lengthDelimitedEnd();
    const text = this.bytes.toString('utf8', this.at, end);
    this.at = end;
    return text;
  }

  /** Checks that a nested message's fields ended exactly at its end (none ran into what follows). */
  closeNested(end: number, message: string): void {
    if (this.at !== end) this.fail(`a field of ${message} runs past the message's end at byte ${end}`);
  }

  /** Moves past a value of `wireType` (an unknown field's, which protobuf requires to be skipped). */
  skip(wireType: number): void {
    const at = this.at;
    switch (wireType) {
      case WireType.varint:
        this.varint();
        return;
      case WireType.fixed64:
      case WireType.fixed32:
        this.at += wireType === WireType.fixed64 ? 8 : 4;
        if (this.at > this.end) this.fail(`a fixed-size value runs past the end at byte ${at}`);
        return;
      case WireType.lengthDelimited:
        this.at = this.lengthDelimitedEnd();
        return;
      default:
        this.fail(`wire type ${wireType} at byte ${at} is not one our messages use`);
    }
  }

  /**
   * Refuses a known field that arrives with another wire type than its schema's: protobufjs
   * would skip it as unknown and read the field's default, which says something the sender
   * did not mean.
   */
  expect(tag: number, wireType: WireType, field: { readonly name: string; readonly message: string }): void {
    const got = tag % 8;
    if (got === wireType) return;
    this.fail(`${field.name} (field ${Math.floor(tag / 8)}) of ${field.message} arrives as ${WIRE_TYPE_NAMES[got] ?? 'unknown'} (wire type ${got}); it is ${WIRE_TYPE_NAMES[wireType]} (wire type ${wireType})`);
  }

  fail(problem: string): never {
    throw new MalformedMessageError(`${this.what} does not decode: ${problem}`);
  }
}
