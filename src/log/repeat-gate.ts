export interface RepeatGateOptions {
  /**
   * After a key's line is let through, its further lines within this many ms are held back
   * (and counted). Infinity: one line per key until forget().
   */
  readonly intervalMs: number;
  /** Keys remembered at most; past it the oldest is forgotten (its next line passes again). */
  readonly keysMax: number;
  readonly nowMs: () => number;
}

interface KeyState {
  passedMs: number;
  heldBack: number;
}

/**
 * Keeps a condition that repeats (a peer refusing every redial, a damaged segment read again
 * and again) from writing a line each time: the first line of each key passes, then at most
 * one per interval, each saying how many were held back since the last. Bounded in keys.
 */
export class RepeatGate {
  readonly #options: RepeatGateOptions;
  readonly #keys = new Map<string, KeyState>();

  constructor(options: RepeatGateOptions) {
    if (!(options.intervalMs >= 0)) throw new RangeError(`intervalMs must be at least 0 (got ${options.intervalMs})`);
    if (!(Number.isSafeInteger(options.keysMax) && options.keysMax >= 1)) throw new RangeError(`keysMax must be a positive integer (got ${options.keysMax})`);
    this.#options = options;
  }

  /** Null: hold this line back. Else write it: the number is how many of this key were held back since its last line. */
  pass(key: string): number | null {
    const now = this.#options.nowMs();
    const state = this.#keys.get(key);
    if (state !== undefined && now - state.passedMs < this.#options.intervalMs) {
      state.heldBack++;
      return null;
    }
    const heldBack = state?.heldBack ?? 0;
    this.#keys.delete(key);
    this.#keys.set(key, { passedMs: now, heldBack: 0 });
    if (this.#keys.size > this.#options.keysMax) {
      const oldest = this.#keys.keys().next();
      if (oldest.done !== true) this.#keys.delete(oldest.value);
    }
    return heldBack;
  }

  /** Forgets every key (the condition ended): the next line of each passes. Returns how many lines were held back in all. */
  forgetAll(): number {
    let heldBack = 0;
    for (const state of this.#keys.values()) heldBack += state.heldBack;
    this.#keys.clear();
    return heldBack;
  }
}

/** " (3 more like it since)" for a count of held-back lines; "" for none. */
export function heldBackNote(heldBack: number): string {
  return heldBack > 0 ? ` (${heldBack} more like it held back since the last such line)` : '';
}
