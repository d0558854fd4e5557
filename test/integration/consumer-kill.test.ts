import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { Admin } from '../../src/client/index.js';
import { delay, NodeProcess, OutputLog, REPO_ROOT, startClusterForTest, type TestCluster } from '../harness/index.js';

const CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'consumer-child.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');
const MESSAGES = 3_000;
const PREFETCH = 50;

async function fill(cluster: TestCluster, topic: string): Promise<void> {
  const client = cluster.client();
  await client.createTopic(topic);
  const encoder = new TextEncoder();
  for (let k = 0; k < MESSAGES; k += 500) {
    const messages = Array.from({ length: 500 }, (_, j) => ({ key: new Uint8Array(), headers: [], payload: encoder.encode(`m-${k + j}`), timestampMs: Date.now() }));
    await client.produce({ topic, producerId: 0, firstSequence: 0, messages });
  }
}

/** Consumer processes of one group, each run logging to its own file; the offsets they processed. */
class ConsumerRuns {
  private readonly runs: { proc: NodeProcess; output: OutputLog }[] = [];

  constructor(private readonly cluster: TestCluster, private readonly group: string, private readonly topic: string) {}

  async start(options: { readonly autoAck?: boolean; readonly workMs?: number } = {}): Promise<NodeProcess> {
    const n = this.runs.length + 1;
    const output = new OutputLog(`${this.group}${n}`, path.join(this.cluster.dataRoot, 'logs', `${this.group}-${n}.out`));
    const args = [CHILD, CLIENT, this.cluster.brokers().join(','), this.topic, this.group, String(PREFETCH), options.autoAck === true ? '1' : '0', String(options.workMs ?? 0)];
    const proc = NodeProcess.spawn({ args, output, runTag: `#${n}`, cwd: REPO_ROOT });
    this.runs.push({ proc, output });
    await proc.waitForLine('started', 20_000);
    return proc;
  }

  /** "done OFFSET DELIVERY" lines of every run so far, as offsets. */
  processed(): number[] {
    return this.runs.flatMap(({ output }) => [...fs.readFileSync(output.filePath ?? '', 'utf8').matchAll(/done (\d+) (\d+)/g)].map((m) => Number(m[1])));
  }

  async killAll(): Promise<void> {
    await Promise.all(this.runs.map(({ proc }) => proc.kill('SIGKILL')));
  }
}

async function groupState(admin: Admin, group: string): Promise<{ committedOffset: number; lag: number } | null> {
  return admin.describeGroup(group).catch(() => null);
}

describe('consumers and leaders killed -9 while a group works through 3,000 messages', () => {
  it('every message is processed at least once, duplicates bounded by what was in flight; with auto-ack forced on, messages are lost', async () => {
    const cluster = await startClusterForTest({ label: 'consumer-kill' });
    await cluster.leader();
    await fill(cluster, 'work');
    const admin = new Admin({ brokers: cluster.brokers(), retryBackoff: { initialMs: 20, maxMs: 200 } });
    const runs = new ConsumerRuns(cluster, 'safe', 'work');
    let consumerKills = 0;
    let leaderKills = 0;
    try {
      // Four consumer runs killed -9 part way; the leader killed -9 (and restarted) during two of them.
      for (let round = 0; round < 4; round++) {
        const proc = await runs.start();
        await cluster.waitFor(async () => ((await groupState(admin, 'safe'))?.committedOffset ?? 0) >= (round + 1) * 500, { timeoutMs: 60_000, what: `round ${round} progress`, intervalMs: 20 });
        if (round === 1 || round === 2) {
          const leader = await cluster.leader();
          await cluster.kill(leader);
          leaderKills++;
          await cluster.leader({ exclude: [leader], timeoutMs: 20_000 });
          await delay(300);
          await cluster.restart(leader);
        }
        await proc.kill('SIGKILL');
        consumerKills++;
      }
      const last = await runs.start();
      await cluster.waitFor(async () => (await groupState(admin, 'safe'))?.lag === 0, { timeoutMs: 90_000, what: 'the group to finish', intervalMs: 50 });
      await last.kill('SIGTERM');

      const processed = runs.processed();
      const unique = new Set(processed);
      const missing = Array.from({ length: MESSAGES }, (_, k) => k).filter((k) => !unique.has(k));
      const duplicates = processed.length - unique.size;
      const bound = (consumerKills + leaderKills) * 2 * PREFETCH;
      console.log(`[consumer-kill] ${consumerKills} consumer kills, ${leaderKills} leader kills: ${processed.length} processed, ${unique.size} distinct, ${duplicates} duplicates (bound ${bound})`);
      expect(missing).toEqual([]);
      expect(duplicates).toBeLessThanOrEqual(bound);

      // The same kills with auto-ack forced on: acked on arrival, killed mid-work, lost.
      const auto = new ConsumerRuns(cluster, 'auto', 'work');
      const autoRun = await auto.start({ autoAck: true, workMs: 5 });
      await cluster.waitFor(async () => ((await groupState(admin, 'auto'))?.committedOffset ?? 0) >= 200, { timeoutMs: 30_000, what: 'auto-ack progress', intervalMs: 20 });
      await autoRun.kill('SIGKILL');
      const autoLast = await auto.start({ autoAck: true });
      await cluster.waitFor(async () => (await groupState(admin, 'auto'))?.lag === 0, { timeoutMs: 60_000, what: 'the auto group to finish', intervalMs: 50 });
      await autoLast.kill('SIGTERM');
      const autoSeen = new Set(auto.processed());
      const lost = MESSAGES - autoSeen.size;
      console.log(`[consumer-kill] auto-ack: ${lost} messages acked and never processed`);
      expect(lost).toBeGreaterThan(0);
    } finally {
      admin.close();
      await runs.killAll();
    }
  }, 240_000);
});
