import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { AbortedError, Consumer, InvalidArgumentError, UnavailableError, type ConsumedMessage } from '../../src/client/index.js';
import { InvalidArgumentError as NodeInvalidArgumentError, UnavailableError as NodeUnavailableError } from '../../src/transport/node-errors.js';
import { ClientCodec, ClientMethodPath, startClientServer, type AckOutcomeView, type AckStreamResponseMessage, type ClientServer, type GroupService } from '../../src/transport/index.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

const servers: ClientServer[] = [];
const consumers: Consumer[] = [];
afterEach(async () => {
  await Promise.allSettled(consumers.splice(0).map((c) => c.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

/** A group service that delivers offsets 0..count-1 of topic t once, then stays quiet; acks answer with `ack`. */
function oneShotGroups(count: number, ack: (offsets: readonly number[]) => Promise<readonly AckOutcomeView[]>): GroupService & { acks: number } {
  const unused = (): never => {
    throw new Error('not used');
  };
  const service = {
    acks: 0,
    createGroup: unused,
    deleteGroup: unused,
    listGroups: unused,
    describeGroup: unused,
    ack: (_group: string, offsets: readonly number[]) => {
      service.acks++;
      return ack(offsets);
    },
    nack: () => Promise.resolve({ deadLettered: false, retryAtMs: 0 }),
    extend: unused,
    resetGroup: unused,
    leave: () => Promise.resolve({ counted: 0, returned: 0 }),
    consume: async (_input: unknown, send: (d: readonly import('../../src/transport/index.js').DeliveryView[]) => Promise<void>, signal: AbortSignal) => {
      const payload = new TextEncoder().encode('m');
      await send(Array.from({ length: count }, (_, offset) => ({ offset, delivery: 1, deadlineMs: 1, message: { key: new Uint8Array(0), headers: [], payload, timestampMs: 1 } })));
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
  return service;
}

async function serveGroups(groups: GroupService): Promise<string> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), groups, messageBytesMax: 4 * 1024 * 1024 }));
  return address;
}

async function first(consumer: Consumer): Promise<ConsumedMessage> {
  const next = await consumer[Symbol.asyncIterator]().next();
  if (next.done === true) throw new Error('the consumer ended');
  return next.value;
}

describe('Consumer ack and nack', () => {
  it('an ack that fails and is never awaited (void m.ack()) is no unhandled rejection: it goes to onError', async () => {
    const address = await serveGroups(oneShotGroups(1, () => Promise.reject(new NodeInvalidArgumentError('refused for the test'))));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const reported: { operation: string; id: string; error: string }[] = [];
      const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', onError: (error, context) => reported.push({ ...context, error: error.name }) });
      consumers.push(consumer);
      const m = await first(consumer);
      void m.ack();
      await waitFor(() => reported.length > 0 || unhandled.length > 0, { timeoutMs: 5_000, what: 'the failed ack to be reported' });
      // Node reports an unhandled rejection once the microtasks of the turn have run.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(reported).toEqual([{ operation: 'ack', id: 't/0', error: 'InvalidArgumentError' }]);
      // An awaited ack still sees the failure.
      await expect(m.ack()).rejects.toThrow(InvalidArgumentError);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('an awaited ack that fails has gone to onError by the time the caller sees it reject', async () => {
    const address = await serveGroups(oneShotGroups(1, () => Promise.reject(new NodeInvalidArgumentError('refused for the test'))));
    const reported: string[] = [];
    const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', onError: (_error, context) => reported.push(context.id) });
    consumers.push(consumer);
    const m = await first(consumer);
    const seen = await m.ack().then(
      () => 'resolved',
      (error: unknown) => `rejected (${error instanceof InvalidArgumentError ? 'InvalidArgumentError' : String(error)}), reported: ${reported.join(',')}`,
    );
    expect(seen).toBe('rejected (InvalidArgumentError), reported: t/0');
  });

  it('the iterator hands out buffered messages in order, each once, and nothing after close() (the ones left go back)', async () => {
    const address = await serveGroups(oneShotGroups(5, (offsets) => Promise.resolve(offsets.map(() => 'acked' as const))));
    const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', onError: () => undefined });
    consumers.push(consumer);
    const iterator = consumer[Symbol.asyncIterator]();
    const offsets: number[] = [];
    for (let k = 0; k < 3; k++) {
      const next = await iterator.next();
      if (next.done === true) throw new Error('the consumer ended');
      offsets.push(next.value.offset);
      expect(await next.value.ack()).toBe('acked');
    }
    expect(offsets).toEqual([0, 1, 2]);
    await consumer.close();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('a second ack of the same message resolves with the first answer and sends nothing more; nack after ack is refused', async () => {
    const groups = oneShotGroups(1, (offsets) => Promise.resolve(offsets.map(() => 'acked' as const)));
    const address = await serveGroups(groups);
    const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', onError: () => undefined });
    consumers.push(consumer);
    const m = await first(consumer);
    expect(await m.ack()).toBe('acked');
    expect(await m.ack()).toBe('acked');
    expect(groups.acks).toBe(1);
    await expect(m.nack('after the ack')).rejects.toThrow(InvalidArgumentError);
  });
});

describe('the ack stream', () => {
  it('answers each ack by its id, as the unary Ack would; a request without an ack or without offsets is refused alone', async () => {
    const groups = oneShotGroups(0, (offsets) => Promise.resolve(offsets.map((o): AckOutcomeView => (o % 2 === 0 ? 'acked' : 'alreadyAcked'))));
    const address = await serveGroups(groups);
    const codec = new ClientCodec();
    const raw = new Client(address, credentials.createInsecure());
    try {
      const call = raw.makeBidiStreamRequest(ClientMethodPath.ackStream, (b: Buffer) => b, codec.ackStreamResponse.deserialize, new Metadata());
      const answers: AckStreamResponseMessage[] = [];
      call.on('data', (answer: AckStreamResponseMessage) => answers.push(answer));
      const ended = new Promise<string>((resolve) => {
        call.on('error', (error: Error) => resolve(error.message));
        call.on('end', () => resolve('ok'));
      });
      call.write(codec.ackStreamRequest.serialize({ id: 7, ack: null, timeoutMs: 1000 }));
      call.write(codec.ackStreamRequest.serialize({ id: 8, ack: { group: 'g', offsets: [] }, timeoutMs: 1000 }));
      call.write(codec.ackStreamRequest.serialize({ id: 9, ack: { group: 'g', offsets: [4, 5] }, timeoutMs: 1000 }));
      call.end();
      expect(await ended).toBe('ok');
      const byId = new Map(answers.map((a) => [a.id, a]));
      expect(byId.get(7)).toMatchObject({ error: { code: status.INVALID_ARGUMENT, details: 'an AckStream request needs an ack' } });
      expect(byId.get(8)).toMatchObject({ error: { code: status.INVALID_ARGUMENT, details: 'ack needs at least one offset' } });
      expect(byId.get(9)?.ok?.outcomes).toEqual([0, 1]);
      expect(groups.acks).toBe(1);
    } finally {
      raw.close();
    }
  });
});

describe('Consumer message calls take a signal', () => {
  /**
   * Delivers offsets 0..count-1 of topic t once. Nack and extend never answer; the first ack
   * request waits until `releaseFirstAck()`, later ones answer at once. Records every ack request.
   */
  function slowGroups(count: number): GroupService & { ackRequests: number[][]; releaseFirstAck: () => void } {
    let releaseFirstAck = (): void => undefined;
    const firstAckHeld = new Promise<void>((resolve) => (releaseFirstAck = resolve));
    const service = {
      ...oneShotGroups(count, () => Promise.resolve([])),
      ackRequests: [] as number[][],
      releaseFirstAck: () => releaseFirstAck(),
      ack: async (_group: string, offsets: readonly number[]) => {
        service.ackRequests.push([...offsets]);
        if (service.ackRequests.length === 1) await firstAckHeld;
        return offsets.map(() => 'acked' as const);
      },
      nack: () => new Promise<never>(() => undefined),
      extend: () => new Promise<never>(() => undefined),
    };
    return service;
  }

  /** The error a promise rejects with, within a deadline. */
  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    const deadline = new Promise((resolve) => setTimeout(() => resolve('still pending after 5 s'), 5_000).unref());
    return Promise.race([promise.then(() => 'resolved', (error: unknown) => error), deadline]);
  }

  it('extend(ms, { signal }) and nack(reason, { signal }) reject with AbortedError when it aborts; the abort is not reported to onError', async () => {
    const groups = slowGroups(2);
    const reported: string[] = [];
    const consumer = new Consumer({ brokers: [await serveGroups(groups)], group: 'g', topic: 't', prefetch: 2, onError: (error) => reported.push(error.name) });
    consumers.push(consumer);
    const messages = consumer[Symbol.asyncIterator]();
    const m0 = await messages.next();
    const m1 = await messages.next();
    if (m0.done === true || m1.done === true) throw new Error('the consumer ended');
    const abort = new AbortController();
    const extended = m0.value.extend(1_000, { signal: abort.signal });
    const nacked = m1.value.nack('why', { signal: abort.signal });
    abort.abort();
    expect(await rejection(extended)).toBeInstanceOf(AbortedError);
    expect(await rejection(nacked)).toBeInstanceOf(AbortedError);
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toEqual([]);
    await consumer.close({ timeoutMs: 0 });
  });

  it('ack({ signal }) aborted while it waits behind another ack request takes it out: nothing is sent for it, and a later ack() goes', async () => {
    const groups = slowGroups(2);
    const consumer = new Consumer({ brokers: [await serveGroups(groups)], group: 'g', topic: 't', prefetch: 2, onError: () => undefined });
    consumers.push(consumer);
    const messages = consumer[Symbol.asyncIterator]();
    const m0 = await messages.next();
    const m1 = await messages.next();
    if (m0.done === true || m1.done === true) throw new Error('the consumer ended');
    const first = m0.value.ack();
    await waitFor(() => groups.ackRequests.length === 1, { timeoutMs: 5_000, what: 'the first ack request to arrive' });
    const abort = new AbortController();
    const second = m1.value.ack({ signal: abort.signal });
    abort.abort();
    const error = await rejection(second);
    expect(error).toBeInstanceOf(AbortedError);
    expect(String(error)).toMatch(/not sent/);
    groups.releaseFirstAck();
    expect(await first).toBe('acked');
    expect(groups.ackRequests).toEqual([[0]]);
    expect(await m1.value.ack()).toBe('acked');
    expect(groups.ackRequests).toEqual([[0], [1]]);
  });
});

describe('Consumer reconnect policy', () => {
  /** A group service whose Consume always fails as if no leader were elected; counts the attempts. */
  function leaderless(): GroupService & { attempts: number } {
    const unused = (): never => {
      throw new Error('not used');
    };
    const service = {
      attempts: 0,
      createGroup: unused,
      deleteGroup: unused,
      listGroups: unused,
      describeGroup: unused,
      ack: unused,
      nack: unused,
      extend: unused,
      resetGroup: unused,
      leave: () => Promise.resolve({ counted: 0, returned: 0 }),
      consume: () => {
        service.attempts++;
        return Promise.reject(new NodeUnavailableError('no leader elected yet'));
      },
    };
    return service;
  }

  it("keeps reconnecting without limit by default, like the producer's retries, well past the client's timeoutMs", async () => {
    const groups = leaderless();
    const address = await serveGroups(groups);
    const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', timeoutMs: 50, retryBackoff: { initialMs: 1, maxMs: 2 } });
    consumers.push(consumer);
    let ended: unknown = null;
    void consumer[Symbol.asyncIterator]()
      .next()
      .then(
        (r) => (ended = r),
        (error: unknown) => (ended = error),
      );
    // Far more attempts than fit in 50 ms of back-off: the old give-up point is long past.
    await waitFor(() => groups.attempts >= 60 || ended !== null, { timeoutMs: 20_000, what: 'many reconnects or an end' });
    expect(ended).toBeNull();
  });

  it('with giveUpAfterMs it ends the iteration with UnavailableError once no broker served the stream that long', async () => {
    const address = await serveGroups(leaderless());
    const consumer = new Consumer({ brokers: [address], group: 'g', topic: 't', giveUpAfterMs: 100, retryBackoff: { initialMs: 1, maxMs: 5 } });
    consumers.push(consumer);
    await expect(consumer[Symbol.asyncIterator]().next()).rejects.toThrow(UnavailableError);
  });
});
