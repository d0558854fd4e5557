import { afterEach, describe, expect, it } from 'vitest';

import { BrokerState, type ApplyResult, type BrokerCommand } from '../../src/broker/index.js';
import { Producer, ProducerIdChangedError } from '../../src/client/index.js';
import { refusal } from '../../src/node/broker-service.js';
import { UnavailableError } from '../../src/node/errors.js';
import { startClientServer, type BrokerService, type ClientServer, type FetchOutcome, type ProduceInput, type ProduceOutcome, type TopicView } from '../../src/transport/index.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { freePort } from '../transport/free-port.js';

type Fault = 'none' | 'failBeforeWrite' | 'dropAfterWrite';

/**
 * The real BrokerState behind a real gRPC server, in one process, with a clock the test
 * moves and a fault chosen per produce request: deterministic producer recovery tests.
 */
class InProcessBroker implements BrokerService {
  readonly state = new BrokerState({ producerIdleExpiryMs: 60_000 });
  nowMs = 1_000_000;
  fault: (request: ProduceInput) => Fault = () => 'none';
  private index = 0;

  private apply(command: BrokerCommand): ApplyResult {
    return this.state.apply(++this.index, this.nowMs, command);
  }

  private expect(result: ApplyResult): ApplyResult {
    if (result.kind === 'rejected') throw refusal(result.error);
    return result;
  }

  createTopic(name: string, maxMessageBytes: number): Promise<void> {
    this.expect(this.apply({ kind: 'createTopic', name, maxMessageBytes: maxMessageBytes || 1000 }));
    return Promise.resolve();
  }
  deleteTopic(name: string): Promise<void> {
    this.expect(this.apply({ kind: 'deleteTopic', name }));
    return Promise.resolve();
  }
  listTopics(): readonly TopicView[] {
    return this.state.topics();
  }
  describeTopic(name: string): TopicView {
    const t = this.state.topic(name);
    if (t === undefined) throw new Error('no topic');
    return t;
  }
  initProducer(): Promise<number> {
    const result = this.expect(this.apply({ kind: 'initProducer' }));
    return Promise.resolve(result.kind === 'producerGranted' ? result.producerId : -1);
  }
  produce(request: ProduceInput): Promise<ProduceOutcome> {
    const fault = this.fault(request);
    if (fault === 'failBeforeWrite') return Promise.reject(new UnavailableError('lost before the write'));
    const result = this.expect(this.apply({ kind: 'produce', ...request }));
    if (fault === 'dropAfterWrite') return Promise.reject(new UnavailableError('lost after the write'));
    if (result.kind !== 'produced') throw new Error(result.kind);
    return Promise.resolve({ firstOffset: result.firstOffset, count: result.count, duplicate: result.duplicate });
  }
  fetch(): FetchOutcome {
    throw new Error('not used');
  }
}

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

async function serve(broker: InProcessBroker): Promise<string> {
  const address = `127.0.0.1:${await freePort()}`;
  servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), broker, maxMessageBytes: 1024 * 1024 }));
  return address;
}

function producer(address: string): Producer {
  const p = new Producer({ brokers: [address], lingerMs: 0, batchMessagesMax: 4, retryBackoff: { initialMs: 1, maxMs: 5 }, requestTimeoutMs: 2_000 });
  producers.push(p);
  return p;
}

const texts = (n: number, prefix = 'm'): string[] => [...Array(n).keys()].map((k) => `${prefix}-${k}`);

describe('Producer recovery against the real broker state machine (in process)', () => {
  it('a batch lost before its write makes the later ones out of order; they are resent in order, each written once', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const lost = new Set<number>();
    broker.fault = (request) => {
      // The first attempt of the second batch never reaches the state machine.
      if (request.firstSequence === 4 && !lost.has(4)) {
        lost.add(4);
        return 'failBeforeWrite';
      }
      return 'none';
    };
    const p = producer(address);
    const offsets = await Promise.all(texts(40).map((payload) => p.send('t', { payload })));
    expect(offsets.map((o) => o.offset)).toEqual([...Array(40).keys()]);
    expect(broker.state.topic('t')?.nextOffset).toBe(40);
    expect(p.stats().retries).toBeGreaterThan(0);
  });

  it('answers lost after the write are retried and answered as duplicates: nothing twice', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const seen = new Set<number>();
    broker.fault = (request) => {
      if (seen.has(request.firstSequence)) return 'none';
      seen.add(request.firstSequence);
      return request.firstSequence % 8 === 0 ? 'dropAfterWrite' : 'none';
    };
    const p = producer(address);
    const offsets = await Promise.all(texts(40).map((payload) => p.send('t', { payload })));
    expect(offsets.map((o) => o.offset)).toEqual([...Array(40).keys()]);
    expect(broker.state.topic('t')?.nextOffset).toBe(40);
    expect(p.stats().duplicateAnswers).toBeGreaterThan(0);
  });

  it('an expired producer id: batches never written go again under a new id; one that may have been written fails with ProducerIdChangedError', async () => {
    const broker = new InProcessBroker();
    const address = await serve(broker);
    await broker.createTopic('t', 1000);
    const p = producer(address);
    await Promise.all(texts(8, 'a').map((payload) => p.send('t', { payload })));
    const firstId = p.producerId;
    // Idle past the expiry (by the leaders' clock in the log): the id is forgotten.
    broker.nowMs += 61_000;
    const afterExpiry = await Promise.all(texts(8, 'b').map((payload) => p.send('t', { payload })));
    expect(afterExpiry.map((o) => o.offset)).toEqual([...Array(8).keys()].map((k) => 8 + k));
    expect(p.producerId).not.toBe(firstId);
    expect(p.stats().producerIdChanges).toBe(1);

    // Now a batch whose answer was lost (it was written) when the id expires: it cannot be resent safely.
    let dropped = false;
    broker.fault = () => {
      if (dropped) return 'none';
      dropped = true;
      // Written now, answer lost, and then the id expires before the retry.
      queueMicrotask(() => (broker.nowMs += 61_000));
      return 'dropAfterWrite';
    };
    const results = await Promise.allSettled(texts(4, 'c').map((payload) => p.send('t', { payload })));
    for (const r of results) expect(r.status === 'rejected' ? r.reason : r.value).toBeInstanceOf(ProducerIdChangedError);
    expect(broker.state.topic('t')?.nextOffset).toBe(20);
    // And the producer goes on under yet another id.
    expect((await p.send('t', { payload: 'd' })).offset).toBe(20);
  });
});
