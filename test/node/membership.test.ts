/**
 * Membership changes on running nodes, in one process (real gRPC on loopback, real files):
 * a learner joins and catches up from a snapshot, is promoted and counts; members are
 * removed (the leader hands over first); a removal that would lose quorum is refused unless
 * forced; a removed member that comes back is refused and does not move the cluster's term.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { Admin, FailedPreconditionError, LogClient, type NodeStatus } from '../../src/client/index.js';
import { LogRecorder } from '../../src/log/index.js';
import { NODE_DEFAULTS, RetentionPolicy, startNode, type MemberConfig, type NodeConfig, type RunningNode } from '../../src/node/index.js';
import { BOOTSTRAP_CHECK_FILE, DataDirWipedError } from '../../src/node/bootstrap-check.js';
import { nodeId } from '../../raft/index.js';
import { delay, freePorts, waitFor } from '../harness/index.js';

interface TestNode {
  readonly id: string;
  readonly member: MemberConfig;
  readonly dataDir: string;
  node: RunningNode | null;
  readonly log: LogRecorder;
}

const running: TestNode[] = [];
const roots: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.node?.stop()));
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

/** n1..nN's addresses on free loopback ports, and a data root. */
async function layout(count: number): Promise<{ members: MemberConfig[]; root: string }> {
  const ports = await freePorts(2 * count);
  const members = Array.from({ length: count }, (_, k) => ({ id: nodeId(`n${k + 1}`), peerAddress: `127.0.0.1:${ports[2 * k] ?? 0}`, clientAddress: `127.0.0.1:${ports[2 * k + 1] ?? 0}` }));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-membership-'));
  roots.push(root);
  return { members, root };
}

function nodeConfig(id: string, members: readonly MemberConfig[], root: string, join = false): NodeConfig {
  return {
    id: nodeId(id),
    members,
    ...(join ? { join: true } : {}),
    clusterId: 'membership-test',
    dataDir: path.join(root, id),
    flush: { mode: 'sync' },
    tickMs: 20,
    electionTicks: 10,
    heartbeatTicks: 2,
    preferredLeader: null,
    messageBytesMax: NODE_DEFAULTS.messageBytesMax,
    recordBytesMax: NODE_DEFAULTS.recordBytesMax,
    segmentBytes: 4096,
    snapshotEntries: 40,
    // Everything below a snapshot may go: a new member must catch up from a snapshot.
    retention: { hours: 0, bytes: Infinity, policy: RetentionPolicy.delete },
    diskHighWatermarkPercent: 100,
    producerIdleExpiryMs: NODE_DEFAULTS.producerIdleExpiryMs,
    dialAddresses: new Map(),
    powerLoss: false,
  };
}

async function start(id: string, members: readonly MemberConfig[], root: string, options: { readonly join?: boolean; readonly dataDir?: string } = {}): Promise<TestNode> {
  const member = members.find((m) => m.id === id);
  if (member === undefined) throw new Error(`no member ${id}`);
  const log = new LogRecorder('info');
  const config = { ...nodeConfig(id, members, root, options.join === true), ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }) };
  const test: TestNode = { id, member, dataDir: config.dataDir, node: await startNode(config, log.log), log };
  running.push(test);
  return test;
}

function status(n: TestNode): NodeStatus {
  if (n.node === null) throw new Error(`${n.id} is stopped`);
  return n.node.service.status();
}

async function leaderOf(nodes: readonly TestNode[]): Promise<TestNode> {
  let leader: TestNode | undefined;
  await waitFor(
    () => {
      leader = nodes.find((n) => n.node !== null && status(n).role === 'leader');
      return leader !== undefined;
    },
    { timeoutMs: 10_000, what: 'a leader' },
  );
  return leader as TestNode;
}

async function appendRecords(client: LogClient, count: number, tag: string): Promise<number> {
  let last = 0;
  for (let k = 0; k < count; k += 10) {
    const batch = Array.from({ length: Math.min(10, count - k) }, (_, j) => new TextEncoder().encode(`${tag}-${k + j}-${'x'.repeat(80)}`));
    last = (await client.append(batch)).lastIndex;
  }
  return last;
}

/** Waits until every node of `nodes` has recorded the incarnation `peer` runs on (peer-incarnations.ts). */
async function waitUntilHeard(nodes: readonly TestNode[], peer: TestNode): Promise<void> {
  const heard = (n: TestNode): string => {
    const file = path.join(n.dataDir, 'peer-incarnations.json');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  };
  await waitFor(() => nodes.every((n) => heard(n).includes(`"${peer.id}": "${peer.node?.identity.incarnation ?? '?'}"`)), { timeoutMs: 10_000, what: `the others to have heard ${peer.id}` });
}

const addressesOf = (n: TestNode): { peerAddress: string; clientAddress: string } => ({ peerAddress: n.member.peerAddress, clientAddress: n.member.clientAddress });

describe('membership changes on running nodes', () => {
  it('a learner catches up from a snapshot, is promoted and counts; removing the leader hands over first', async () => {
    const { members, root } = await layout(4);
    const initial = members.slice(0, 3);
    const [n1, n2, n3] = await Promise.all(initial.map((m) => start(m.id, initial, root)));
    const nodes = [n1, n2, n3] as TestNode[];
    const brokers = initial.map((m) => m.clientAddress);
    const client = new LogClient({ brokers, timeoutMs: 10_000 });
    const admin = new Admin({ brokers, timeoutMs: 10_000 });
    try {
      await leaderOf(nodes);
      const written = await appendRecords(client, 200, 'before');
      await waitFor(() => nodes.every((n) => status(n).firstIndex > 1), { timeoutMs: 10_000, what: 'the logs compacted below a snapshot' });

      // A node that bootstrapped a configuration of its own is not added (its log would be overwritten).
      const { members: others, root: otherRoot } = await layout(1);
      const loner = await start('n4', [{ ...(others[0] as MemberConfig), id: nodeId('n4') }], otherRoot);
      await expect(admin.members.add('n4', addressesOf(loner))).rejects.toThrow(/already holds a configuration \(voters n4\): start it with --join on an empty data directory/);
      await loner.node?.stop();
      loner.node = null;

      // n4 joins: it knows the members, holds no configuration, so neither votes nor campaigns.
      const n4 = await start('n4', members, root, { join: true });
      expect(status(n4).voters).toEqual([]);
      const added = await admin.members.add('n4', addressesOf(n4));
      expect(added.members.find((m) => m.id === 'n4')?.role).toBe('learner');
      expect(added.members.find((m) => m.id === 'n4')?.incarnation).toBe(n4.node?.identity.incarnation);
      await waitFor(() => status(n4).appliedIndex >= Math.max(written, added.configIndex), { timeoutMs: 15_000, what: 'n4 to catch up' });
      expect(status(n4).snapshotIndex, 'n4 started from the leader snapshot').toBeGreaterThan(0);
      expect(status(n4).learners).toEqual(['n4']);
      const leader = await leaderOf(nodes);
      expect(status(leader).followers.find((f) => f.id === 'n4')?.learner).toBe(true);
      // The leader dials the new learner from the moment the change is appended, not only once it commits.
      expect(leader.log.messages().filter((line) => line.includes('which is not a peer'))).toEqual([]);

      const promoted = await admin.members.promote('n4', { catchUpTimeoutMs: 15_000 });
      expect(promoted.members.filter((m) => m.role === 'voter').map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);

      // Remove a follower: its links close; the rest go on.
      const follower = nodes.find((n) => n !== leader) as TestNode;
      await admin.members.remove(follower.id);
      await follower.node?.stop();
      follower.node = null;
      const rest = [...nodes.filter((n) => n !== follower), n4];
      await appendRecords(client, 20, 'after-remove');

      // Remove the leader: leadership moves to another voter first, then it is removed.
      const oldLeader = await leaderOf(rest);
      const view = await admin.members.remove(oldLeader.id);
      expect(view.members.map((m) => m.id)).not.toContain(oldLeader.id);
      expect(view.leaderId).not.toBe(oldLeader.id);
      const remaining = rest.filter((n) => n !== oldLeader);
      await waitFor(() => remaining.every((n) => (status(n).voters ?? []).length === 2), { timeoutMs: 10_000, what: 'the two voters to hold the new configuration' });
      const newClient = new LogClient({ brokers: remaining.map((n) => n.member.clientAddress), timeoutMs: 10_000 });
      try {
        expect((await appendRecords(newClient, 10, 'two-voters')) > written).toBe(true);
      } finally {
        newClient.close();
      }
      expect(oldLeader.log.messages().some((line) => line.includes('membership change committed') || line.includes('membership:'))).toBe(true);

      // Membership is in the log and snapshots, not in flags: both voters restart with their
      // first command line (n1..n3) and come back with the configuration they hold.
      const finalVoters = remaining.map((n) => n.id).sort();
      for (const n of remaining) {
        await n.node?.stop();
        n.node = null;
      }
      const restarted = await Promise.all(remaining.map((n) => start(n.id, n.id === 'n4' ? members : initial, root, { join: n.id === 'n4' })));
      await waitFor(() => restarted.every((n) => [...(status(n).voters ?? [])].sort().join(',') === finalVoters.join(',')), { timeoutMs: 10_000, what: 'the restarted voters to hold their configuration' });
      await leaderOf(restarted);
      const original = restarted.find((n) => n.id !== 'n4');
      expect(original?.log.messages().some((line) => line.includes("the log's is used"))).toBe(true);
      const afterRestart = new LogClient({ brokers: restarted.map((n) => n.member.clientAddress), timeoutMs: 10_000 });
      try {
        await appendRecords(afterRestart, 10, 'after-restart');
      } finally {
        afterRestart.close();
      }
    } finally {
      client.close();
      await admin.close();
    }
  }, 60_000);

  it('a voter that missed the addition of the member that now leads takes its entries and catches up (FINDINGS F7)', async () => {
    const { members, root } = await layout(4);
    const initial = members.slice(0, 3);
    const nodes = await Promise.all(initial.map((m) => start(m.id, initial, root)));
    const brokers = initial.map((m) => m.clientAddress);
    const client = new LogClient({ brokers, timeoutMs: 10_000 });
    const admin = new Admin({ brokers, timeoutMs: 10_000 });
    try {
      const leader = await leaderOf(nodes);
      await appendRecords(client, 20, 'before');
      // A follower is down while n4 is added and promoted: its log and configuration lack n4.
      const behind = nodes.find((n) => n !== leader) as TestNode;
      await behind.node?.stop();
      behind.node = null;
      const n4 = await start('n4', members, root, { join: true });
      await admin.members.add('n4', addressesOf(n4));
      await admin.members.promote('n4', { catchUpTimeoutMs: 15_000 });
      await client.transfer('n4');
      await waitFor(() => status(n4).role === 'leader', { timeoutMs: 10_000, what: 'n4 to lead' });
      const written = await appendRecords(client, 20, 'under-n4');

      // Back on its data directory, the follower knows n1..n3 only; n4 leads and must reach it.
      const back = await start(behind.id, initial, root, { dataDir: behind.dataDir });
      await waitFor(() => status(back).appliedIndex >= written && (status(back).voters ?? []).includes(nodeId('n4')), {
        timeoutMs: 10_000,
        what: `${behind.id} to take n4's entries (applied ${status(back).appliedIndex} of ${written}, voters ${(status(back).voters ?? []).join(',')})`,
      });
      expect(status(n4).role).toBe('leader');
    } finally {
      client.close();
      await admin.close();
    }
  }, 60_000);

  it('refuses a removal that would lose quorum unless forced; a removed member that comes back is refused and moves no term', async () => {
    const { members, root } = await layout(3);
    const nodes = await Promise.all(members.map((m) => start(m.id, members, root)));
    const brokers = members.map((m) => m.clientAddress);
    const admin = new Admin({ brokers, timeoutMs: 10_000 });
    try {
      const leader = await leaderOf(nodes);
      const [down, other] = nodes.filter((n) => n !== leader) as [TestNode, TestNode];
      // A voter first: a node on a new data directory votes only once every member has
      // confirmed it, and stopped before that it would wait on restart for `other`, which is
      // removed and stopped below (seen under load: the leader was elected without it).
      await waitFor(() => down.log.messages().some((line) => line.includes('every member confirmed this data directory')), { timeoutMs: 10_000, what: `${down.id} to take part in elections` });
      await down.node?.stop();
      down.node = null;
      // The leader counts a voter live for an election timeout (10 ticks of 20 ms) after it last heard from it.
      await delay(600);
      // Without `other`, the voters left would be the leader and the stopped node: 1 of 2 live.
      const refused = await admin.members.remove(other.id).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(FailedPreconditionError);
      expect((refused as Error).message).toMatch(/fewer than the quorum/);
      expect((await admin.members.list()).members).toHaveLength(3);
      expect(status(leader).role).toBe('leader');

      // Forced, the change is made (the leader steps down meanwhile: too few voters answer);
      // with the removed node stopped, it commits once the stopped voter is back.
      const forced = admin.members.remove(other.id, { force: true }).catch((error: unknown) => error);
      await waitFor(() => status(leader).voters?.length === 2, { timeoutMs: 5_000, what: 'the forced change appended' });
      const { configIndex } = await admin.members.list({ address: leader.member.clientAddress });
      await other.node?.stop();
      other.node = null;
      const back = await start(down.id, members, root);
      const voters = [leader, back];
      await waitFor(() => voters.every((n) => status(n).voters?.length === 2 && status(n).commitIndex >= configIndex), {
        timeoutMs: 10_000,
        what: 'both voters to hold the new configuration',
      });
      await forced;
      await waitFor(async () => (await admin.members.list()).members.length === 2, { timeoutMs: 10_000, what: 'the members list to show two voters' });

      // The removed member restarts on its data directory: its peers refuse it and say why.
      const again = await start(other.id, members, root, { dataDir: other.dataDir });
      await waitFor(() => again.log.messages().some((line) => line.includes('is not a member of this cluster')), { timeoutMs: 10_000, what: `${other.id} to be told it is not a member` });
      const stable = await leaderOf(voters);
      const termBefore = status(stable).term;
      // Several election timeouts (10 ticks of 20 ms) of the removed node campaigning.
      await delay(1_500);
      for (const n of voters) expect(status(n).term, `${n.id}'s term`).toBe(termBefore);
      expect(status(stable).role).toBe('leader');
    } finally {
      await admin.close();
    }
  }, 60_000);

  it('a wiped disk restarted under a member id with its old command line stops, told by a member that knew the old disk; replace brings a new node in its place', async () => {
    const { members, root } = await layout(4);
    const initial = members.slice(0, 3);
    const nodes = await Promise.all(initial.map((m) => start(m.id, initial, root)));
    const brokers = initial.map((m) => m.clientAddress);
    const admin = new Admin({ brokers, timeoutMs: 10_000 });
    const client = new LogClient({ brokers, timeoutMs: 10_000 });
    try {
      const leader = await leaderOf(nodes);
      const before = await appendRecords(client, 30, 'before-wipe');
      const [wiped, other] = nodes.filter((n) => n !== leader) as [TestNode, TestNode];
      await waitUntilHeard([leader, other], wiped);
      await wiped.node?.stop();
      wiped.node = null;
      fs.rmSync(wiped.dataDir, { recursive: true, force: true });
      // Bootstrapping on a new directory, it asks the others before it votes: they knew another.
      const impostor = await start(wiped.id, initial, root);
      const stopped = await (impostor.node as RunningNode).stopped;
      expect(stopped.error).toBeInstanceOf(DataDirWipedError);
      expect((stopped.error as Error).message).toContain(`${wiped.id}'s disk was wiped or replaced`);
      expect((stopped.error as Error).message).toContain(`quorumlog members replace ${wiped.id}`);
      await impostor.node?.stop();
      impostor.node = null;

      // The operator replaces the wiped member by a new node; it catches up and votes.
      const n4 = await start('n4', members, root, { join: true });
      const view = await admin.members.replace(wiped.id, 'n4', addressesOf(n4), { catchUpTimeoutMs: 15_000 });
      expect(view.members.map((m) => `${m.id}:${m.role}`).sort()).toEqual([`${leader.id}:voter`, `${other.id}:voter`, 'n4:voter'].sort());
      await waitFor(() => status(n4).appliedIndex >= before, { timeoutMs: 10_000, what: 'n4 to hold every acknowledged write' });
      expect(await appendRecords(client, 10, 'after-replace')).toBeGreaterThan(before);
    } finally {
      client.close();
      await admin.close();
    }
  }, 60_000);

  it('two members whose disks are lost, restarted with their old command lines while the third is down, elect no one; when the third is back, both stop', async () => {
    const { members, root } = await layout(3);
    const nodes = await Promise.all(members.map((m) => start(m.id, members, root)));
    await leaderOf(nodes);
    const [first, second, keeper] = nodes as [TestNode, TestNode, TestNode];
    await waitUntilHeard([keeper], first);
    await waitUntilHeard([keeper], second);
    for (const n of nodes) {
      await n.node?.stop();
      n.node = null;
    }
    for (const n of [first, second]) fs.rmSync(n.dataDir, { recursive: true, force: true });
    const lost = await Promise.all([first, second].map((n) => start(n.id, members, root)));
    // Each accepts the other's new directory, but the third, which knew the old ones, does not answer.
    await delay(2_000);
    for (const n of lost) {
      expect(status(n).role).not.toBe('leader');
      expect(n.log.messages().some((line) => line.includes('takes part in no election until'))).toBe(true);
    }
    const back = await start(keeper.id, members, root);
    const stops = await Promise.all(lost.map(async (n) => (await (n.node as RunningNode).stopped).error));
    for (const [k, error] of stops.entries()) expect((error as Error).message).toContain(`quorumlog members replace ${lost[k]?.id ?? ''}`);
    expect(status(back).role).not.toBe('leader');
  }, 60_000);

  it('a new cluster whose members start seconds apart forms once the last has started', async () => {
    const { members, root } = await layout(3);
    const early = [await start('n1', members, root)];
    await delay(1_000);
    early.push(await start('n2', members, root));
    await delay(1_000);
    // Two of three would be a majority, but the third has not confirmed their new directories.
    for (const n of early) expect(status(n).role).not.toBe('leader');
    const last = await start('n3', members, root);
    await leaderOf([...early, last]);
    const client = new LogClient({ brokers: members.map((m) => m.clientAddress), timeoutMs: 10_000 });
    try {
      expect(await appendRecords(client, 10, 'formed')).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    // Confirmed: the pending record goes, so no later start of these directories is held. Two
    // confirmed members can elect before the third's next question (every 250 ms) is answered.
    const pendingRecord = (n: TestNode): boolean => fs.existsSync(path.join(n.dataDir, BOOTSTRAP_CHECK_FILE));
    await waitFor(() => ![...early, last].some(pendingRecord), { timeoutMs: 5_000, what: 'every member to have passed its bootstrap check' });
    for (const n of [...early, last]) expect(pendingRecord(n)).toBe(false);
  }, 60_000);

  it('a client given one node learns the members from it, and goes on when that node is removed', async () => {
    const { members, root } = await layout(3);
    const nodes = await Promise.all(members.map((m) => start(m.id, members, root)));
    const leader = await leaderOf(nodes);
    const only = nodes.find((n) => n !== leader) as TestNode;
    const client = new LogClient({ brokers: [only.member.clientAddress], timeoutMs: 10_000, brokerRefreshIntervalMs: 100 });
    const admin = new Admin({ brokers: members.map((m) => m.clientAddress), timeoutMs: 10_000 });
    try {
      await appendRecords(client, 10, 'one-broker');
      await waitFor(
        async () => {
          await client.append([new TextEncoder().encode('tick')]);
          return (await client.statusAll()).length === 3;
        },
        { timeoutMs: 5_000, what: 'the client to know all three members' },
      );
      await admin.members.remove(only.id);
      await only.node?.stop();
      only.node = null;
      await appendRecords(client, 10, 'after-its-broker-left');
      await waitFor(
        async () => {
          await client.append([new TextEncoder().encode('tick')]);
          return (await client.statusAll()).map((s) => s.address).sort().join(',') === nodes.filter((n) => n !== only).map((n) => n.member.clientAddress).sort().join(',');
        },
        { timeoutMs: 5_000, what: 'the client to drop the removed member' },
      );
    } finally {
      client.close();
      await admin.close();
    }
  }, 30_000);

  it('answers a change from a follower with the leader (the client follows) and refuses bad input', async () => {
    const { members, root } = await layout(3);
    const nodes = await Promise.all(members.map((m) => start(m.id, members, root)));
    const leader = await leaderOf(nodes);
    const follower = nodes.find((n) => n !== leader) as TestNode;
    const admin = new Admin({ brokers: [follower.member.clientAddress], timeoutMs: 5_000 });
    try {
      const view = await admin.members.list();
      expect(view.leaderId).toBe(leader.id);
      expect(view.members.map((m) => [m.id, m.role])).toEqual(members.map((m) => [m.id, 'voter']));
      await expect(admin.members.remove('n9')).rejects.toThrow(/n9 is not a member/);
      await expect(admin.members.promote('n9', { catchUpTimeoutMs: 500 })).rejects.toThrow(/n9 is not a member/);
    } finally {
      await admin.close();
    }
  }, 30_000);
});
