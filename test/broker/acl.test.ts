import { describe, expect, it } from 'vitest';

import {
  ACL_LIMITS,
  aclPatternMatches,
  aclRuleProblem,
  AclTable,
  BROKER_SNAPSHOT_FORMAT,
  BrokerSnapshotError,
  BrokerState,
  decodeBrokerSnapshot,
  decodeCommand,
  encodeBrokerSnapshot,
  encodeCommand,
  MalformedCommandError,
  type AclRule,
  type BrokerCommand,
} from '../../src/broker/index.js';
import { BinaryReader } from '../../src/encoding/index.js';

const rule = (principal: string, kind: 'topic' | 'group', pattern: string, ...operations: AclRule['operations']): AclRule => ({ principal, resource: { kind, pattern }, operations });

describe('ACL matching', () => {
  it('an exact pattern names one name; a prefix every name that starts with it; "*" every name', () => {
    expect(aclPatternMatches('orders', 'orders')).toBe(true);
    expect(aclPatternMatches('orders', 'orders2')).toBe(false);
    expect(aclPatternMatches('orders*', 'orders')).toBe(true);
    expect(aclPatternMatches('orders*', 'orders.eu')).toBe(true);
    expect(aclPatternMatches('orders*', 'order')).toBe(false);
    expect(aclPatternMatches('*', 'anything')).toBe(true);
  });

  it('grants only the operations named, on the kind named, to the principal named', () => {
    const table = new AclTable();
    table.add(rule('alice', 'topic', 'orders*', 'produce'));
    expect(table.allows('alice', { operation: 'produce', kind: 'topic', name: 'orders.eu' })).toBe(true);
    expect(table.allows('alice', { operation: 'consume', kind: 'topic', name: 'orders.eu' })).toBe(false);
    expect(table.allows('alice', { operation: 'admin', kind: 'topic', name: 'orders.eu' })).toBe(false);
    expect(table.allows('alice', { operation: 'produce', kind: 'group', name: 'orders.eu' })).toBe(false);
    expect(table.allows('alice', { operation: 'produce', kind: 'topic', name: 'payments' })).toBe(false);
    expect(table.allows('bob', { operation: 'produce', kind: 'topic', name: 'orders.eu' })).toBe(false);
  });

  it('each operation is granted on its own', () => {
    for (const op of ['produce', 'consume', 'admin'] as const) {
      const table = new AclTable();
      table.add(rule('bob', 'group', 'g1', op));
      for (const other of ['produce', 'consume', 'admin'] as const) {
        expect(table.allows('bob', { operation: other, kind: 'group', name: 'g1' }), `${op} granted, ${other} asked`).toBe(other === op);
      }
    }
  });

  it('a rule for "*" grants every principal; nothing else does', () => {
    const table = new AclTable();
    table.add(rule('*', 'topic', 'public', 'consume'));
    expect(table.allows('carol', { operation: 'consume', kind: 'topic', name: 'public' })).toBe(true);
    expect(table.allows('carol', { operation: 'produce', kind: 'topic', name: 'public' })).toBe(false);
    expect(new AclTable().allows('carol', { operation: 'consume', kind: 'topic', name: 'public' })).toBe(false);
  });

  it('adding merges operations into the rule of the same key; removing takes them away and drops an empty rule', () => {
    const table = new AclTable();
    expect(table.add(rule('alice', 'topic', 't', 'produce'))).toBe(true);
    expect(table.add(rule('alice', 'topic', 't', 'produce'))).toBe(false);
    expect(table.add(rule('alice', 'topic', 't', 'admin', 'consume'))).toBe(true);
    expect(table.list()).toEqual([rule('alice', 'topic', 't', 'produce', 'consume', 'admin')]);
    expect(table.remove(rule('alice', 'topic', 't', 'produce'))).toBe(true);
    expect(table.allows('alice', { operation: 'produce', kind: 'topic', name: 't' })).toBe(false);
    expect(table.remove(rule('alice', 'topic', 't', 'consume', 'admin'))).toBe(true);
    expect(table.list()).toEqual([]);
    expect(table.remove(rule('alice', 'topic', 't', 'consume'))).toBe(false);
  });

  it('refuses rules that cannot be rules', () => {
    expect(aclRuleProblem(rule('alice', 'topic', 'a*b', 'produce'))).toMatch(/only at its end/);
    expect(aclRuleProblem(rule('', 'topic', 't', 'produce'))).toMatch(/principal/);
    expect(aclRuleProblem(rule('bob\nalice', 'topic', 't', 'produce'))).toMatch(/principal/);
    expect(aclRuleProblem(rule('bob', 'group', 'g\u007f', 'produce'))).toMatch(/pattern/);
    expect(aclRuleProblem(rule('alice', 'topic', '', 'produce'))).toMatch(/pattern/);
    expect(aclRuleProblem(rule('alice', 'topic', 't'))).toMatch(/at least one operation/);
    expect(aclRuleProblem(rule('alice', 'topic', 't', 'produce', 'produce'))).toMatch(/twice/);
    expect(aclRuleProblem(rule('alice', 'topic', 't', 'produce'))).toBeNull();
  });

  it('a full table refuses a new rule but still takes operations into an existing one', () => {
    const table = new AclTable();
    let added = 0;
    for (let k = 0; k < ACL_LIMITS.rulesMax; k++) if (table.add(rule(`u${k}`, 'topic', 't', 'produce')) === true) added++;
    expect(added).toBe(ACL_LIMITS.rulesMax);
    expect(table.add(rule('late', 'topic', 't', 'produce'))).toBe('full');
    expect(table.add(rule('u0', 'topic', 't', 'consume'))).toBe(true);
  });
});

describe('ACL commands in the state machine', () => {
  it('aclAdd and aclRemove encode, decode and apply; the state answers by them', () => {
    const state = new BrokerState();
    const add: BrokerCommand = { kind: 'aclAdd', rule: rule('alice', 'topic', 'orders*', 'produce', 'consume') };
    const decoded = decodeCommand(encodeCommand({ leaderTimeMs: 5, command: add }));
    expect(decoded.command).toEqual(add);
    expect(state.apply(1, 5, decoded.command)).toEqual({ kind: 'aclAdded', changed: true });
    expect(state.aclAllows('alice', { operation: 'consume', kind: 'topic', name: 'orders.eu' })).toBe(true);
    const remove: BrokerCommand = { kind: 'aclRemove', rule: rule('alice', 'topic', 'orders*', 'consume') };
    expect(state.apply(2, 6, decodeCommand(encodeCommand({ leaderTimeMs: 6, command: remove })).command)).toEqual({ kind: 'aclRemoved', changed: true });
    expect(state.aclAllows('alice', { operation: 'consume', kind: 'topic', name: 'orders.eu' })).toBe(false);
    expect(state.aclAllows('alice', { operation: 'produce', kind: 'topic', name: 'orders.eu' })).toBe(true);
  });

  it('an invalid rule in an entry is refused alike on every replica (invalidArgument), changing nothing', () => {
    const state = new BrokerState();
    const result = state.apply(1, 1, { kind: 'aclAdd', rule: rule('alice', 'topic', 'a*b', 'produce') });
    expect(result.kind).toBe('rejected');
    expect(state.aclRules()).toEqual([]);
  });

  it('a command with an unknown resource kind does not decode', () => {
    const bytes = encodeCommand({ leaderTimeMs: 1, command: { kind: 'aclAdd', rule: rule('a', 'topic', 't', 'produce') } });
    // version u8, kind u8, time u53 (8), principal (u32 length + 1 byte), then the resource kind.
    const damaged = Uint8Array.from(bytes);
    damaged[2 + 8 + 4 + 1] = 9;
    expect(() => decodeCommand(damaged)).toThrow(MalformedCommandError);
  });
});

describe('ACLs in broker snapshots', () => {
  function stateWithRules(): BrokerState {
    const state = new BrokerState();
    state.apply(1, 1, { kind: 'createTopic', name: 'orders', messageBytesMax: 1024 });
    state.apply(2, 2, { kind: 'aclAdd', rule: rule('alice', 'topic', 'orders*', 'produce') });
    state.apply(3, 3, { kind: 'aclAdd', rule: rule('*', 'group', 'g', 'consume', 'admin') });
    return state;
  }

  it('round-trip: the rules, in their order, and what they allow', () => {
    const state = stateWithRules();
    const bytes = encodeBrokerSnapshot(state);
    expect(new BinaryReader(bytes).u32()).toBe(BROKER_SNAPSHOT_FORMAT);
    const back = decodeBrokerSnapshot(bytes);
    expect(back.aclRules()).toEqual(state.aclRules());
    expect(back.aclAllows('bob', { operation: 'admin', kind: 'group', name: 'g' })).toBe(true);
    expect(back.aclAllows('bob', { operation: 'produce', kind: 'topic', name: 'orders' })).toBe(false);
  });

  it('a format 2 snapshot (before ACLs) reads as a state with no rules', () => {
    const state = new BrokerState();
    state.apply(1, 1, { kind: 'createTopic', name: 'orders', messageBytesMax: 1024 });
    const bytes = encodeBrokerSnapshot(state);
    // Format 2 is format 3 without the trailing ACL section (here its count, 0).
    const format2 = Uint8Array.from(bytes.subarray(0, bytes.length - 4));
    new DataView(format2.buffer).setUint32(0, 2, true);
    const back = decodeBrokerSnapshot(format2);
    expect(back.aclRules()).toEqual([]);
    expect(back.topic('orders')?.name).toBe('orders');
  });

  it('a rule twice, or a damaged rule, is a BrokerSnapshotError', () => {
    const bytes = encodeBrokerSnapshot(stateWithRules());
    const damaged = Uint8Array.from(bytes);
    // The last rule's operations mask is the last byte.
    damaged[damaged.length - 1] = 0;
    expect(() => decodeBrokerSnapshot(damaged)).toThrow(BrokerSnapshotError);
  });
});
