/**
 * A benchmark record: a 16-byte header (send time, producer, sequence) and filler up to the
 * requested size. The send time lets any reader measure produce-to-consume latency.
 */
export const PAYLOAD_HEADER_BYTES = 16;

/** Wall-clock-anchored milliseconds with sub-millisecond resolution, comparable within one process. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Builds records of one size from a template, so each costs one allocation and one copy. */
export class PayloadFactory {
  readonly #template: Buffer;

  constructor(readonly sizeBytes: number) {
    if (!(Number.isSafeInteger(sizeBytes) && sizeBytes >= PAYLOAD_HEADER_BYTES)) {
      throw new RangeError(`a benchmark record needs at least ${PAYLOAD_HEADER_BYTES} bytes, not ${sizeBytes}`);
    }
    this.#template = Buffer.alloc(sizeBytes, 0x61);
  }

  make(producer: number, sequence: number, sentMs: number): Buffer {
    const record = Buffer.allocUnsafe(this.sizeBytes);
    this.#template.copy(record, PAYLOAD_HEADER_BYTES, PAYLOAD_HEADER_BYTES);
    record.writeDoubleLE(sentMs, 0);
    record.writeUInt32LE(producer >>> 0, 8);
    record.writeUInt32LE(sequence >>> 0, 12);
    return record;
  }
}

/** The send time written by PayloadFactory, or null for a record that is not one of ours. */
export function sentMsOf(payload: Uint8Array): number | null {
  if (payload.length < PAYLOAD_HEADER_BYTES) return null;
  // Received payloads are Buffers (no DataView to allocate per record); anything else still works.
  const sent = Buffer.isBuffer(payload) ? payload.readDoubleLE(0) : new DataView(payload.buffer, payload.byteOffset, PAYLOAD_HEADER_BYTES).getFloat64(0, true);
  return Number.isFinite(sent) && sent > 0 ? sent : null;
}
