/** Options for waitFor: how long, and what we wait for (it names the failure). */
export interface WaitOptions {
  readonly timeoutMs: number;
  /** Says what was awaited, e.g. "n2 to catch up to 1000". */
  readonly what: string;
  /** Pause between checks; polls are spread out so a check that calls a node is not a busy loop. */
  readonly intervalMs?: number;
}

/** What the last failed check saw or threw, for the timeout message. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Calls `check` until it returns something other than undefined/false, or the deadline
 * passes. A check that throws counts as "not yet" (a node still starting refuses
 * connections); the last error or value goes into the timeout message. Each check races
 * the remaining time, so a check that hangs cannot outlive the deadline by more than one
 * interval.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown = 'never checked';
  // Bounded by the deadline; the count bound guards against a clock that does not move.
  const maxAttempts = Math.ceil(options.timeoutMs / Math.max(1, intervalMs)) + 2;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) break;
    try {
      const value = await withTimeout(Promise.resolve(check()), remainingMs);
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() + intervalMs >= deadline) break;
    await delay(intervalMs);
  }
  const seen = last instanceof Error ? `${last.name}: ${last.message}` : String(last);
  throw new WaitTimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what} (last: ${seen})`);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects when `promise` has not settled within `ms`; the timer never keeps the process alive past it. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'a check'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
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
