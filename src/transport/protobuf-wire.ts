/**
 * Hand-written protobuf wire encoding for the hot messages (peer appends, client append
 * requests, read responses), shared by the codecs. The output is what protobufjs encodes
 * for the same schema, so either side may decode with protobufjs.
 */

/** Varint length of a 32-bit value (lengths: records are far below 4 GiB). */
export function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value >>>= 7;
    length++;
  }
  return length;
}

/** Writes a 32-bit varint at `at`; returns the offset after it. */
export function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** Varint length of a non-negative integer below 2^53 (bit operators would cut it to 32 bits). */
export function varint64Length(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

export function writeVarint64(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

/** Bytes of a one-byte-tag varint field; 0 when the value is zero (proto3 leaves it out). */
export function scalarBytes(value: number): number {
  return value === 0 ? 0 : 1 + varint64Length(value);
}

/** Writes a one-byte-tag varint field unless it is zero; returns the offset after it. */
export function writeScalar(out: Buffer, at: number, tag: number, value: number): number {
  if (value === 0) return at;
  out[at++] = tag;
  return writeVarint64(out, at, value);
}

/** Bytes of a one-byte-tag bytes field; 0 when it is empty (proto3 leaves it out). */
export function bytesFieldBytes(bytes: Uint8Array): number {
  return bytes.length > 0 ? 1 + varint64Length(bytes.length) + bytes.length : 0;
}

/** Writes a one-byte-tag bytes field unless it is empty; returns the offset after it. */
export function writeBytesField(out: Buffer, at: number, tag: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return at;
  out[at++] = tag;
  at = writeVarint64(out, at, bytes.length);
  out.set(bytes, at);
  return at + bytes.length;
}

/** Bytes of a one-byte-tag length-delimited field of `content` bytes: tag, length, content (written even when empty: a message in a repeated field counts). */
export function nestedFieldBytes(content: number): number {
  return 1 + varint64Length(content) + content;
}

/** Bytes of a one-byte-tag string field; 0 when it is empty (proto3 leaves it out). */
export function stringFieldBytes(value: string): number {
  if (value.length === 0) return 0;
  const bytes = Buffer.byteLength(value, 'utf8');
  return 1 + varint64Length(bytes) + bytes;
}

/** Writes a one-byte-tag string field unless it is empty; returns the offset after it. */
export function writeStringField(out: Buffer, at: number, tag: number, value: string): number {
  if (value.length === 0) return at;
  const bytes = Buffer.byteLength(value, 'utf8');
  out[at++] = tag;
  at = writeVarint64(out, at, bytes);
  return at + out.write(value, at, bytes, 'utf8');
}
