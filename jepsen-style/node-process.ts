import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

import { trackChild } from './process-reaper.js';
import { withTimeout } from './wait.js';

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Lines kept in memory per run of a process (the whole output goes to the log file). */
const SEEN_LINES_MAX = 400;

/**
 * One run of one node process: stdout and stderr go, line by line, to `logFile` (appended
 * across restarts) and to listeners; the child is registered with the reaper.
 */
export class NodeProcess {
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | null = null;
  readonly #child: ChildProcess;
  readonly #seen: string[] = [];
  readonly #listeners = new Set<(line: string) => void>();
  #paused = false;

  private constructor(child: ChildProcess, readonly id: string, readonly logFile: string) {
    this.#child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#append(`[harness] ${id} exited code=${code} signal=${signal}`);
        resolve(this.#exit);
      });
      child.once('error', (error) => {
        this.#append(`[harness] ${id} spawn error: ${error.message}`);
        if (this.#exit === null) {
          this.#exit = { code: null, signal: null };
          resolve(this.#exit);
        }
      });
    });
    const onLine = (line: string): void => {
      this.#append(line);
      this.#seen.push(line);
      if (this.#seen.length > SEEN_LINES_MAX) this.#seen.shift();
      for (const listener of this.#listeners) listener(line);
    };
    forwardLines(child.stdout, onLine);
    forwardLines(child.stderr, (line) => onLine(`[stderr] ${line}`));
  }

  static spawn(options: { readonly id: string; readonly args: readonly string[]; readonly logFile: string; readonly cwd: string }): NodeProcess {
    const child = spawn(process.execPath, [...options.args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    trackChild(child);
    const proc = new NodeProcess(child, options.id, options.logFile);
    proc.#append(`[harness] spawned pid ${child.pid ?? '?'}: node ${options.args.join(' ')}`);
    return proc;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  get paused(): boolean {
    return this.#paused && this.running;
  }

  get exitStatus(): ProcessExit | null {
    return this.#exit;
  }

  /** Lines this run printed (the last SEEN_LINES_MAX). */
  lines(): readonly string[] {
    return this.#seen;
  }

  onLine(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first line containing `text`; rejects when the process exits first or on timeout. */
  waitForLine(text: string, timeoutMs: number): Promise<string> {
    const already = this.#seen.find((line) => line.includes(text));
    if (already !== undefined) return Promise.resolve(already);
    let off: () => void = () => {};
    const found = new Promise<string>((resolve, reject) => {
      off = this.onLine((line) => {
        if (line.includes(text)) resolve(line);
      });
      void this.exited.then((exit) => reject(new Error(`${this.id} exited (code ${exit.code}, signal ${exit.signal}) before printing "${text}"`)));
    });
    return withTimeout(found, timeoutMs, `${this.id} printing "${text}"`).finally(off);
  }

  pause(): void {
    if (!this.running) return;
    this.#child.kill('SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    if (!this.running) return;
    this.#child.kill('SIGCONT');
    this.#paused = false;
  }

  /** SIGKILL (works on a stopped process too) and wait for the exit. */
  async kill(): Promise<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    this.#child.kill('SIGKILL');
    return withTimeout(this.exited, 10_000, `${this.id} exiting after SIGKILL`);
  }

  /** SIGCONT + SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.#exit !== null) return this.#exit;
    this.resume();
    this.#child.kill('SIGTERM');
    try {
      return await withTimeout(this.exited, graceMs, `${this.id} exiting after SIGTERM`);
    } catch {
      this.#append(`[harness] ${this.id} did not exit within ${graceMs} ms of SIGTERM; SIGKILL`);
      return this.kill();
    }
  }

  #append(line: string): void {
    try {
      fs.appendFileSync(this.logFile, `${line}\n`);
    } catch {
      // The run folder may be gone at teardown; nothing to keep then.
    }
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
