import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { AppendWorkload, checkLogs, describeCli, readAllLogs, runCli, startClusterForTest, type TestCluster } from '../harness/index.js';

/** Every file under `dir` (recursively) with its size and content hash, sorted by path. */
function snapshotTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(`${path.relative(dir, full)} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`);
    }
  };
  walk(dir);
  return out.sort();
}

async function quiet(cluster: TestCluster): Promise<void> {
  // With no writes in flight and every node applied to one commit index, an idle node writes
  // nothing: the data directory's bytes stay as they are unless someone else touches them.
  await cluster.converged();
}

describe('one process per data directory (real processes)', () => {
  it('a second node process on a live data directory exits with one line naming the holder, and changes no byte', async () => {
    const cluster = await startClusterForTest({ label: 'dir-lock' });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'lock');
    await workload.run({ count: 300, concurrency: 4 });
    const victim = await cluster.leader();
    await quiet(cluster);
    const before = snapshotTree(cluster.dataDir(victim));

    // The same command line as the live node, as a service manager or a second terminal would run it.
    const args = cluster.nodeArgs(victim).slice(1);
    const second = await runCli(args, { timeoutMs: 20_000 });
    expect(second.code, describeCli(args, second)).toBe(1);
    const lines = second.stderr.trim().split('\n');
    expect(lines, describeCli(args, second)).toHaveLength(1);
    expect(lines[0]).toContain(path.resolve(cluster.dataDir(victim)));
    expect(lines[0]).toContain(`pid ${cluster.pid(victim)}`);
    expect(snapshotTree(cluster.dataDir(victim))).toEqual(before);

    // The live node kept serving and every acknowledged record reads back, byte for byte.
    const after = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'after');
    await after.run({ count: 100, concurrency: 4 });
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload, after])).toEqual([]);

    // ... and after the live node restarts.
    await cluster.stop(victim);
    await cluster.restart(victim);
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload, after])).toEqual([]);
  });

  it('the lock dies with its holder: after kill -9 the node starts again on the same directory', async () => {
    const cluster = await startClusterForTest({ label: 'dir-lock-kill' });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'k');
    await workload.run({ count: 100, concurrency: 2 });
    const victim = await cluster.leader();
    await cluster.kill(victim);
    await cluster.restart(victim);
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload])).toEqual([]);
  });
});
