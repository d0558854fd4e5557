import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/node/config.js';
import { claimDataDir, DATA_FORMAT } from '../../src/node/data-dir.js';

describe('a data directory names its owner and its format', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-datadir-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is claimed on first use and accepted again by the same node', () => {
    const first = claimDataDir(dir, 'c1', 'n1');
    expect(first).toMatchObject({ clusterId: 'c1', nodeId: 'n1', format: DATA_FORMAT });
    expect(claimDataDir(dir, 'c1', 'n1')).toEqual(first);
    expect(fs.readdirSync(dir)).toEqual(['identity.json']);
  });

  it('is refused to another node or another cluster, in one line', () => {
    claimDataDir(dir, 'c1', 'n1');
    expect(() => claimDataDir(dir, 'c1', 'n2')).toThrow(new ConfigError(`data directory ${dir} belongs to node n1 of cluster c1, not node n2 of cluster c1`));
    expect(() => claimDataDir(dir, 'c2', 'n1')).toThrow(/belongs to node n1 of cluster c1/);
  });

  it('is refused when written in another log format (or before formats were recorded), never misread', () => {
    fs.writeFileSync(path.join(dir, 'identity.json'), JSON.stringify({ clusterId: 'c1', nodeId: 'n1', incarnation: 'x' }));
    expect(() => claimDataDir(dir, 'c1', 'n1')).toThrow(/holds log format 0; this build reads format 1/);
  });

  it('is refused when the identity record is not one', () => {
    fs.writeFileSync(path.join(dir, 'identity.json'), 'hello');
    expect(() => claimDataDir(dir, 'c1', 'n1')).toThrow(ConfigError);
  });
});
