import { describe, expect, it } from 'vitest';

import { AppendWorkload, startClusterForTest, type TestCluster } from '../harness/index.js';

/** One scrape: each sample's value by its name and labels as printed (`name{a="b"}`), and each metric's TYPE. */
interface Scrape {
  readonly samples: ReadonlyMap<string, number>;
  readonly types: ReadonlyMap<string, string>;
}

const SCRAPE_TIMEOUT_MS = 1_000;

async function get(cluster: TestCluster, id: string, route: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://${cluster.httpAddress(id)}${route}`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
  return { status: response.status, body: await response.text() };
}

async function scrape(cluster: TestCluster, id: string): Promise<Scrape> {
  const { status, body } = await get(cluster, id, '/metrics');
  expect(status, body).toBe(200);
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of body.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] ?? '', type[2] ?? '');
    const sample = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (sample !== null) samples.set(sample[1] ?? '', Number(sample[2]));
  }
  return { samples, types };
}

/** A sample's value; -1 when the node does not have it (for waits on a metric to appear). */
async function sample(cluster: TestCluster, id: string, key: string): Promise<number> {
  return (await scrape(cluster, id)).samples.get(key) ?? -1;
}

/** Every metric the issue asks for that a node has from its start, with its type. */
const EXPECTED_TYPES: Readonly<Record<string, string>> = {
  quorumlog_raft_role: 'gauge',
  quorumlog_raft_term: 'gauge',
  quorumlog_raft_commit_index: 'gauge',
  quorumlog_raft_applied_index: 'gauge',
  quorumlog_raft_leader_changes_total: 'counter',
  quorumlog_raft_elections_started_total: 'counter',
  quorumlog_raft_elections_won_total: 'counter',
  quorumlog_replication_match_index: 'gauge',
  quorumlog_replication_lag_entries: 'gauge',
  quorumlog_replication_lag_seconds: 'gauge',
  quorumlog_storage_fdatasync_seconds: 'histogram',
  quorumlog_storage_fdatasync_bytes: 'histogram',
  quorumlog_log_append_durable_seconds: 'histogram',
  quorumlog_log_append_batch_entries: 'histogram',
  quorumlog_storage_written_bytes_total: 'counter',
  quorumlog_requests_total: 'counter',
  quorumlog_request_duration_seconds: 'histogram',
  quorumlog_produced_messages_total: 'counter',
  quorumlog_produced_bytes_total: 'counter',
  quorumlog_topic_messages: 'gauge',
  quorumlog_delayed_messages_pending: 'gauge',
  quorumlog_group_lag_messages: 'gauge',
  quorumlog_group_oldest_unacked_age_seconds: 'gauge',
  quorumlog_redeliveries_total: 'counter',
  quorumlog_group_dead_lettered_messages: 'gauge',
  quorumlog_transactions_open: 'gauge',
  quorumlog_transaction_check_backs_total: 'counter',
  quorumlog_disk_free_bytes: 'gauge',
  quorumlog_data_dir_bytes: 'gauge',
  quorumlog_snapshot_index: 'gauge',
  quorumlog_snapshot_age_seconds: 'gauge',
  quorumlog_log_first_index: 'gauge',
  quorumlog_disk_guard_refusing: 'gauge',
  quorumlog_snapshots_written_total: 'counter',
  quorumlog_snapshots_installed_total: 'counter',
  quorumlog_log_segments_deleted_total: 'counter',
  nodejs_eventloop_lag_seconds: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
};

describe('metrics and health checks of a real cluster', () => {
  it('every node serves its metrics; they move under load, a paused follower, a cut-off leader and a failover', { timeout: 60_000 }, async () => {
    const cluster = await startClusterForTest({ label: 'metrics', http: true });
    const leader = await cluster.leader();
    const followers = cluster.ids.filter((id) => id !== leader);
    const [lagging, other] = followers as [string, string];

    // Names and types, and the health checks, on every node.
    for (const id of cluster.ids) {
      const { types, samples } = await scrape(cluster, id);
      for (const [name, type] of Object.entries(EXPECTED_TYPES)) expect(types.get(name), `${id} ${name}`).toBe(type);
      expect(samples.get(`quorumlog_raft_role{role="${id === leader ? 'leader' : 'follower'}"}`), id).toBe(1);
      expect((await get(cluster, id, '/healthz')).status, id).toBe(200);
      await cluster.waitFor(async () => (await get(cluster, id, '/readyz')).status === 200, { timeoutMs: 5_000, what: `${id} ready` });
    }

    const client = cluster.client(cluster.ids, { timeoutMs: 5_000 });
    const load = new AppendWorkload(client, 'metrics');
    const writes = load.background({ concurrency: 4, recordsMax: 200_000, durationMsMax: 30_000 });
    try {
      // The commit index grows on every node, and the leader counts the appends it answered.
      const commitBefore = await sample(cluster, leader, 'quorumlog_raft_commit_index');
      for (const id of cluster.ids) {
        await cluster.waitFor(async () => (await sample(cluster, id, 'quorumlog_raft_commit_index')) >= commitBefore + 100, { timeoutMs: 10_000, what: `${id}'s commit index to grow by 100` });
      }
      expect(await sample(cluster, leader, 'quorumlog_requests_total{call="append",code="ok"}')).toBeGreaterThan(0);
      expect(await sample(cluster, leader, 'quorumlog_storage_fdatasync_seconds_count')).toBeGreaterThan(0);
      // Event-loop delay is recorded from each node's own timers (its Raft tick), which run through the metrics.
      for (const id of cluster.ids) {
        await cluster.waitFor(async () => (await sample(cluster, id, 'nodejs_eventloop_lag_max_seconds')) > 0, { timeoutMs: 5_000, what: `${id}'s event-loop delay to be recorded` });
      }

      // A paused follower falls behind on the leader's gauges, in entries and in seconds.
      cluster.pause(lagging);
      await cluster.waitFor(async () => (await sample(cluster, leader, `quorumlog_replication_lag_entries{follower="${lagging}"}`)) > 200, { timeoutMs: 10_000, what: `${lagging}'s lag to pass 200 entries` });
      await cluster.waitFor(async () => (await sample(cluster, leader, `quorumlog_replication_lag_seconds{follower="${lagging}"}`)) >= 0.5, { timeoutMs: 10_000, what: `${lagging}'s lag to pass 0.5 s` });
      expect(await sample(cluster, leader, `quorumlog_replication_lag_entries{follower="${other}"}`)).toBeLessThan(await sample(cluster, leader, `quorumlog_replication_lag_entries{follower="${lagging}"}`));
      cluster.resume(lagging);
    } finally {
      await writes.stop();
    }
    // Resumed, with writes stopped, it drains to nothing.
    await cluster.waitFor(async () => (await sample(cluster, leader, `quorumlog_replication_lag_entries{follower="${lagging}"}`)) === 0, { timeoutMs: 10_000, what: `${lagging}'s lag to drain` });
    expect(await sample(cluster, leader, `quorumlog_replication_lag_seconds{follower="${lagging}"}`)).toBe(0);
    await cluster.waitFor(async () => (await get(cluster, lagging, '/readyz')).status === 200, { timeoutMs: 5_000, what: `${lagging} ready again` });

    // A leader cut off from both followers steps down and is not ready; it is again once they are back.
    cluster.pause(lagging);
    cluster.pause(other);
    const cutOff = await cluster.waitFor(async () => {
      const answer = await get(cluster, leader, '/readyz');
      return answer.status === 503 ? answer.body : undefined;
    }, { timeoutMs: 10_000, what: `${leader}'s /readyz to answer 503 when cut off` });
    expect(cutOff).toMatch(/no known leader/);
    cluster.resume(lagging);
    cluster.resume(other);
    for (const id of cluster.ids) await cluster.waitFor(async () => (await get(cluster, id, '/readyz').catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 10_000, what: `${id} ready after the cut` });

    // A failover: the survivors see a leader change, and the new leader counts an election won.
    const current = await cluster.leader();
    const survivors = cluster.ids.filter((id) => id !== current);
    const changesBefore = new Map(await Promise.all(survivors.map(async (id) => [id, await sample(cluster, id, 'quorumlog_raft_leader_changes_total')] as const)));
    const wonBefore = new Map(await Promise.all(survivors.map(async (id) => [id, await sample(cluster, id, 'quorumlog_raft_elections_won_total')] as const)));
    await cluster.kill(current);
    const next = await cluster.leader({ exclude: [current], timeoutMs: 10_000 });
    for (const id of survivors) {
      await cluster.waitFor(async () => (await sample(cluster, id, 'quorumlog_raft_leader_changes_total')) > (changesBefore.get(id) ?? 0), { timeoutMs: 5_000, what: `${id} to count the leader change` });
    }
    expect(await sample(cluster, next, 'quorumlog_raft_elections_won_total')).toBe((wonBefore.get(next) ?? 0) + 1);
    expect(await sample(cluster, next, 'quorumlog_raft_elections_started_total')).toBeGreaterThan(0);
  });
});
