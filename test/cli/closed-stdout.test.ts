import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { CLI_PATH, ensureBuilt } from '../harness/index.js';

/** Runs the CLI with its stdout pipe closed by the reader before it writes anything. */
async function runWithClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (status) => resolve(status)));
  clearTimeout(timer);
  return { code, stderr };
}

describe('the quorumlog command and a closed stdout (quorumlog ... | head)', () => {
  it('ends quietly with status 0 instead of an unhandled EPIPE', async () => {
    await ensureBuilt();
    const result = await runWithClosedStdout(['--help']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  }, 30_000);
});
