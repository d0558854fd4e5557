import { isMember, isVoter, type ConfChange, type NodeId, type RaftNode } from '../../raft/index.js';
import { LogEvent, type Log } from '../log/index.js';
import { DeadlineExceededError, InvalidArgumentError, MembershipRefusedError, NotFoundError, NotLeaderError, UnavailableError, type MemberChangeInput, type MembershipService, type MembersView } from '../transport/index.js';
import { encodeMemberContext, type MemberRecord } from './member-book.js';
import type { NodeMembership } from './node-membership.js';
import { MembershipBusyError, type Replica } from './replica.js';

/** How often a change the leader cannot make at this moment is asked again. */
const BUSY_RETRY_MS = 50;

export interface NodeMembersServiceOptions {
  readonly raft: RaftNode;
  readonly replica: Replica;
  readonly membership: NodeMembership;
  readonly log: Log;
  /**
   * The election timeout (ms): a voter counts as live if it answered the leader within it.
   * A leader elected a moment ago has heard from no one yet, so a removal refused for quorum
   * is asked again for up to twice this long before the refusal is the answer.
   */
  readonly electionTimeoutMs: number;
}

/**
 * Membership over the client API: members() from this node's configuration, changeMember()
 * on the leader, one single-server change at a time (docs/membership.md). A change the
 * configuration already reflects (a retried add with the same addresses, a promote of a
 * voter) answers at once, so a client may repeat one whose answer it lost.
 */
export class NodeMembersService implements MembershipService {
  constructor(private readonly options: NodeMembersServiceOptions) {}

  members(): MembersView {
    const { raft, replica, membership } = this.options;
    const status = raft.status();
    const leader = replica.leaderRef(status.leader);
    return { members: membership.view(status), leaderId: status.leader, leaderClientAddress: leader?.clientAddress ?? null, configIndex: status.configIndex };
  }

  async changeMember(change: MemberChangeInput, options: { readonly timeoutMs: number }): Promise<MembersView> {
    const { raft, replica, membership } = this.options;
    const status = raft.status();
    if (status.role !== 'leader') throw replica.notLeader();
    const config = status.config;
    switch (change.kind) {
      case 'add': {
        const fields = { id: change.id, peerAddress: change.peerAddress, clientAddress: change.clientAddress, incarnation: change.incarnation };
        const record: MemberRecord = change.httpAddress === null ? fields : { ...fields, httpAddress: change.httpAddress };
        const known = membership.record(change.id);
        if (isMember(config, change.id) && known !== undefined && known.peerAddress === record.peerAddress && known.clientAddress === record.clientAddress) return this.members();
        this.checkAddressesFree(record);
        membership.adds(record);
        await this.change({ kind: 'addLearner', id: change.id, context: encodeMemberContext(record) }, false, options.timeoutMs);
        break;
      }
      case 'promote':
        if (isVoter(config, change.id)) return this.members();
        await this.change({ kind: 'promote', id: change.id }, false, options.timeoutMs);
        break;
      case 'remove':
        if (!isMember(config, change.id)) throw new NotFoundError(`${change.id} is not a member (voters ${config.voters.join(',')}; learners ${config.learners.join(',') || 'none'})`);
        // The leader hands leadership over first, then the new leader removes it (the
        // client follows the redirect): the cluster never waits out an election for it.
        if (change.id === status.id) throw await this.handOver(options.timeoutMs);
        await this.change({ kind: 'remove', id: change.id }, change.force, options.timeoutMs);
        break;
    }
    membership.sync();
    const after = raft.status().config;
    this.options.log.info(`membership change committed: ${describe(change)}; voters ${after.voters.join(',')}, learners ${after.learners.join(',') || 'none'}`, {
      event: LogEvent.membershipChanged,
      change: change.kind,
      peer: change.id,
    });
    return this.members();
  }

  /**
   * Proposes the change, asking again (every BUSY_RETRY_MS, within timeoutMs) while the
   * leader cannot make one at this moment: a leader just elected (one a removed leader handed
   * over to, say) commits an entry of its term first, and the previous change may still be on
   * its way. A removal refused for quorum is asked again for two election timeouts: a new
   * leader's view of who is live fills in as the voters answer it.
   */
  private async change(change: ConfChange, force: boolean, timeoutMs: number): Promise<void> {
    const { replica } = this.options;
    const startMs = replica.scheduler.nowMs();
    const deadlineMs = startMs + timeoutMs;
    // Bounded by the deadline: each round waits BUSY_RETRY_MS.
    for (;;) {
      try {
        await replica.changeMembership(change, { force, timeoutMs: Math.max(1, deadlineMs - replica.scheduler.nowMs()) });
        return;
      } catch (error) {
        const nowMs = replica.scheduler.nowMs();
        const stale = error instanceof MembershipRefusedError && error.reason === 'wouldLoseQuorum' && nowMs < startMs + 2 * this.options.electionTimeoutMs;
        if (!(error instanceof MembershipBusyError || stale) || nowMs + BUSY_RETRY_MS >= deadlineMs) throw error;
      }
      await new Promise<void>((resolve) => replica.scheduler.after(BUSY_RETRY_MS, resolve));
    }
  }

  /** A new member's addresses must not be another member's: two members dialled at one port would be one process. */
  private checkAddressesFree(record: MemberRecord): void {
    for (const other of this.options.membership.view()) {
      if (other.id === record.id) continue;
      for (const address of [record.peerAddress, record.clientAddress]) {
        if (address === other.peerAddress || address === other.clientAddress) {
          throw new InvalidArgumentError(`${address} is already ${other.id}'s address; remove ${other.id} first, or give ${record.id} other addresses`);
        }
      }
    }
  }

  /**
   * Moves leadership to the most caught-up other voter and resolves with the NotLeaderError
   * that sends the client there; DeadlineExceededError when it did not move in time.
   */
  private async handOver(timeoutMs: number): Promise<Error> {
    const { raft, replica } = this.options;
    const status = raft.status();
    let best: { id: NodeId; match: number } | null = null;
    for (const [id, pr] of status.progress ?? []) {
      if (id === status.id || !isVoter(status.config, id)) continue;
      if (best === null || pr.match > best.match) best = { id, match: pr.match };
    }
    if (best === null) return new UnavailableError(`${status.id} is the only voter: it cannot be removed`);
    const to = best.id;
    const result = raft.transferLeadership(to);
    if (!result.accepted) return result.reason === 'notLeader' ? replica.notLeader() : new UnavailableError(`leadership could not be handed to ${to} (${result.reason}); retry`);
    replica.wake();
    return new Promise<Error>((resolve) => {
      const timer = replica.scheduler.after(timeoutMs, () => {
        unsubscribe();
        resolve(new DeadlineExceededError(`leadership did not move to ${to} within ${timeoutMs} ms, so ${status.id} was not removed; retry`));
      });
      const unsubscribe = replica.onRoleChange(() => {
        const leader = raft.status().leader;
        if (leader === null || leader === status.id) return;
        timer.cancel();
        unsubscribe();
        resolve(new NotLeaderError(replica.leaderRef(leader)));
      });
    });
  }
}

function describe(change: MemberChangeInput): string {
  switch (change.kind) {
    case 'add':
      return `added ${change.id} as a learner (peer ${change.peerAddress}, client ${change.clientAddress})`;
    case 'promote':
      return `promoted ${change.id} to voter`;
    case 'remove':
      return `removed ${change.id}${change.force ? ' (forced)' : ''}`;
  }
}
