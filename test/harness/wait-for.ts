import { sleep, waitUntil, type WaitOptions } from '../../src/process/index.js';

/** Every wait of the suite is a condition, bounded in time and attempts (src/process/wait.ts). */
export { WaitTimeoutError, withTimeout, type WaitOptions } from '../../src/process/index.js';

/** waitUntil, polling every 50 ms unless told otherwise (a check that calls a node is cheap). */
export function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
  return waitUntil(check, { intervalMs: 50, ...options });
}

export function delay(ms: number): Promise<void> {
  return sleep(ms);
}
