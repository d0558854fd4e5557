import type { Scheduler, Timer } from '../../storage/index.js';
import { EventQueue } from './event-queue.js';

/**
 * One simulated process. Every task it schedules dies with it: a crash is `die()`,
 * after which none of its timers, sync completions or deliveries run, exactly as a killed
 * process runs nothing more.
 */
export class SimProcess {
  alive = true;
  /** Stopped (SIGSTOP, a long GC pause) until this virtual time: its tasks wait, then run late. */
  pausedUntilMs = 0;
  readonly #onDeath = new Set<() => void>();
  constructor(readonly name: string) {}

  /** The crash: nothing of this process runs again, and whoever waits on it (whenDead) is told. */
  die(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const listener of this.#onDeath) listener();
    this.#onDeath.clear();
  }

  /**
   * Calls `listener` when this process dies, as a peer's end of a connection learns it: a
   * wait on a task of this process would otherwise never end, its tasks being dropped. Returns
   * the function that stops listening.
   */
  whenDead(listener: () => void): () => void {
    this.#onDeath.add(listener);
    return () => this.#onDeath.delete(listener);
  }
}

interface SimTask {
  readonly owner: SimProcess;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * The simulated world's one clock and one queue. Every callback of every node (timers,
 * `soon`, sync completions, message deliveries, client actions) is a task here; `step()`
 * runs the next one and then lets every promise continuation it started run to the end
 * before the next task, as Node's event loop runs microtasks between callbacks. Nothing
 * else in the process schedules work, so a run is a pure function of its seed.
 */
export class SimWorld {
  private readonly queue = new EventQueue<SimTask>();
  /** Tasks run so far. */
  steps = 0;

  get nowMs(): number {
    return this.queue.now;
  }

  get pending(): number {
    return this.queue.size;
  }

  schedule(delayMs: number, owner: SimProcess, label: string, run: () => void): { cancel(): void } {
    const task: SimTask = { owner, label, run, cancelled: false };
    this.queue.push(Math.max(0, delayMs), task);
    return {
      cancel: () => {
        task.cancelled = true;
      },
    };
  }

  /** Lets idle time pass up to `atMs` (no task may be due before it). */
  advanceTo(atMs: number): void {
    this.queue.advanceTo(atMs);
  }

  /** Virtual time of the next task, or undefined when nothing is scheduled. */
  nextAtMs(): number | undefined {
    return this.queue.peekTime();
  }

  /**
   * Runs the next live task (skipping cancelled ones and those of dead processes) and the
   * promise continuations it causes. Returns its label, or null when the queue is empty.
   */
  async step(): Promise<string | null> {
    for (;;) {
      const task = this.queue.pop();
      if (task === undefined) return null;
      if (task.cancelled || !task.owner.alive) continue;
      if (task.owner.pausedUntilMs > this.queue.now) {
        // A stopped process runs nothing: its due work waits for it to resume, in order.
        this.queue.push(task.owner.pausedUntilMs - this.queue.now, task);
        continue;
      }
      this.steps++;
      task.run();
      await drainMicrotasks();
      return task.label;
    }
  }
}

/**
 * Every promise continuation queued now runs, and those they queue, before this resolves:
 * Node runs the whole microtask queue before the next macrotask.
 */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A node's Scheduler on the simulated clock: its tasks belong to its process, and its clock
 * reads the world's time plus a fixed skew, running `rate` times as fast as the world's
 * (nodes' clocks disagree and drift apart; time still only moves forward on each). Its
 * timers wait by its own clock: a slow clock's ticks come late.
 */
export class SimScheduler implements Scheduler {
  constructor(
    private readonly world: SimWorld,
    private readonly process: SimProcess,
    private readonly skewMs = 0,
    private readonly rate = 1,
  ) {}

  nowMs(): number {
    return Math.floor(this.world.nowMs * this.rate) + this.skewMs;
  }

  /** World milliseconds until this clock has moved `delayMs`. */
  private worldDelayMs(delayMs: number): number {
    return this.rate === 1 ? delayMs : Math.ceil(delayMs / this.rate);
  }

  after(delayMs: number, run: () => void): Timer {
    return this.world.schedule(this.worldDelayMs(delayMs), this.process, `${this.process.name} timer`, run);
  }

  every(intervalMs: number, run: () => void): Timer {
    let current: { cancel(): void } | null = null;
    let cancelled = false;
    const arm = (): void => {
      current = this.world.schedule(this.worldDelayMs(intervalMs), this.process, `${this.process.name} tick`, () => {
        if (cancelled) return;
        arm();
        run();
      });
    };
    arm();
    return {
      cancel: () => {
        cancelled = true;
        current?.cancel();
      },
    };
  }

  soon(run: () => void): void {
    this.world.schedule(0, this.process, `${this.process.name} soon`, run);
  }

  /** Resolves `delayMs` from now on this process's clock (never, if the process dies first). */
  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.after(delayMs, resolve));
  }
}
