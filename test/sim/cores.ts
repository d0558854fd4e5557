import { RaftNode, type Configuration, type Index, type NodeId, type RaftOptions, type Term } from '../../raft/index.js';

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

/**
 * The original single-server change algorithm: a leader changes the configuration before it
 * has committed an entry of its term, so its change can overlap an uncommitted one of a
 * previous leader that its log lacks, into two configurations without a common majority.
 */
class ChangesConfigBeforeOwnTermCommit extends RaftNode {
  protected override mayChangeConfiguration(): boolean {
    return true;
  }
}

/**
 * A new node takes itself for a one-voter cluster while it holds no configuration (a joiner
 * that bootstraps, like a member started with "new cluster" flags): it votes for itself, and
 * leads, before it has a log.
 */
class NewNodeVotesBeforeItHasALog extends RaftNode {
  protected override startingConfiguration(bootstrapVoters: readonly NodeId[]): Configuration {
    return bootstrapVoters.length === 0 ? { voters: [this.id], learners: [] } : super.startingConfiguration(bootstrapVoters);
  }
}

export const changesConfigBeforeOwnTermCommit: CreateRaft = (options) => new ChangesConfigBeforeOwnTermCommit(options);
export const newNodeVotesBeforeItHasALog: CreateRaft = (options) => new NewNodeVotesBeforeItHasALog(options);
