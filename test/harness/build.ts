import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (this file is test/harness/build.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `quorumlog` command as the build emits it. */
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const LOCK_WAIT_MS = 120_000;
const LOCK_STALE_MS = 60_000;
const LOCK_POLL_MS = 100;

let built: Promise<void> | null = null;

/**
 * Builds dist/ once per test worker, so every integration file runs the code in the tree
 * (also from a fresh clone where dist/ does not exist). A lock directory in os.tmpdir,
 * named after the repository, keeps two workers from running tsc over one dist/ at once.
 * The build is a second or two; doing it once per file keeps dist/ from ever being stale.
 *
 * tsc emits even when some file of the tree fails to type-check (another engineer's work in
 * progress); that is reported as a warning, and only a missing CLI entry is an error.
 */
export function ensureBuilt(): Promise<void> {
  // Under vitest the global setup (test/harness/global-build.ts) built dist/ once before any
  // worker started: a second build while another worker's nodes load dist/ could let them
  // read a file tsc is rewriting.
  if (process.env[BUILT_ENV] === '1') return Promise.resolve();
  built ??= build();
  return built;
}

/**
 * The compiled module at dist/<parts> (built first), for tests of code that must run as built:
 * a worker thread's entry, or child processes started from dist/.
 */
export async function importBuilt<T>(...parts: string[]): Promise<T> {
  await ensureBuilt();
  return (await import(pathToFileURL(path.join(REPO_ROOT, 'dist', ...parts)).href)) as T;
}

/** Set by the global setup once dist/ is built for this run. */
export const BUILT_ENV = 'QUORUMLOG_TEST_DIST_BUILT';

/** Builds dist/ now, for the global setup (which runs before any test worker). */
export function buildNow(): Promise<void> {
  built ??= build();
  return built;
}

async function build(): Promise<void> {
  const lockDir = path.join(os.tmpdir(), `quorumlog-build-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12)}.lock`);
  await acquireLock(lockDir);
  try {
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: LOCK_STALE_MS,
    });
    // The .proto schemas beside the compiled transport (what `npm run build` does after tsc).
    spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'copy-assets.mjs')], { cwd: REPO_ROOT, stdio: 'inherit' });
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
    if (!fs.existsSync(CLI_PATH)) {
      throw new Error(`the build did not produce ${CLI_PATH} (tsc exit ${result.status ?? result.signal}):\n${output}`);
    }
    if (result.status !== 0) {
      console.warn(`[harness] tsc reported errors but emitted ${path.relative(REPO_ROOT, CLI_PATH)}:\n${output.split('\n').slice(0, 20).join('\n')}`);
    }
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/** mkdir is atomic: whoever creates the directory holds the lock. A lock older than a build can take is taken over. */
async function acquireLock(lockDir: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      fs.mkdirSync(lockDir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - fs.statSync(lockDir).mtimeMs > LOCK_STALE_MS) fs.rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // The holder released it between our mkdir and stat: try again.
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  throw new Error(`could not take the build lock ${lockDir} within ${LOCK_WAIT_MS} ms`);
}
