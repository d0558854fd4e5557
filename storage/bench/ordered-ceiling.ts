import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { recordBytes } from '../record-codec.js';
import { CEILING_STATE, CEILING_WORD, CEILING_WORDS, MARK_BYTES, MARK_SLOT_STRIDE } from './ceiling-shared.js';

/** Where the ceiling loop's fdatasyncs run. */
export type CeilingSyncs = 'event-loop' | 'thread-pool' | 'worker';

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
  /** The synced zeros the loop writes over, from the start again once through (default 128 MiB). */
  readonly dataBytes?: number;
}

const DATA_BYTES = 128 * 1024 * 1024;
const ZERO_RUN_BYTES = 1024 * 1024;
const WORKER_ENTRY = new URL('./ceiling-worker.js', import.meta.url);

/** Atomics.waitAsync (Node 20 has it; the project's TypeScript lib does not name it yet). */
const waitAsync = (Atomics as unknown as { waitAsync(words: Int32Array, at: number, value: number, timeoutMs: number): { readonly async: boolean; readonly value: Promise<string> | string } }).waitAsync;
/** A job the worker has not finished in this long means it failed or hung: the case fails. */
const WORKER_JOB_TIMEOUT_MS = 10_000;

const fdatasync = (fd: number): Promise<void> => new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error === null ? resolve() : reject(error))));

function syncedZeros(file: string, bytes: number): number {
  const fd = fs.openSync(file, 'w+');
  const zeros = Buffer.alloc(ZERO_RUN_BYTES);
  for (let at = 0; at < bytes; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
  fs.fdatasyncSync(fd);
  return fd;
}

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
  const dataFile = path.join(options.dir, `ceiling-${options.syncs}-data`);
  const markFile = path.join(options.dir, `ceiling-${options.syncs}-mark`);
  const dataBytes = options.dataBytes ?? DATA_BYTES;
  const data = syncedZeros(dataFile, dataBytes);
  const mark = syncedZeros(markFile, 2 * MARK_SLOT_STRIDE);
  const group = Buffer.alloc(options.appenders * recordBytes(options.payloadBytes), 7);
  const markSlot = Buffer.alloc(MARK_BYTES, 9);
  const words = new Int32Array(new SharedArrayBuffer(CEILING_WORDS * Int32Array.BYTES_PER_ELEMENT));
  const worker = options.syncs === 'worker' ? new Worker(WORKER_ENTRY, { workerData: words.buffer }) : null;
  let workerError: unknown = null;
  worker?.on('error', (error) => {
    workerError = error;
  });
  let appends = 0;
  let position = 0;
  let slot = 0;
  const started = performance.now();
  try {
    // Bounded by caseMs.
    while (performance.now() - started < options.caseMs) {
      if (options.groupCpuMicros > 0) spin(options.groupCpuMicros);
      if (position + group.length > dataBytes) position = 0;
      fs.writeSync(data, group, 0, group.length, position);
      if (options.syncs === 'worker') {
        await workerJob(words, data, mark, slot, () => workerError);
      } else {
        if (options.syncs === 'event-loop') fs.fdatasyncSync(data);
        else await fdatasync(data);
        fs.writeSync(mark, markSlot, 0, MARK_BYTES, slot * MARK_SLOT_STRIDE);
        if (options.syncs === 'event-loop') fs.fdatasyncSync(mark);
        else await fdatasync(mark);
      }
      position += group.length;
      slot ^= 1;
      appends += options.appenders;
    }
  } finally {
    if (worker !== null) {
      Atomics.store(words, CEILING_WORD.state, CEILING_STATE.stop);
      Atomics.notify(words, CEILING_WORD.state);
      await worker.terminate();
    }
    fs.closeSync(data);
    fs.closeSync(mark);
    fs.rmSync(dataFile, { force: true });
    fs.rmSync(markFile, { force: true });
  }
  return appends / ((performance.now() - started) / 1000);
}

/**
 * Posts one group's syncs to the worker and waits, without blocking this thread, until it is
 * done; throws the worker's error if it failed, or if it did not answer in time.
 */
async function workerJob(words: Int32Array, data: number, mark: number, slot: number, failure: () => unknown): Promise<void> {
  Atomics.store(words, CEILING_WORD.dataFd, data);
  Atomics.store(words, CEILING_WORD.markFd, mark);
  Atomics.store(words, CEILING_WORD.slot, slot);
  Atomics.store(words, CEILING_WORD.state, CEILING_STATE.posted);
  Atomics.notify(words, CEILING_WORD.state);
  const wait = waitAsync(words, CEILING_WORD.state, CEILING_STATE.posted, WORKER_JOB_TIMEOUT_MS);
  const outcome = wait.async ? await wait.value : wait.value;
  const error = failure();
  if (error !== null) throw error;
  if (outcome === 'timed-out') throw new Error(`the ceiling's worker did not finish a group's syncs in ${WORKER_JOB_TIMEOUT_MS / 1000} s`);
}
