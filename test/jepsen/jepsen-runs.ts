import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { RUN_DEFAULTS, runJepsen, type RunOptions, type RunResult } from '../../jepsen-style/run.js';
import { ensureBuilt } from '../harness/build.js';

/** What runs.test.ts and runs.long.test.ts share: one run folder root per file, a run with the tests' defaults, verdicts. */
export interface JepsenRuns {
  run(name: string, options: Partial<RunOptions> & Pick<RunOptions, 'seed' | 'timeS' | 'nemeses'>): Promise<RunResult & { lines: string[] }>;
}

/** Registers the file's build and its run root (removed at the end when no failed run was kept there). */
export function useJepsenRuns(): JepsenRuns {
  const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-jepsen-'));
  beforeAll(async () => {
    await ensureBuilt();
  }, 120_000);
  afterAll(() => {
    // Only kept (failed) run folders remain; an empty root goes.
    if (fs.readdirSync(ROOT).length === 0) fs.rmSync(ROOT, { recursive: true, force: true });
  });
  return {
    async run(name, options) {
      const lines: string[] = [];
      const result = await runJepsen({
        ...RUN_DEFAULTS,
        variants: null,
        idempotence: true,
        flush: { mode: 'sync' },
        powerLoss: false,
        runsDir: ROOT,
        runName: name,
        rate: 150,
        log: (line) => lines.push(line),
        ...options,
      });
      console.log(`[jepsen] ${name}: seed ${result.seed}, ${result.valid ? 'valid' : 'INVALID'}; ${lines.filter((l) => /^(PASS|FAIL)/.test(l)).map((l) => l.split(' ').slice(0, 2).join(' ')).join('; ')}`);
      return { ...result, lines };
    },
  };
}

export function verdict(result: RunResult, name: string): boolean {
  const checker = result.checkers.find((c) => c.name === name);
  if (checker === undefined) throw new Error(`no checker ${name}`);
  return checker.valid;
}

/** Keeps the folder of a failed run (and says where); removes a passing one. */
export function keepOnFailure(result: RunResult & { lines: string[] }, ok: boolean): void {
  if (ok) fs.rmSync(result.runDir, { recursive: true, force: true });
  else console.log(`[jepsen] kept ${result.runDir} (seed ${result.seed})\n${result.lines.join('\n')}`);
}
