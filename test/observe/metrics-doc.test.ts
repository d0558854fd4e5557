import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { metricsTable } from '../../src/observe/index.js';
import { REPO_ROOT } from '../harness/build.js';

describe('docs/metrics.md', () => {
  it('is the table the code generates (run npm run docs:metrics after changing a metric)', async () => {
    const written = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
    expect(written).toBe(await metricsTable());
  });
});
