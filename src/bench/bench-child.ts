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
 * `onLine` hears each whole line of its stdout as it comes (a child that says where it listens),
 * with a function that writes a line to its stdin (a child that waits to be told to go).
 */
export async function runBenchChild(
  args: readonly string[],
  options: { readonly what: string; readonly deadlineMs: number; readonly signal?: AbortSignal; readonly onLine?: (line: string, tell: (line: string) => void) => void },
): Promise<string> {
  const child = spawn(process.execPath, [...NODE_V8_FLAGS, MAIN, 'bench', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const tell = (line: string): void => {
    child.stdin.write(`${line}\n`);
  };
  // A child that exits without reading its stdin must not fail the parent with EPIPE.
  child.stdin.on('error', () => {});
  // Only a child the caller talks to has an open stdin.
  if (options.onLine === undefined) child.stdin.end();
  trackChild(child);
  let out = '';
  let err = '';
  let heard = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (options.onLine === undefined) return;
    // Bounded: each pass consumes one line of what arrived.
    for (let end = out.indexOf('\n', heard); end !== -1; end = out.indexOf('\n', heard)) {
      options.onLine(out.slice(heard, end), tell);
      heard = end + 1;
    }
  });
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
    child.stdin.end();
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', interrupt);
  }
}
