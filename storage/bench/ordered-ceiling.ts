import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { recordBytes } from '../record-codec.js';
import { CEILING_STATE, CEILING_WORD, CEILING_WORDS, MARK_BYTES, MARK_SLOT_STRIDE } from './ceiling-shared.js';
import { DirectAppender } from './direct-appender.js';
import { syncedZeros } from './raw-sync.js';

/** Where the ceiling loop's fdatasyncs run. */
export type CeilingSyncs = 'event-loop' | 'thread-pool' | 'worker';
export type RecordWrites = 'page-cache' | 'zeros-ahead' | 'direct';

export interface OrderedCeilingOptions {
  /** A directory on the disk under test; the loop's two files are made and removed in it. */
  readonly dir: string;
  readonly payloadBytes: number;
  /** Records per group: the closed-loop appenders that one group acknowledges at once. */
  readonly appenders: number;
  readonly caseMs: number;
  /**
   * - 'event-loop': fdatasyncSync, the best a loop can do, and what a node must not do (it
   *   would answer nothing, heartbeats included, while the disk is slow);
   * - 'thread-pool': fs.fdatasync on libuv's thread pool, as the log runs its syncs;
   * - 'worker': a worker thread of its own makes the group's data sync, mark write and mark
   *   sync in one job (ceiling-worker.ts), signalled through shared memory (Atomics): one
   *   hand-off each way per group instead of two.
   */
  readonly syncs: CeilingSyncs;
  /** Busy time per group standing in for the appends' own CPU (encoding, CRCs, promises): 0 for none. */
  readonly groupCpuMicros: number;
  /**
   * How a group's records are written (default 'page-cache'):
   * - 'page-cache': a write into the synced zeros' pages, already in the page cache;
   * - 'zeros-ahead': as the log writes (segment.ts), into a file that starts empty: zeros
   *   run ahead of the records in quarter-MiB steps, into new page-cache pages, and each
   *   group's records overwrite them;
   * - 'direct': with O_DIRECT, past the page cache (direct-appender.ts), over zeros written
   *   the same way.
   */
  readonly recordWrites?: RecordWrites;
  /** The synced zeros the loop writes over, from the start again once through (default 128 MiB). */
  readonly dataBytes?: number;
}

const DATA_BYTES = 128 * 1024 * 1024;
const WORKER_ENTRY = new URL('./ceiling-worker.js', import.meta.url);

/** Atomics.waitAsync (Node 20 has it; the project's TypeScript lib does not name it yet). */
const waitAsync = (Atomics as unknown as { waitAsync(words: Int32Array, at: number, value: number, timeoutMs: number): { readonly async: boolean; readonly value: Promise<string> | string } }).waitAsync;
/** A job the worker has not finished in this long means it failed or hung: the case fails. */
const WORKER_JOB_TIMEOUT_MS = 10_000;

const fdatasync = (fd: number): Promise<void> => new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error === null ? resolve() : reject(error))));

function spin(micros: number): void {
  const until = performance.now() + micros / 1000;
  // Bounded by the clock: at most `micros`.
  while (performance.now() < until);
}

/**
 * What the ordered durable mark allows on this disk with nothing else running: appends per
 * second of a loop that, for each group of `appenders` records, writes the group's records
 * (framed size) into synced zeros and fdatasyncs them, then writes a 256-byte mark slot into
 * a second file and fdatasyncs that: the two syncs in turn that every group of the log pays
 * under the ordered mark, without the log's code. `appenders` closed-loop appenders cannot
 * go faster than this: each append waits for its group's two syncs (Little's law), however
 * groups are pipelined. The storage bench prints it beside the log's own rate.
 */
export async function orderedCeilingRate(options: OrderedCeilingOptions): Promise<number> {
  const dataFile = path.join(options.dir, `ceiling-${options.syncs}-${options.recordWrites ?? 'page-cache'}-data`);
  const markFile = path.join(options.dir, `ceiling-${options.syncs}-mark`);
  const dataBytes = options.dataBytes ?? DATA_BYTES;
  const group = Buffer.alloc(options.appenders * recordBytes(options.payloadBytes), 7);
  const records = RECORD_WRITERS[options.recordWrites ?? 'page-cache'](dataFile, dataBytes, group.length);
  const data = records.fd;
  const mark = syncedZeros(markFile, 2 * MARK_SLOT_STRIDE);
  const syncs = options.syncs === 'worker' ? workerSyncs(data, mark) : loopSyncs(options.syncs, data, mark);
  let appends = 0;
  let slot = 0;
  const started = performance.now();
  try {
    // Bounded by caseMs.
    while (performance.now() - started < options.caseMs) {
      if (options.groupCpuMicros > 0) spin(options.groupCpuMicros);
      records.write(group);
      const synced = syncs.group(slot);
      if (synced !== undefined) await synced;
      slot ^= 1;
      appends += options.appenders;
    }
  } finally {
    await syncs.close();
    fs.closeSync(data);
    fs.closeSync(mark);
    fs.rmSync(dataFile, { force: true });
    fs.rmSync(markFile, { force: true });
  }
  return appends / ((performance.now() - started) / 1000);
}

/** The data file and how a group's records go into it, one after the other, from the start again once through its zeros. */
interface RecordWriter {
  readonly fd: number;
  write(group: Uint8Array): void;
}

function pageCacheRecords(file: string, dataBytes: number): RecordWriter {
  const fd = syncedZeros(file, dataBytes);
  let position = 0;
  return {
    fd,
    write: (group) => {
      if (position + group.length > dataBytes) position = 0;
      fs.writeSync(fd, group, 0, group.length, position);
      position += group.length;
    },
  };
}

/** Zeros ahead of the records, in steps of this many bytes, kept at least one step ahead (the log's 1 MiB run in quarters). */
const ZEROS_AHEAD_STEP_BYTES = 256 * 1024;

function zerosAheadRecords(file: string, dataBytes: number): RecordWriter {
  const fd = syncedZeros(file, 0);
  const zeros = Buffer.alloc(ZEROS_AHEAD_STEP_BYTES);
  let position = 0;
  let allocated = 0;
  return {
    fd,
    write: (group) => {
      if (position + group.length > dataBytes) position = 0;
      // Bounded: each step adds a step of zeros, up to the group's end plus one step.
      while (allocated < Math.min(dataBytes, position + group.length + ZEROS_AHEAD_STEP_BYTES)) {
        fs.writeSync(fd, zeros, 0, zeros.length, allocated);
        allocated += zeros.length;
      }
      fs.writeSync(fd, group, 0, group.length, position);
      position += group.length;
    },
  };
}

function directRecords(file: string, dataBytes: number, groupBytes: number): RecordWriter {
  const appender = DirectAppender.open(file, { zeroBytes: dataBytes, chunkBytesMax: groupBytes });
  return { fd: appender.fd, write: (group) => appender.append(group) };
}

/** Opens the data file of `dataBytes` for groups of at most `groupBytes`, one way each. */
const RECORD_WRITERS: Record<RecordWrites, (file: string, dataBytes: number, groupBytes: number) => RecordWriter> = {
  'page-cache': pageCacheRecords,
  'zeros-ahead': zerosAheadRecords,
  direct: directRecords,
};

/** A group's two syncs and its mark write, made one of the three ways; undefined when done in place. */
interface GroupSyncs {
  group(slot: number): Promise<void> | undefined;
  close(): Promise<void>;
}

/** On this thread: each fdatasync in place (the event loop) or handed to libuv's thread pool. */
function loopSyncs(where: 'event-loop' | 'thread-pool', data: number, mark: number): GroupSyncs {
  const markSlot = Buffer.alloc(MARK_BYTES, 9);
  const writeMark = (slot: number): void => {
    fs.writeSync(mark, markSlot, 0, MARK_BYTES, slot * MARK_SLOT_STRIDE);
  };
  const group =
    where === 'event-loop'
      ? (slot: number): undefined => {
          fs.fdatasyncSync(data);
          writeMark(slot);
          fs.fdatasyncSync(mark);
          return undefined;
        }
      : async (slot: number): Promise<void> => {
          await fdatasync(data);
          writeMark(slot);
          await fdatasync(mark);
        };
  return { group, close: () => Promise.resolve() };
}

/**
 * In a worker thread of its own (ceiling-worker.ts), one job a group posted through shared
 * words, waited for without blocking this thread; a group throws the worker's error if it
 * failed, or if it did not answer in time.
 */
function workerSyncs(data: number, mark: number): GroupSyncs {
  const words = new Int32Array(new SharedArrayBuffer(CEILING_WORDS * Int32Array.BYTES_PER_ELEMENT));
  const worker = new Worker(WORKER_ENTRY, { workerData: words.buffer });
  let failure: unknown = null;
  worker.on('error', (error) => {
    failure = error;
  });
  Atomics.store(words, CEILING_WORD.dataFd, data);
  Atomics.store(words, CEILING_WORD.markFd, mark);
  return {
    group: async (slot) => {
      Atomics.store(words, CEILING_WORD.slot, slot);
      Atomics.store(words, CEILING_WORD.state, CEILING_STATE.posted);
      Atomics.notify(words, CEILING_WORD.state);
      const wait = waitAsync(words, CEILING_WORD.state, CEILING_STATE.posted, WORKER_JOB_TIMEOUT_MS);
      const outcome = wait.async ? await wait.value : wait.value;
      if (failure !== null) throw failure;
      if (outcome === 'timed-out') throw new Error(`the ceiling's worker did not finish a group's syncs in ${WORKER_JOB_TIMEOUT_MS / 1000} s`);
    },
    close: async () => {
      Atomics.store(words, CEILING_WORD.state, CEILING_STATE.stop);
      Atomics.notify(words, CEILING_WORD.state);
      await worker.terminate();
    },
  };
}
