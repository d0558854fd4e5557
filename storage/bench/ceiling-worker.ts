/**
 * The worker thread of the ordered ceiling's 'worker' case (ordered-ceiling.ts): for each job
 * the main thread posts through the shared words, fdatasync the data file, write the mark
 * slot and fdatasync the mark file, all synchronously here, then wake the main thread. A
 * failed call ends the worker with its error, which the main thread reports.
 */
import * as fs from 'node:fs';
import { workerData } from 'node:worker_threads';

import { CEILING_STATE, CEILING_WORD, MARK_BYTES, MARK_SLOT_STRIDE } from './ceiling-shared.js';

const words = new Int32Array(workerData as SharedArrayBuffer);
const markSlot = Buffer.alloc(MARK_BYTES, 9);
// Bounded by the main thread: it posts a job per group for caseMs, then stop.
for (;;) {
  Atomics.wait(words, CEILING_WORD.state, CEILING_STATE.idle);
  if (Atomics.load(words, CEILING_WORD.state) === CEILING_STATE.stop) break;
  fs.fdatasyncSync(Atomics.load(words, CEILING_WORD.dataFd));
  const markFd = Atomics.load(words, CEILING_WORD.markFd);
  fs.writeSync(markFd, markSlot, 0, MARK_BYTES, Atomics.load(words, CEILING_WORD.slot) * MARK_SLOT_STRIDE);
  fs.fdatasyncSync(markFd);
  Atomics.store(words, CEILING_WORD.state, CEILING_STATE.idle);
  Atomics.notify(words, CEILING_WORD.state);
}
