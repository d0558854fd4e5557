/**
 * The power-loss wrapper under a real kill -9: a child process runs the log on
 * PowerLossFileSystem, the parent kills it with SIGKILL and reopens the directory on real
 * files. What survives must be exactly what was made durable: every acknowledged append,
 * and nothing written after the last sync (which a plain kill -9 would have kept, since the
 * page cache outlives the process).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Index } from '../../raft/types.js';
import { NodeFileSystem, openLog } from '../../storage/index.js';
import { cleanup, entries, expectLogEquals, tempDir } from './log-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let work = '';

// The child runs plain JS: storage compiled once into the temp dir.
const CHILD = `
import { NodeFileSystem, PowerLossFileSystem, openLog } from './build/storage/index.js';
const [dir, fsKind, scenario] = process.argv.slice(2);
const fs = fsKind === 'power-loss' ? new PowerLossFileSystem(new NodeFileSystem()) : new NodeFileSystem();
const entry = (index) => ({ index, term: 1, kind: 1, payload: new Uint8Array(24).fill(index & 0xff) });
const say = (line) => process.stdout.write(line + '\\n');
// Says 'overlap' each time a segment's fdatasync starts while the state file's (the mark's) runs.
const inFlight = { data: 0, mark: 0 };
const fdatasync = fs.fdatasync.bind(fs);
fs.fdatasync = async (handle) => {
  const kind = handle.path.endsWith('/state') ? 'mark' : 'data';
  if (kind === 'data' && inFlight.mark > 0) say('overlap');
  inFlight[kind]++;
  try { await fdatasync(handle); } finally { inFlight[kind]--; }
};
if (scenario === 'sync' || scenario === 'sync-lagging' || scenario === 'sync-64') {
  const log = await openLog({ dir, fs, flush: { mode: 'sync', mark: scenario === 'sync-lagging' ? 'lagging' : 'ordered' } });
  const appender = async () => {
    for (;;) {
      const e = entry(log.lastIndex() + 1);
      await log.append([e]);
      say('acked ' + e.index);
      // Some appenders come back a turn later, so groups do not stay in lockstep and overlap.
      if (scenario === 'sync-64' && e.index % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: scenario === 'sync-64' ? 64 : 4 }, appender));
} else {
  const options = { dir, fs, flush: { mode: 'async', intervalMs: 3_600_000 } };
  const first = await openLog(options);
  for (let i = 1; i <= 50; i++) await first.append([entry(i)]);
  await first.close(); // syncs 1..50 and stops the flush loop, so nothing later rides along
  say('flushed 50');
  const log = await openLog(options);
  for (let i = 51; i <= 80; i++) await log.append([entry(i)]);
  say('written 80');
  setInterval(() => undefined, 1000); // wait for the kill
}
`;

beforeAll(async () => {
  work = await tempDir();
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const flags = ['--ignoreConfig', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2023'];
  execFileSync(process.execPath, [tsc, ...flags, '--types', 'node', '--skipLibCheck', '--outDir', path.join(work, 'build'), path.join(root, 'storage/index.ts')], {
    cwd: root,
    stdio: 'pipe',
  });
  nodeFs.writeFileSync(path.join(work, 'package.json'), '{"type":"module"}');
  nodeFs.writeFileSync(path.join(work, 'child.js'), CHILD);
});
afterAll(async () => {
  await cleanup(work);
});

/** Runs the child until `done(lines)` holds (or the deadline passes), then SIGKILLs it. */
async function runAndKill(dir: string, fsKind: string, scenario: string, done: (lines: string[]) => boolean): Promise<string[]> {
  const child: ChildProcess = spawn(process.execPath, [path.join(work, 'child.js'), dir, fsKind, scenario], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`child never got there: ${stderr}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
      if (done(lines)) {
        clearTimeout(deadline);
        child.kill('SIGKILL'); // nothing after this line is counted as acknowledged
        resolve();
      }
    });
    child.on('exit', () => {
      clearTimeout(deadline);
      if (!done(lines)) reject(new Error(`child exited early: ${stderr}`));
    });
  });
  await exited;
  return lines;
}

const reopen = (dir: string) => openLog({ dir, fs: new NodeFileSystem(), flush: { mode: 'sync' } });

describe('PowerLossFileSystem under kill -9', () => {
  // Lagging: appends resolve after the data's fdatasync alone, the durable mark following.
  it.each(['sync', 'sync-lagging'])('keeps every acknowledged append (%s)', async (scenario) => {
    const dir = path.join(work, scenario);
    const lines = await runAndKill(dir, 'power-loss', scenario, (seen) => seen.length >= 300);
    const acked = Math.max(...lines.filter((l) => l.startsWith('acked ')).map((l) => Number(l.slice(6))));
    const log = await reopen(dir);
    expect(log.lastIndex()).toBeGreaterThanOrEqual(acked);
    expect(log.recovery.lostEntries).toBe(false);
    const got = log.entries(1 as Index, (log.lastIndex() + 1) as Index, 1 << 30);
    expect(got.every((e, k) => e.index === k + 1 && e.payload[0] === ((k + 1) & 0xff))).toBe(true);
    await log.close();
  });

  // Ordered mark, 64 appenders: groups pipeline (a group's data sync beside the previous
  // group's mark sync), and the kill lands while they do.
  it('keeps every acknowledged append when killed while groups pipeline (sync, 64 appenders)', async () => {
    const dir = path.join(work, 'sync-64');
    const lines = await runAndKill(dir, 'power-loss', 'sync-64', (seen) => seen.length >= 2000 && seen.filter((l) => l === 'overlap').length >= 20);
    const acked = Math.max(...lines.filter((l) => l.startsWith('acked ')).map((l) => Number(l.slice(6))));
    const log = await reopen(dir);
    expect(log.lastIndex()).toBeGreaterThanOrEqual(acked);
    expect(log.recovery.lostEntries).toBe(false);
    const got = log.entries(1 as Index, (log.lastIndex() + 1) as Index, 1 << 30);
    expect(got.every((e, k) => e.index === k + 1 && e.payload[0] === ((k + 1) & 0xff))).toBe(true);
    await log.close();
  });

  it('loses exactly what was written after the last sync, as a power failure would', async () => {
    const dir = path.join(work, 'async-power-loss');
    await runAndKill(dir, 'power-loss', 'async', (seen) => seen.includes('written 80'));
    const log = await reopen(dir);
    expect(log.lastIndex()).toBe(50);
    expect(log.recovery.lostEntries).toBe(false);
    expectLogEquals(log, entriesLike(50), 1);
    await log.close();
  });

  it('(contrast) on plain files a kill -9 keeps the page cache', async () => {
    const dir = path.join(work, 'async-plain');
    await runAndKill(dir, 'node', 'async', (seen) => seen.includes('written 80'));
    const log = await reopen(dir);
    expect(log.lastIndex()).toBe(80);
    await log.close();
  });
});

function entriesLike(count: number) {
  return entries(1, count, 1, 24).map((e) => ({ ...e, kind: 1 as const, payload: new Uint8Array(24).fill(e.index & 0xff) }));
}
