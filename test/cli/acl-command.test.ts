/**
 * `quorumlog acl` flags: exactly one resource selector, known operations, a principal;
 * each mistake is a UsageError (exit 2, one line) before anything is sent. And
 * --super-users on a node.
 */
import { describe, expect, it } from 'vitest';

import { ruleFrom, runAclCommand } from '../../src/cli/acl-command.js';
import { nodeArgsFrom } from '../../src/cli/node-command.js';
import { UsageError } from '../../src/cli/usage-error.js';

describe('quorumlog acl: the rule from the flags', () => {
  it('each selector makes its kind and pattern; operations come out once each, in order', () => {
    expect(ruleFrom({ principal: 'bob', topic: 'orders', operations: 'consume,produce,consume' })).toEqual({ principal: 'bob', resource: { kind: 'topic', pattern: 'orders' }, operations: ['produce', 'consume'] });
    expect(ruleFrom({ principal: 'bob', 'topic-prefix': 'orders.', operations: 'admin' }).resource).toEqual({ kind: 'topic', pattern: 'orders.*' });
    expect(ruleFrom({ principal: '*', group: 'g1', operations: 'consume' })).toEqual({ principal: '*', resource: { kind: 'group', pattern: 'g1' }, operations: ['consume'] });
    expect(ruleFrom({ principal: 'bob', 'group-prefix': 'g-', operations: 'consume' }).resource).toEqual({ kind: 'group', pattern: 'g-*' });
    expect(ruleFrom({ principal: 'bob', 'topic-prefix': '', operations: 'consume' }).resource).toEqual({ kind: 'topic', pattern: '*' });
  });

  it('a missing principal, no or two selectors, a * in a name, or an unknown operation is a usage error', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ topic: 'orders', operations: 'produce' }, /--principal U is required/],
      [{ principal: 'bob', operations: 'produce' }, /exactly one of --topic/],
      [{ principal: 'bob', topic: 'a', group: 'b', operations: 'produce' }, /exactly one of --topic/],
      [{ principal: 'bob', topic: 'a*', operations: 'produce' }, /without '\*'/],
      [{ principal: 'bob', group: '', operations: 'produce' }, /without '\*'/],
      [{ principal: 'bob', topic: 'a' }, /--operations is required/],
      [{ principal: 'bob', topic: 'a', operations: 'produce,write' }, /unknown operation "write"/],
    ];
    for (const [flags, message] of cases) {
      expect(() => ruleFrom(flags), JSON.stringify(flags)).toThrow(UsageError);
      expect(() => ruleFrom(flags), JSON.stringify(flags)).toThrow(message);
    }
  });

  it('an unknown action is a usage error before anything is sent', async () => {
    await expect(runAclCommand(['grant', '--brokers', '127.0.0.1:1'])).rejects.toThrow(/acl needs an action: add, remove or list/);
    await expect(runAclCommand(['list', 'extra', '--brokers', '127.0.0.1:1'])).rejects.toThrow(UsageError);
  });
});

describe('quorumlog node --super-users', () => {
  it('takes names separated by commas; an empty name or "*" is a usage error', () => {
    const superUsers = (argv: string[]): readonly string[] | undefined => {
      const args = nodeArgsFrom(['--id', 'n1', ...argv]);
      if (args === 'help') throw new Error('help');
      return args.config.superUsers;
    };
    expect(superUsers(['--super-users', 'alice, ops-client'])).toEqual(['alice', 'ops-client']);
    expect(superUsers([])).toBeUndefined();
    expect(() => nodeArgsFrom(['--id', 'n1', '--super-users', 'alice,,bob'])).toThrow(UsageError);
    expect(() => nodeArgsFrom(['--id', 'n1', '--super-users', '*'])).toThrow(/none "\*"/);
  });
});
