import { BrokerState, type ApplyResult, type BrokerCommand } from '../../src/broker/index.js';
import { refusal } from '../../src/node/broker-service.js';
import { UnavailableError } from '../../src/transport/node-errors.js';
import { startClientServer, type BrokerService, type ClientServer, type FetchOutcome, type ProduceInput, type ProduceOutcome, type TopicView } from '../../src/transport/index.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { ephemeralPort } from '../harness/index.js';

export type Fault = 'none' | 'failBeforeWrite' | 'dropAfterWrite';

/**
 * The real BrokerState behind a real gRPC server, in one process, with a clock the test
 * moves and a fault chosen per produce request: deterministic producer recovery tests.
 */
export class InProcessBroker implements BrokerService {
  readonly state = new BrokerState();
  nowMs = 1_000_000;
  fault: (request: ProduceInput) => Fault = () => 'none';
  /** Every InitProducer and Produce fails with UNAVAILABLE before anything is written: the cluster is down. */
  down = false;
  /** Payloads written per topic, in offset order (duplicates answered are not written again). */
  readonly written = new Map<string, string[]>();
  private index = 0;

  private apply(command: BrokerCommand): ApplyResult {
    return this.state.apply(++this.index, this.nowMs, command);
  }

  /** Applies any command as the next entry, as a node's propose would (refusals thrown as the node's errors). */
  propose(command: BrokerCommand): Promise<ApplyResult & { logIndex: number }> {
    const result = this.apply(command);
    return result.kind === 'rejected' ? Promise.reject(refusal(result.error)) : Promise.resolve({ ...result, logIndex: this.index });
  }

  private expect(result: ApplyResult): ApplyResult {
    if (result.kind === 'rejected') throw refusal(result.error);
    return result;
  }

  createTopic(name: string, messageBytesMax: number): Promise<void> {
    this.expect(this.apply({ kind: 'createTopic', name, messageBytesMax: messageBytesMax || 1000 }));
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
    if (this.down) return Promise.reject(new UnavailableError('down'));
    const result = this.expect(this.apply({ kind: 'initProducer', idleExpiryMs: 60_000 }));
    return Promise.resolve(result.kind === 'producerGranted' ? result.producerId : -1);
  }
  produce(request: ProduceInput): Promise<ProduceOutcome> {
    if (this.down) return Promise.reject(new UnavailableError('down'));
    const fault = this.fault(request);
    if (fault === 'failBeforeWrite') return Promise.reject(new UnavailableError('lost before the write'));
    const result = this.expect(this.apply({ kind: 'produce', ...request }));
    if (result.kind === 'produced' && !result.duplicate) {
      const written = this.written.get(request.topic) ?? [];
      for (const m of request.messages) written.push(new TextDecoder().decode(m.payload));
      this.written.set(request.topic, written);
    }
    if (fault === 'dropAfterWrite') return Promise.reject(new UnavailableError('lost after the write'));
    if (result.kind !== 'produced') throw new Error(result.kind);
    return Promise.resolve({ firstOffset: result.firstOffset, count: result.count, duplicate: result.duplicate, logIndex: this.index, deliverAtMs: 0 });
  }
  fetch(): FetchOutcome {
    throw new Error('not used');
  }
}

/** Serves `broker` on a free port behind a real gRPC client server; the server goes into `servers` for closing. */
export async function serve(broker: InProcessBroker, servers: ClientServer[]): Promise<string> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), broker, messageBytesMax: 1024 * 1024 }));
  return address;
}

