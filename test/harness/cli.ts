import { spawn } from 'node:child_process';

import { CLI_PATH, REPO_ROOT } from './build.js';
import { track } from './process-registry.js';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is closed at once. */
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs `quorumlog ARGS...` (the built CLI) to completion. A command that has not finished
 * within the timeout is SIGKILLed and the result says so (signal SIGKILL).
 */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return runCommand(process.execPath, [CLI_PATH, ...args], { ...options, cwd: REPO_ROOT });
}

/**
 * Runs any program to completion, the way runCli runs ours: tracked for last-resort cleanup,
 * output collected, SIGKILLed (signal SIGKILL in the result) if still running after the
 * timeout. `cwd` defaults to the repository root.
 */
export function runCommand(file: string, args: readonly string[], options: CliOptions & { readonly cwd?: string } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...options.env },
    });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {
      // The command may exit without reading its input (bad arguments): not our failure.
    });
    child.stdin.end(options.input ?? '');
  });
}

/** "quorumlog ... exited 0" style description for assertion messages. */
export function describeCli(args: readonly string[], result: CliResult): string {
  return `quorumlog ${args.join(' ')} -> code ${result.code} signal ${result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}
