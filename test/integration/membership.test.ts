/**
 * The user's story of issue 27, on real processes: a three-node cluster under load loses one
 * node's data directory; the operator starts a new node (--join) and runs
 * `quorumlog members replace`. Nothing acknowledged is lost, and once the new node votes the
 * cluster tolerates a further failure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it, onTestFinished } from 'vitest';

import { LogClient } from '../../src/client/index.js';
import { NODE_READY_LINE } from '../../src/process/index.js';
import { AppendWorkload, checkLogs, describeCli, freePorts, NodeProcess, OutputLog, readWholeLog, REPO_ROOT, runCli, startClusterForTest } from '../harness/index.js';

interface MembersJson {
  readonly members: readonly { readonly id: string; readonly role: string; readonly incarnation: string; readonly httpAddress: string | null }[];
  readonly leaderId: string | null;
}

describe('replacing a wiped node (real processes)', () => {
  it('a node whose data directory was deleted is replaced under load; nothing acknowledged is lost and a further failure is tolerated', async () => {
    const cluster = await startClusterForTest({ label: 'membership', http: true });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 10_000 }), 'mem');
    const writes = workload.background({ concurrency: 2, recordsMax: 50_000, durationMsMax: 60_000 });
    const members = async (brokers: readonly string[]): Promise<MembersJson> => {
      const result = await runCli(['members', 'list', '--json', '--brokers', brokers.join(',')], { timeoutMs: 15_000 });
      expect(result.code, describeCli(['members', 'list'], result)).toBe(0);
      return JSON.parse(result.stdout) as MembersJson;
    };
    let n4: NodeProcess | null = null;
    let n4Address: string | null = null;
    try {
      const leader = await cluster.leader();
      const victim = cluster.ids.find((id) => id !== leader) ?? 'n2';
      const survivors = cluster.ids.filter((id) => id !== victim);
      await cluster.waitFor(() => workload.ackedCount > 50, { timeoutMs: 10_000, what: 'writes before the loss' });

      // The disk is lost: the process dies and its data directory is gone.
      await cluster.kill(victim);
      fs.rmSync(cluster.dataDir(victim), { recursive: true, force: true });
      const ackedAtLoss = workload.ackedCount;

      // Restarted with its old command line on the empty directory, it asks the survivors
      // before it votes; they knew its old disk, so it stops, as a configuration error (2).
      await cluster.restart(victim).catch(() => undefined);
      await cluster.waitFor(() => cluster.exitStatus(victim) !== null, { timeoutMs: 15_000, what: `${victim} to stop on its wiped data directory` });
      expect(cluster.exitStatus(victim)?.code, cluster.outputTail(victim, 10).join('\n')).toBe(2);
      expect(cluster.outputTail(victim, 5).join('\n')).toContain(`quorumlog members replace ${victim}`);

      // A new machine: node n4 joins through the survivors' client ports.
      const [peerPort, clientPort, httpPort] = await freePorts(3);
      const peerAddress = `127.0.0.1:${peerPort ?? 0}`;
      const clientAddress = `127.0.0.1:${clientPort ?? 0}`;
      n4Address = clientAddress;
      const args = cluster.nodeArgs(victim).map((arg, k, all) => {
        if (all[k - 1] === '--id') return 'n4';
        if (all[k - 1] === '--members') return `n4=${peerAddress}/${clientAddress}`;
        if (all[k - 1] === '--data-dir') return path.join(cluster.dataRoot, 'n4');
        if (all[k - 1] === '--http-port') return String(httpPort ?? 0);
        return arg;
      });
      n4 = NodeProcess.spawn({ args: [...args, '--join', cluster.brokers(survivors).join(',')], output: new OutputLog('n4', path.join(cluster.dataRoot, 'logs', 'n4.out')), runTag: '#1', cwd: REPO_ROOT });
      const started = n4;
      onTestFinished(async () => {
        await started.stop(5_000).catch(() => undefined);
      });
      await n4.waitForLine(NODE_READY_LINE, 20_000);

      const replace = ['members', 'replace', victim, 'n4', `${peerAddress}/${clientAddress}`, '--brokers', cluster.brokers(survivors).join(','), '--catch-up-timeout-ms', '30000'];
      const replaced = await runCli(replace, { timeoutMs: 45_000 });
      expect(replaced.code, describeCli(replace, replaced)).toBe(0);
      expect(replaced.stdout).toContain(`replaced ${victim} by n4`);
      const after = await members([...cluster.brokers(survivors), clientAddress]);
      expect(after.members.map((m) => `${m.id}:${m.role}`).sort()).toEqual([...survivors, 'n4'].map((id) => `${id}:voter`).sort());
      // n4 said where it serves HTTP when it was added (--http-members names only the first
      // three): every member's status page shows the configuration now, n4 read at its address.
      const n4Http = `127.0.0.1:${httpPort ?? 0}`;
      expect(after.members.find((m) => m.id === 'n4')?.httpAddress).toBe(n4Http);
      await cluster.waitFor(
        async () => {
          const page = (await (await fetch(`http://${cluster.httpAddress(survivors[0] ?? '')}/status.json`)).json()) as { members: { id: string; httpAddress: string | null; health: string }[] };
          const n4Row = page.members.find((m) => m.id === 'n4');
          return page.members.map((m) => m.id).sort().join() === [...survivors, 'n4'].sort().join() && n4Row?.httpAddress === n4Http && n4Row.health !== 'unreachable';
        },
        { timeoutMs: 10_000, what: `${survivors[0] ?? ''}'s status page to show n4 (and not ${victim})` },
      );

      // n4 votes now: the cluster survives losing one more of the original nodes.
      const lost = await cluster.leader();
      await cluster.kill(lost);
      const ackedAtSecondLoss = workload.ackedCount;
      await cluster.waitFor(() => workload.ackedCount > ackedAtSecondLoss + 50, { timeoutMs: 20_000, what: `writes acknowledged after ${lost} was killed too` });
      expect(workload.ackedCount).toBeGreaterThan(ackedAtLoss);

      // With the killed leader still a voter, removing the other original node would leave one
      // live voter of two: refused, in one line that says why and how to force it.
      const remaining = survivors.find((id) => id !== lost) ?? '';
      const remove = ['members', 'remove', remaining, '--brokers', [...cluster.brokers([remaining]), clientAddress].join(',')];
      const refused = await runCli(remove, { timeoutMs: 20_000 });
      expect(refused.code, describeCli(remove, refused)).toBe(1);
      expect(refused.stderr.trim().split('\n'), describeCli(remove, refused)).toHaveLength(1);
      expect(refused.stderr).toMatch(/fewer than the quorum of 2; --force removes it anyway/);
    } finally {
      await writes.stop();
    }
    // Every acknowledged write is in the two live logs, identical, in acknowledgement order.
    const live = cluster.runningIds();
    const probe = new LogClient({ brokers: [...cluster.brokers(live), n4Address ?? ''], timeoutMs: 5_000 });
    try {
      await cluster.waitFor(
        async () => {
          const applied = await Promise.all([...cluster.brokers(live), n4Address ?? ''].map(async (address) => (await probe.status(address)).appliedIndex));
          return applied.every((a) => a === applied[0]);
        },
        { timeoutMs: 15_000, what: 'the live nodes and n4 to apply the same log' },
      );
    } finally {
      probe.close();
    }
    const logs = new Map<string, Awaited<ReturnType<typeof readWholeLog>>>();
    for (const id of live) logs.set(id, await readWholeLog(cluster.nodeClient(id)));
    expect(n4Address).not.toBeNull();
    const n4Client = new LogClient({ brokers: [n4Address ?? ''], timeoutMs: 10_000, brokerRefreshIntervalMs: 0 });
    try {
      logs.set('n4', await readWholeLog(n4Client));
    } finally {
      n4Client.close();
    }
    expect(checkLogs(logs, [workload]), workload.summary()).toEqual([]);
  }, 120_000);
});
