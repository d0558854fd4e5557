import { isMember, isVoter } from './membership.js';
import type { ConfChange, ConfChangeOptions, ConfChangeRefusal } from './raft-api.js';
import type { Configuration, Index, NodeId } from './types.js';

/** What the leader knows that a change is judged by (its progress view of the members). */
export interface ConfChangeView {
  readonly lastIndex: Index;
  /** The index of the entry the current configuration comes from: a learner to promote must hold it. */
  readonly configIndex: Index;
  /** How far behind the leader's last index a learner may be and still be promoted. */
  readonly learnerCatchUpEntriesMax: number;
  /** The learner's match, and whether it answered within an election timeout; undefined if untracked. */
  learner(id: NodeId): { readonly match: Index; readonly live: boolean } | undefined;
  /** Voters of `config` that answered within an election timeout, the leader included if one. */
  liveVoters(config: Configuration): number;
}

export type ConfChangePlan =
  | { readonly ok: true; readonly config: Configuration }
  | { readonly ok: false; readonly reason: ConfChangeRefusal; readonly detail: string };

const refuse = (reason: ConfChangeRefusal, detail: string): ConfChangePlan => ({ ok: false, reason, detail });

/**
 * The configuration one single-server change leads to from `current`, or why it is refused.
 * Pure: the caller has already checked what depends on the log (leadership, a commit in
 * this term, no other change in flight).
 */
export function planConfChange(current: Configuration, change: ConfChange, view: ConfChangeView, options: ConfChangeOptions): ConfChangePlan {
  const { id } = change;
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((member) => member !== id);
  switch (change.kind) {
    case 'addLearner':
      if (isMember(current, id)) return refuse('alreadyMember', `${id} is already a ${isVoter(current, id) ? 'voter' : 'learner'}`);
      return { ok: true, config: { voters: current.voters, learners: [...current.learners, id] } };
    case 'promote': {
      if (!current.learners.includes(id)) return refuse('notLearner', `${id} is not a learner`);
      const progress = view.learner(id);
      const behindMax = view.learnerCatchUpEntriesMax;
      // It must hold the configuration it is a learner in, or as a voter it would not know the
      // others for voters and would answer none of their campaigns.
      if (progress === undefined || !progress.live || view.lastIndex - progress.match > behindMax || progress.match < view.configIndex) {
        const at = progress === undefined ? 'unknown' : `${progress.match}${progress.live ? '' : ', not heard from lately'}`;
        return refuse('learnerBehind', `${id} holds the log through ${at}; the leader's ends at ${view.lastIndex} (at most ${behindMax} behind, and through the configuration at ${view.configIndex})`);
      }
      return { ok: true, config: { voters: [...current.voters, id], learners: without(current.learners) } };
    }
    case 'remove': {
      if (!isMember(current, id)) return refuse('notMember', `${id} is not a member`);
      if (!isVoter(current, id)) return { ok: true, config: { voters: current.voters, learners: without(current.learners) } };
      const next: Configuration = { voters: without(current.voters), learners: current.learners };
      if (next.voters.length === 0) return refuse('lastVoter', `${id} is the only voter`);
      const live = view.liveVoters(next);
      const quorum = Math.floor(next.voters.length / 2) + 1;
      if (live < quorum && options.force !== true) {
        return refuse('wouldLoseQuorum', `without ${id}, ${live} of ${next.voters.length} voters have answered lately, fewer than the quorum of ${quorum}`);
      }
      return { ok: true, config: next };
    }
  }
}
