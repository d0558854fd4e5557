import { RaftNode, type Index, type RaftOptions, type Term } from '../../raft/index.js';

/**
 * Planted core bugs: each a classic Raft mistake, put in from the test side only, as a
 * RaftNode subclass that NodeCluster runs inside the production node (its `createRaft`
 * option). Driver and broker bugs are planted into src/node itself (planted-node-bugs*.ts).
 */
export type CreateRaft = (options: RaftOptions) => RaftNode;

/** Grants votes without the election restriction (§5.4.1): a stale log can win. */
class VotesForAnyLog extends RaftNode {
  protected override logIsUpToDate(_candidateLastIndex: Index, _candidateLastTerm: Term): boolean {
    return true;
  }
}

/** Commits any entry a quorum holds, including an old term's (figure 8). */
class CommitsOldTermsByCounting extends RaftNode {
  protected override mayCommitByCounting(_at: Index): boolean {
    return true;
  }
}

export const votesForAnyLog: CreateRaft = (options) => new VotesForAnyLog(options);
export const commitsOldTermsByCounting: CreateRaft = (options) => new CommitsOldTermsByCounting(options);
