import { EntryKind, type Index, type NodeId, type Status } from '../../raft/index.js';
import type { CommitLog } from '../../storage/index.js';
import { decodeCommand, type GroupDescription, type TopicDescription } from '../broker/index.js';
import type { Replica } from './replica.js';
import type { StorageStatus } from './storage-status.js';
import { PayloadTag, type NodeStateMachine } from './state-machine.js';

/**
 * A read-only look into a running node, for metrics and health checks taken at scrape time.
 * Every method reads state the node keeps anyway; none changes it or waits.
 */
export interface NodeInspection {
  /** The consensus core's view: role, term, leader, indexes, and each follower's progress on a leader. */
  status(): Status;
  /** Calls `listener` whenever the role, term or known leader changes; returns the unsubscribe. */
  onRoleChange(listener: () => void): () => void;
  /** Topics as this node has applied them, by name. */
  topics(): readonly TopicDescription[];
  /** Consumer groups as this node has applied them, by name. */
  groups(): readonly GroupDescription[];
  /** Transactions prepared and not yet committed or rolled back. */
  openTransactions(): number;
  /**
   * The leader's clock (ms since 1970) when the entry holding `offset` of `topic` was
   * proposed, or null when there is no such message here.
   */
  proposedAtMs(topic: string, offset: number): number | null;
  /** Snapshot, log and disk sizes, the disk guard's state, and snapshot and compaction counts since start. */
  storage(): StorageStatus;
  /** Where member `id` serves HTTP, as its record in the replicated member book says (null: not recorded). */
  httpAddressOf(id: NodeId): string | null;
}

export function inspectNode(parts: { readonly replica: Replica; readonly log: CommitLog; readonly stateMachine: NodeStateMachine; readonly status: () => Status; readonly storage: () => StorageStatus }): NodeInspection {
  const broker = (): NodeStateMachine['broker'] => parts.stateMachine.broker;
  return {
    status: parts.status,
    storage: parts.storage,
    onRoleChange: (listener) => parts.replica.onRoleChange(listener),
    topics: () => broker().topics(),
    groups: () => broker().groupList(),
    openTransactions: () => broker().undecidedTransactions().length,
    httpAddressOf: (id) => parts.stateMachine.members.get(id)?.httpAddress ?? null,
    proposedAtMs(topic, offset) {
      const location = broker().locate(topic, offset);
      if (location === undefined || location.logIndex < parts.log.firstIndex()) return null;
      const entry = parts.log.entries(location.logIndex as Index, (location.logIndex + 1) as Index, Number.MAX_SAFE_INTEGER)[0];
      if (entry === undefined || entry.kind !== EntryKind.normal || entry.payload[0] !== PayloadTag.broker) return null;
      return decodeCommand(entry.payload.subarray(1)).leaderTimeMs;
    },
  };
}
