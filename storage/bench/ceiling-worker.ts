/**
 * The worker thread of the ordered ceiling's 'worker' case (ordered-ceiling.ts): for each job
 * the main thread posts through the shared words, fdatasync the data file, write the mark
 * slot and fdatasync the mark file, all synchronously here, then wake the main thread.
 */
import * as fs from 'node:fs';
import { workerData } from 'node:worker_threads';

import { CEILING_JOB, MARK_BYTES, MARK_SLOT_STRIDE } from './ceiling-shared.js';

const words = new Int32Array(workerData as SharedArrayBuffer);
const markSlot = Buffer.alloc(MARK_BYTES, 9);
// Bounded by the main thread: it posts a job per group for caseMs, then stop.
for (;;) {
  Atomics.wait(words, CEILING_JOB.state, CEILING_JOB.idle);
  if (Atomics.load(words, CEILING_JOB.state) === CEILING_JOB.stop) break;
  fs.fdatasyncSync(Atomics.load(words, CEILING_JOB.dataFd));
  const markFd = Atomics.load(words, CEILING_JOB.markFd);
  fs.writeSync(markFd, markSlot, 0, MARK_BYTES, Atomics.load(words, CEILING_JOB.slot) * MARK_SLOT_STRIDE);
  fs.fdatasyncSync(markFd);
  Atomics.store(words, CEILING_JOB.state, CEILING_JOB.idle);
  Atomics.notify(words, CEILING_JOB.state);
}
