import { performance } from 'node:perf_hooks';

import { describe, expect, it } from 'vitest';

import { AppendWorkload, checkLogs, LONG_RUN, readAllLogs, startClusterForTest } from '../harness/index.js';

describe('failover of a three-node cluster (real processes)', () => {
  it('kill -9 the leader: a new one is elected, appends go on, the old leader catches up, nothing acknowledged is lost', async () => {
    const cluster = await startClusterForTest({ label: 'failover' });
    const client = cluster.client(cluster.ids, { timeoutMs: 5_000 });
    const oldLeader = await cluster.leader();

    // 1,000 records through the client on a healthy cluster: every one is acknowledged.
    // Records the old leader acknowledged before it was killed (they must all survive it): a
    // few hundred say it as well as a thousand did.
    const before = new AppendWorkload(client, 'before');
    await before.run({ count: 300, concurrency: 4 });
    expect(before.acked.length, before.summary()).toBe(300);

    // Keep writing while the leader dies.
    const during = new AppendWorkload(client, 'during');
    const writes = during.background({ concurrency: 2, recordsMax: 20_000, durationMsMax: 90_000 });
    try {
      await cluster.waitFor(() => during.ackedCount >= 50, { timeoutMs: 10_000, what: '50 acknowledgements before the kill' });
      const killedAtMs = performance.now();
      await cluster.kill(oldLeader);
      const exitedAtMs = performance.now();
      const newLeader = await cluster.leader({ exclude: [oldLeader], timeoutMs: 20_000 });
      const electedSeenAtMs = performance.now();
      expect(newLeader).not.toBe(oldLeader);
      // The old leader is dead, so an acknowledgement that arrives after its exit came from the new one.
      const firstAck = await cluster.waitFor(() => during.acked.find((a) => a.atMs > exitedAtMs), {
        timeoutMs: 20_000,
        what: 'the first write acknowledged after the kill',
      });
      console.log(
        `[failover] leader ${oldLeader} killed (SIGKILL); first committed write on ${newLeader} after ${(firstAck.atMs - killedAtMs).toFixed(0)} ms ` +
          `(new leader seen by polling after ${(electedSeenAtMs - killedAtMs).toFixed(0)} ms; tick 50 ms, election 10 ticks)`,
      );

      // Appends continue on the new leader with the old one down.
      const acksAfterFailover = during.ackedCount;
      await cluster.waitFor(() => during.ackedCount >= acksAfterFailover + 200, { timeoutMs: 20_000, what: '200 more acknowledgements on the new leader' });

      // The old leader comes back, catches up, and writes keep flowing meanwhile.
      await cluster.restart(oldLeader);
      const acksAtRestart = during.ackedCount;
      await cluster.waitFor(() => during.ackedCount >= acksAtRestart + 200, { timeoutMs: 20_000, what: '200 acknowledgements after the restart' });
    } finally {
      await writes.stop();
    }

    const statuses = await cluster.converged();
    expect(statuses.length).toBe(3);
    const logs = await readAllLogs(cluster);
    const problems = checkLogs(logs, [before, during]);
    expect(problems, `${before.summary()}\n${during.summary()}`).toEqual([]);
    for (const [id, log] of logs) expect(log.length, id).toBeGreaterThanOrEqual(before.acked.length + during.acked.length);
    console.log(`[failover] ${before.summary()}; ${during.summary()}; ${logs.get(oldLeader)?.length ?? 0} records on every node`);
  });

  // Three kills in a row measure failover; the first test already proves one kill loses nothing.
  it.runIf(LONG_RUN)('failover time over three successive leader kills (printed, not asserted)', async () => {
    const cluster = await startClusterForTest({ label: 'failover-rounds' });
    const client = cluster.client(cluster.ids, { timeoutMs: 5_000 });
    const workload = new AppendWorkload(client, 'rounds');
    const writes = workload.background({ concurrency: 1, recordsMax: 20_000, durationMsMax: 90_000 });
    const rounds: string[] = [];
    try {
      for (let round = 1; round <= 3; round++) {
        const leader = await cluster.leader();
        const acks = workload.ackedCount;
        await cluster.waitFor(() => workload.ackedCount >= acks + 20, { timeoutMs: 20_000, what: `20 acknowledgements before round ${round}` });
        const killedAtMs = performance.now();
        await cluster.kill(leader);
        const exitedAtMs = performance.now();
        const [newLeader, firstAck] = await Promise.all([
          cluster.leader({ exclude: [leader], timeoutMs: 20_000 }).then((id) => ({ id, seenAtMs: performance.now() })),
          cluster.waitFor(() => workload.acked.find((a) => a.atMs > exitedAtMs), {
            timeoutMs: 20_000,
            what: `the first acknowledgement after killing ${leader} (round ${round})`,
          }),
        ]);
        rounds.push(`${leader}->${newLeader.id} ${(firstAck.atMs - killedAtMs).toFixed(0)} ms (leader seen ${(newLeader.seenAtMs - killedAtMs).toFixed(0)} ms)`);
        await cluster.restart(leader);
      }
    } finally {
      await writes.stop();
    }
    console.log(`[failover] kill -9 of the leader to first committed write, three rounds: ${rounds.join('; ')}`);
    await cluster.converged();
    const logs = await readAllLogs(cluster);
    expect(checkLogs(logs, [workload]), workload.summary()).toEqual([]);
  });

  it('SIGSTOP the leader: appends are acknowledged again while it is still stopped, and nothing acknowledged is lost', async () => {
    const cluster = await startClusterForTest({ label: 'paused-leader' });
    // The budget of one append (10 s) outlasts the longest the leader stays stopped here
    // (8 s), so only giving up on the stopped node in time gets writes through meanwhile.
    const client = cluster.client(cluster.ids, { timeoutMs: 10_000 });
    const oldLeader = await cluster.leader();
    const workload = new AppendWorkload(client, 'paused');
    const writers = 2;
    const writes = workload.background({ concurrency: writers, recordsMax: 20_000, durationMsMax: 90_000 });
    try {
      await cluster.waitFor(() => workload.ackedCount >= 50, { timeoutMs: 10_000, what: '50 acknowledgements before the pause' });
      const acksAtPause = workload.ackedCount;
      const pausedAtMs = performance.now();
      cluster.pause(oldLeader);
      let resumedAfterMs: number;
      try {
        // An answer already on its way when the leader stopped may still arrive: at most one
        // per writer. Twenty more can only come from a new leader, the old one still stopped.
        const ack = await cluster.waitFor(() => (workload.ackedCount >= acksAtPause + writers + 20 ? workload.acked[acksAtPause + writers] : undefined), {
          timeoutMs: 8_000,
          what: `20 acknowledgements while the old leader ${oldLeader} is stopped`,
        });
        resumedAfterMs = ack.atMs - pausedAtMs;
      } finally {
        cluster.resume(oldLeader);
      }
      console.log(`[failover] leader ${oldLeader} stopped (SIGSTOP): writes acknowledged again after ${resumedAfterMs.toFixed(0)} ms, the old leader still stopped`);
      const acksAtResume = workload.ackedCount;
      await cluster.waitFor(() => workload.ackedCount >= acksAtResume + 100, { timeoutMs: 20_000, what: '100 acknowledgements after SIGCONT' });
    } finally {
      await writes.stop();
    }
    await cluster.converged();
    const logs = await readAllLogs(cluster);
    expect(checkLogs(logs, [workload]), workload.summary()).toEqual([]);
  });
});
