import { describe, expect, it } from 'vitest';
import { RaftInvariantError, type NodeId } from '../../raft/index.js';
import { DirectNode, msg } from '../sim/direct-node.js';
import { hardState, logOfTerms } from '../sim/log-builder.js';

const [n1, n2, n3] = ['n1', 'n2', 'n3'] as [NodeId, NodeId, NodeId];

describe('a leader that disagrees with a committed entry', () => {
  // Only possible when committed entries were lost (async flush and a majority power
  // failure, or a disk that lied). The follower must stop, not answer "I match" and stall.
  it('stops the follower loudly instead of claiming a match it does not have', () => {
    const follower = new DirectNode(n2, { voters: [n1, n2, n3], log: logOfTerms([1, 1, 2, 2, 2]), hardState: hardState(3, null, 5) });
    // Our entry 3 has term 2; this leader says term 1 there, below our commit index 5.
    expect(() => follower.step(msg.append(n1, n2, 3, 3, 1, [], 5))).toThrow(RaftInvariantError);
  });

  it('answers an append below its commit index with success when the terms agree', () => {
    const follower = new DirectNode(n2, { voters: [n1, n2, n3], log: logOfTerms([1, 1, 2, 2, 2]), hardState: hardState(3, null, 5) });
    const replies = follower.step(msg.append(n1, n2, 3, 3, 2, [], 5));
    expect(replies).toEqual([expect.objectContaining({ type: 'appendResp', success: true, index: 5 })]);
  });
});
