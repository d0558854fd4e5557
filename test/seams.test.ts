/**
 * STYLE.md habit 15: the simulator runs what production runs. The node and storage read the
 * clock and set timers only through the Scheduler seam (storage/scheduler.ts), so a seeded
 * simulator can drive them; this test fails on any direct use elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './harness/build.js';

/** Node's own timers and clocks; the Scheduler is the one place that may call them. */
const DIRECT_TIME = /\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|Date\.now|performance\.now|process\.hrtime|new Date\(\))/;
/** The real scheduler, and the storage bench (a command that measures wall time, never run by a node). */
const EXEMPT = new Set(['storage/scheduler.ts']);
const EXEMPT_DIRS = ['storage/bench/'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Code lines (comments dropped) that use a timer or clock directly. */
function directUses(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line, k) => ({ line: line.replace(/\/\/.*$/, ''), k }))
    .filter(({ line }) => !/^\s*(\*|\/\*)/.test(line) && DIRECT_TIME.test(line))
    .map(({ line, k }) => `${path.relative(REPO_ROOT, file)}:${k + 1}: ${line.trim()}`);
}

describe('the scheduler seam', () => {
  it('src/node and storage use no timer or clock except through the Scheduler', () => {
    const files = [...sourceFiles(path.join(REPO_ROOT, 'src', 'node')), ...sourceFiles(path.join(REPO_ROOT, 'storage'))];
    const found = files
      .filter((file) => {
        const rel = path.relative(REPO_ROOT, file).split(path.sep).join('/');
        return !EXEMPT.has(rel) && !EXEMPT_DIRS.some((dir) => rel.startsWith(dir));
      })
      .flatMap(directUses);
    expect(found).toEqual([]);
  });

  it('the check sees a direct use when there is one', () => {
    const probe = path.join(REPO_ROOT, 'storage', 'scheduler.ts');
    expect(directUses(probe).length).toBeGreaterThan(0);
  });
});
