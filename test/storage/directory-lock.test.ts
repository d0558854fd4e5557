/**
 * One process per log directory: the lock every open takes before reading a file, on real
 * files (flock(2), released by the kernel when its holder dies) and in the in-memory twin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { DirectoryLockedError, MemoryFileSystem, NodeFileSystem, openLog } from '../../storage/index.js';
import { cleanup, entries, expectLogEquals, tempDir } from './log-fixtures.js';

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cleanup(dir);
});

/** Every file under `root` with its bytes, for "changed nothing" checks. */
function contents(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of nodeFs.readdirSync(root, { recursive: true }) as string[]) {
    const full = path.join(root, name);
    if (nodeFs.statSync(full).isFile()) out.set(name, nodeFs.readFileSync(full).toString('hex'));
  }
  return out;
}

/** Another process holding the lock as ours does (flock(2) on dir/lock), in one process that then sleeps. */
async function holdInAnotherProcess(lockDir: string): Promise<ChildProcess> {
  const script = 'exec 9>>"$1/lock" && flock --exclusive 9 && echo locked && exec sleep 60';
  const child = spawn('sh', ['-c', script, 'holder', lockDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', () => resolve());
  });
  return child;
}

describe('the directory lock on real files', () => {
  it('refuses a second open of a live log in the same process, and changes no byte', async () => {
    const fs = new NodeFileSystem();
    const live = await openLog({ dir, fs });
    await live.append(entries(1, 20, 1));
    const before = contents(dir);
    await expect(openLog({ dir, fs: new NodeFileSystem() })).rejects.toThrow(DirectoryLockedError);
    await expect(openLog({ dir, fs: new NodeFileSystem() })).rejects.toThrow(`${dir} is in use by another process (pid ${process.pid})`);
    expect(contents(dir)).toEqual(before);
    expectLogEquals(live, entries(1, 20, 1), 1);
    await live.close();
    const reopened = await openLog({ dir, fs });
    expectLogEquals(reopened, entries(1, 20, 1), 1);
    await reopened.close();
  });

  it('is refused while another process holds it, and free once the kernel has dropped the holder', async () => {
    nodeFs.writeFileSync(path.join(dir, 'lock'), '');
    const holder = await holdInAnotherProcess(dir);
    await expect(openLog({ dir, fs: new NodeFileSystem() })).rejects.toThrow(DirectoryLockedError);
    expect(nodeFs.readdirSync(dir)).toEqual(['lock']); // recovery never ran: no state file made
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    const log = await openLog({ dir, fs: new NodeFileSystem() });
    await log.append(entries(1, 3, 1));
    await log.close();
  });

  it('is not inherited by the short-lived flock process: the hold outlives it', async () => {
    const log = await openLog({ dir, fs: new NodeFileSystem() });
    // flock -n on the same file from a fresh process must fail while our log is open.
    const probe = spawn('flock', ['--nonblock', '--exclusive', '--conflict-exit-code', '75', path.join(dir, 'lock'), 'true']);
    children.push(probe);
    const code = await new Promise<number | null>((resolve) => probe.once('exit', resolve));
    expect(code).toBe(75);
    await log.close();
  });
});

describe('the directory lock in the in-memory twin', () => {
  it('holds one open per directory, released by close and by a crash', async () => {
    const fs = new MemoryFileSystem();
    const live = await openLog({ dir: '/data', fs });
    await live.append(entries(1, 5, 1));
    await expect(openLog({ dir: '/data', fs })).rejects.toThrow(DirectoryLockedError);
    const next = fs.crash();
    const recovered = await openLog({ dir: '/data', fs: next });
    expectLogEquals(recovered, entries(1, 5, 1), 1);
    await recovered.close();
    const again = await openLog({ dir: '/data', fs: next });
    await again.close();
  });
});
