/**
 * The one seam through which storage and the node read the clock and set timers. Two
 * implementations: `realScheduler` (Node's timers and clock) and the simulator's (test/sim),
 * which runs every callback from one seeded event queue on a virtual clock, so the same
 * replica, commit log and broker a real node runs are replayed bit for bit from a seed.
 *
 * It lives in storage because storage is the lowest layer that waits on time (async flush,
 * the group-commit kick); the node above imports it from here. The consensus core never
 * sees it: its time is tick().
 *
 * Contract every implementation keeps:
 * - A callback never runs inside the call that scheduled it.
 * - `soon` callbacks run after the current callback and its promise continuations, in the
 *   order they were scheduled, before any timer that falls due later.
 * - Timers with the same due time run in the order they were set.
 * - A cancelled timer never runs; cancel is idempotent.
 */
export interface Scheduler {
  /** Milliseconds on this node's clock: wall time in production, virtual (and skewable) in the simulator. */
  nowMs(): number;
  /** Runs `run` once, `delayMs` from now. */
  after(delayMs: number, run: () => void): Timer;
  /** Runs `run` every `intervalMs` until cancelled. */
  every(intervalMs: number, run: () => void): Timer;
  /** Runs `run` on the next turn, after I/O callbacks ready now (setImmediate in production). */
  soon(run: () => void): void;
}

export interface Timer {
  cancel(): void;
}

/**
 * Node's timers and clock. Timers are unref'd: a pending timeout or flush interval never
 * keeps a process alive on its own (a node is kept alive by its sockets).
 */
export const realScheduler: Scheduler = {
  nowMs: () => Date.now(),
  after(delayMs, run) {
    const timer = setTimeout(run, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  every(intervalMs, run) {
    const timer = setInterval(run, intervalMs);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
  soon(run) {
    setImmediate(run);
  },
};
