import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

import { track } from './process-registry.js';
import { forwardLines } from '../../jepsen-style/node-process.js';
import { withTimeout } from './wait-for.js';

/** How a process ended: exit code, or the signal that ended it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const TAIL_LINES_MAX = 200;

/**
 * Everything one node printed, across its restarts: the last TAIL_LINES_MAX lines in
 * memory (printed when a test fails) and the whole of it in a file beside its data.
 */
export class OutputLog {
  private readonly lines: string[] = [];

  constructor(
    /** Prefix of every line, e.g. "n1". */
    readonly label: string,
    /** Where the full output goes; null keeps only the in-memory tail. */
    readonly filePath: string | null,
  ) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES_MAX) this.lines.splice(0, this.lines.length - TAIL_LINES_MAX);
    if (this.filePath !== null) {
      try {
        fs.appendFileSync(this.filePath, `${line}\n`);
      } catch {
        // The data root may already be gone at teardown; the tail in memory is enough.
      }
    }
  }

  tail(count = TAIL_LINES_MAX): string[] {
    return this.lines.slice(-count);
  }

  /** The tail with a header, ready to print. */
  render(count = TAIL_LINES_MAX): string {
    return [`----- ${this.label}: last ${Math.min(count, this.lines.length)} lines -----`, ...this.tail(count)].join('\n');
  }
}

export interface SpawnOptions {
  readonly args: readonly string[];
  readonly output: OutputLog;
  /** Tag of this run in the output, e.g. "#2" for the second start. */
  readonly runTag: string;
  readonly cwd: string;
}

/**
 * One run of one OS process: stdout and stderr go line by line into the OutputLog, and
 * it is registered for last-resort cleanup. Waiting is always bounded by a deadline.
 */
export class ManagedProcess {
  readonly exited: Promise<ProcessExit>;
  private exit: ProcessExit | null = null;
  private readonly seen: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();

  private constructor(private readonly child: ChildProcess, readonly output: OutputLog, runTag: string) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        output.push(`[${output.label}${runTag}] exited code=${code} signal=${signal}`);
        resolve(this.exit);
      });
      child.once('error', (error) => {
        output.push(`[${output.label}${runTag}] spawn error: ${error.message}`);
        if (this.exit === null) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
    });
    const onLine = (stream: string) => (line: string) => {
      output.push(`[${output.label}${runTag}${stream}] ${line}`);
      // Keep what a readiness wait may still ask about; bounded like the tail.
      this.seen.push(line);
      if (this.seen.length > TAIL_LINES_MAX) this.seen.shift();
      for (const listener of this.lineListeners) listener(line);
    };
    forwardLines(child.stdout, onLine(''));
    forwardLines(child.stderr, onLine(' err'));
  }

  static spawn(options: SpawnOptions): ManagedProcess {
    const child = spawn(process.execPath, [...options.args], {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    track(child);
    options.output.push(`[${options.output.label}${options.runTag}] spawned pid ${child.pid ?? '?'}: node ${options.args.join(' ')}`);
    return new ManagedProcess(child, options.output, options.runTag);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === null;
  }

  get exitStatus(): ProcessExit | null {
    return this.exit;
  }

  /** Resolves with the first line (printed so far or later) that contains `text`; rejects on exit or timeout. */
  waitForLine(text: string, timeoutMs: number): Promise<string> {
    const already = this.seen.find((line) => line.includes(text));
    if (already !== undefined) return Promise.resolve(already);
    let listener: (line: string) => void = () => {};
    const found = new Promise<string>((resolve, reject) => {
      listener = (line) => {
        if (line.includes(text)) resolve(line);
      };
      this.lineListeners.add(listener);
      void this.exited.then((exit) => reject(new Error(`${this.output.label} exited (code ${exit.code}, signal ${exit.signal}) before printing "${text}"`)));
    });
    return withTimeout(found, timeoutMs, `${this.output.label} printing "${text}"`).finally(() => this.lineListeners.delete(listener));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit !== null) return;
    this.child.kill(signal);
  }

  /**
   * SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with how it ended
   * (after SIGKILL the exit is certain: the kernel does not refuse it).
   */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.exit !== null) return this.exit;
    this.signal('SIGTERM');
    try {
      return await withTimeout(this.exited, graceMs, `${this.output.label} exiting after SIGTERM`);
    } catch {
      this.output.push(`[${this.output.label}] did not exit within ${graceMs} ms of SIGTERM; SIGKILL`);
      return this.kill();
    }
  }

  /** Sends a signal that ends the process (SIGKILL by default) and waits for the exit. */
  async kill(signal: 'SIGKILL' | 'SIGTERM' | 'SIGINT' = 'SIGKILL'): Promise<ProcessExit> {
    if (this.exit !== null) return this.exit;
    this.signal(signal);
    return withTimeout(this.exited, 10_000, `${this.output.label} exiting after ${signal}`);
  }
}
