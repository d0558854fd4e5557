/**
 * A damaged log needs no hand repair: a node whose disk lost or mangled records (not a torn
 * tail) starts, keeps everything before the first damaged record, logs exactly what it
 * discarded, does not vote until the leader has repaired it, and nothing acknowledged is
 * lost. Damage to the hard state or the identity file is a startup error naming the file.
 * A majority of damaged nodes elects no leader, and `quorumlog status` says why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { DataLossError } from '../../src/client/index.js';

import { AppendWorkload, checkLogs, delay, describeCli, LONG_RUN, readAllLogs, readWholeLog, runCli, startClusterForTest, type TestCluster } from '../harness/index.js';

/** Small segments, so a few thousand records make several sealed ones to damage. */
const SEGMENT_ARGS = ['--segment-bytes', '4096'];
/**
 * No snapshot on the victim, so that start verifies every segment: a node defers verifying
 * the segments below its newest snapshot to their reads (the last test here), and a clean
 * stop writes one, so victims of the first test are killed instead.
 */
const NO_SNAPSHOT_ARGS = [...SEGMENT_ARGS, '--snapshot-entries', '1000000000'];

function segments(cluster: TestCluster, id: string): string[] {
  const dir = path.join(cluster.dataDir(id), 'log');
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => path.join(dir, name));
}

type Damage = (cluster: TestCluster, id: string) => string;

const ALL_DAMAGES: readonly [string, Damage][] = [
  [
    'a flipped byte in the middle of a sealed segment',
    (cluster, id) => {
      const file = segments(cluster, id)[1] ?? '';
      const bytes = fs.readFileSync(file);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] ?? 0) ^ 0x10;
      fs.writeFileSync(file, bytes);
      return `${file}@${at}`;
    },
  ],
  [
    'a hole of zeros in a sealed segment',
    (cluster, id) => {
      const file = segments(cluster, id)[2] ?? '';
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.alloc(200), 0, 200, 1000);
      fs.closeSync(fd);
      return `${file}@1000`;
    },
  ],
  [
    'a missing middle segment',
    (cluster, id) => {
      const file = segments(cluster, id)[1] ?? '';
      fs.rmSync(file);
      return file;
    },
  ],
  [
    'a segment that cannot be opened (a dangling link in its place)',
    (cluster, id) => {
      const file = segments(cluster, id)[2] ?? '';
      fs.rmSync(file);
      fs.symlinkSync(path.join(path.dirname(file), 'gone'), file);
      return file;
    },
  ],
];

/** npm test damages a sealed segment's record and removes a segment; test:long every kind. */
const DAMAGES = LONG_RUN ? ALL_DAMAGES : ALL_DAMAGES.filter(([what]) => what.includes('flipped byte') || what.includes('missing middle'));

async function moreAcks(cluster: TestCluster, workload: AppendWorkload, count: number, what: string): Promise<void> {
  const start = workload.ackedCount;
  await cluster.waitFor(() => workload.ackedCount >= start + count, { timeoutMs: 30_000, what: `${count} more acknowledgements ${what} (${workload.summary()})` });
}

describe('a damaged log is repaired from the leader, not by hand (real processes)', () => {
  it('each kind of damage on a stopped follower: it starts, says what it discarded, repairs, votes again; nothing acknowledged is lost', async () => {
    const cluster = await startClusterForTest({ label: 'damaged-log', extraArgs: NO_SNAPSHOT_ARGS });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'dmg');
    const writes = workload.background({ concurrency: 3, recordsMax: 40_000, durationMsMax: 150_000 });
    try {
      await moreAcks(cluster, workload, 600, 'to fill several segments');
      for (const [what, damage] of DAMAGES) {
        const leader = await cluster.leader();
        const victim = cluster.ids.find((id) => id !== leader) ?? '';
        await cluster.kill(victim);
        expect(segments(cluster, victim).length, `${victim} has sealed segments to damage`).toBeGreaterThan(3);
        const where = damage(cluster, victim);
        await cluster.restart(victim);
        const lines = cluster.currentRunOutput(victim);
        const damageLine = lines.find((line) => line.includes('recovery: damage'));
        console.log(`[damage] ${what} (${where}): ${damageLine ?? 'no damage line'}`);
        expect(damageLine, `${what}\n${lines.join('\n')}`).toMatch(/kept entries before \d+, discarded every entry from \d+ on/);
        expect(lines.some((line) => line.includes('will not vote or campaign until a leader has repaired its log through')), what).toBe(true);
        await cluster.waitFor(async () => !(await cluster.status(victim)).votingBlocked, { timeoutMs: 30_000, what: `${victim} repaired after ${what}` });
        await moreAcks(cluster, workload, 100, `after ${what}`);
      }
    } finally {
      await writes.stop();
    }
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload]), workload.summary()).toEqual([]);

    // The hard state and the identity file are not repaired: a clear error naming the file.
    const victim = cluster.ids[0] ?? 'n1';
    await cluster.stop(victim);
    const args = cluster.nodeArgs(victim).slice(1);
    for (const file of [path.join(cluster.dataDir(victim), 'log', 'state'), path.join(cluster.dataDir(victim), 'identity.json')]) {
      const original = fs.readFileSync(file);
      fs.writeFileSync(file, Buffer.alloc(original.length, 0x5a));
      const result = await runCli(args, { timeoutMs: 20_000 });
      expect(result.code, describeCli(args, result)).not.toBe(0);
      expect(result.stderr.trim().split('\n'), describeCli(args, result)).toHaveLength(1);
      expect(result.stderr, describeCli(args, result)).toContain(file);
      fs.writeFileSync(file, original);
    }
    await cluster.restart(victim);
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload])).toEqual([]);
  });

  it('damage below the newest snapshot: the follower starts whole, a read of it fails naming the segment and index and is logged, and the next start cuts and repairs it', async () => {
    const cluster = await startClusterForTest({ label: 'damaged-below-snapshot', extraArgs: SEGMENT_ARGS });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'dbs');
    await workload.run({ count: 800, concurrency: 4 });
    await cluster.converged();
    const leader = await cluster.leader();
    const victim = cluster.ids.find((id) => id !== leader) ?? '';
    await cluster.stop(victim); // a clean stop writes a snapshot of everything applied
    const where = ALL_DAMAGES[0]?.[1](cluster, victim);
    await cluster.restart(victim);
    const started = cluster.currentRunOutput(victim);
    expect(started.some((line) => line.includes('recovery: damage')), started.join('\n')).toBe(false);
    expect((await cluster.status(victim)).votingBlocked).toBe(false);

    // The storage error crosses the wire as DATA_LOSS (DataLossError, code corruptRecord), its message intact.
    const readError = await readWholeLog(cluster.nodeClient(victim)).then(() => null, (error: unknown) => error);
    expect(readError, `a read over ${where}`).toBeInstanceOf(DataLossError);
    expect(readError).toMatchObject({ code: 'corruptRecord', message: expect.stringMatching(/corrupt record in \S+\.log at byte \d+ \(expected index \d+\)/) });
    // Logged before the answer left, but the node's output reaches this process through a pipe
    // that may be read after the answer arrived over the network: wait for the line.
    await cluster.waitFor(() => cluster.currentRunOutput(victim).some((line) => line.includes('log damage found on read')), { timeoutMs: 5_000, what: `${victim} to log the damage its read found` });

    await cluster.stop(victim);
    await cluster.restart(victim);
    const restarted = cluster.currentRunOutput(victim);
    expect(restarted.find((line) => line.includes('recovery: damage')), restarted.join('\n')).toMatch(/kept entries before \d+, discarded every entry from \d+ on/);
    await cluster.waitFor(async () => !(await cluster.status(victim)).votingBlocked, { timeoutMs: 30_000, what: `${victim} repaired` });
    await workload.run({ count: 100, concurrency: 4 });
    await cluster.converged();
    expect(checkLogs(await readAllLogs(cluster), [workload]), workload.summary()).toEqual([]);
  });

  it('a majority whose logs lost acknowledged entries elects no leader, and status says why', async () => {
    const cluster = await startClusterForTest({ label: 'damaged-majority', extraArgs: SEGMENT_ARGS });
    const workload = new AppendWorkload(cluster.client(cluster.ids, { timeoutMs: 5_000 }), 'maj');
    await workload.run({ count: 800, concurrency: 4 });
    await cluster.converged();
    const [healthy, ...damaged] = cluster.ids;
    await Promise.all(cluster.ids.map((id) => cluster.stop(id)));
    for (const id of damaged) fs.rmSync(segments(cluster, id).at(-2) ?? ''); // the newest sealed segment
    await Promise.all(damaged.map((id) => cluster.restart(id)));
    // Two nodes that may not vote: no election can succeed. Watch for several election timeouts.
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      for (const id of damaged) {
        const status = await cluster.status(id);
        expect(status.role, `${id} must not lead`).not.toBe('leader');
        expect(status.votingBlocked).toBe(true);
      }
      await delay(250);
    }
    const args = ['status', '--brokers', cluster.brokers().join(',')];
    const status = await runCli(args);
    console.log(`[damage] status of a damaged majority:\n${status.stdout}`);
    expect(status.stdout, describeCli(args, status)).toMatch(/repairing: log at \d+ of \d+ \(\d+%\); not voting/);
    expect(status.stdout, describeCli(args, status)).toContain(`no leader: a leader needs 2 of 3 members voting, and only 0 can (1 of 3 unreachable; ${damaged.join(', ')} await repair`);
    expect(healthy).toBeDefined();
  });
});
