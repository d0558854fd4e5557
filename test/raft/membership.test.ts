import { describe, expect, it } from 'vitest';
import { ConfigHistory, NO_CONFIGURATION, decodeConfiguration, encodeConfiguration, sameConfiguration } from '../../raft/membership.js';
import { EntryKind, type Configuration, type Entry, type Index, type NodeId, type Term } from '../../raft/index.js';
import { entryAt, logOfTerms } from '../sim/log-builder.js';

const ids = (...names: string[]): NodeId[] => names as NodeId[];
const config = (voters: string[], learners: string[] = []): Configuration => ({ voters: ids(...voters), learners: ids(...learners) });
const configEntry = (at: number, t: number, c: Configuration): Entry => ({ index: at as Index, term: t as Term, kind: EntryKind.config, payload: encodeConfiguration(c) });

describe('config entry payload', () => {
  it('round-trips voters and learners, and refuses a node listed twice', () => {
    const c = config(['n1', 'n2', 'n3'], ['n4']);
    expect(decodeConfiguration(encodeConfiguration(c))).toEqual(c);
    expect(() => encodeConfiguration(config(['n1', 'n2'], ['n2']))).toThrow(/listed twice/);
    const bad = encodeConfiguration(c);
    bad[0] = 9;
    expect(() => decodeConfiguration(bad)).toThrow(/format/);
  });

  it('compares configurations as sets', () => {
    expect(sameConfiguration(config(['a', 'b'], ['c']), config(['b', 'a'], ['c']))).toBe(true);
    expect(sameConfiguration(config(['a', 'b']), config(['a'], ['b']))).toBe(false);
  });
});

describe('ConfigHistory: the configuration is the newest in the log', () => {
  const base = config(['n1', 'n2', 'n3']);
  const withLearner = config(['n1', 'n2', 'n3'], ['n4']);
  const promoted = config(['n1', 'n2', 'n3', 'n4']);

  it('takes effect on append, and a cut suffix reverts to the configuration before it', () => {
    const history = new ConfigHistory({ index: 0 as Index, config: base });
    history.appended([entryAt(1, 1), configEntry(2, 1, withLearner), entryAt(3, 1)]);
    expect(history.current()).toEqual(withLearner);
    expect(history.currentIndex()).toBe(2);
    history.appended([configEntry(4, 1, promoted)]);
    expect(history.current()).toEqual(promoted);
    // A new leader's entries replace index 4 on: the promotion was never committed.
    history.appended([entryAt(4, 2)]);
    expect(history.current()).toEqual(withLearner);
    history.appended([entryAt(2, 3)]);
    expect(history.current()).toBe(base);
    expect(history.currentIndex()).toBe(0);
  });

  it('answers the configuration at an index, restores from a snapshot, and rebases on compaction', () => {
    const history = new ConfigHistory({ index: 0 as Index, config: base });
    history.appended([entryAt(1, 1), configEntry(2, 1, withLearner), entryAt(3, 1), configEntry(4, 1, promoted)]);
    expect([history.at(1 as Index), history.at(3 as Index), history.at(9 as Index)]).toEqual([base, withLearner, promoted]);
    history.compact(3 as Index);
    expect(history.at(2 as Index)).toBeUndefined();
    expect(history.at(3 as Index)).toEqual(withLearner);
    expect(history.current()).toEqual(promoted);
    history.restore({ index: 10 as Index, term: 2 as Term, voters: ids('n1', 'n2'), learners: ids('n5') });
    expect(history.current()).toEqual(config(['n1', 'n2'], ['n5']));
    expect(history.currentIndex()).toBe(10);
  });

  it('is recovered from a durable log at start: entries after the base are read for config entries', () => {
    const log = logOfTerms([1, 1, 1]);
    log.append([configEntry(4, 1, withLearner), entryAt(5, 2)]);
    expect(ConfigHistory.recover(log, { index: 0 as Index, config: base }, 1).current()).toEqual(withLearner);
    // A snapshot at 4 or later already holds that configuration: nothing before it is read.
    expect(ConfigHistory.recover(log, { index: 4 as Index, config: promoted }, 1).current()).toEqual(promoted);
    expect(ConfigHistory.recover(logOfTerms([1, 1]), { index: 0 as Index, config: NO_CONFIGURATION }, 1).current()).toBe(NO_CONFIGURATION);
  });
});
