import type { NodeId, RaftNode } from '../../raft/index.js';
import type { Log } from '../log/index.js';
import { LogEvent } from '../log/index.js';
import type { MemberBook } from './member-book.js';
import type { NodeMembership } from './node-membership.js';
import type { Replica } from './replica.js';
import { memberEntryPayload } from './state-machine.js';

export interface IncarnationRecorderOptions {
  readonly raft: RaftNode;
  readonly replica: Replica;
  readonly membership: NodeMembership;
  readonly book: () => MemberBook;
  /** The incarnation of the process whose peer stream speaks for `peer` now (null: none open). */
  readonly peerIncarnation: (peer: NodeId) => string | null;
  /** This node's own data directory incarnation. */
  readonly selfIncarnation: string;
  readonly log: Log;
  /** How long one record waits for its commit. */
  readonly timeoutMs: number;
}

/**
 * On the leader: records each member's data directory incarnation in the replicated member
 * book the first time it is heard from (the members a cluster was bootstrapped with are in
 * no config entry; members added since carry theirs from members add). From then on, every
 * node refuses that id from another data directory (peer-listener.ts). One record in flight
 * at a time; asked every tick, cheap when every member has one.
 */
export class IncarnationRecorder {
  private inFlight = false;

  constructor(private readonly options: IncarnationRecorderOptions) {}

  tick(): void {
    if (this.inFlight) return;
    const { raft, membership, book } = this.options;
    const status = raft.status();
    if (status.role !== 'leader') return;
    for (const id of [...status.config.voters, ...status.config.learners]) {
      if ((book().get(id)?.incarnation ?? '') !== '') continue;
      const incarnation = id === status.id ? this.options.selfIncarnation : this.options.peerIncarnation(id);
      const record = membership.record(id);
      if (incarnation === null || incarnation === '' || record === undefined) continue;
      this.propose({ ...record, incarnation });
      return;
    }
  }

  private propose(record: { id: NodeId; peerAddress: string; clientAddress: string; incarnation: string }): void {
    this.inFlight = true;
    this.options.replica
      .append([memberEntryPayload(record)], { timeoutMs: this.options.timeoutMs, until: 'applied' })
      .then(
        () => this.options.log.info(`recorded ${record.id}'s data directory incarnation ${record.incarnation}`, { event: LogEvent.membershipChanged, peer: record.id }),
        // Not the leader any more, or it did not commit in time: the next leader, or the next tick, asks again.
        () => undefined,
      )
      .finally(() => {
        this.inFlight = false;
      });
  }
}
