import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { Admin } from '../../src/client/index.js';
import { NodeProcess, OutputLog, REPO_ROOT, startClusterForTest, withTimeout, type TestCluster } from '../harness/index.js';

const CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'abort-calls.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');

/** The call kinds the child aborts, one line each. */
const KINDS = ['send', 'append', 'read', 'fetch', 'status', 'statusAll', 'admin', 'transaction', 'extend', 'nack'] as const;

/**
 * Far below the child's 60 s call budget: a call that ended only by its own timeout, or
 * not at all, is caught; one that ended on the abort is well inside it.
 */
const PROMPT_MS = 5_000;

/** Makes every node answer nothing: paused (SIGSTOP, connections stay open) or stopped (connections refused). */
async function silence(cluster: TestCluster, how: 'paused' | 'stopped'): Promise<void> {
  if (how === 'paused') for (const id of cluster.ids) cluster.pause(id);
  else await cluster.stopAll({ keepData: true });
}

describe('aborting calls against a cluster that answers nothing', () => {
  it.each(['paused', 'stopped'] as const)('with every node %s, each call kind rejects with AbortedError soon after its abort, and the process exits', async (how) => {
    const cluster = await startClusterForTest({ label: `abort-${how}` });
    await cluster.leader();
    const admin = new Admin({ brokers: cluster.brokers() });
    try {
      await admin.createTopic('orders');
    } finally {
      await admin.close();
    }
    const output = new OutputLog(`abort-${how}`, path.join(cluster.dataRoot, 'logs', `abort-${how}.out`));
    const proc = NodeProcess.spawn({ args: [CHILD, CLIENT, cluster.brokers().join(','), 'orders'], output, runTag: '#1', cwd: REPO_ROOT });
    try {
      await proc.waitForLine('ready', 30_000);
      await silence(cluster, how);
      proc.signal('SIGUSR2');
      const exit = await withTimeout(proc.exited, 60_000, 'the process to exit after its aborts and closes');
      expect(exit, output.render()).toMatchObject({ code: 0 });
    } finally {
      await proc.stop(2_000);
      for (const id of cluster.ids) cluster.resume(id);
    }
    const lines = output.tail();
    expect(lines.some((l) => l.includes('unhandled')), output.render()).toBe(false);
    expect(lines.some((l) => l.includes('close failed')), output.render()).toBe(false);
    expect(lines.some((l) => l.endsWith('] closed')), output.render()).toBe(true);
    // With the nodes stopped, statusAll does not wait: one refused connection per broker
    // ends it (each broker's error in the answer) before the abort.
    const kinds = how === 'paused' ? KINDS : KINDS.filter((kind) => kind !== 'statusAll');
    for (const kind of kinds) {
      const line = lines.map((l) => new RegExp(`\\] ${kind} (\\w+) (-?\\d+)$`).exec(l)).find((m) => m !== null);
      expect(line, `${kind}\n${output.render()}`).toBeDefined();
      const [, outcome, afterMs] = line ?? [];
      expect(outcome, kind).toBe('AbortedError');
      expect(Number(afterMs), kind).toBeGreaterThanOrEqual(0);
      expect(Number(afterMs), kind).toBeLessThan(PROMPT_MS);
    }
  });
});
