/**
 * Ending a caller's wait with its AbortSignal, for calls whose work cannot itself be
 * cancelled half way (a batch of acks already sent, several brokers asked at once).
 */

import type { AbortedError } from './errors.js';

/**
 * Settles with `work`, or rejects with `aborted()` as soon as `signal` aborts (at once if it
 * already has). The work is not stopped: it ends on its own deadline and its outcome is
 * dropped, so it must not reject unhandled (a handler is attached here).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, aborted: () => AbortedError): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects): a back-off that close() can cut short. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
