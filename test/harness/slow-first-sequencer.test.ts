import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './build.js';
import { SLOW_FIRST } from './slow-first-sequencer.js';

describe('SLOW_FIRST', () => {
  // A renamed or removed file would drop out of the order without a word: the list names
  // only test files npm test runs, each once.
  it('names existing test files that npm test runs, each once', () => {
    const missing = SLOW_FIRST.filter((file) => !fs.existsSync(path.join(REPO_ROOT, file)));
    expect(missing).toEqual([]);
    expect(SLOW_FIRST.filter((file) => !file.endsWith('.test.ts') || file.endsWith('.long.test.ts'))).toEqual([]);
    expect(new Set(SLOW_FIRST).size).toBe(SLOW_FIRST.length);
  });
});
