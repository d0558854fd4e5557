import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { LogClient } from '../../src/client/index.js';
import { NODE_V8_FLAGS } from '../../src/node/v8-flags.js';
import { CLI_PATH, ensureBuilt, pidAlive, waitFor } from '../harness/index.js';

/** What `npm start` runs: the README promises a leader line and a clean stop on Ctrl-C. */
describe('quorumlog cluster (real processes)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it.each([
    [[], 'ordered'],
    [['--durable-mark', 'lagging'], 'lagging'],
  ])('starts three nodes (extra flags %j: %s durable mark), names the leader, serves clients, and stops them all on SIGINT', async (flags: string[], mark: string) => {
    await ensureBuilt();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-cluster-cmd-'));
    // Three consecutive client ports and three peer ports, below the kernel's ephemeral
    // range (where the harness's port-0 picks land) and checked free just before use.
    const base = await freeBase();
    const child = spawn(process.execPath, [CLI_PATH, 'cluster', '--data-dir', dataDir, '--client-port-base', String(base), '--peer-port-base', String(base + 5), ...flags], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exit: string | null = null;
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code, signal) => {
        exit = `exited with ${signal ?? `status ${code}`}`;
        resolve(code);
      }),
    );
    cleanups.push(() => {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const leaderLine = / is the leader \(term \d+\), clients at 127\.0\.0\.1:\d+/;
    try {
      await waitFor(() => leaderLine.test(output) || exit !== null, { timeoutMs: 30_000, what: 'a leader line' });
    } catch (error) {
      throw new Error(`no leader line within 30 s; the cluster printed:\n${output}`, { cause: error });
    }
    expect(exit, `the cluster command ${exit ?? ''}; it printed:\n${output}`).toBeNull();
    expect(output.match(new RegExp(`^n\\d \\| .* serving clients on .*; flush sync, ${mark} durable mark$`, 'gm'))?.length ?? 0, output).toBe(3);
    const client = new LogClient({ brokers: [0, 1, 2].map((k) => `127.0.0.1:${base + k}`), timeoutMs: 10_000 });
    try {
      const { firstIndex } = await client.append([new TextEncoder().encode('hello')]);
      const read = await client.read(firstIndex);
      expect(new TextDecoder().decode(read.records[0]?.payload)).toBe('hello');
    } finally {
      client.close();
    }
    const nodePids = nodeProcesses(dataDir);
    expect(nodePids).toHaveLength(3);
    // Every node runs with the V8 flags the CLI starts nodes with (src/node/v8-flags.ts).
    for (const pid of nodePids) expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([...NODE_V8_FLAGS]));

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('quorumlog: all nodes stopped');
    expect(output.match(/^n\d \| .* stopped$/gm)?.length ?? 0).toBe(3);
    for (const pid of nodePids) expect(pidAlive(pid)).toBe(false);
    expect(nodeProcesses(dataDir)).toEqual([]);
  }, 60_000);
});

/** Pids of live `quorumlog node` processes whose command line names `text` (their data dir). */
function nodeProcesses(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('\0node\0--id\0') && cmdline.includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A base port such that base..base+2 and base+5..base+7 can all be bound on 127.0.0.1 now. */
async function freeBase(): Promise<number> {
  // Bounded: 50 candidates.
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 12_000 + Math.floor(Math.random() * 700) * 10;
    const ports = [0, 1, 2, 5, 6, 7].map((k) => base + k);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports found in 12000..19000');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
