import * as path from 'node:path';

import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  Admin,
  Consumer,
  InvalidArgumentError,
  NotFoundError,
  TransactionClient,
  TransactionDecidedError,
  TransactionProducer,
  type TransactionListener,
  type TransactionOutcome,
} from '../../src/client/index.js';
import { runCliInProcess } from '../harness/cli-in-process.js';
import { describeCli, NodeProcess, OutputLog, rejectionOf, REPO_ROOT, runCli, TestCluster, testFailed } from '../harness/index.js';
import { fetchPayloads } from './broker-helpers.js';

const CHILD = path.join(REPO_ROOT, 'test', 'integration', 'fixtures', 'tx-child.mjs');
const CLIENT = path.join(REPO_ROOT, 'dist', 'src', 'client', 'index.js');
const AUDIT = '__tx_rollbacks';
/** Short check-backs, so a test sees several within a second or two. */
const FAST_CHECKS = { checkDelayMs: 500, checkIntervalMs: 500 } as const;

function grpcCode(error: unknown): number | undefined {
  return (error as { cause?: ServiceError }).cause?.code;
}

/** A deferred decision the test makes while executeLocal waits. */
function gate(): { readonly promise: Promise<TransactionOutcome>; readonly decide: (outcome: TransactionOutcome) => void } {
  let decide: (outcome: TransactionOutcome) => void = () => {};
  const promise = new Promise<TransactionOutcome>((resolve) => (decide = resolve));
  return { promise, decide };
}

describe('transactions on a real cluster', () => {
  let cluster: TestCluster;
  let admin: Admin;
  let txClient: TransactionClient;
  const producers: TransactionProducer[] = [];
  const children: NodeProcess[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ label: 'tx' });
    await cluster.leader();
    admin = new Admin({ brokers: cluster.brokers() });
    txClient = new TransactionClient({ brokers: cluster.brokers(), timeoutMs: 10_000 });
  });

  let failed = false;
  afterEach((context) => {
    if (testFailed(context.task)) failed = true;
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await Promise.all(producers.map((p) => p.close()));
    txClient?.close();
    admin?.close();
    await cluster?.stopAll({ keepData: failed });
    if (failed && cluster !== undefined) console.log(`[harness] data kept in ${cluster.dataRoot}\n${cluster.renderOutput()}`);
  });

  function producer(group: string, listener: TransactionListener, checkMax = 15, schedule: { readonly checkDelayMs: number; readonly checkIntervalMs: number } = FAST_CHECKS): TransactionProducer {
    const p = new TransactionProducer({ brokers: cluster.brokers(), producerGroup: group, listener, ...schedule, checkMax, requestTimeoutMs: 15_000, retryBackoff: { initialMs: 20, maxMs: 200 }, log: () => {} });
    producers.push(p);
    return p;
  }

  /** Every node's view of `topic`, once they have converged. */
  async function everyNode(topic: string): Promise<string[][]> {
    await cluster.converged();
    return Promise.all(cluster.runningIds().map((id) => fetchPayloads(cluster, id, topic)));
  }

  it('commit: invisible until executeLocal commits, then all messages at consecutive offsets; rollback: never visible', async () => {
    await admin.createTopic('orders');
    await cluster.client().produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [{ key: new Uint8Array(0), headers: [], payload: new TextEncoder().encode('plain-0'), timestampMs: 1 }] });
    // A consumer group reading the topic all along: it must never be handed a half or a rolled-back message.
    const consumed: string[] = [];
    const watcher = new Consumer({ brokers: cluster.brokers(), group: 'watchers', topic: 'orders' });
    const watching = watcher.run(async (m) => void consumed.push(new TextDecoder().decode(m.payload)));
    const seenDuringLocal: string[][] = [];
    const listedDuringLocal: unknown[] = [];
    const decision = { outcome: 'commit' as TransactionOutcome };
    const p = producer('g-basic', {
      executeLocal: async (m) => {
        // The half is committed now: no node shows it, and `tx list` does.
        seenDuringLocal.push(...(await everyNode('orders')));
        const listed = await runCli(['tx', 'list', '--json', '--brokers', cluster.brokers().join(',')]);
        listedDuringLocal.push(...(JSON.parse(listed.stdout) as { txId: string }[]).filter((t) => t.txId === m.txId));
        return decision.outcome;
      },
      check: () => 'unknown',
      // The broker's default schedule: no check-back may come while executeLocal looks on (a slow machine).
    }, 15, { checkDelayMs: 60_000, checkIntervalMs: 60_000 });
    const committed = await p.sendInTransaction('orders', [{ payload: 'tx-a' }, { payload: 'tx-b' }, { payload: 'tx-c' }]);
    expect(committed).toMatchObject({ outcome: 'committed', firstOffset: 1, count: 3 });
    expect(seenDuringLocal.every((payloads) => payloads.join() === 'plain-0'), JSON.stringify(seenDuringLocal)).toBe(true);
    expect(listedDuringLocal).toEqual([expect.objectContaining({ txId: committed.txId, producerGroup: 'g-basic', topic: 'orders', messageCount: 3, checkCount: 0, checkMax: 15 })]);

    decision.outcome = 'rollback';
    const rolledBack = await p.sendInTransaction('orders', { payload: 'tx-rolled-back' });
    expect(rolledBack).toMatchObject({ outcome: 'rolledBack', firstOffset: null });
    for (const payloads of await everyNode('orders')) expect(payloads).toEqual(['plain-0', 'tx-a', 'tx-b', 'tx-c']);

    // A retried commit is the same answer, not a second message.
    expect(await txClient.endTransaction(committed.txId, 'commit')).toEqual({ state: 'committed', topic: 'orders', firstOffset: 1, count: 3, duplicate: true });
    expect((await admin.describeTopic('orders')).nextOffset).toBe(4);
    await cluster.waitFor(async () => (await admin.describeGroup('watchers')).committedOffset === 4, { timeoutMs: 10_000, what: 'the watcher group to ack everything', intervalMs: 50 });
    await watcher.close();
    await watching;
    expect(consumed).toEqual(['plain-0', 'tx-a', 'tx-b', 'tx-c']);
  }, 30_000);

  it('unknown, then check-back: a producer of the group is asked and its commit makes the messages visible; with no answer the last check rolls back into the audit topic', async () => {
    await admin.createTopic('checked');
    const checks: number[] = [];
    const answering = producer('g-check', {
      executeLocal: () => 'unknown',
      check: (m) => {
        checks.push(m.checkCount);
        return 'commit';
      },
    });
    const pending = await answering.sendInTransaction('checked', [{ payload: 'c-1' }, { payload: 'c-2' }]);
    // (Invisible until then, as the first test shows; a check-back 500 ms on may already have committed it here.)
    expect(pending.outcome).toBe('unknown');
    await cluster.waitFor(async () => (await admin.describeTopic('checked')).nextOffset === 2, { timeoutMs: 10_000, what: 'the check-back committing', intervalMs: 50 });
    expect(checks[0]).toBe(1);
    for (const payloads of await everyNode('checked')) expect(payloads).toEqual(['c-1', 'c-2']);

    const silent = producer('g-silent', { executeLocal: () => 'unknown', check: () => 'unknown' }, 2);
    const abandoned = await silent.sendInTransaction('checked', { payload: 'never' });
    await cluster.waitFor(async () => (await admin.listTopics()).some((t) => t.name === AUDIT && t.nextOffset > 0), { timeoutMs: 10_000, what: 'the rollback after the last check-back', intervalMs: 50 });
    // Both checks counted; at least one reached the producer (its stream may connect late on a loaded machine).
    expect(silent.stats().checksUnknown).toBeGreaterThanOrEqual(1);
    await cluster.converged(); // the fetch may go to a follower, which serves what it has applied
    const audited = await cluster.client().fetch(AUDIT, 0);
    const headers = Object.fromEntries((audited.messages[0]?.headers ?? []).map((h) => [h.name, new TextDecoder().decode(h.value)]));
    expect(headers).toMatchObject({ 'quorumlog-tx-topic': 'checked', 'quorumlog-tx-id': abandoned.txId, 'quorumlog-tx-producer-group': 'g-silent', 'quorumlog-tx-check-count': '2' });
    expect(await rejectionOf(txClient.endTransaction(abandoned.txId, 'commit'))).toBeInstanceOf(TransactionDecidedError);
    for (const payloads of await everyNode('checked')) expect(payloads).toEqual(['c-1', 'c-2']);
  }, 30_000);

  it('bad input: unknown id, commit after rollback, rollback after commit, a bad id: clear errors and exit codes, nothing changes', async () => {
    await admin.createTopic('bad');
    const half = async (txId: string): Promise<void> => {
      await txClient.sendHalf({ txId, producerGroup: 'g-bad', topic: 'bad', messages: [{ key: new Uint8Array(0), headers: [], payload: new TextEncoder().encode(txId), timestampMs: 1 }], ...FAST_CHECKS, checkMax: 15 });
    };
    await half('bad-committed');
    await half('bad-rolled-back');
    expect(await txClient.endTransaction('bad-committed', 'commit')).toMatchObject({ state: 'committed', firstOffset: 0, duplicate: false });
    expect(await txClient.endTransaction('bad-rolled-back', 'rollback')).toMatchObject({ state: 'rolledBack', duplicate: false });
    // Re-sending a half already decided answers its state, and writes nothing.
    expect(await txClient.sendHalf({ txId: 'bad-committed', producerGroup: 'g-bad', topic: 'bad', messages: [{ key: new Uint8Array(0), headers: [], payload: new TextEncoder().encode('bad-committed'), timestampMs: 1 }] })).toMatchObject({ duplicate: true, state: 'committed' });

    const unknown = await rejectionOf(txClient.endTransaction('no-such-tx', 'commit'));
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(grpcCode(unknown)).toBe(grpcStatus.NOT_FOUND);
    const afterRollback = await rejectionOf(txClient.endTransaction('bad-rolled-back', 'commit'));
    expect(afterRollback).toBeInstanceOf(TransactionDecidedError);
    expect(grpcCode(afterRollback)).toBe(grpcStatus.FAILED_PRECONDITION);
    expect((afterRollback as Error).message).toMatch(/already rolled back/);
    const afterCommit = await rejectionOf(txClient.endTransaction('bad-committed', 'rollback'));
    expect(grpcCode(afterCommit)).toBe(grpcStatus.FAILED_PRECONDITION);
    const badId = await rejectionOf(half('not a valid id'));
    expect(badId).toBeInstanceOf(InvalidArgumentError);
    expect(grpcCode(badId)).toBe(grpcStatus.INVALID_ARGUMENT);
    const noTopic = await rejectionOf(txClient.sendHalf({ txId: 'no-topic', producerGroup: 'g-bad', topic: 'missing', messages: [{ key: new Uint8Array(0), headers: [], payload: new Uint8Array(1), timestampMs: 1 }] }));
    expect(grpcCode(noTopic)).toBe(grpcStatus.NOT_FOUND);
    // A delivery time would be ignored when the transaction commits: refused, nothing written.
    const deliverAt = { name: 'quorumlog-deliver-at-ms', value: new TextEncoder().encode(String(Date.now() + 60_000)) };
    const delayed = await rejectionOf(txClient.sendHalf({ txId: 'bad-delayed', producerGroup: 'g-bad', topic: 'bad', messages: [{ key: new Uint8Array(0), headers: [deliverAt], payload: new Uint8Array(1), timestampMs: 1 }] }));
    expect(grpcCode(delayed)).toBe(grpcStatus.INVALID_ARGUMENT);
    expect((delayed as Error).message).toMatch(/message 0 .*cannot be delayed/);
    expect(grpcCode(await rejectionOf(txClient.endTransaction('bad-delayed', 'commit')))).toBe(grpcStatus.NOT_FOUND);

    const brokers = ['--brokers', cluster.brokers().join(',')];
    for (const [args, pattern] of [
      [['tx', 'commit', 'no-such-tx', ...brokers], /unknown/],
      [['tx', 'commit', 'bad-rolled-back', ...brokers], /already rolled back/],
      [['tx', 'rollback', 'bad-committed', ...brokers], /already committed/],
    ] as const) {
      const result = await runCli(args);
      expect(result.code, describeCli(args, result)).toBe(1);
      expect(result.stderr.trim().split('\n'), describeCli(args, result)).toHaveLength(1);
      expect(result.stderr).toMatch(/^quorumlog: /);
      expect(result.stderr).toMatch(pattern);
    }
    const usage = await runCliInProcess(['tx', 'commit', ...brokers]);
    expect(usage.code, describeCli(['tx', 'commit'], { ...usage, signal: null })).toBe(2);
    const again = await runCli(['tx', 'commit', 'bad-committed', '--json', ...brokers]);
    expect(JSON.parse(again.stdout)).toMatchObject({ txId: 'bad-committed', state: 'committed', duplicate: true });
    for (const payloads of await everyNode('bad')) expect(payloads).toEqual(['bad-committed']);
  }, 30_000);

  it('the producer killed -9 after the half, before deciding: the check-back reaches a restarted producer of the group, which commits; the message appears once', async () => {
    await admin.createTopic('crash');
    const brokers = cluster.brokers().join(',');
    const spawnChild = (run: number, mode: 'half' | 'checker'): NodeProcess => {
      const output = new OutputLog(`tx-producer${run}`, path.join(cluster.dataRoot, 'logs', `tx-producer${run}.out`));
      const child = NodeProcess.spawn({ args: [CHILD, CLIENT, brokers, 'g-crash', 'crash', mode, 'crash-1'], output, runTag: `#${run}`, cwd: REPO_ROOT });
      children.push(child);
      return child;
    };
    const first = spawnChild(1, 'half');
    const txId = (await first.waitForLine('half ', 15_000)).split('half ')[1]?.trim() ?? '';
    await first.kill('SIGKILL');
    // With no producer of the group connected, check-backs still count.
    await cluster.waitFor(async () => ((await txClient.listTransactions()).transactions.find((t) => t.txId === txId)?.checkCount ?? 0) >= 1, { timeoutMs: 10_000, what: 'a check-back counted', intervalMs: 50 });
    const second = spawnChild(2, 'checker');
    await second.waitForLine(`checked ${txId}`, 15_000);
    await cluster.waitFor(async () => (await admin.describeTopic('crash')).nextOffset === 1, { timeoutMs: 10_000, what: 'the restarted producer committing', intervalMs: 50 });
    expect((await second.stop(5_000)).code).toBe(0);
    for (const payloads of await everyNode('crash')) expect(payloads).toEqual(['crash-1']);
    expect((await txClient.listTransactions()).transactions.map((t) => t.txId)).not.toContain(txId);
  }, 45_000);

  it('the leader killed -9 between half and commit: the commit goes to the new leader and works; the message appears once on every node', async () => {
    await admin.createTopic('failover');
    const oldLeader = await cluster.leader();
    const local = gate();
    const halfWritten = gate();
    const p = producer('g-failover', {
      executeLocal: () => {
        halfWritten.decide('commit');
        return local.promise;
      },
      check: () => 'unknown',
    });
    const sending = p.sendInTransaction('failover', [{ payload: 'f-1' }, { payload: 'f-2' }]);
    await halfWritten.promise;
    await cluster.kill(oldLeader);
    local.decide('commit');
    const result = await sending;
    expect(result).toMatchObject({ outcome: 'committed', firstOffset: 0, count: 2 });
    const newLeader = await cluster.leader({ exclude: [oldLeader] });
    expect(newLeader).not.toBe(oldLeader);
    // Retried again by hand: the original offsets, nothing written twice.
    expect(await txClient.endTransaction(result.txId, 'commit')).toMatchObject({ firstOffset: 0, count: 2, duplicate: true });
    await cluster.restart(oldLeader);
    for (const payloads of await everyNode('failover')) expect(payloads).toEqual(['f-1', 'f-2']);
  }, 45_000);

  it('check-back state survives the leader: killed -9 after a check, the new leader goes on counting from there and its check gets the commit', async () => {
    await admin.createTopic('checks-failover');
    const seen: number[] = [];
    const firstCheck = gate();
    const p = producer('g-checks-failover', {
      executeLocal: () => 'unknown',
      check: (m) => {
        seen.push(m.checkCount);
        firstCheck.decide('unknown');
        // Unknown at the first check (the old leader's; a new leader re-sends it once), commit from the second on.
        return m.checkCount >= 2 ? 'commit' : 'unknown';
      },
    });
    const sent = await p.sendInTransaction('checks-failover', { payload: 'cf-1' });
    await firstCheck.promise;
    const oldLeader = await cluster.leader();
    await cluster.kill(oldLeader);
    await cluster.waitFor(async () => (await admin.describeTopic('checks-failover')).nextOffset === 1, { timeoutMs: 15_000, what: 'a check-back from the new leader committing', intervalMs: 50 });
    // Counting went on from the replicated count: it never went back, and the commit came at count 2 or later.
    expect(seen[0]).toBe(1);
    expect([...seen].sort((a, b) => a - b), JSON.stringify(seen)).toEqual(seen);
    expect(seen.at(-1)).toBeGreaterThanOrEqual(2);
    expect(await txClient.endTransaction(sent.txId, 'commit')).toMatchObject({ firstOffset: 0, duplicate: true });
    await cluster.restart(oldLeader);
    for (const payloads of await everyNode('checks-failover')) expect(payloads).toEqual(['cf-1']);
  }, 45_000);
});
