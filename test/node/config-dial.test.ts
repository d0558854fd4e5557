import { describe, expect, it } from 'vitest';

import { nodeId } from '../../raft/index.js';
import { ConfigError, validateConfig } from '../../src/node/config.js';
import { quietNodeConfig } from './node-fixtures.js';

/**
 * --dial may name a node that is not a member yet: a member added later (quorumlog members
 * add) is dialled there from the moment it joins the configuration, so a fault harness can
 * put a proxy on every directed link to it without restarting the members it had.
 */
describe('--dial and the members', () => {
  const withDial = (entries: [string, string][]) => ({ ...quietNodeConfig('/data/n1'), dialAddresses: new Map(entries.map(([id, address]) => [nodeId(id), address])) });

  it('accepts a dial address for a node that is not among --members (a member added later)', () => {
    expect(() => validateConfig(withDial([['n2', '127.0.0.1:9002'], ['n4', '127.0.0.1:9004']]))).not.toThrow();
  });

  it('still refuses a dial address for the node itself, and a bad address', () => {
    expect(() => validateConfig(withDial([['n1', '127.0.0.1:9001']]))).toThrow(ConfigError);
    expect(() => validateConfig(withDial([['n4', 'nowhere']]))).toThrow(/not host:port/);
    expect(() => validateConfig(withDial([['n4!', '127.0.0.1:9004']]))).toThrow(/--dial names "n4!"/);
  });
});
