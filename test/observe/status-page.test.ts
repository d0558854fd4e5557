/**
 * The status page's server side without a browser: the history's bound and arithmetic, the
 * shape of /node.json and /status.json, how a member that does not answer is shown, and the
 * HTTP answers (content types, the content-security-policy, the page's files).
 */
import { describe, expect, it, onTestFinished } from 'vitest';

import { index, nodeId, term, type FollowerStatus, type NodeId, type Status } from '../../raft/index.js';
import type { Scheduler } from '../../storage/index.js';
import type { NodeInspection, StorageStatus } from '../../src/node/index.js';
import {
  clusterView,
  CONTENT_SECURITY_POLICY,
  Health,
  HistogramSeries,
  LatencyWindow,
  NodeMetrics,
  nodeView,
  parseView,
  quantileMs,
  startHttpEndpoint,
  StatusHistory,
  StatusPage,
  type ClusterView,
  type NodeView,
} from '../../src/observe/index.js';

const NO_LATENCY = new LatencyWindow([new HistogramSeries([1])]).drain();

/** A scheduler whose clock and `every` timers move only when the test says. */
function manualScheduler(): { scheduler: Scheduler; advance: (ms: number) => void; timers: () => number } {
  let nowMs = 1_000_000;
  const timers = new Map<() => void, { readonly intervalMs: number; nextMs: number }>();
  const scheduler: Scheduler = {
    nowMs: () => nowMs,
    after: () => ({ cancel: () => undefined }),
    every: (intervalMs, run) => {
      timers.set(run, { intervalMs, nextMs: nowMs + intervalMs });
      return { cancel: () => timers.delete(run) };
    },
    soon: (run) => void Promise.resolve().then(run),
  };
  const advance = (ms: number): void => {
    const until = nowMs + ms;
    for (let step = 0; step < 10_000 && nowMs < until; step++) {
      const due = [...timers].filter(([, t]) => t.nextMs <= until).sort((a, b) => a[1].nextMs - b[1].nextMs)[0];
      if (due === undefined) break;
      nowMs = due[1].nextMs;
      due[1].nextMs += due[1].intervalMs;
      due[0]();
    }
    nowMs = until;
  };
  return { scheduler, advance, timers: () => timers.size };
}

const STORAGE: StorageStatus = {
  firstIndex: index(1), snapshotIndex: index(0), snapshotAgeMs: null, logBytes: 0, snapshotBytes: 0, disk: { usedBytes: 25, sizeBytes: 100 },
  diskHighWatermarkPercent: 90, produceRefused: false, snapshotsWritten: 0, snapshotsInstalled: 0, logSegmentsDeleted: 0,
};

/** A node whose status the test sets (`httpAddresses`: the HTTP addresses its member book records). */
function fakeNode(st: Partial<Status> & { readonly id: NodeId }, httpAddresses: ReadonlyMap<string, string> = new Map()): NodeInspection & { status: () => Status; set: (over: Partial<Status>) => void } {
  let current: Status = {
    role: 'follower', term: term(2), vote: null, leader: null, commit: index(10), applied: index(10), firstIndex: index(1), lastIndex: index(10),
    snapshotIndex: index(0), votingBlocked: false, repairThrough: index(0), votingHeld: false, transferee: null, config: { voters: [st.id], learners: [] }, configIndex: index(0),
    progress: null, ...st,
  };
  return {
    status: () => current,
    set: (over) => (current = { ...current, ...over }),
    onRoleChange: () => () => undefined,
    topics: () => [
      { name: 'orders', id: 1, messageBytesMax: 1024, nextOffset: 40, earliestOffset: 0, scheduledMessages: 2 },
      { name: 'billing.dlq', id: 2, messageBytesMax: 1024, nextOffset: 3, earliestOffset: 0, scheduledMessages: 0 },
    ],
    groups: () => [
      { name: 'billing', topic: 'orders', deadLetterTopic: 'billing.dlq', committedOffset: 30, nextOffset: 35, lag: 10, inflight: 5, waiting: 0, dead: 3, consumers: new Map(), settings: {} as never },
    ],
    openTransactions: () => 0,
    proposedAtMs: () => null,
    storage: () => STORAGE,
    httpAddressOf: (id) => httpAddresses.get(id) ?? null,
  };
}

function progress(entries: readonly [string, number][]): ReadonlyMap<NodeId, FollowerStatus> {
  return new Map(entries.map(([id, match]) => [nodeId(id), { match: index(match), next: index(match + 1), state: 'replicate', inflight: 0, learner: false } as FollowerStatus]));
}

function viewOf(node: NodeInspection, httpAddress: string, history = new StatusHistory()): NodeView {
  return nodeView({ node, httpAddress, appliedLagEntriesMax: 100, history: history.columns(), nowMs: 5_000 });
}

describe('StatusHistory', () => {
  it('keeps at most its capacity of samples, the newest, oldest first', () => {
    const history = new StatusHistory({ capacity: 5, intervalMs: 1_000 });
    for (let k = 0; k < 12; k++) history.record(k * 1_000, k * 10, NO_LATENCY);
    const columns = history.columns();
    expect(history.size).toBe(5);
    expect(columns.atMs).toEqual([7_000, 8_000, 9_000, 10_000, 11_000]);
    expect(columns.commitIndex).toEqual([70, 80, 90, 100, 110]);
    for (const column of [columns.commitsPerSecond, columns.writes, columns.writeP50Ms, columns.writeP99Ms]) expect(column).toHaveLength(5);
  });

  it('turns commit indexes into a rate per second, and latencies into percentiles per interval', () => {
    const history = new StatusHistory({ capacity: 10, intervalMs: 1_000 });
    const writes = new HistogramSeries([0.001, 0.01, 0.1]);
    const latency = new LatencyWindow([writes]);
    history.record(0, 100, latency.drain());
    for (let k = 0; k < 98; k++) writes.observe(0.0005);
    writes.observe(0.05);
    writes.observe(0.05);
    history.record(2_000, 300, latency.drain());
    // Nothing acknowledged in the third interval; the commit index fell (never a negative rate).
    history.record(3_000, 250, latency.drain());
    const columns = history.columns();
    expect(columns.commitsPerSecond).toEqual([null, 100, null]);
    expect(columns.writes).toEqual([0, 100, 0]);
    // 50 of 98 in [0, 1 ms): interpolated; the 99th in the (10, 100 ms] bucket.
    expect(columns.writeP50Ms[1]).toBeCloseTo((50 / 98) * 1, 3);
    expect(columns.writeP99Ms[1]).toBeCloseTo(10 + 90 * 0.5, 3);
    expect(columns.writeP50Ms[2]).toBeNull();
  });
});

describe('quantileMs', () => {
  it('answers the highest bound for durations above every bound, and null for none', () => {
    const durations = new HistogramSeries([0.001, 0.002]);
    const latency = new LatencyWindow([durations]);
    expect(quantileMs(latency.drain(), 0.5)).toBeNull();
    durations.observe(5);
    expect(quantileMs(latency.drain(), 0.99)).toBe(2);
  });
});

describe('the status JSON', () => {
  it('/node.json: a node as it sees itself, with the leader its match indexes', () => {
    const node = fakeNode({ id: nodeId('n1'), role: 'leader', leader: nodeId('n1'), lastIndex: index(12), progress: progress([['n1', 12], ['n2', 9]]) });
    const view = viewOf(node, '127.0.0.1:7701');
    expect(view).toMatchObject({ version: 1, id: 'n1', httpAddress: '127.0.0.1:7701', role: 'leader', term: 2, leader: 'n1', commitIndex: 10, lastIndex: 12, ready: true, repair: null, diskUsedPercent: 25 });
    expect(view.matchIndexes).toEqual({ n1: 12, n2: 9 });
    expect(parseView(JSON.stringify(view))).toEqual(view);
    expect(parseView(JSON.stringify({ ...view, version: 2 }))).toBeNull();
    expect(parseView('not json')).toBeNull();
  });

  it('/status.json: every member, the leader marked, lag by the leader, an unreachable member kept and said why', () => {
    const self = viewOf(fakeNode({ id: nodeId('n2'), leader: nodeId('n1'), commit: index(9), applied: index(9), lastIndex: index(9) }), '127.0.0.1:7702');
    const leader = viewOf(fakeNode({ id: nodeId('n1'), role: 'leader', leader: nodeId('n1'), lastIndex: index(12), progress: progress([['n1', 12], ['n2', 9], ['n3', 4]]) }), '127.0.0.1:7701');
    const view: ClusterView = clusterView(self, [{ id: 'n1', httpAddress: '127.0.0.1:7701', view: leader }, { id: 'n3', httpAddress: '127.0.0.1:7703', error: 'no answer from 127.0.0.1:7703: connection refused' }], fakeNode({ id: nodeId('n2') }));
    expect(view.servedBy).toBe('n2');
    expect(view.leader).toEqual({ id: 'n1', term: 2, httpAddress: '127.0.0.1:7701' });
    expect(view.members.map((m) => [m.id, m.role, m.leader, m.self, m.health, m.lagEntries])).toEqual([
      ['n1', 'leader', true, false, Health.ready, 0],
      ['n2', 'follower', false, true, Health.ready, 3],
      ['n3', null, false, false, Health.unreachable, 8],
    ]);
    expect(view.members[2]?.healthReason).toMatch(/connection refused/);
    expect(view.topics).toEqual([{ name: 'orders', messages: 40, delayed: 2 }, { name: 'billing.dlq', messages: 3, delayed: 0 }]);
    expect(view.groups).toEqual([{ name: 'billing', topic: 'orders', lagMessages: 10, inflight: 5, deadLetterTopic: 'billing.dlq', deadLetterMessages: 3 }]);
    expect(view.chart.from).toBe('n1');
  });

  it('without the leader, lag is counted from the highest commit index seen, and a repairing member is marked', () => {
    const self = viewOf(fakeNode({ id: nodeId('n2'), leader: null, commit: index(20) }), '127.0.0.1:7702');
    const repairing = viewOf(fakeNode({ id: nodeId('n3'), leader: null, commit: index(5), lastIndex: index(5), votingBlocked: true, repairThrough: index(20) }), '127.0.0.1:7703');
    const view = clusterView(self, [{ id: 'n1', httpAddress: null, error: 'its HTTP address is not known here' }, { id: 'n3', httpAddress: '127.0.0.1:7703', view: repairing }], fakeNode({ id: nodeId('n2') }));
    expect(view.leader).toBeNull();
    expect(view.members.map((m) => [m.id, m.health, m.lagEntries])).toEqual([
      ['n1', Health.unreachable, null],
      ['n2', Health.notReady, 0],
      ['n3', Health.repairing, 15],
    ]);
    expect(view.members[2]?.repair).toEqual({ throughIndex: 20, lastIndex: 5 });
    expect(view.chart.from).toBe('n2');
  });

  it('a member leading in a higher term than the serving node knows wins over its stale leader', () => {
    const self = viewOf(fakeNode({ id: nodeId('n2'), term: term(2), leader: nodeId('n1') }), 'a:1');
    const newer = viewOf(fakeNode({ id: nodeId('n3'), role: 'leader', term: term(3), leader: nodeId('n3'), progress: progress([['n3', 10]]) }), 'a:3');
    expect(clusterView(self, [{ id: 'n3', httpAddress: 'a:3', view: newer }], fakeNode({ id: nodeId('n2') })).leader?.id).toBe('n3');
  });
});

describe('StatusPage', () => {
  it('samples on the scheduler every interval until stopped, and no longer', () => {
    const { scheduler, advance, timers } = manualScheduler();
    const node = fakeNode({ id: nodeId('n1') });
    const page = new StatusPage({ node, scheduler, httpMembers: new Map(), memberIds: ['n1'], appliedLagEntriesMax: 10, history: { capacity: 3, intervalMs: 1_000 } }, '127.0.0.1:1');
    page.start();
    expect(page.history.size).toBe(1);
    node.set({ commit: index(30) });
    advance(1_000);
    expect(page.history.columns().commitsPerSecond).toEqual([null, 20]);
    advance(10_000);
    expect(page.history.size).toBe(3);
    page.stop();
    expect(timers()).toBe(0);
  });

  it('shows the members of the configuration the node holds now, learners marked, found at the HTTP address their record carries', async () => {
    const config = (voters: string[], learners: string[]): Status['config'] => ({ voters: voters.map(nodeId), learners: learners.map(nodeId) });
    const n2 = await startHttpEndpoint({
      host: '127.0.0.1',
      port: 0,
      metrics: new NodeMetrics({ processMetrics: false }),
      node: fakeNode({ id: nodeId('n2'), leader: nodeId('n1') }),
      appliedLagEntriesMax: 1,
      page: { scheduler: manualScheduler().scheduler, httpMembers: new Map(), memberIds: ['n2'] },
    });
    onTestFinished(() => n2.close());
    const node = fakeNode({ id: nodeId('n1'), role: 'leader', leader: nodeId('n1'), config: config(['n1', 'n2', 'n3'], []) }, new Map([['n2', n2.address]]));
    const { scheduler, advance } = manualScheduler();
    // Started with --members n1,n2,n3; then n4 was added as a learner and n3 removed.
    const page = new StatusPage({ node, scheduler, httpMembers: new Map(), memberIds: ['n1', 'n2', 'n3'], appliedLagEntriesMax: 10 }, '127.0.0.1:1');
    const rows = async (): Promise<unknown[]> => (await page.clusterView()).members.map((m) => [m.id, m.learner, m.health]);
    expect(await rows()).toEqual([
      ['n1', false, Health.ready],
      ['n2', false, Health.ready],
      ['n3', false, Health.unreachable],
    ]);
    node.set({ config: config(['n1', 'n2'], ['n4']) });
    advance(1_000);
    const view = await page.clusterView();
    expect(view.members.map((m) => [m.id, m.learner, m.health])).toEqual([
      ['n1', false, Health.ready],
      ['n2', false, Health.ready],
      ['n4', true, Health.unreachable],
    ]);
    expect(view.members[2]?.healthReason).toMatch(/HTTP address is not known/);
    // A node holding no configuration yet (joining) shows the members --members names.
    node.set({ config: config([], []) });
    advance(1_000);
    expect((await page.clusterView()).members.map((m) => m.id)).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('the HTTP endpoint with the page', () => {
  async function serve(node: NodeInspection, httpMembers: ReadonlyMap<string, string>): Promise<string> {
    const endpoint = await startHttpEndpoint({
      host: '127.0.0.1',
      port: 0,
      metrics: new NodeMetrics({ processMetrics: false }),
      node,
      appliedLagEntriesMax: 100,
      page: { scheduler: manualScheduler().scheduler, httpMembers, memberIds: ['n1', 'n2', 'n3'], memberTimeoutMs: 2_000 },
    });
    onTestFinished(() => endpoint.close());
    return endpoint.address;
  }

  it('serves the page and its files under the policy, and the cluster as this node reads it from the others', async () => {
    const config = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };
    const leaderAddress = await serve(fakeNode({ id: nodeId('n1'), role: 'leader', leader: nodeId('n1'), config, progress: progress([['n1', 10], ['n2', 10], ['n3', 7]]) }), new Map());
    // n3's address is a port nothing listens on: the endpoint just closed there.
    const closed = await startHttpEndpoint({ host: '127.0.0.1', port: 0, metrics: new NodeMetrics({ processMetrics: false }), node: fakeNode({ id: nodeId('n3') }), appliedLagEntriesMax: 1 });
    await closed.close();
    const address = await serve(fakeNode({ id: nodeId('n2'), leader: nodeId('n1'), config }), new Map([['n1', leaderAddress], ['n3', closed.address]]));

    for (const [route, type] of [['/', 'text/html'], ['/status-page.js', 'text/javascript'], ['/status-page.css', 'text/css']] as const) {
      const response = await fetch(`http://${address}${route}`);
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-type'), route).toContain(type);
      expect(response.headers.get('content-security-policy'), route).toBe(CONTENT_SECURITY_POLICY);
      expect((await response.text()).length, route).toBeGreaterThan(100);
    }
    const view = (await (await fetch(`http://${address}/status.json`)).json()) as ClusterView;
    expect(view.leader?.id).toBe('n1');
    expect(view.members.map((m) => [m.id, m.health, m.lagEntries])).toEqual([
      ['n1', Health.ready, 0],
      ['n2', Health.ready, 0],
      ['n3', Health.unreachable, 3],
    ]);
    expect(view.members[2]?.healthReason).toMatch(/^no answer from /);
    expect((await fetch(`http://${address}/nothing`)).status).toBe(404);
  });

  it('without the page, / is not found', async () => {
    const endpoint = await startHttpEndpoint({ host: '127.0.0.1', port: 0, metrics: new NodeMetrics({ processMetrics: false }), node: fakeNode({ id: nodeId('n1') }), appliedLagEntriesMax: 1 });
    onTestFinished(() => endpoint.close());
    expect((await fetch(`http://${endpoint.address}/`)).status).toBe(404);
    expect((await fetch(`http://${endpoint.address}/status.json`)).status).toBe(404);
  });
});
