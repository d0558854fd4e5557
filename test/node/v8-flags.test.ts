import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { NODE_V8_FLAGS } from '../../src/node/v8-flags.js';
import { CLI_PATH, ensureBuilt } from '../harness/index.js';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('node V8 flags', () => {
  it('the quorumlog command starts with the same flags as the nodes the CLI spawns', () => {
    const shebang = fs.readFileSync(path.join(REPO, 'src', 'cli', 'main.ts'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_V8_FLAGS.join(' ')}`);
  });

  it('are flags this Node accepts', () => {
    const run = spawnSync(process.execPath, [...NODE_V8_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('the built command runs by its shebang line, as npx quorumlog runs it', async () => {
    await ensureBuilt();
    const run = spawnSync(CLI_PATH, ['--help'], { encoding: 'utf8' });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: quorumlog <command>/);
  });
});
