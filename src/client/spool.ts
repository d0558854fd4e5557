import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';

import { BinaryReader, BinaryWriter } from '../encoding/index.js';
import { InvalidArgumentError, SpoolError } from './errors.js';
import type { BrokerMessage } from './log-client.js';

export const SPOOL_DEFAULTS = {
  bytesMax: 64 * 1024 * 1024,
  fileName: 'spool.log',
  lockName: 'spool.lock',
} as const;

/** One batch as it is kept in the spool: its messages and the identity it is (re)sent under. */
export interface SpoolRecord {
  readonly spoolId: number;
  readonly topic: string;
  /** 0 with firstSequence -1: never sent, no identity yet. */
  producerId: number;
  firstSequence: number;
  readonly messages: readonly BrokerMessage[];
  /** Framed bytes of the batch record in the file. */
  readonly bytes: number;
}

/** Spool directories open in this process (the lock file's pid cannot tell two of them apart). */
const openDirs = new Set<string>();

const RecordType = { batch: 1, ack: 2, identity: 3 } as const;
const FRAME_HEADER_BYTES = 8;

/**
 * A producer's local append-only spool: one file of framed records (u32 body length, u32
 * CRC32 of the body, body). A batch record holds a batch's topic, messages and identity
 * (producer id, first sequence); an identity record changes a batch's identity (new id,
 * renumbered); an ack record says the cluster acknowledged it. Every write is fsynced
 * before the call returns, so a batch the caller was told is spooled survives a crash,
 * and a resend after a restart uses the identity the last attempt used (so the broker
 * can deduplicate it). On open a torn tail is cut; other damage is refused. The file is
 * truncated to empty once nothing is live, and rewritten with only the live batches when
 * most of it is acknowledged. I/O is synchronous: the spool is the degraded path, taken
 * only while the cluster does not answer, and a write must be durable before send() resolves.
 */
export class Spool {
  readonly #dir: string;
  readonly #file: string;
  readonly #lock: string;
  readonly #bytesMax: number;
  #fd: number;
  #size = 0;
  #nextId = 1;
  readonly #live = new Map<number, SpoolRecord>();
  #liveBytes = 0;
  readonly #pendingAcks: number[] = [];
  #ackTimer: NodeJS.Immediate | null = null;
  #closed = false;
  #refused = false;
  /** Bytes cut from a torn tail when the spool was opened. */
  readonly tornBytesCut: number;

  private constructor(dir: string, bytesMax: number) {
    this.#dir = dir;
    this.#file = path.join(dir, SPOOL_DEFAULTS.fileName);
    this.#lock = path.join(dir, SPOOL_DEFAULTS.lockName);
    this.#bytesMax = bytesMax;
    fs.mkdirSync(dir, { recursive: true });
    this.#takeLock();
    this.#fd = fs.openSync(this.#file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    try {
      this.tornBytesCut = this.#load();
    } catch (error) {
      fs.closeSync(this.#fd);
      fs.rmSync(this.#lock, { force: true });
      openDirs.delete(path.resolve(this.#dir));
      throw error;
    }
  }

  /** Opens (or creates) the spool in `dir`; one live process at a time. */
  static open(options: { readonly dir: string; readonly bytesMax?: number }): Spool {
    const bytesMax = options.bytesMax ?? SPOOL_DEFAULTS.bytesMax;
    if (!(Number.isSafeInteger(bytesMax) && bytesMax >= 1024)) throw new InvalidArgumentError('spool.bytesMax must be 1024 or more');
    return new Spool(options.dir, bytesMax);
  }

  /** The batches not yet acknowledged, in the order they were spooled. */
  live(): SpoolRecord[] {
    return [...this.#live.values()];
  }

  get sizeBytes(): number {
    return this.#size;
  }

  get bytesMax(): number {
    return this.#bytesMax;
  }

  /** True once a batch did not fit, until an acknowledgement frees room. */
  full(): boolean {
    return this.#refused || this.#liveBytes >= this.#bytesMax;
  }

  /**
   * Writes the batches in order and fsyncs once; returns the records of those that fit.
   * The first one that does not fit (even after compaction) and all after it are left out.
   */
  append(batches: readonly { readonly topic: string; readonly producerId: number; readonly firstSequence: number; readonly messages: readonly BrokerMessage[] }[]): SpoolRecord[] {
    this.#checkOpen();
    const frames: Uint8Array[] = [];
    const records: SpoolRecord[] = [];
    let bytes = 0;
    for (const batch of batches) {
      const spoolId = this.#nextId;
      const frame = framed(encodeBatch(spoolId, batch));
      if (this.#size + bytes + frame.length > this.#bytesMax) {
        // Only the first batch of a write may compact: the frames before it are not in the file yet.
        if (frames.length > 0 || this.#liveBytes + frame.length > this.#bytesMax) break;
        this.#compact();
      }
      this.#nextId++;
      frames.push(frame);
      bytes += frame.length;
      records.push({ spoolId, topic: batch.topic, producerId: batch.producerId, firstSequence: batch.firstSequence, messages: batch.messages, bytes: frame.length });
    }
    this.#refused = records.length < batches.length;
    if (frames.length === 0) return [];
    this.#write(Buffer.concat(frames));
    for (const r of records) {
      this.#live.set(r.spoolId, r);
      this.#liveBytes += r.bytes;
    }
    return records;
  }

  /** Records, durably, that a spooled batch is now sent under another identity. Call before sending it so. */
  setIdentity(spoolId: number, producerId: number, firstSequence: number): void {
    this.#checkOpen();
    const record = this.#live.get(spoolId);
    if (record === undefined || (record.producerId === producerId && record.firstSequence === firstSequence)) return;
    const w = new BinaryWriter(32).u8(RecordType.identity).u53(spoolId).u53(producerId).u53(firstSequence + 1);
    this.#write(framed(w.finish()));
    record.producerId = producerId;
    record.firstSequence = firstSequence;
  }

  /**
   * The batch was acknowledged (or given up on): it leaves the spool. Acks are gathered and
   * written with one fsync on the next turn of the event loop; one lost in a crash only
   * makes a restarted producer resend the batch, which the broker answers as a duplicate.
   */
  remove(spoolId: number): void {
    if (this.#closed) return;
    const record = this.#live.get(spoolId);
    if (record === undefined) return;
    this.#live.delete(spoolId);
    this.#liveBytes -= record.bytes;
    this.#refused = false;
    this.#pendingAcks.push(spoolId);
    this.#ackTimer ??= setImmediate(() => this.#writeAcks());
  }

  close(): void {
    if (this.#closed) return;
    if (this.#ackTimer !== null) clearImmediate(this.#ackTimer);
    this.#writeAcks();
    this.#closed = true;
    fs.closeSync(this.#fd);
    fs.rmSync(this.#lock, { force: true });
    openDirs.delete(path.resolve(this.#dir));
  }

  #writeAcks(): void {
    this.#ackTimer = null;
    if (this.#closed || this.#pendingAcks.length === 0) return;
    if (this.#live.size === 0) {
      // Nothing live: the empty file is the whole truth.
      fs.ftruncateSync(this.#fd, 0);
      fs.fdatasyncSync(this.#fd);
      this.#size = 0;
      this.#pendingAcks.length = 0;
      return;
    }
    const frames = this.#pendingAcks.splice(0).map((id) => framed(new BinaryWriter(16).u8(RecordType.ack).u53(id).finish()));
    this.#write(Buffer.concat(frames));
    if (this.#size > this.#bytesMax / 2 && this.#liveBytes < this.#size / 4) this.#compact();
  }

  /** Rewrites the file with only the live batches (current identities): temp file, fsync, rename, fsync the directory. */
  #compact(): void {
    this.#pendingAcks.length = 0;
    const frames = [...this.#live.values()].map((r) => framed(encodeBatch(r.spoolId, r)));
    const data = Buffer.concat(frames);
    const temp = `${this.#file}.tmp`;
    const fd = fs.openSync(temp, 'w');
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, this.#file);
    syncDir(this.#dir);
    fs.closeSync(this.#fd);
    this.#fd = fs.openSync(this.#file, fs.constants.O_RDWR);
    this.#size = data.length;
    this.#liveBytes = data.length;
  }

  #write(data: Uint8Array): void {
    let done = 0;
    // Bounded: each round writes at least one byte or throws.
    while (done < data.length) done += fs.writeSync(this.#fd, data, done, data.length - done, this.#size + done);
    fs.fdatasyncSync(this.#fd);
    this.#size += data.length;
  }

  /** Reads every record, cuts a torn tail; returns the bytes cut. */
  #load(): number {
    const data = fs.readFileSync(this.#file);
    let at = 0;
    let cut = 0;
    while (at < data.length) {
      const problem = frameProblem(data, at);
      if (problem !== null) {
        const rest = data.subarray(at);
        const lastFrame = at + FRAME_HEADER_BYTES <= data.length && at + FRAME_HEADER_BYTES + data.readUInt32LE(at) >= data.length;
        if (!lastFrame && !rest.every((b) => b === 0)) {
          throw new SpoolError(`spool ${this.#file} is damaged at byte ${at} (${problem}) with records after it; it is not a torn tail, so it is not cut: move the file away to start afresh`);
        }
        cut = data.length - at;
        fs.ftruncateSync(this.#fd, at);
        fs.fdatasyncSync(this.#fd);
        break;
      }
      const length = data.readUInt32LE(at);
      this.#apply(data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), FRAME_HEADER_BYTES + length);
      at += FRAME_HEADER_BYTES + length;
    }
    this.#size = at;
    return cut;
  }

  #apply(body: Uint8Array, frameBytes: number): void {
    const r = new BinaryReader(body);
    const type = r.u8();
    const spoolId = r.u53();
    this.#nextId = Math.max(this.#nextId, spoolId + 1);
    if (type === RecordType.batch) {
      const producerId = r.u53();
      const firstSequence = r.u53() - 1;
      const topic = r.string();
      const count = r.u32();
      const messages: BrokerMessage[] = [];
      for (let k = 0; k < count; k++) {
        const timestampMs = r.u53();
        const key = new Uint8Array(r.bytes());
        const headerCount = r.u32();
        const headers: { name: string; value: Uint8Array }[] = [];
        for (let h = 0; h < headerCount; h++) headers.push({ name: r.string(), value: new Uint8Array(r.bytes()) });
        messages.push({ key, headers, payload: new Uint8Array(r.bytes()), timestampMs });
      }
      this.#live.set(spoolId, { spoolId, topic, producerId, firstSequence, messages, bytes: frameBytes });
      this.#liveBytes += frameBytes;
    } else if (type === RecordType.ack) {
      const record = this.#live.get(spoolId);
      if (record !== undefined) {
        this.#live.delete(spoolId);
        this.#liveBytes -= record.bytes;
      }
    } else if (type === RecordType.identity) {
      const record = this.#live.get(spoolId);
      const producerId = r.u53();
      const firstSequence = r.u53() - 1;
      if (record !== undefined) {
        record.producerId = producerId;
        record.firstSequence = firstSequence;
      }
    } else {
      throw new SpoolError(`spool ${this.#file}: unknown record type ${type}`);
    }
  }

  #takeLock(): void {
    const key = path.resolve(this.#dir);
    if (openDirs.has(key)) throw new SpoolError(`spool ${this.#dir} is already open in this process`);
    // Bounded: at most one stale lock is removed.
    for (let round = 0; round < 2; round++) {
      try {
        fs.writeFileSync(this.#lock, String(process.pid), { flag: 'wx' });
        openDirs.add(key);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = Number(fs.readFileSync(this.#lock, 'utf8'));
        if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new SpoolError(`spool ${this.#dir} is in use by process ${pid}`);
        }
        fs.rmSync(this.#lock, { force: true });
      }
    }
    throw new SpoolError(`spool ${this.#dir}: could not take the lock ${this.#lock}`);
  }

  #checkOpen(): void {
    if (this.#closed) throw new SpoolError('the spool is closed');
  }
}

function encodeBatch(spoolId: number, batch: { readonly topic: string; readonly producerId: number; readonly firstSequence: number; readonly messages: readonly BrokerMessage[] }): Uint8Array {
  const w = new BinaryWriter(1024).u8(RecordType.batch).u53(spoolId).u53(batch.producerId).u53(batch.firstSequence + 1).string(batch.topic).u32(batch.messages.length);
  for (const m of batch.messages) {
    w.u53(m.timestampMs).bytes(m.key).u32(m.headers.length);
    for (const h of m.headers) w.string(h.name).bytes(h.value);
    w.bytes(m.payload);
  }
  return w.finish();
}

function framed(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.writeUInt32LE(crc32(body), 4);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

function frameProblem(data: Buffer, at: number): string | null {
  if (at + FRAME_HEADER_BYTES > data.length) return 'incomplete frame header';
  const length = data.readUInt32LE(at);
  if (length === 0) return 'empty record';
  if (at + FRAME_HEADER_BYTES + length > data.length) return 'record runs past the end';
  const body = data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
  if (crc32(body) !== data.readUInt32LE(at + 4)) return 'checksum mismatch';
  return null;
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
