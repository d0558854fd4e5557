import type { Gauge } from 'prom-client';

import { Role, type Status } from '../../raft/index.js';
import type { NodeInspection, StorageStatus } from '../node/index.js';
import { BoundedLabels } from './bounded-labels.js';
import type { DataDirSize } from './data-dir-size.js';
import type { DiskStatsCache } from './disk-stats.js';
import type { ProposalTimes } from './proposal-times.js';

/** The gauges read from the node at scrape time. */
export interface ScrapeGauges {
  readonly role: Gauge;
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly lastIndex: Gauge;
  readonly leaderKnown: Gauge;
  readonly votingBlocked: Gauge;
  readonly matchIndex: Gauge;
  readonly lagEntries: Gauge;
  readonly lagSeconds: Gauge;
  readonly topicMessages: Gauge;
  readonly delayedPending: Gauge;
  readonly groupLag: Gauge;
  readonly groupInflight: Gauge;
  readonly groupOldestAge: Gauge;
  readonly groupDeadLettered: Gauge;
  readonly transactionsOpen: Gauge;
  readonly diskFree: Gauge;
  readonly diskSize: Gauge;
  readonly dataDirBytes: Gauge;
  readonly snapshotIndex: Gauge;
  readonly snapshotAge: Gauge;
  readonly logFirstIndex: Gauge;
  readonly diskGuardRefusing: Gauge;
}

const ROLES = Object.values(Role);

export function collectRaftGauges(g: ScrapeGauges, st: Status, proposals: ProposalTimes, nowMs: number): void {
  for (const role of ROLES) g.role.set({ role }, role === st.role ? 1 : 0);
  g.term.set(st.term);
  g.commitIndex.set(st.commit);
  g.appliedIndex.set(st.applied);
  g.lastIndex.set(st.lastIndex);
  g.leaderKnown.set(st.leader === null ? 0 : 1);
  g.votingBlocked.set(st.votingBlocked ? 1 : 0);
  // Followers' series exist only on the leader; a node that stopped leading drops them.
  g.matchIndex.reset();
  g.lagEntries.reset();
  g.lagSeconds.reset();
  if (st.progress === null) return;
  for (const [id, pr] of st.progress) {
    if (id === st.id) continue;
    const follower = { follower: id };
    g.matchIndex.set(follower, pr.match);
    g.lagEntries.set(follower, Math.max(0, st.lastIndex - pr.match));
    g.lagSeconds.set(follower, proposals.lagSeconds(pr.match, st.lastIndex, nowMs));
  }
}

/**
 * Topic and group gauges, first `topicsMax` topics and `groupsMax` groups by name with a
 * series each, the rest folded into one OTHER series (summed; the largest for an age).
 */
export function collectBrokerGauges(g: ScrapeGauges, node: NodeInspection, limits: { readonly topicsMax: number; readonly groupsMax: number; readonly nowMs: number }): void {
  const topics = node.topics();
  const ends = new Map(topics.map((t) => [t.name, t.nextOffset]));
  g.topicMessages.reset();
  g.delayedPending.reset();
  for (const [k, topic] of topics.entries()) {
    const label = { topic: k < limits.topicsMax ? topic.name : BoundedLabels.OTHER };
    g.topicMessages.inc(label, topic.nextOffset);
    g.delayedPending.inc(label, topic.scheduledMessages);
  }
  const byLabel = new Map<string, { lag: number; inflight: number; dead: number; ageSeconds: number }>();
  for (const [k, group] of node.groups().entries()) {
    const label = k < limits.groupsMax ? group.name : BoundedLabels.OTHER;
    const proposedAtMs = group.lag > 0 ? node.proposedAtMs(group.topic, group.committedOffset) : null;
    const ageSeconds = proposedAtMs === null ? 0 : Math.max(0, (limits.nowMs - proposedAtMs) / 1000);
    const sums = byLabel.get(label) ?? { lag: 0, inflight: 0, dead: 0, ageSeconds: 0 };
    sums.lag += group.lag;
    sums.inflight += group.inflight;
    sums.dead += ends.get(group.deadLetterTopic) ?? 0;
    sums.ageSeconds = Math.max(sums.ageSeconds, ageSeconds);
    byLabel.set(label, sums);
  }
  for (const gauge of [g.groupLag, g.groupInflight, g.groupOldestAge, g.groupDeadLettered]) gauge.reset();
  for (const [group, sums] of byLabel) {
    g.groupLag.set({ group }, sums.lag);
    g.groupInflight.set({ group }, sums.inflight);
    g.groupDeadLettered.set({ group }, sums.dead);
    g.groupOldestAge.set({ group }, sums.ageSeconds);
  }
  g.transactionsOpen.set(node.openTransactions());
}

/** Snapshot, compaction and disk-guard gauges from the node's storage status. */
export function collectStorageGauges(g: ScrapeGauges, storage: StorageStatus): void {
  g.snapshotIndex.set(storage.snapshotIndex);
  // An unlabelled gauge always has a value: 0 with no snapshot (quorumlog_snapshot_index is 0 then too).
  g.snapshotAge.set((storage.snapshotAgeMs ?? 0) / 1000);
  g.logFirstIndex.set(storage.firstIndex);
  g.diskGuardRefusing.set(storage.produceRefused ? 1 : 0);
}

/** The disk gauges: the file system's (statfs, at most every few seconds) and the data directory's bytes (`sizes`, walked only now and then). */
export async function collectDiskGauges(g: ScrapeGauges, dataDir: string, sources: { readonly disk: DiskStatsCache; readonly sizes: DataDirSize }, nowMs: number): Promise<void> {
  try {
    const stats = await sources.disk.read(dataDir, nowMs);
    g.diskFree.set(stats.freeBytes);
    g.diskSize.set(stats.sizeBytes);
    g.dataDirBytes.set(await sources.sizes.bytes(dataDir, nowMs));
  } catch {
    // The directory is gone or unreadable: no value rather than a wrong one.
    for (const gauge of [g.diskFree, g.diskSize, g.dataDirBytes]) gauge.reset();
  }
}
