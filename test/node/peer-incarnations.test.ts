import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { nodeId } from '../../raft/index.js';
import { ConfigError } from '../../src/node/index.js';
import { PeerIncarnations } from '../../src/node/peer-incarnations.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-peer-inc-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the incarnations a node first heard its peers from', () => {
  it('keeps the first incarnation heard for each peer, across a restart; forget lets the next one in', () => {
    const dir = tempDir();
    const first = PeerIncarnations.open(dir);
    expect(first.get(nodeId('n2'))).toBeUndefined();
    first.learn(nodeId('n2'), 'A');
    first.learn(nodeId('n2'), 'B');
    first.learn(nodeId('n3'), '');
    expect(first.get(nodeId('n2'))).toBe('A');
    expect(first.get(nodeId('n3')), 'no incarnation is no record').toBeUndefined();
    const again = PeerIncarnations.open(dir);
    expect(again.get(nodeId('n2'))).toBe('A');
    again.forget(nodeId('n2'));
    again.learn(nodeId('n2'), 'C');
    expect(PeerIncarnations.open(dir).get(nodeId('n2'))).toBe('C');
    expect(fs.readdirSync(dir)).toEqual(['peer-incarnations.json']);
  });

  it('a file that is not a record is refused at start, saying what to do', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'peer-incarnations.json'), '{"version":1,"peers":{"n2":7}}');
    expect(() => PeerIncarnations.open(dir)).toThrow(ConfigError);
    expect(() => PeerIncarnations.open(dir)).toThrow(/move it away/);
  });
});
