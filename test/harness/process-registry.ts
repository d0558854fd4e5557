import { spawn, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';

/**
 * Last-resort cleanup for every process the harness starts, in two layers:
 *  - an 'exit' hook of this test worker SIGKILLs whatever is still registered;
 *  - a small reaper process, told each child's pid over a pipe, SIGKILLs them when that
 *    pipe closes, which happens also when this worker dies without running its hooks
 *    (SIGKILL, a crash). It is detached so a Ctrl-C to the group leaves it to do its job,
 *    and unref'd so it never keeps this worker alive.
 * Tests still stop their processes themselves; this only keeps a bug in a test from
 * leaving nodes running after the test file.
 */
const live = new Set<ChildProcess>();
let reaper: ChildProcess | null = null;
let hooked = false;

const REAPER_SCRIPT = `
const pids = new Set();
let buffered = '';
process.on('SIGINT', () => {});
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

function tellReaper(line: string): void {
  if (reaper === null) {
    reaper = spawn(process.execPath, ['-e', REAPER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    reaper.on('error', () => {
      reaper = null;
    });
    reaper.unref();
    (reaper.stdin as unknown as net.Socket | null)?.unref();
  }
  reaper.stdin?.write(`${line}\n`);
}

/** Registers a child the harness started; it is forgotten once it exits. */
export function track(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', killAllTracked);
  }
  if (child.pid === undefined) return;
  const pid = child.pid;
  live.add(child);
  tellReaper(`+${pid}`);
  child.once('exit', () => {
    live.delete(child);
    tellReaper(`-${pid}`);
  });
}

/** Synchronous, for the 'exit' hook: SIGKILL every tracked child still running. */
export function killAllTracked(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Pids of harness children that have not exited yet (for tests of the harness itself). */
export function trackedPids(): number[] {
  return [...live].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
}

/** True while a process with this pid exists (signal 0 only checks). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
