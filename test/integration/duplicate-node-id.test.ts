/**
 * Two live processes claiming one node id (same cluster, another data directory and
 * address): the peers keep the established one. A newcomer that bootstraps on its new data
 * directory is told by them that they know another directory under its id (its bootstrap
 * check) and exits with status 2; one started with --join makes no such check, is refused
 * as a second live process of the id, and exits 1. Both say why in their last line; the
 * peers' refusals are rate-limited in their logs.
 */
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { AppendWorkload, checkLogs, describeCli, freePorts, readAllLogs, runCli, startClusterForTest } from '../harness/index.js';

describe('one live process per node id (real processes)', () => {
  it('a second process with a member id is told by the peers and exits, bootstrapping or joining; the established one keeps its links', async () => {
    const cluster = await startClusterForTest({ label: 'dup-id' });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'dup');
    const writes = workload.background({ concurrency: 2, recordsMax: 20_000, durationMsMax: 60_000 });
    const victim = cluster.ids[0] ?? 'n1';
    let result: Awaited<ReturnType<typeof runCli>>;
    let joined: Awaited<ReturnType<typeof runCli>>;
    let args: string[] = [];
    let joinArgs: string[] = [];
    const linesBefore = new Map(cluster.ids.map((id) => [id, cluster.currentRunOutput(id).length]));
    try {
      await cluster.leader();
      const [peerPort, clientPort] = await freePorts(2);
      const members = cluster.ids
        .map((id) => {
          const m = cluster.member(id);
          return id === victim ? `${id}=127.0.0.1:${peerPort}/127.0.0.1:${clientPort}` : `${id}=${m.peerAddress}/${m.clientAddress}`;
        })
        .join(',');
      const nodeArgs = cluster.nodeArgs(victim).slice(1);
      args = nodeArgs.map((arg, k) => (nodeArgs[k - 1] === '--members' ? members : nodeArgs[k - 1] === '--data-dir' ? path.join(path.dirname(arg), 'impostor') : arg));
      result = await runCli(args, { timeoutMs: 40_000 });
      joinArgs = [...args.map((arg, k) => (args[k - 1] === '--data-dir' ? `${arg}-joining` : arg)), '--join', cluster.brokers(cluster.ids.filter((id) => id !== victim)).join(',')];
      joined = await runCli(joinArgs, { timeoutMs: 40_000 });
    } finally {
      await writes.stop();
    }
    expect(result.code, describeCli(args, result)).toBe(2);
    expect(result.stdout, describeCli(args, result)).toContain(`stopping: a member knows another data directory under this node id: member `);
    expect(result.stdout, describeCli(args, result)).toContain(`or another process runs as ${victim} on another directory`);
    expect(joined.code, describeCli(joinArgs, joined)).toBe(1);
    expect(joined.stdout, describeCli(joinArgs, joined)).toContain(`stopping: this node id is taken: another live process is node ${victim}`);
    for (const id of cluster.ids.filter((other) => other !== victim)) {
      const lines = cluster.currentRunOutput(id).slice(linesBefore.get(id) ?? 0);
      const refusals = lines.filter((line) => line.includes('two processes claim one node id'));
      expect(refusals.length, `${id}:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(1);
      expect(refusals.length, `rate-limited in ${id}'s log`).toBeLessThanOrEqual(4);
    }
    const established = cluster.currentRunOutput(victim).slice(linesBefore.get(victim) ?? 0);
    expect(established.filter((line) => line.includes('replaced by a newer stream')), established.join('\n')).toEqual([]);
    expect(cluster.running(victim)).toBe(true);
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload]), workload.summary()).toEqual([]);
  });
});
