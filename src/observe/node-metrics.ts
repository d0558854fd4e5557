import { performance } from 'node:perf_hooks';

import { Counter, Gauge, Registry } from 'prom-client';

import type { FileSystem, Scheduler } from '../../storage/index.js';
import { AUTH_REFUSAL_KINDS, type NodeInspection, type NodeObservation, type NodeProbe, type ProbedCall } from '../node/index.js';
import { collectBrokerGauges, collectDiskGauges, collectRaftGauges, collectStorageGauges, type ScrapeGauges } from './scrape-gauges.js';
import { BoundedLabels } from './bounded-labels.js';
import { DataDirSize } from './data-dir-size.js';
import { DiskStatsCache } from './disk-stats.js';
import { FastHistogram, type HistogramSeries } from './fast-histogram.js';
import { LatencyWindow } from './latency-buckets.js';
import { MeteredFileSystem } from './metered-file-system.js';
import { ProcessMetrics } from './process-metrics.js';
import { ProposalTimes } from './proposal-times.js';

/** Topics and groups that get a label value of their own; the rest share OTHER_LABEL. */
export const TOPIC_LABELS_MAX = 100;
export const GROUP_LABELS_MAX = 100;

const PROBED_CALLS: readonly ProbedCall[] = ['append', 'produce', 'ack'];
/** 100 us to 10 s: an fdatasync, a group commit and a client call all fall in it. */
const SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BYTES_BUCKETS = [512, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];
const ENTRIES_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * One node process's metrics, in a registry of its own (never prom-client's global one, so
 * several can live in one process). Counters and histograms move on the node's hot paths
 * through `probe` and the file system from `wrapFileSystem`; gauges are read from the node
 * when scraped. Until `attach`, gauges have no values.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly probe: NodeProbe;
  /**
   * Durations of the writes (append and produce calls) acknowledged since the status page's
   * history last drained it: the request histogram's measurement, in its buckets.
   */
  readonly writeLatency: LatencyWindow;
  private node: NodeInspection | null = null;
  private dataDir: string | null = null;
  private readonly proposals = new ProposalTimes();
  private readonly topicLabels = new BoundedLabels(TOPIC_LABELS_MAX);
  /** The data directory's bytes, tracked through the file system from `wrapFileSystem`. */
  private readonly dataDirSize = new DataDirSize();
  /** statfs of the data directory, asked at most every few seconds. */
  private readonly diskStats = new DiskStatsCache();
  /** Bytes written since the last scrape, added to storage_written_bytes_total when scraped: a write costs one addition. */
  private writtenPending = 0;
  private readonly fsyncSeconds: HistogramSeries;
  private readonly fsyncBytes: HistogramSeries;
  private readonly leaderChanges: Counter;
  private readonly electionsStarted: Counter;
  private readonly electionsWon: Counter;
  private readonly gauges: ScrapeGauges;
  /** Counts the node keeps itself (since its start), copied at scrape. */
  private readonly storageCounters: { readonly snapshotsWritten: Counter; readonly snapshotsInstalled: Counter; readonly logSegmentsDeleted: Counter };
  /** Expositions made (GET /metrics answered): a bench waits for a node's first scrape. */
  private expositions = 0;
  /** The node being read for the scrape in progress, if one is. */
  private refreshing: Promise<void> | null = null;
  private readonly processMetrics: ProcessMetrics | null;

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.processMetrics = options.processMetrics === false ? null : new ProcessMetrics(this.registry);
    this.gauges = this.scrapeGauges();
    this.storageCounters = this.scrapeCounters();
    this.leaderChanges = new Counter({ name: 'quorumlog_raft_leader_changes_total', help: 'Times this node learned of a new leader (another node, or a new term)', registers });
    this.electionsStarted = new Counter({ name: 'quorumlog_raft_elections_started_total', help: 'Elections this node started as a candidate (pre-votes not counted)', registers });
    this.electionsWon = new Counter({ name: 'quorumlog_raft_elections_won_total', help: 'Elections this node won (became leader)', registers });
    const takeWritten = (): number => {
      const bytes = this.writtenPending;
      this.writtenPending = 0;
      return bytes;
    };
    new Counter({
      name: 'quorumlog_storage_written_bytes_total',
      help: 'Bytes the log wrote to its files (segments, indexes, state file)',
      registers,
      collect() {
        this.inc(takeWritten());
      },
    });
    this.fsyncSeconds = new FastHistogram({ name: 'quorumlog_storage_fdatasync_seconds', help: "Duration of each fdatasync of the log's files", buckets: SECONDS_BUCKETS, registers }).series();
    this.fsyncBytes = new FastHistogram({ name: 'quorumlog_storage_fdatasync_bytes', help: 'Bytes written to a file since its previous fdatasync, made durable by this one (a group commit, for segments)', buckets: BYTES_BUCKETS, registers }).series();
    const { probe, writeLatency } = this.buildProbe(registers);
    this.probe = probe;
    this.writeLatency = writeLatency;
  }

  /** The file system the node should run its log on: `fs`, measured. */
  wrapFileSystem(fs: FileSystem): FileSystem {
    const meter = {
      written: (bytes: number): void => {
        this.writtenPending += bytes;
      },
      synced: (seconds: number, bytes: number): void => {
        this.fsyncSeconds.observe(seconds);
        this.fsyncBytes.observe(bytes);
      },
    };
    return new MeteredFileSystem(fs, meter, () => performance.now(), this.dataDirSize);
  }

  /**
   * The scheduler the node should set its timers on: `scheduler`, with each periodic timer's
   * lateness recorded as the process's event-loop delay (unchanged without process metrics).
   */
  wrapScheduler(scheduler: Scheduler): Scheduler {
    return this.processMetrics?.timed(scheduler) ?? scheduler;
  }

  /** What startNode takes to be measured by these metrics: the probe, the file system and the scheduler wrapped. */
  get observation(): NodeObservation {
    return { probe: this.probe, wrapFileSystem: (fs) => this.wrapFileSystem(fs), wrapScheduler: (scheduler) => this.wrapScheduler(scheduler) };
  }

  /** Starts reading gauges from `node`, and counting its leader changes and elections. */
  attach(node: NodeInspection, dataDir: string): void {
    this.node = node;
    this.dataDir = dataDir;
    let last = node.status();
    node.onRoleChange(() => {
      const now = node.status();
      if (now.leader !== null && (now.leader !== last.leader || now.term !== last.term)) this.leaderChanges.inc();
      const newTerm = now.term !== last.term;
      // A lone node campaigns and wins within one step: its leadership is the election it started.
      const campaigned = (now.role === 'candidate' && (last.role !== 'candidate' || newTerm)) || (now.role === 'leader' && last.role !== 'candidate' && newTerm);
      if (campaigned) this.electionsStarted.inc();
      if (now.role === 'leader' && last.role !== 'leader') {
        this.electionsWon.inc();
        this.proposals.reset(now.lastIndex, performance.now());
      }
      last = now;
    });
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    this.expositions++;
    return this.registry.metrics();
  }

  /** Stops what samples the process in the background (the event-loop monitor, the garbage-collection observer). */
  close(): void {
    this.processMetrics?.close();
  }

  /** How many times `metrics` was asked for (each GET /metrics asks once). */
  get scrapes(): number {
    return this.expositions;
  }

  private buildProbe(registers: Registry[]): { readonly probe: NodeProbe; readonly writeLatency: LatencyWindow } {
    // Successful calls are counted here and added to the counter when scraped: a call costs one addition.
    const okPending = { append: 0, produce: 0, ack: 0 } satisfies Record<ProbedCall, number>;
    const requests = new Counter({
      name: 'quorumlog_requests_total',
      help: 'Client calls (append, produce, ack) answered by this node, by call and outcome code ("ok" or the error code)',
      labelNames: ['call', 'code'],
      registers,
      collect() {
        for (const call of PROBED_CALLS) {
          if (okPending[call] === 0) continue;
          this.labels(call, 'ok').inc(okPending[call]);
          okPending[call] = 0;
        }
      },
    });
    const seconds = new FastHistogram({ name: 'quorumlog_request_duration_seconds', help: 'Time from a client call arriving to its successful answer (produce: until its acks were met), by call', labelName: 'call', buckets: SECONDS_BUCKETS, registers });
    const messages = new Counter({ name: 'quorumlog_produced_messages_total', help: `Messages this node accepted as leader, by topic (first ${TOPIC_LABELS_MAX} topics seen, the rest as "${BoundedLabels.OTHER}")`, labelNames: ['topic'], registers });
    const bytes = new Counter({ name: 'quorumlog_produced_bytes_total', help: 'Bytes of messages (key, headers, payload) this node accepted as leader, by topic, capped as produced_messages_total', labelNames: ['topic'], registers });
    const appendSeconds = new FastHistogram({ name: 'quorumlog_log_append_durable_seconds', help: "Time from handing one Ready's entries to the log until they are durable (the group commit's wait and fdatasync)", buckets: SECONDS_BUCKETS, registers }).series();
    const appendEntries = new FastHistogram({ name: 'quorumlog_log_append_batch_entries', help: "Entries in each batch handed to the log (one Ready's)", buckets: ENTRIES_BUCKETS, registers }).series();
    const redeliveries = new Counter({ name: 'quorumlog_redeliveries_total', help: "Deliveries this leader handed out that were not a message's first", registers });
    const checkBacks = new Counter({ name: 'quorumlog_transaction_check_backs_total', help: 'Transaction check-backs this leader sent to producers', registers });
    // Labelled by operation only (three values): users, topics and groups would be unbounded.
    const denied = new Counter({ name: 'quorumlog_permission_denied_total', help: 'Client calls this node refused by its ACLs (PERMISSION_DENIED), by the operation asked: produce, consume or admin', labelNames: ['operation'], registers });
    for (const operation of ['produce', 'consume', 'admin']) denied.labels(operation).inc(0);
    // Labelled by the kind of refusal (a fixed set), never by user: names are unbounded and may be guesses.
    const unauthenticated = new Counter({ name: 'quorumlog_client_auth_refused_total', help: 'Client calls this node refused before any handler (UNAUTHENTICATED), by kind: noCredentials, wrongPassword, unknownUser, plaintextPassword, passwordsOff, malformed', labelNames: ['kind'], registers });
    for (const kind of AUTH_REFUSAL_KINDS) unauthenticated.labels(kind).inc(0);
    const durations = { append: seconds.series('append'), produce: seconds.series('produce'), ack: seconds.series('ack') } satisfies Record<ProbedCall, HistogramSeries>;
    // Each topic label's series, looked up once: prom-client's labels() builds a binding per call.
    const producedBy = new Map<string, { readonly messages: Counter.Internal; readonly bytes: Counter.Internal }>();
    const now = (): number => performance.now();
    const probe: NodeProbe = {
      startMark: now,
      callEnded: (call, startedMark, error) => {
        if (error === null) {
          okPending[call]++;
          const seconds = (now() - startedMark) / 1000;
          durations[call].observe(seconds);
        } else {
          requests.labels(call, errorCode(error)).inc();
        }
      },
      produced: (topic, count, size) => {
        const label = this.topicLabels.of(topic);
        let series = producedBy.get(label);
        if (series === undefined) {
          series = { messages: messages.labels(label), bytes: bytes.labels(label) };
          producedBy.set(label, series);
        }
        series.messages.inc(count);
        series.bytes.inc(size);
      },
      proposed: (lastIndex) => this.proposals.record(lastIndex, now()),
      logAppended: (entries, startedMark) => {
        appendSeconds.observe((now() - startedMark) / 1000);
        appendEntries.observe(entries);
      },
      redelivered: (count) => redeliveries.inc(count),
      checkBackSent: () => checkBacks.inc(),
      permissionDenied: (operation) => denied.labels(operation).inc(),
      authRefused: (kind) => unauthenticated.labels(kind).inc(),
    };
    // The status page's latency chart reads the writes' series (append and produce), per interval.
    return { probe, writeLatency: new LatencyWindow([durations.append, durations.produce]) };
  }

  /**
   * Every gauge reads the node on scrape through one shared refresh: a scrape starts every
   * metric's collect at once, so the first one to start reads the node for all of them.
   */
  private scrapeGauges(): ScrapeGauges {
    const registers = [this.registry];
    const collect = (): Promise<void> => this.refresh();
    const gauge = (name: string, help: string, labelNames: readonly string[] = []): Gauge => new Gauge({ name, help, labelNames, registers, collect });
    return {
      role: gauge('quorumlog_raft_role', "This node's role: 1 for the current one, 0 for the others", ['role']),
      term: gauge('quorumlog_raft_term', 'Current Raft term'),
      commitIndex: gauge('quorumlog_raft_commit_index', 'Highest log index this node knows to be committed'),
      appliedIndex: gauge('quorumlog_raft_applied_index', 'Highest log index applied to the broker state here'),
      lastIndex: gauge('quorumlog_raft_last_index', "Last index of this node's log"),
      leaderKnown: gauge('quorumlog_raft_leader_known', '1 when this node knows a leader, else 0'),
      votingBlocked: gauge('quorumlog_raft_voting_blocked', '1 while this node lost durable entries and does not vote until repaired, else 0'),
      matchIndex: gauge('quorumlog_replication_match_index', 'On the leader: highest index known to match on each follower', ['follower']),
      lagEntries: gauge('quorumlog_replication_lag_entries', "On the leader: entries each follower lacks of the leader's log", ['follower']),
      lagSeconds: gauge('quorumlog_replication_lag_seconds', 'On the leader: seconds since the oldest entry each follower lacks was proposed (0 when caught up)', ['follower']),
      topicMessages: gauge('quorumlog_topic_messages', `Messages in each topic (its end offset) as applied here, first ${TOPIC_LABELS_MAX} topics by name, the rest summed as "${BoundedLabels.OTHER}"`, ['topic']),
      delayedPending: gauge('quorumlog_delayed_messages_pending', `Delayed messages held back until their delivery time, per topic as applied here (same topic labels as quorumlog_topic_messages)`, ['topic']),
      groupLag: gauge('quorumlog_group_lag_messages', `Messages of each consumer group's topic not yet acked or dead-lettered, first ${GROUP_LABELS_MAX} groups by name, the rest summed as "${BoundedLabels.OTHER}"`, ['group']),
      groupInflight: gauge('quorumlog_group_inflight_messages', 'Messages handed to consumers and not yet acked, per group, capped as group_lag_messages', ['group']),
      groupOldestAge: gauge('quorumlog_group_oldest_unacked_age_seconds', "Age of each group's oldest message not acked or dead-lettered (the leader's clock when proposed to this node's clock now; 0 when none), capped as group_lag_messages with the largest for the rest", ['group']),
      groupDeadLettered: gauge('quorumlog_group_dead_lettered_messages', "Messages in each group's dead-letter topic, capped as group_lag_messages", ['group']),
      transactionsOpen: gauge('quorumlog_transactions_open', 'Transactions prepared (half messages) and not yet committed or rolled back'),
      diskFree: gauge('quorumlog_disk_free_bytes', 'Bytes free for this process on the file system of the data directory (statfs, at most 5 s old)'),
      diskSize: gauge('quorumlog_disk_size_bytes', 'Size of the file system of the data directory (statfs, at most 5 s old)'),
      dataDirBytes: gauge('quorumlog_data_dir_bytes', 'Bytes of the files under the data directory'),
      snapshotIndex: gauge('quorumlog_snapshot_index', "Index of this node's newest snapshot (0: none)"),
      snapshotAge: gauge('quorumlog_snapshot_age_seconds', 'Seconds since the newest snapshot was written here, installed from the leader, or (the one the node started from) written to its file; 0 with none (snapshot_index 0)'),
      logFirstIndex: gauge('quorumlog_log_first_index', 'First index the log still holds (entries below were compacted into a snapshot)'),
      diskGuardRefusing: gauge('quorumlog_disk_guard_refusing', '1 while the disk guard refuses new messages (the disk is above --disk-high-watermark), else 0'),
    };
  }

  /** Counters whose counts live in the node (StorageStatus), read at scrape like the gauges. */
  private scrapeCounters(): NodeMetrics['storageCounters'] {
    const registers = [this.registry];
    const collect = (): Promise<void> => this.refresh();
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers, collect });
    return {
      snapshotsWritten: counter('quorumlog_snapshots_written_total', 'Snapshots of the broker state this node wrote (every --snapshot-entries applied entries, and at a clean shutdown)'),
      snapshotsInstalled: counter('quorumlog_snapshots_installed_total', 'Snapshots this node installed from the leader (it was behind the leader\'s compacted log)'),
      logSegmentsDeleted: counter('quorumlog_log_segments_deleted_total', 'Log segment files deleted below a snapshot as retention allowed'),
    };
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.readNode().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async readNode(): Promise<void> {
    const node = this.node;
    if (node === null) return;
    collectRaftGauges(this.gauges, node.status(), this.proposals, performance.now());
    collectBrokerGauges(this.gauges, node, { topicsMax: TOPIC_LABELS_MAX, groupsMax: GROUP_LABELS_MAX, nowMs: Date.now() });
    const storage = node.storage();
    collectStorageGauges(this.gauges, storage);
    const counts = this.storageCounters;
    for (const [counter, total] of [
      [counts.snapshotsWritten, storage.snapshotsWritten],
      [counts.snapshotsInstalled, storage.snapshotsInstalled],
      [counts.logSegmentsDeleted, storage.logSegmentsDeleted],
    ] as const) {
      counter.reset();
      counter.inc(total);
    }
    if (this.dataDir !== null) await collectDiskGauges(this.gauges, this.dataDir, { disk: this.diskStats, sizes: this.dataDirSize }, performance.now());
  }
}

/** The error's product-wide code (errors/), or "internal" for anything without one. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-zA-Z]{1,40}$/.test(code) ? code : 'internal';
}
