import type { Index, Message, NodeId } from '../../raft/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import type { DurableView } from './durable-view.js';
import { Invariant, type SafetyChecker } from './invariants.js';

/** One simulated node as these checks read it. */
export interface DiskHolder {
  readonly id: NodeId;
  /** Its disk, read as a crash now would leave it. */
  readonly durable: DurableView;
  /** Its disk lost data to damage and it has not been seen repaired since. */
  readonly damaged: boolean;
  /** Disks it has had before this one (wiped): 0 for its first. */
  readonly generation: number;
  /** The running process, or null while down. */
  readonly node: AssembledNode | null;
}

export interface DiskHolders {
  all(): Iterable<DiskHolder>;
  get(id: NodeId): DiskHolder;
}

/**
 * The node's durability promises, held against the disks as they are made (NodeCluster runs
 * them unless told not to): what the disks hold is read through DurableView, never asked of
 * the process that made the promise.
 */
export class DurabilityChecks {
  constructor(
    private readonly checker: SafetyChecker,
    private readonly holders: DiskHolders,
  ) {}

  /**
   * The counting half: every entry a leader newly reports committed is durable on a majority
   * of the disks of `voters` (the leader's configuration, the newest in its log: what it
   * counts, across a membership change). A damaged node counts, and so does a wiped one
   * still a voter: its acknowledgement may predate the loss, and only one node at a time is
   * damaged or wiped (that a wiped disk's own acknowledgements never count is
   * wipedDiskCounted's to check).
   */
  commit(leader: NodeId, node: AssembledNode, commit: Index, voters: readonly NodeId[]): void {
    const size = voters.length;
    const majority = Math.floor(size / 2) + 1;
    for (let at = (this.checker.maxCommitted + 1) as Index; at <= commit; at++) {
      const term = node.log.term(at);
      if (term === undefined) continue; // SafetyChecker.leaderCommitted reports it
      let held = 0;
      for (const id of voters) {
        const holder = this.holders.get(id);
        if (holder.damaged || holder.generation > 0 || holder.durable.term(at) === term) held++;
      }
      if (held < majority) {
        this.checker.violation(Invariant.durableBeforeAck, `${leader} reports ${at} committed while only ${held} of ${size} disks hold it durably`);
      }
    }
  }

  /**
   * The sending half, held against the sender's disk: an append acknowledgement leaves only
   * once the entries it acknowledges are durable there, and are the entries the node holds
   * and the leader it answers holds; a granted vote only once the vote (or a later term) is.
   */
  sent(message: Message): void {
    const sender = this.holders.get(message.from);
    // An index at or below the durable compaction point is covered by a snapshot made durable first.
    if (message.type === 'appendResp' && message.success && message.index > sender.durable.compacted().index) {
      const durableTerm = sender.durable.term(message.index);
      const heldTerm = sender.node?.log.term(message.index);
      if (durableTerm === undefined || (heldTerm !== undefined && heldTerm !== durableTerm)) {
        this.checker.violation(
          Invariant.durableBeforeAck,
          `${message.from} acknowledged index ${message.index} to ${message.to} before it was durable (durable term there ${String(durableTerm)}, held ${String(heldTerm)})`,
        );
      }
      const leader = this.holders.get(message.to).node;
      const leaderStatus = leader?.raft.status();
      const leaderTerm = leader?.log.term(message.index);
      if (leaderStatus?.role === 'leader' && leaderStatus.term === message.term && leaderTerm !== undefined && leaderTerm !== durableTerm) {
        this.checker.violation(
          Invariant.durableBeforeAck,
          `${message.from} acknowledged index ${message.index} to ${message.to} (leader of term ${message.term}, entry term ${leaderTerm}) but durably holds term ${String(durableTerm)} there`,
        );
      }
    }
    if (message.type === 'voteResp' && message.granted) {
      // Durable proof it will not vote for another in that term: the vote itself, or a later term.
      const hs = sender.durable.hardState();
      if (hs.term < message.term || (hs.term === message.term && hs.vote !== message.to)) {
        this.checker.violation(
          Invariant.durableBeforeAck,
          `${message.from} granted ${message.to} its vote in term ${message.term} before persisting it (durable term ${hs.term} vote ${String(hs.vote)})`,
        );
      }
    }
  }
}
