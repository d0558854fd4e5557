import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { onTestFinished } from 'vitest';

/** A fresh directory under the OS temp dir for the running test, removed when the test finishes (passed or failed). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
