import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CLI_PATH, ensureBuilt, freePorts, pidAlive, waitFor } from '../harness/index.js';
import { track } from '../harness/process-registry.js';

const STOP_WAIT_MS = 20_000;

/** One `quorumlog cluster` process started by a test, with everything it printed so far. */
export interface ClusterCommandRun {
  readonly dataDir: string;
  readonly base: number;
  /** Client addresses of n1, n2, n3. */
  readonly brokers: readonly string[];
  readonly pid: number;
  output(): string;
  /** "exited with SIGTERM" / "exited with status 1", or null while it runs. */
  exit(): string | null;
  readonly exited: Promise<number | null>;
  /** Waits for `pattern` in what was printed after character `from`; returns the match. */
  waitForOutput(pattern: RegExp, options: { readonly from?: number; readonly timeoutMs: number; readonly what: string }): Promise<RegExpExecArray>;
  /** SIGTERM, wait for the exit, then SIGKILL any node process left behind; removes the data dir. */
  cleanup(): Promise<void>;
}

/**
 * Starts `quorumlog cluster` on free ports with a fresh data root. The caller must call
 * cleanup() (an afterEach does), which also stops node processes a failed test left running.
 */
export async function startClusterCommand(flags: readonly string[] = []): Promise<ClusterCommandRun> {
  await ensureBuilt();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-cluster-cmd-'));
  // Three consecutive client ports, three peer ports and three HTTP ports, below the kernel's ephemeral
  // range (where the harness's port-0 picks land) and checked free just before use.
  const base = await freeBase();
  const child = spawn(process.execPath, [CLI_PATH, 'cluster', '--data-dir', dataDir, '--client-port-base', String(base), '--peer-port-base', String(base + 5), '--http-port-base', String(base + 10), ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
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
  return {
    dataDir,
    base,
    brokers: [0, 1, 2].map((k) => `127.0.0.1:${base + k}`),
    pid: child.pid ?? -1,
    output: () => output,
    exit: () => exit,
    exited,
    async waitForOutput(pattern, options) {
      const from = options.from ?? 0;
      const global = new RegExp(pattern.source, pattern.flags.includes('m') ? pattern.flags : `${pattern.flags}m`);
      const find = (): RegExpExecArray | undefined => {
        global.lastIndex = 0;
        return global.exec(output.slice(from)) ?? undefined;
      };
      // An exit ends the wait at once: what it printed last is checked one more time.
      const early = exited.then(() => find() ?? Promise.reject(new Error(`the cluster command ${exit ?? 'exited'}`)));
      try {
        return await Promise.race([waitFor(find, { timeoutMs: options.timeoutMs, what: options.what }), early]);
      } catch (error) {
        throw new Error(`waiting for ${options.what}: ${(error as Error).message}; the cluster printed:\n${output}`, { cause: error });
      }
    },
    async cleanup() {
      if (exit === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS))]);
      if (exit === null) child.kill('SIGKILL');
      for (const pid of nodeProcesses(dataDir)) {
        try {
          process.kill(pid, 'SIGCONT');
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await waitFor(() => nodeProcesses(dataDir).every((pid) => !pidAlive(pid)), { timeoutMs: 5_000, what: 'leftover nodes to exit' }).catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Pids of live `quorumlog node` processes whose command line names `text` (their data dir). */
export function nodeProcesses(text: string): number[] {
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

/** The pid of node `id` of the cluster whose data root is `dataDir`, or null. */
export function nodePid(dataDir: string, id: string): number | null {
  for (const pid of nodeProcesses(dataDir)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`\0--id\0${id}\0`)) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * A base port such that base..base+2 (clients), base+5..base+7 (peers) and base+10..base+12 (HTTP) can all be bound on
 * 127.0.0.1 now. `quorumlog cluster` cannot move to other ports when one is taken, so its
 * range stays clear of the one the harness's clusters pick from.
 */
async function freeBase(): Promise<number> {
  const [base] = await freePorts(13, { lowPort: 12_000, highPort: 19_000 });
  if (base === undefined) throw new Error('freePorts returned no port');
  return base;
}

/** A `quorumlog` command running in the background; `signal()` it, `result` when it ends. */
export interface BackgroundCli {
  readonly pid: number;
  readonly result: Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>;
  signal(name: NodeJS.Signals): void;
}

/** Starts `quorumlog ARGS...` without waiting; SIGKILLed after `timeoutMs` if still running. */
export function startCli(args: readonly string[], options: { readonly timeoutMs: number }): BackgroundCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { pid: child.pid ?? -1, result, signal: (name) => child.kill(name) };
}

/** The process state letter from /proc/PID/stat ('T' when stopped by SIGSTOP), or null when gone. */
export function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}
