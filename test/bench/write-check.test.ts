import { describe, expect, it } from 'vitest';

import { checkAckOrder, checkWrites, type LoggedRecord, type WriteSource } from '../../src/bench/write-check.js';

/** vw-000000 .. vw-000002 acknowledged at 11, 12, 14; vw-000003 unknown; vw-000004 rejected. */
const source: WriteSource = {
  prefix: 'vw',
  acked: [
    { id: 'vw-000000', index: 11, writer: 0 },
    { id: 'vw-000001', index: 12, writer: 0 },
    { id: 'vw-000002', index: 14, writer: 1 },
  ],
  fateOf: (id) => (id === 'vw-000003' ? 'unknown' : id === 'vw-000004' ? 'rejected' : Number(id.slice(3)) < 5 ? 'acked' : 'never sent'),
};
const good: LoggedRecord[] = [
  { index: 10, term: 1, payload: 'an earlier run' },
  { index: 11, term: 1, payload: 'vw-000000' },
  { index: 12, term: 1, payload: 'vw-000001' },
  { index: 13, term: 2, payload: 'vw-000003' },
  { index: 14, term: 2, payload: 'vw-000002' },
  { index: 15, term: 2, payload: 'someone else' },
];
const kinds = (log: readonly LoggedRecord[]): string[] => checkWrites(log, [source], { strangers: 'ignore' }).map((p) => p.kind);

/** quorumlog verify-writes checks a shared log: only its own records count. */
describe('checkWrites with strangers ignored (quorumlog verify-writes)', () => {
  it('accepts every acknowledged record at its index, an unknown one once, and other clients\' records', () => {
    expect(checkWrites(good, [source], { strangers: 'ignore' })).toEqual([]);
    expect(kinds(good.filter((r) => r.payload !== 'vw-000003'))).toEqual([]);
  });

  it('reports a lost, a duplicated, a misplaced and an unexpected record of its own', () => {
    expect(kinds(good.filter((r) => r.payload !== 'vw-000001'))).toEqual(['lost']);
    expect(kinds([...good, { index: 16, term: 2, payload: 'vw-000003' }])).toEqual(['duplicated']);
    expect(kinds(good.map((r) => (r.index === 11 ? { ...r, payload: 'vw-000002' } : r.index === 14 ? { ...r, payload: 'vw-000000' } : r)))).toEqual(['misplaced', 'misplaced']);
    expect(kinds([...good, { index: 16, term: 2, payload: 'vw-000004' }, { index: 17, term: 2, payload: 'vw-000009' }])).toEqual(['unexpected', 'unexpected']);
  });

  it('counts strangers as problems when the caller owns the whole log', () => {
    expect(checkWrites(good, [source], { strangers: 'problem' }).map((p) => p.message)).toEqual([
      '"an earlier run" at 10 is in the log but was never sent',
      '"someone else" at 15 is in the log but was never sent',
    ]);
  });

  it('checkAckOrder reports a writer whose acknowledgements went backwards', () => {
    expect(checkAckOrder([source])).toEqual([]);
    const backwards = { ...source, acked: [...source.acked, { id: 'vw-000005', index: 12, writer: 1 }] };
    expect(checkAckOrder([backwards]).map((p) => p.message)).toEqual(['vw writer 1: acknowledgement 1 has index 12 after 14']);
  });
});
