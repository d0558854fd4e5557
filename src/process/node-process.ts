import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

import { parseLogLine, renderLogText, type LogLine } from '../log/index.js';
import { trackChild } from './process-reaper.js';
import { withTimeout } from './wait.js';

/** How a process ended: exit code, or the signal that ended it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Lines of a log kept in memory (printed when a test fails); the file, if any, has all. */
const TAIL_LINES_MAX = 200;
/** Lines of one run kept for readiness waits and a failed start's report. */
const SEEN_LINES_MAX = 400;
/** How long a process may take to go once sent a signal the kernel does not let it refuse. */
const KILL_WAIT_MS = 10_000;

/**
 * Everything one process (or one node across its restarts) printed: the last
 * TAIL_LINES_MAX lines in memory (a node's JSON lines made readable) and, when given a file,
 * the whole of it there (as printed).
 */
export class OutputLog {
  private readonly lines: string[] = [];

  constructor(
    /** Prefix of every line, e.g. "n1". */
    readonly label: string,
    /** Where the full output goes; null keeps only the in-memory tail. */
    readonly filePath: string | null,
  ) {}

  /** Keeps `line`; the file gets `fileLine` when given (the line as printed, where `line` is its readable form). */
  push(line: string, fileLine: string = line): void {
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES_MAX) this.lines.splice(0, this.lines.length - TAIL_LINES_MAX);
    if (this.filePath !== null) {
      try {
        fs.appendFileSync(this.filePath, `${fileLine}\n`);
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

/** Told of each line: the message of a node's JSON line (then `parsed` is the whole line) or the line as printed (`parsed` null). */
export type LineListener = (line: string, parsed: LogLine | null) => void;

export interface SpawnOptions {
  /** Arguments of `node` (process.execPath): flags, the script, its arguments. */
  readonly args: readonly string[];
  readonly output: OutputLog;
  /** Tag of this run in the output, e.g. "#2" for the second start. */
  readonly runTag: string;
  readonly cwd: string;
}

/**
 * One run of one Node.js child process (a node, a test's client program, a consumer).
 * stdout and stderr go line by line into the OutputLog as `[label#run] line` and
 * `[label#run err] line`, and to listeners; the child is registered for last-resort cleanup
 * (process-reaper.ts). Every wait is bounded by a deadline.
 *
 * A node writes JSON lines (src/log): waits, listeners and lines() see such a line's message
 * (`msg`, the sentence a person reads), listeners the parsed line too; the OutputLog's tail
 * holds it in text form and its file the JSON as printed. Any other line passes as it is.
 */
export class NodeProcess {
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | null = null;
  #paused = false;
  readonly #child: ChildProcess;
  readonly #seen: string[] = [];
  readonly #listeners = new Set<LineListener>();

  private constructor(child: ChildProcess, readonly output: OutputLog, readonly runTag: string) {
    this.#child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#note(`exited code=${code} signal=${signal}`);
        resolve(this.#exit);
      });
      child.once('error', (error) => {
        this.#note(`spawn error: ${error.message}`);
        if (this.#exit === null) {
          this.#exit = { code: null, signal: null };
          resolve(this.#exit);
        }
      });
    });
    const onLine = (stream: string) => (printed: string) => {
      const parsed = parseLogLine(printed);
      const tag = `[${output.label}${runTag}${stream}] `;
      output.push(tag + (parsed === null ? printed : renderLogText(parsed, { node: false, clock: false })), tag + printed);
      const line = parsed?.msg ?? printed;
      this.#seen.push(line);
      if (this.#seen.length > SEEN_LINES_MAX) this.#seen.shift();
      for (const listener of this.#listeners) listener(line, parsed);
    };
    forwardLines(child.stdout, onLine(''));
    forwardLines(child.stderr, onLine(' err'));
  }

  static spawn(options: SpawnOptions): NodeProcess {
    const child = spawn(process.execPath, [...options.args], {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    trackChild(child);
    const proc = new NodeProcess(child, options.output, options.runTag);
    proc.#note(`spawned pid ${child.pid ?? '?'}: node ${options.args.join(' ')}`);
    return proc;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** Stopped by pause() and not resumed since (false once it exited). */
  get paused(): boolean {
    return this.#paused && this.running;
  }

  get exitStatus(): ProcessExit | null {
    return this.#exit;
  }

  /** Lines this run printed, stdout and stderr, a node's JSON line as its message (the last SEEN_LINES_MAX). */
  lines(): readonly string[] {
    return this.#seen;
  }

  /** Calls `listener` with every line printed from now on; returns the unsubscribe. */
  onLine(listener: LineListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first line (printed so far or later) that contains `text`; rejects on exit or timeout. */
  waitForLine(text: string, timeoutMs: number): Promise<string> {
    const already = this.#seen.find((line) => line.includes(text));
    if (already !== undefined) return Promise.resolve(already);
    let off: () => void = () => {};
    const found = new Promise<string>((resolve, reject) => {
      off = this.onLine((line) => {
        if (line.includes(text)) resolve(line);
      });
      void this.exited.then((exit) => reject(new Error(`${this.output.label} exited (code ${exit.code}, signal ${exit.signal}) before printing "${text}"`)));
    });
    return withTimeout(found, timeoutMs, `${this.output.label} printing "${text}"`).finally(off);
  }

  /** Sends any signal while the process runs; nothing once it has exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.#exit !== null) return;
    this.#child.kill(signal);
  }

  /** SIGSTOP: alive, sockets open, answering nothing until resume(). */
  pause(): void {
    if (!this.running) return;
    this.signal('SIGSTOP');
    this.#paused = true;
  }

  /** SIGCONT (harmless to a process that is not stopped). */
  resume(): void {
    if (!this.running) return;
    this.signal('SIGCONT');
    this.#paused = false;
  }

  /**
   * SIGCONT (a stopped process would hold SIGTERM pending) and SIGTERM, then SIGKILL if it
   * has not exited within `graceMs`. Resolves with how it ended.
   */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    this.resume();
    this.signal('SIGTERM');
    try {
      return await withTimeout(this.exited, graceMs, `${this.output.label} exiting after SIGTERM`);
    } catch {
      this.#note(`did not exit within ${graceMs} ms of SIGTERM; SIGKILL`);
      return this.kill();
    }
  }

  /** Sends a signal that ends the process (SIGKILL by default, which ends a stopped one too) and waits for the exit. */
  async kill(signal: 'SIGKILL' | 'SIGTERM' | 'SIGINT' = 'SIGKILL'): Promise<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    this.signal(signal);
    return withTimeout(this.exited, KILL_WAIT_MS, `${this.output.label} exiting after ${signal}`);
  }

  /** A line of our own about this run, in the same log. */
  #note(text: string): void {
    this.output.push(`[${this.output.label}${this.runTag}] ${text}`);
  }
}

/** Splits a stream into lines and hands each one on (the last one at the end, without its newline). */
export function forwardLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, at));
      buffered = buffered.slice(at + 1);
    }
  });
  stream.on('end', () => {
    if (buffered !== '') onLine(buffered);
    buffered = '';
  });
}
