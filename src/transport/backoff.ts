/** Exponential back-off with jitter, for reconnecting links and retrying client calls. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A uniformly distributed number in [0, 1); Math.random unless a test seeds it. */
  readonly random?: () => number;
}

/**
 * Delays double from initialMs up to maxMs. Each delay is drawn from [d/2, d] ("equal
 * jitter"), so nodes that lost a peer at the same moment do not redial in lockstep, and
 * no delay is ever much shorter than planned.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempts = 0;

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0 && options.maxMs >= options.initialMs)) {
      throw new RangeError(`back-off needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`);
    }
    this.#initialMs = options.initialMs;
    this.#maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call doubles the ceiling until maxMs. */
  nextDelayMs(): number {
    const ceilingMs = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempts, 30));
    this.#attempts++;
    return ceilingMs / 2 + (this.#random() * ceilingMs) / 2;
  }

  /** After a success: the next failure starts again from initialMs. */
  reset(): void {
    this.#attempts = 0;
  }

  get attempts(): number {
    return this.#attempts;
  }
}
