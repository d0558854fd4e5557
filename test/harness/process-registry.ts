/**
 * The harness's processes get the same last-resort cleanup as a jepsen-style run's (an
 * 'exit' hook and a detached reaper process; see jepsen-style/process-reaper.ts). Tests
 * still stop their processes themselves; this only keeps a bug in a test from leaving
 * nodes running after the test file.
 */
export { killAllChildren as killAllTracked, liveChildPids as trackedPids, trackChild as track } from '../../jepsen-style/process-reaper.js';

/** True while a process with this pid exists (signal 0 only checks). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
