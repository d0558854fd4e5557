import { afterEach, describe, expect, it } from 'vitest';

import { DuplicateTooOldError, Producer, type SendResult } from '../../src/client/index.js';
import { BROKER_DEFAULTS, BrokerState } from '../../src/broker/index.js';
import { UnavailableError } from '../../src/transport/node-errors.js';
import type { ClientServer, ProduceInput, ProduceOutcome } from '../../src/transport/index.js';
import { InProcessBroker, serve } from '../broker/in-process-broker.js';
import { withTimeout } from '../harness/index.js';

const servers: ClientServer[] = [];
const producers: Producer[] = [];
afterEach(async () => {
  await Promise.allSettled(producers.splice(0).map((p) => p.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

/**
 * The real broker state machine, remembering `recentBatchesKept` batches per producer and
 * topic, where the answer to the first attempt of sequence 0 is held back after the write
 * until that many later batches are written, and then lost: the broker has forgotten the
 * batch by the time the producer retries it.
 */
class ForgettingBroker extends InProcessBroker {
  override readonly state: BrokerState;
  readonly #dropLaterAnswers: boolean;
  readonly #releaseAtWritten: number;
  #release: (() => void) | null = null;
  #held = false;

  /** dropLaterAnswers: the later batches' first answers are lost too (written, never acknowledged to the producer). */
  constructor(options: { readonly recentBatchesKept: number; readonly dropLaterAnswers: boolean }) {
    super();
    this.state = new BrokerState({ recentBatchesKept: options.recentBatchesKept });
    this.#dropLaterAnswers = options.dropLaterAnswers;
    this.#releaseAtWritten = 1 + options.recentBatchesKept;
  }

  override produce(request: ProduceInput): Promise<ProduceOutcome> {
    const writtenBefore = this.#written(request.topic);
    const answer = super.produce(request);
    if (request.firstSequence === 0 && !this.#held) {
      this.#held = true;
      return answer.then(() => new Promise<never>((_, reject) => (this.#release = () => reject(new UnavailableError('answer lost after the write')))));
    }
    if (this.#written(request.topic) >= this.#releaseAtWritten) this.#release?.();
    if (this.#dropLaterAnswers && this.#written(request.topic) > writtenBefore) return answer.then(() => Promise.reject(new UnavailableError('answer lost after the write')));
    return answer;
  }

  #written(topic: string): number {
    return this.written.get(topic)?.length ?? 0;
  }
}

async function setUp(options: { readonly recentBatchesKept: number; readonly dropLaterAnswers: boolean }): Promise<{ broker: ForgettingBroker; producer: Producer }> {
  const broker = new ForgettingBroker(options);
  const address = await serve(broker, servers);
  await broker.createTopic('t', 1000);
  // One message a batch, so sequence k is message k; no spool.
  const producer = new Producer({ brokers: [address], lingerMs: 0, batchMessagesMax: 1, retryBackoff: { initialMs: 1, maxMs: 5 }, requestTimeoutMs: 5_000 });
  producers.push(producer);
  return { broker, producer };
}

const settled = (sends: Promise<SendResult>[]): Promise<PromiseSettledResult<SendResult>[]> => withTimeout(Promise.allSettled(sends), 10_000, 'every send() to settle');

describe('Producer: a retried batch the broker no longer remembers (DuplicateTooOld)', () => {
  it('resolves as committed with its offset unknown when a later batch of the same id was acknowledged', async () => {
    const { broker, producer } = await setUp({ recentBatchesKept: BROKER_DEFAULTS.recentBatchesKept, dropLaterAnswers: false });
    const count = BROKER_DEFAULTS.recentBatchesKept + 3;
    const results = await settled([...Array(count).keys()].map((k) => producer.send('t', { payload: `m-${k}` })));
    expect(results[0]).toEqual({ status: 'fulfilled', value: { status: 'committedOffsetUnknown', offset: null } });
    expect(results.slice(1)).toEqual([...Array(count - 1).keys()].map((k) => ({ status: 'fulfilled', value: { status: 'acknowledged', offset: k + 1 } })));
    // Written exactly once, in order: the result tells the truth.
    expect(broker.written.get('t')).toEqual([...Array(count).keys()].map((k) => `m-${k}`));
  });

  it('still fails with DuplicateTooOldError when no later batch was acknowledged to the producer', async () => {
    // A broker that remembers one batch: the later batches in flight beside the first push it
    // out, and their answers are lost, so the producer saw no later sequence acknowledged.
    const { producer } = await setUp({ recentBatchesKept: 1, dropLaterAnswers: true });
    const results = await settled([...Array(4).keys()].map((k) => producer.send('t', { payload: `m-${k}` })));
    expect(results[0]?.status === 'rejected' && results[0].reason).toBeInstanceOf(DuplicateTooOldError);
  });
});
