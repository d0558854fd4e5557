import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { NODE_V8_FLAGS } from '../node/index.js';
import { trackChild } from '../process/index.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

/**
 * `quorumlog bench ARGS` in a process of its own, with the nodes' V8 flags (as the bench's
 * measuring sides run: one process per side, so neither's client work lands on the other).
 * Resolves with its stdout once it exits 0; rejects with `what` and its last words otherwise.
 * Killed (SIGKILL) when still running after `deadlineMs`; SIGINT when `signal` aborts.
 */
export async function runBenchChild(args: readonly string[], options: { readonly what: string; readonly deadlineMs: number; readonly signal?: AbortSignal }): Promise<string> {
  const child = spawn(process.execPath, [...NODE_V8_FLAGS, MAIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const interrupt = (): boolean => child.kill('SIGINT');
  options.signal?.addEventListener('abort', interrupt, { once: true });
  const deadline = setTimeout(() => child.kill('SIGKILL'), options.deadlineMs);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) throw new Error(`${options.what} exited with ${code}: ${err.trim().split('\n').at(-1) || out.trim()}`);
    return out;
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', interrupt);
  }
}
