/** Waiting with a deadline: every wait of the suite is a condition, bounded in time and attempts. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** What is awaited, for the timeout message. */
  readonly what: string;
  readonly intervalMs?: number;
}

/**
 * Calls `check` until it returns a value other than undefined/false, or the deadline passes.
 * A throw counts as "not yet" (a node still starting refuses connections); the last error or
 * value goes into the timeout message. Each check races the remaining time, so a check that
 * hangs cannot outlive the deadline by more than one interval.
 */
export async function waitUntil<T>(check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 100;
  const deadlineMs = Date.now() + options.timeoutMs;
  const attemptsMax = Math.ceil(options.timeoutMs / Math.max(1, intervalMs)) + 2;
  let last: unknown = 'never checked';
  for (let attempt = 0; attempt < attemptsMax && Date.now() < deadlineMs; attempt++) {
    try {
      const value = await withTimeout(Promise.resolve(check()), Math.max(1, deadlineMs - Date.now()), options.what);
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      last = error;
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadlineMs - Date.now())));
  }
  const seen = last instanceof Error ? last.message : String(last);
  throw new WaitTimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what} (last: ${seen})`);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Rejects when `promise` has not settled within `ms`; the timer never keeps the process alive past it. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'a check'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new WaitTimeoutError(`${what} took longer than ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
