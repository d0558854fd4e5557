import type { Status } from '../../raft/index.js';

export interface Readiness {
  readonly ready: boolean;
  /** One line saying why, for the probe's response body. */
  readonly reason: string;
}

/**
 * Ready to serve: past its bootstrap check, in repair-free membership of a cluster with a known leader, and applied
 * to within `appliedLagEntriesMax` entries of the commit index this node knows of (the
 * leader's, as last heard). A follower cut off from its leader loses it at its election
 * timeout and turns unready then.
 */
export function readiness(status: Status, appliedLagEntriesMax: number): Readiness {
  if (status.votingHeld) return { ready: false, reason: 'a new data directory: waiting for the other members to confirm it before this node votes (bootstrap check)' };
  if (status.votingBlocked) return { ready: false, reason: `repairing: the log must be restored through index ${status.repairThrough} before this node votes` };
  if (status.leader === null) return { ready: false, reason: `no known leader (${status.role} in term ${status.term})` };
  const behind = status.commit - status.applied;
  if (behind > appliedLagEntriesMax) return { ready: false, reason: `applied ${status.applied} is ${behind} entries behind commit ${status.commit} (at most ${appliedLagEntriesMax})` };
  return { ready: true, reason: `ready: ${status.role} in term ${status.term}, leader ${status.leader}, applied ${status.applied} of commit ${status.commit}` };
}
