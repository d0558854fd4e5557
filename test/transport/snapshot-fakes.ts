import type { InstallSnapshot } from '../../raft/index.js';
import type { SnapshotIntake, SnapshotReceiving, SnapshotSource } from '../../src/transport/index.js';

/**
 * In-memory twins of the node's snapshot files for the transfer tests: a source over a byte
 * array, and a receiving side whose partial copies persist across calls (and across restarts
 * of the receiving transport), keyed by snapshot as the node's files are.
 */

/** Bytes where every aligned 4-byte word is its own offset (xor a seed): misplaced bytes show. */
export function patternBytes(totalBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(totalBytes);
  const view = new DataView(bytes.buffer);
  for (let at = 0; at + 4 <= totalBytes; at += 4) view.setUint32(at, (at ^ seed) >>> 0);
  for (let at = totalBytes - (totalBytes % 4); at < totalBytes; at++) bytes[at] = at & 0xff;
  return bytes;
}

export class MemorySource implements SnapshotSource {
  readonly totalBytes: number;
  /** Each read, in order. */
  readonly reads: { readonly offset: number; readonly bytes: number }[] = [];
  closeCalls = 0;
  /** Called before each read is answered (the flow-control test measures there). */
  onRead: (offset: number, bytes: number) => void = () => {};

  constructor(readonly bytes: Uint8Array) {
    this.totalBytes = bytes.length;
  }

  async read(offset: number, bytesMax: number): Promise<Uint8Array> {
    const end = Math.min(this.totalBytes, offset + bytesMax);
    this.reads.push({ offset, bytes: end - offset });
    this.onRead(offset, end - offset);
    // Answered on a later turn of the event loop, as a file read is.
    await new Promise((resolve) => setImmediate(resolve));
    return this.bytes.subarray(offset, end);
  }

  close(): void {
    this.closeCalls++;
  }
}

/** A fault the intake raises once, as a disk might (the transfer is retried and resumes). */
export class TransientWriteError extends Error {
  override readonly name = 'TransientWriteError';
}

export class MemoryIntake implements SnapshotIntake {
  readonly copy: Uint8Array;
  receivedBytes: number;
  /** Bytes written through write(), in total (each byte once when nothing is resent). */
  writtenBytes = 0;
  finishCalls = 0;
  /** Set just before finish() resolves. */
  finished = false;
  /** The first write at or past this offset throws TransientWriteError, once. */
  failOnceAtBytes: number | null = null;
  /** Each write waits for this before it completes (a slow disk). */
  writeDelay: () => Promise<void> = () => Promise.resolve();
  /** finish() waits for this before it verifies. */
  finishGate: Promise<void> = Promise.resolve();

  constructor(
    readonly expected: Uint8Array,
    prefixBytes: number,
  ) {
    this.copy = new Uint8Array(expected.length);
    this.copy.set(expected.subarray(0, prefixBytes));
    this.receivedBytes = prefixBytes;
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.receivedBytes) throw new Error(`write at ${offset}, copy ends at ${this.receivedBytes}`);
    if (this.failOnceAtBytes !== null && offset + bytes.length > this.failOnceAtBytes) {
      this.failOnceAtBytes = null;
      throw new TransientWriteError(`the disk hiccuped at ${offset}`);
    }
    await this.writeDelay();
    this.copy.set(bytes, offset);
    this.receivedBytes += bytes.length;
    this.writtenBytes += bytes.length;
  }

  async finish(): Promise<void> {
    this.finishCalls++;
    await this.finishGate;
    if (this.receivedBytes !== this.expected.length) throw new Error(`finish at ${this.receivedBytes} of ${this.expected.length}`);
    if (Buffer.compare(asBuffer(this.copy), asBuffer(this.expected)) !== 0) throw new Error('the copy differs from the snapshot');
    this.finished = true;
  }
}

export class MemoryReceiving implements SnapshotReceiving {
  readonly opened: { readonly message: InstallSnapshot; readonly totalBytes: number }[] = [];
  readonly #intakes = new Map<string, MemoryIntake>();

  /** `intake` is what open() answers for a snapshot at `index`. */
  prepare(index: number, intake: MemoryIntake): void {
    this.#intakes.set(String(index), intake);
  }

  intake(index: number): MemoryIntake {
    const intake = this.#intakes.get(String(index));
    if (intake === undefined) throw new Error(`no intake for snapshot ${index}`);
    return intake;
  }

  async open(message: InstallSnapshot, totalBytes: number): Promise<SnapshotIntake> {
    this.opened.push({ message, totalBytes });
    const intake = this.intake(message.snapshot.index);
    if (intake.expected.length !== totalBytes) throw new Error(`snapshot ${message.snapshot.index} is ${intake.expected.length} bytes, announced ${totalBytes}`);
    return intake;
  }
}

/** A view, not a copy (Buffer.from(Uint8Array) copies byte by byte: 30 ms for 20 MiB). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
