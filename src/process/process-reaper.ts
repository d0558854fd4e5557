import { spawn, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';

/**
 * Last-resort cleanup for every child process NodeProcess starts (a jepsen-style run's, a
 * test's, the bench's), in two layers: an 'exit' hook
 * SIGKILLs whatever is still registered (SIGKILL ends a stopped process too), and a detached
 * reaper process, told each child's pid over a pipe, SIGKILLs them when that pipe closes,
 * which also happens when this process dies without running its hooks (kill -9, a crash).
 * Every user still stops its processes itself; this only keeps a bug from leaving them behind.
 * One registry per process: it owns the process-wide 'exit' hook, so it is created lazily
 * by the first track() call, not on import.
 */
const REAPER_SCRIPT = `
const pids = new Set();
let buffered = '';
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  for (let at = buffered.indexOf('\\n'); at >= 0; at = buffered.indexOf('\\n')) {
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    const pid = Number(line.slice(1));
    if (line[0] === '+') pids.add(pid); else pids.delete(pid);
  }
});
const reap = () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  process.exit(0);
};
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

class ProcessReaper {
  readonly #live = new Set<ChildProcess>();
  #reaper: ChildProcess | null = null;

  constructor() {
    process.on('exit', () => this.killAll());
  }

  track(child: ChildProcess): void {
    if (child.pid === undefined) return;
    const pid = child.pid;
    this.#live.add(child);
    this.#tell(`+${pid}`);
    child.once('exit', () => {
      this.#live.delete(child);
      this.#tell(`-${pid}`);
    });
  }

  /** Synchronous (usable from an 'exit' hook): SIGKILL every child still running. */
  killAll(): void {
    for (const child of this.#live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  livePids(): number[] {
    return [...this.#live].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  #tell(line: string): void {
    if (this.#reaper === null) {
      const reaper = spawn(process.execPath, ['-e', REAPER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      reaper.on('error', () => {
        this.#reaper = null;
      });
      reaper.unref();
      (reaper.stdin as unknown as net.Socket | null)?.unref();
      this.#reaper = reaper;
    }
    this.#reaper.stdin?.write(`${line}\n`);
  }
}

let registry: ProcessReaper | null = null;

/** Registers a child for last-resort cleanup; it is forgotten once it exits. */
export function trackChild(child: ChildProcess): void {
  registry ??= new ProcessReaper();
  registry.track(child);
}

/** Pids of tracked children that have not exited (for tests: none may outlive a run). */
export function liveChildPids(): number[] {
  return registry?.livePids() ?? [];
}

/** Synchronous: SIGKILL every tracked child still running (what the 'exit' hook does). */
export function killAllChildren(): void {
  registry?.killAll();
}
