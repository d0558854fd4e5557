import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { UsageError } from './usage-error.js';

/**
 * `quorumlog jepsen ...` runs the fault-injection harness as its own program. It is not
 * imported: jepsen-style/ drives the cluster from outside, through this CLI and the client
 * library, so src/ must not depend on it.
 */
const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HARNESS = path.join(DIST, 'jepsen-style', 'cli.js');
/** Present in a source checkout; the npm package ships neither the harness nor its sources. */
const HARNESS_SOURCE = path.join(DIST, '..', 'jepsen-style', 'cli.ts');

export function runJepsen(argv: readonly string[]): Promise<number> {
  if (!fs.existsSync(HARNESS)) throw new UsageError(harnessMissing());
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HARNESS, ...argv], { stdio: 'inherit' });
    // Ctrl-C reaches the harness through the terminal's process group and it stops its nodes;
    // we wait for it rather than exit first. SIGTERM is passed on.
    const waitForChild = (): void => undefined;
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.on('SIGINT', waitForChild);
    process.on('SIGTERM', forward);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', waitForChild);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
    });
  });
}

function harnessMissing(): string {
  if (fs.existsSync(HARNESS_SOURCE)) return `the fault-injection harness is not built (${HARNESS}); run npm run build`;
  return 'the fault-injection harness is not part of the npm package; run it from a source checkout of quorumlog (npm run jepsen, see docs/jepsen.md)';
}
