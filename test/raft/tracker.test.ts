import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { Tracker } from '../../raft/tracker.js';
import { index, nodeId, type Index } from '../../raft/types.js';

describe('Tracker.quorumMatch', () => {
  it('is the highest index that a majority of the members hold', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
        const voters = matches.map((_, k) => nodeId(`n${k}`));
        const tracker = new Tracker(voters[0]!, { voters, learners: [] }, 8);
        tracker.startLeading(index(100), index(0));
        for (const [k, match] of matches.entries()) {
          if (match > 0) tracker.get(voters[k]!)!.acknowledge(match as Index);
        }
        // The definition: sorted from highest, the quorum-th value.
        const quorum = Math.floor(matches.length / 2) + 1;
        const expected = [...matches].sort((a, b) => b - a)[quorum - 1];
        expect(tracker.quorumMatch()).toBe(expected);
      }),
    );
  });

  it('is 0 when not leading', () => {
    const voters = [nodeId('a'), nodeId('b'), nodeId('c')];
    expect(new Tracker(voters[0]!, { voters, learners: [] }, 8).quorumMatch()).toBe(0);
  });
});
