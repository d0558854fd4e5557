import { type Index, type NodeId, type RaftNode } from '../../raft/index.js';
import { durableMarkOf, type CommitLog, type FlushPolicy } from '../../storage/index.js';
import type { AppendAcks, AppendOutcome, ClientService, LogRecord, NodeStatusView, ReadOutcome } from '../transport/index.js';
import type { NodeConfig } from './config.js';
import type { NodeMembership } from './node-membership.js';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError, NotLeaderError, OutOfRangeError } from '../transport/index.js';
import { ADMIT_ALL, type WriteAdmission } from './disk-guard.js';
import { NO_PROBE, probedCall, type NodeProbe } from './node-probe.js';
import type { StorageStatus } from './storage-status.js';
import { UNTIL_OF_ACKS, type Replica } from './replica.js';
import { PayloadTag, plainRecord, tagPayloads } from './state-machine.js';

/** Entries one read may pass over without finding a record before it answers (empty, moved on). */
const READ_SCAN_ENTRIES_MAX = 100_000;

/**
 * The client API of one node, over its replica. Reads are served from this node's applied
 * log, so a follower answers reads of everything it has applied; writes go to the leader.
 */
export class NodeService implements ClientService {
  constructor(
    private readonly config: NodeConfig,
    private readonly raft: RaftNode,
    private readonly log: CommitLog,
    private readonly replica: Replica,
    private readonly probe: NodeProbe = NO_PROBE,
    /** What the disk holds, for status (null: not reported), and the disk guard new appends ask first. */
    private readonly storage: { readonly status: () => StorageStatus; readonly admission: WriteAdmission } | null = null,
    /** Who the members are and where (null: --members alone, as a bare test node); this data directory's incarnation. */
    private readonly cluster: { readonly membership: NodeMembership; readonly incarnation: string } | null = null,
  ) {}

  private clientAddressOf(id: NodeId): string | null {
    if (this.cluster !== null) return this.cluster.membership.clientAddressOf(id);
    return this.config.members.find((m) => m.id === id)?.clientAddress ?? null;
  }

  private isMember(id: NodeId): boolean {
    if (this.cluster !== null) return this.cluster.membership.isMember(id);
    return this.config.members.some((m) => m.id === id);
  }

  /**
   * acks 'all' (default): once committed and applied. acks 'leader': once durable in this
   * leader's own log, before replication; a failover before a majority has them loses them.
   */
  append(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number; readonly acks?: AppendAcks }): Promise<AppendOutcome> {
    return probedCall(this.probe, 'append', () => this.appendRecords(payloads, options));
  }

  private async appendRecords(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number; readonly acks?: AppendAcks }): Promise<AppendOutcome> {
    if (payloads.length === 0) throw new InvalidArgumentError('an append needs at least one record');
    for (const [k, payload] of payloads.entries()) {
      if (payload.length > this.config.recordBytesMax) {
        throw new InvalidArgumentError(`record ${k} is ${payload.length} bytes; the largest accepted is ${this.config.recordBytesMax}`);
      }
    }
    (this.storage?.admission ?? ADMIT_ALL).admitNewWrite();
    const until = UNTIL_OF_ACKS[options.acks ?? 'all'];
    const { firstIndex, lastIndex } = await this.replica.append(tagPayloads(PayloadTag.record, payloads), { timeoutMs: options.timeoutMs, until });
    return { firstIndex, lastIndex };
  }

  read(from: Index, bytesMax: number): ReadOutcome {
    if (!Number.isSafeInteger(from) || from < 1) throw new InvalidArgumentError(`read index must be a whole number >= 1, not ${from}`);
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 1) throw new InvalidArgumentError(`bytesMax must be a whole number >= 1, not ${bytesMax}`);
    const firstIndex = this.log.firstIndex();
    if (from < firstIndex) throw new OutOfRangeError(`entries before ${firstIndex} were deleted by retention on this node; the earliest index kept is ${firstIndex}`, firstIndex);
    const appliedIndex = this.raft.status().applied;
    if (from > appliedIndex) return { records: [], nextIndex: from, appliedIndex, firstIndex };
    const records: LogRecord[] = [];
    let next = from;
    // A page of broker entries and no-ops has no record to return: read on, so a small
    // bytesMax still answers with at least one record when one exists. Bounded by the
    // applied index (each page moves `next` on by at least one entry) and by
    // READ_SCAN_ENTRIES_MAX entries skipped, past which the answer is empty with nextIndex moved on.
    for (let scanned = 0; records.length === 0 && next <= appliedIndex && scanned < READ_SCAN_ENTRIES_MAX; ) {
      const entries = this.log.entries(next, (appliedIndex + 1) as Index, bytesMax);
      const last = entries.at(-1);
      if (last === undefined) break;
      for (const entry of entries) {
        // Broker entries and no-ops are skipped; a plain record loses its tag (a view, no copy).
        const payload = plainRecord(entry);
        if (payload !== null) records.push({ index: entry.index, term: entry.term, payload });
      }
      scanned += entries.length;
      next = (last.index + 1) as Index;
    }
    return { records, nextIndex: next, appliedIndex, firstIndex };
  }

  waitForApplied(after: Index, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const check = (): boolean => {
        if (this.raft.status().applied <= after) return false;
        stop();
        resolve();
        return true;
      };
      const onAbort = (): void => {
        stop();
        reject(signal.reason);
      };
      const unsubscribe = this.replica.onApplied(check);
      const stop = (): void => {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  status(): NodeStatusView {
    const st = this.raft.status();
    const followers = [];
    if (st.progress !== null) {
      for (const [id, pr] of st.progress) {
        if (id === st.id) continue;
        followers.push({ id, matchIndex: pr.match, lag: Math.max(0, st.lastIndex - pr.match), state: pr.state, learner: pr.learner });
      }
    }
    return {
      id: st.id,
      clusterId: this.config.clusterId,
      role: st.role,
      term: st.term,
      leaderId: st.leader,
      leaderClientAddress: st.leader === null ? null : this.clientAddressOf(st.leader),
      commitIndex: st.commit,
      appliedIndex: st.applied,
      firstIndex: st.firstIndex,
      lastIndex: st.lastIndex,
      votingBlocked: st.votingBlocked,
      repairThroughIndex: st.repairThrough,
      followers,
      ...flushView(this.config.flush),
      ...storageView(this.storage?.status() ?? null),
      incarnation: this.cluster?.incarnation ?? '',
      voters: st.config.voters,
      learners: st.config.learners,
      ...(this.config.httpAddress === undefined ? {} : { httpAddress: this.config.httpAddress }),
    };
  }

  async transfer(to: NodeId, options: { readonly timeoutMs: number }): Promise<void> {
    if (!this.isMember(to)) throw new NotFoundError(`no member is called ${to}`);
    if (this.raft.status().leader === to) return;
    const result = this.raft.transferLeadership(to);
    if (!result.accepted) {
      if (result.reason === 'notLeader') throw new NotLeaderError(this.replica.leaderRef(this.raft.status().leader));
      if (result.reason === 'isSelf') return;
      throw new NotFoundError(`${to} is not a voter: only a voter can lead (promote a learner first: quorumlog members promote ${to})`);
    }
    this.replica.wake();
    await new Promise<void>((resolve, reject) => {
      const timer = this.replica.scheduler.after(options.timeoutMs, () => {
        unsubscribe();
        reject(new DeadlineExceededError(`leadership did not move to ${to} within ${options.timeoutMs} ms`));
      });
      const unsubscribe = this.replica.onRoleChange(() => {
        if (this.raft.status().leader !== to) return;
        timer.cancel();
        unsubscribe();
        resolve();
      });
    });
  }
}

/** The flush policy as NodeStatusView reports it. */
function flushView(flush: FlushPolicy): Pick<NodeStatusView, 'flush' | 'durableMark' | 'flushIntervalMs'> {
  if (flush.mode === 'async') return { flush: 'async', durableMark: null, flushIntervalMs: flush.intervalMs };
  return { flush: 'sync', durableMark: durableMarkOf(flush), flushIntervalMs: null };
}

/** The snapshot and disk fields of NodeStatusView ("none" without a storage source). */
function storageView(storage: StorageStatus | null): Pick<NodeStatusView, 'snapshotIndex' | 'snapshotAgeSeconds' | 'logBytes' | 'snapshotBytes' | 'disk' | 'diskHighWatermarkPercent' | 'produceRefused'> {
  if (storage === null) return { snapshotIndex: 0 as Index, snapshotAgeSeconds: null, logBytes: 0, snapshotBytes: 0, disk: null, diskHighWatermarkPercent: null, produceRefused: false };
  const disk = storage.disk;
  return {
    snapshotIndex: storage.snapshotIndex,
    snapshotAgeSeconds: storage.snapshotAgeMs === null ? null : storage.snapshotAgeMs / 1000,
    logBytes: storage.logBytes,
    snapshotBytes: storage.snapshotBytes,
    disk: disk === null ? null : { usedBytes: disk.usedBytes, freeBytes: Math.max(0, disk.sizeBytes - disk.usedBytes), sizeBytes: disk.sizeBytes },
    diskHighWatermarkPercent: storage.diskHighWatermarkPercent,
    produceRefused: storage.produceRefused,
  };
}
