/** `quorumlog cluster --restart`: what the cluster does when one of its nodes exits on its own. */
export const RestartMode = { onFailure: 'on-failure', never: 'never' } as const;
export type RestartMode = (typeof RestartMode)[keyof typeof RestartMode];

/** The status a node exits with on a usage or configuration error (src/cli/main.ts). */
export const USAGE_EXIT_STATUS = 2;

export interface RestartPolicyOptions {
  readonly mode: RestartMode;
  readonly delayMs: number;
  /** At most this many automatic restarts of one node within `windowMs`; then it stays down. */
  readonly restartsMax: number;
  readonly windowMs: number;
}

export const RESTART_POLICY_DEFAULTS = {
  mode: RestartMode.onFailure,
  delayMs: 1_000,
  restartsMax: 5,
  windowMs: 60_000,
} as const satisfies RestartPolicyOptions;

export interface NodeExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export type RestartDecision =
  | { readonly action: 'restart'; readonly delayMs: number }
  | { readonly action: 'leave-down'; readonly reason: string };

/**
 * Decides, for one node, whether an exit nobody asked for is followed by a restart. Like
 * systemd's Restart=on-failure: a signal or a non-zero status is a failure; a clean exit
 * (status 0: someone sent the node SIGTERM) is not. A usage or configuration error would only
 * repeat, so it is never restarted; nor is a node that fails again after `restartsMax`
 * restarts within `windowMs` (it crashes on start). Time comes in as an argument, so tests need no clock.
 */
export class RestartPolicy {
  readonly #options: RestartPolicyOptions;
  /** Times of the automatic restarts granted within the window, oldest first (at most restartsMax). */
  readonly #restartTimesMs: number[] = [];

  constructor(options: RestartPolicyOptions) {
    this.#options = options;
  }

  /**
   * `requested`: the node was killed on purpose (quorumlog cluster kill), which is no sign of a
   * crash loop, so it does not count towards `restartsMax`.
   */
  decide(exit: NodeExit, nowMs: number, options: { readonly requested: boolean } = { requested: false }): RestartDecision {
    if (this.#options.mode === RestartMode.never) return { action: 'leave-down', reason: '--restart never' };
    if (options.requested) return { action: 'restart', delayMs: this.#options.delayMs };
    if (exit.signal === null && exit.code === 0) return { action: 'leave-down', reason: 'it exited cleanly, so it was stopped on purpose' };
    if (exit.signal === null && exit.code === USAGE_EXIT_STATUS) return { action: 'leave-down', reason: 'a usage or configuration error (see its last line) would only repeat' };
    while (this.#restartTimesMs.length > 0 && nowMs - (this.#restartTimesMs[0] ?? 0) >= this.#options.windowMs) this.#restartTimesMs.shift();
    if (this.#restartTimesMs.length >= this.#options.restartsMax) {
      return { action: 'leave-down', reason: `it failed ${this.#restartTimesMs.length + 1} times within ${formatSeconds(this.#options.windowMs)}` };
    }
    this.#restartTimesMs.push(nowMs);
    return { action: 'restart', delayMs: this.#options.delayMs };
  }

  /** A restart asked for by hand starts the count afresh. */
  reset(): void {
    this.#restartTimesMs.length = 0;
  }
}

/** 1500 -> "1.5 s", 60000 -> "60 s". */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
