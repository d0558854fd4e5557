import { afterEach, describe, expect, it } from 'vitest';

import { nodeId } from '../../raft/index.js';
import { TransactionProducer, type TransactionOutcome } from '../../src/client/index.js';
import { InvalidArgumentError } from '../../src/client/errors.js';
import { NotFoundError, NotLeaderError } from '../../src/transport/node-errors.js';
import {
  startClientServer,
  type CheckSink,
  type ClientServer,
  type EndInput,
  type EndOutcome,
  type HalfInput,
  type HalfOutcome,
  type TransactionInfoView,
  type TransactionService,
  type TransactionTopic,
} from '../../src/transport/index.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

/** A node's transactions in memory: the leader records calls and sends the checks a test asks for; a follower redirects. */
class FakeTransactions implements TransactionService {
  readonly halves: HalfInput[] = [];
  readonly ends: EndInput[] = [];
  readonly sinks = new Map<string, CheckSink[]>();

  constructor(private readonly redirectTo: string | null) {}

  sendHalf(request: HalfInput): Promise<HalfOutcome> {
    if (this.redirectTo !== null) return Promise.reject(new NotLeaderError({ id: nodeId('leader'), clientAddress: this.redirectTo }));
    this.halves.push(request);
    return Promise.resolve({ duplicate: false, state: 'prepared', logIndex: this.halves.length });
  }

  endTransaction(request: EndInput): Promise<EndOutcome> {
    if (this.redirectTo !== null) return Promise.reject(new NotLeaderError({ id: nodeId('leader'), clientAddress: this.redirectTo }));
    if (!this.halves.some((h) => h.txId === request.txId)) return Promise.reject(new NotFoundError(`transaction ${request.txId} is unknown`));
    this.ends.push(request);
    const state = request.outcome === 'commit' ? 'committed' : 'rolledBack';
    return Promise.resolve({ state, topic: 't', firstOffset: 7, count: 1, duplicate: false });
  }

  listTransactions(): readonly TransactionInfoView[] {
    return [];
  }

  transactionTopic(): TransactionTopic {
    return { topic: null, current: true };
  }

  subscribeChecks(producerGroup: string, sink: CheckSink): () => void {
    if (this.redirectTo !== null) throw new NotLeaderError({ id: nodeId('leader'), clientAddress: this.redirectTo });
    const list = this.sinks.get(producerGroup) ?? [];
    list.push(sink);
    this.sinks.set(producerGroup, list);
    return () => list.splice(list.indexOf(sink), 1);
  }
}

const servers: ClientServer[] = [];
const producers: TransactionProducer[] = [];

afterEach(async () => {
  await Promise.all(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

async function serve(transactions: TransactionService): Promise<string> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), transactions, messageBytesMax: 1024 * 1024 }));
  return address;
}

describe('TransactionProducer against in-process servers', () => {
  it('follows a follower\'s redirect for the half, the decision and the check stream; answers a check-back through EndTransaction', async () => {
    const leader = new FakeTransactions(null);
    const leaderAddress = await serve(leader);
    const followerAddress = await serve(new FakeTransactions(leaderAddress));
    const answers: TransactionOutcome[] = ['rollback'];
    const producer = new TransactionProducer({
      brokers: [followerAddress],
      producerGroup: 'g',
      listener: { executeLocal: () => 'commit', check: () => answers.shift() ?? 'unknown' },
      retryBackoff: { initialMs: 5, maxMs: 50 },
      log: () => {},
    });
    producers.push(producer);

    const result = await producer.sendInTransaction('t', [{ payload: 'a' }]);
    expect(result).toMatchObject({ outcome: 'committed', firstOffset: 7, count: 1 });
    expect(leader.halves.map((h) => [h.producerGroup, h.topic, h.checkDelayMs, h.checkMax])).toEqual([['g', 't', 0, 0]]);
    expect(leader.ends).toEqual([{ txId: result.txId, outcome: 'commit', source: 'producer' }]);

    // The check stream reached the leader through the follower's redirect.
    await waitFor(() => (leader.sinks.get('g')?.length ?? 0) === 1, { what: 'the check stream on the leader', timeoutMs: 5_000, intervalMs: 5 });
    const half = leader.halves[0];
    if (half === undefined) throw new Error('no half');
    leader.sinks.get('g')?.[0]?.push({ txId: half.txId, producerGroup: 'g', topic: 't', messages: half.messages, checkCount: 3, preparedAtMs: 1 });
    await waitFor(() => leader.ends.length === 2, { what: 'the check-back answer', timeoutMs: 5_000, intervalMs: 5 });
    expect(leader.ends[1]).toEqual({ txId: half.txId, outcome: 'rollback', source: 'checkBack' });
    // The server has the answer before the producer has the server's reply and counts it.
    await waitFor(() => producer.stats().checksAnswered === 1, { what: 'the check-back answer taken', timeoutMs: 5_000, intervalMs: 5 });
    expect(producer.stats()).toMatchObject({ checksReceived: 1, checksAnswered: 1 });
  });

  it('unknown from executeLocal (or a throw) writes no decision and leaves it to the check-back', async () => {
    const leader = new FakeTransactions(null);
    const address = await serve(leader);
    const producer = new TransactionProducer({
      brokers: [address],
      producerGroup: 'g',
      listener: {
        executeLocal: (m) => {
          if (m.messages.length > 1) throw new Error('local failure');
          return 'unknown';
        },
        check: () => 'unknown',
      },
      log: () => {},
    });
    producers.push(producer);
    expect(await producer.sendInTransaction('t', { payload: 'a' })).toMatchObject({ outcome: 'unknown', firstOffset: null });
    expect(await producer.sendInTransaction('t', [{ payload: 'a' }, { payload: 'b' }])).toMatchObject({ outcome: 'unknown' });
    expect(leader.halves).toHaveLength(2);
    expect(leader.ends).toEqual([]);
  });
  it('refuses a delivery time in a transaction before writing anything (it would be ignored at commit)', async () => {
    const leader = new FakeTransactions(null);
    const address = await serve(leader);
    let executed = 0;
    const producer = new TransactionProducer({
      brokers: [address],
      producerGroup: 'g',
      listener: { executeLocal: () => (executed++, 'commit'), check: () => 'unknown' },
      log: () => {},
    });
    producers.push(producer);
    const sending = producer.sendInTransaction('t', [{ payload: 'a' }, { payload: 'b', deliverAtMs: Date.now() + 60_000 }]);
    await expect(sending).rejects.toThrow(InvalidArgumentError);
    await expect(sending).rejects.toThrow(/message 1 .*deliverAtMs/);
    expect(leader.halves).toEqual([]);
    expect(executed).toBe(0);
  });
});
