/**
 * The harness's processes get the same last-resort cleanup as every NodeProcess (an 'exit'
 * hook and a detached reaper process; see src/process/process-reaper.ts). Tests still stop
 * their processes themselves; this only keeps a bug in a test from leaving nodes running
 * after the test file.
 */
export { killAllChildren as killAllTracked, liveChildPids as trackedPids, trackChild as track } from '../../src/process/index.js';

/** True while a process with this pid exists (signal 0 only checks). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
