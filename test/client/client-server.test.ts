import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeId } from '../../raft/index.js';
import {
  ClientClosedError,
  InternalError,
  InvalidArgumentError,
  LogClient,
  NotFoundError,
  OutcomeUnknownError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../src/client/index.js';
import * as nodeErrors from '../../src/transport/node-errors.js';
import { ClientCodec, ClientMethodPath, PIPELINED_PENDING_MAX, startClientServer, type AppendStreamResponseMessage, type ClientServer, type ProduceStreamResponseMessage } from '../../src/transport/index.js';
import { InProcessBroker, serve as serveBroker } from '../broker/in-process-broker.js';
import { ephemeralPort, waitFor } from '../harness/index.js';
import { FakeClientService } from './fake-client-service.js';

const servers: ClientServer[] = [];
const clients: (LogClient | Client)[] = [];
const codec = new ClientCodec();
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
});

async function serve(service: FakeClientService, extra: { recordBytesMax?: number } = {}): Promise<string> {
  const address = `127.0.0.1:${await ephemeralPort()}`;
  servers.push(await startClientServer({ listenAddress: address, service, messageBytesMax: 1024 * 1024, ...extra }));
  return address;
}

function logClient(brokers: string[], timeoutMs = 3000): LogClient {
  const client = new LogClient({ brokers, timeoutMs, connectTimeoutMs: 500, retryBackoff: { initialMs: 10, maxMs: 100 } });
  clients.push(client);
  return client;
}

/** One raw Append call, to see the status exactly as it crosses the wire. */
function rawCall<Req, Res>(address: string, path: string, serialize: (v: Req) => Buffer, deserialize: (b: Buffer) => Res, request: Req): Promise<ServiceError | Res> {
  const client = new Client(address, credentials.createInsecure());
  clients.push(client);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, serialize, deserialize, request, new Metadata(), { deadline: Date.now() + 3000 }, (error, response) => resolve(error ?? (response as Res)));
  });
}
const rawAppend = (address: string, records: Uint8Array[]) => rawCall(address, ClientMethodPath.append, codec.appendRequest.serialize, codec.appendResponse.deserialize, { records });
const rawRead = (address: string, from: number, bytesMax: number) => rawCall(address, ClientMethodPath.read, codec.readRequest.serialize, codec.readResponse.deserialize, { from, bytesMax });

describe('client server and LogClient', () => {
  it('appends, reads and reports status through the wire', async () => {
    const service = new FakeClientService();
    const address = await serve(service);
    const client = logClient([address]);
    expect(await client.append([bytes('a'), bytes('b')])).toEqual({ firstIndex: 1, lastIndex: 2 });
    expect(await client.append(bytes('c'))).toEqual({ firstIndex: 3, lastIndex: 3 });
    const read = await client.read(2, { bytesMax: 1024 });
    expect(read.records.map((r) => [r.index, r.term, text(r.payload)])).toEqual([[2, 1, 'b'], [3, 1, 'c']]);
    expect(read).toMatchObject({ nextIndex: 4, appliedIndex: 3, firstIndex: 1 });
    const st = await client.status(address);
    expect(st).toMatchObject({ id: 'n1', role: 'leader', term: 3, leaderId: 'n1', leaderClientAddress: null, appliedIndex: 3, votingBlocked: false, flush: 'sync', durableMark: 'lagging', flushIntervalMs: null });
    expect(st.followers).toEqual([
      { id: 'n2', matchIndex: 1, lag: 2, state: 'replicate' },
      { id: 'n3', matchIndex: 0, lag: 3, state: 'snapshot' },
    ]);
    expect(st).toMatchObject({
      firstIndex: 1,
      snapshotIndex: 40,
      snapshotAgeSeconds: 12.5,
      logBytes: 4096,
      snapshotBytes: 1234,
      disk: { usedBytes: 930, freeBytes: 70, sizeBytes: 1000 },
      diskHighWatermarkPercent: 90,
      produceRefused: true,
    });
    await client.transfer('n2');
    expect(service.transferCalls).toEqual([nodeId('n2')]);
  });

  it('carries an append\'s acks to the service and refuses a code it does not know', async () => {
    const service = new FakeClientService();
    const address = await serve(service);
    const client = logClient([address]);
    await client.append(bytes('a'));
    await client.append(bytes('b'), { acks: 'leader' });
    expect(service.appendCalls.map((c) => c.acks)).toEqual(['all', 'leader']);
    const refused = await rawCall(address, ClientMethodPath.append, codec.appendRequest.serialize, codec.appendResponse.deserialize, { records: [bytes('c')], acks: 2 });
    expect(refused).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/append acks 2 is not one of all \(0\), leader \(1\)/) });
    expect(service.appendCalls).toHaveLength(2);
    await expect(client.append(bytes('d'), { acks: 'none' as never })).rejects.toThrow(InvalidArgumentError);
  });

  const cases = [
    { error: new nodeErrors.InvalidArgumentError('bad thing'), grpc: status.INVALID_ARGUMENT, client: InvalidArgumentError },
    { error: new nodeErrors.NotFoundError('no such topic'), grpc: status.NOT_FOUND, client: NotFoundError },
    { error: new nodeErrors.ResourceExhaustedError('queue full'), grpc: status.RESOURCE_EXHAUSTED, client: ResourceExhaustedError },
    { error: new nodeErrors.DeadlineExceededError('waited too long'), grpc: status.DEADLINE_EXCEEDED, client: OutcomeUnknownError },
    { error: new nodeErrors.UnavailableError('lost leadership while waiting'), grpc: status.UNAVAILABLE, client: OutcomeUnknownError },
    { error: new nodeErrors.InternalError('disk on fire'), grpc: status.INTERNAL, client: InternalError },
    { error: new TypeError('undefined is not a function\n    at secret (/src/x.ts:1:1)'), grpc: status.INTERNAL, client: InternalError },
    { error: new nodeErrors.NotLeaderError(null), grpc: status.UNAVAILABLE, client: UnavailableError },
  ] as const;

  for (const { error, grpc, client: errorClass } of cases) {
    it(`append failing with ${error.name} is gRPC ${status[grpc]} and ${errorClass.name} at the client`, async () => {
      const service = new FakeClientService();
      service.failWith = error;
      const address = await serve(service);
      const raw = await rawAppend(address, [bytes('x')]);
      expect(raw).toMatchObject({ code: grpc });
      const details = (raw as ServiceError).details;
      expect(details).not.toMatch(/ at |\.ts:/);
      expect(details.length).toBeGreaterThan(5);
      // Only NotLeader is retried, until the budget runs out; every other answer ends the
      // first attempt, which gets a budget no loaded machine runs past.
      const budgetMs = error instanceof nodeErrors.NotLeaderError ? 600 : 10_000;
      const outcome = await logClient([address], budgetMs).append([bytes('x')]).catch((e: unknown) => e);
      expect(outcome).toBeInstanceOf(errorClass);
      if (outcome instanceof OutcomeUnknownError) expect(outcome.message).toMatch(/may or may not have been committed/);
      if (error instanceof nodeErrors.NotLeaderError) expect(service.appendCalls.length).toBeGreaterThan(2); // retried: nothing was written
      else if (grpc === status.UNAVAILABLE || grpc === status.DEADLINE_EXCEEDED) expect(service.appendCalls).toHaveLength(2); // raw + client, never retried
    });
  }

  it('an append is not tried again with less of its budget left than an answer needs: UnavailableError, not an unknown outcome', async () => {
    const service = new FakeClientService();
    service.failWith = new nodeErrors.NotLeaderError(null);
    service.failAfterMs = 60;
    const address = await serve(service);
    // Attempt 1 answers NotLeader at ~60 ms; the back-off (drawn from 300-600 ms, cut to
    // the budget) ends at 360 ms or later: at most 40 ms of the 400 ms budget is left, less
    // than an answer takes. A second attempt would be cut off by the deadline with its
    // outcome unknown; the client stops with nothing in flight.
    const client = new LogClient({ brokers: [address], timeoutMs: 400, connectTimeoutMs: 500, retryBackoff: { initialMs: 600, maxMs: 600 } });
    clients.push(client);
    const outcome = await client.append([bytes('x')]).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(UnavailableError);
    expect(service.appendCalls).toHaveLength(1);
  });

  it('a read is retried on UNAVAILABLE, then fails with UnavailableError after the budget', async () => {
    const service = new FakeClientService();
    service.failWith = new nodeErrors.UnavailableError('shutting down');
    const address = await serve(service);
    const started = Date.now();
    await expect(logClient([address], 300).read(1)).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('NotLeaderError carries leader-id and leader-address, and the client follows the redirect', async () => {
    const leaderService = new FakeClientService('n2');
    const leaderAddress = await serve(leaderService);
    const followerService = new FakeClientService('n1');
    followerService.failWith = new nodeErrors.NotLeaderError({ id: nodeId('n2'), clientAddress: leaderAddress });
    const followerAddress = await serve(followerService);
    const raw = (await rawAppend(followerAddress, [bytes('x')])) as ServiceError;
    expect(raw.code).toBe(status.UNAVAILABLE);
    expect(raw.metadata.get('leader-id')).toEqual(['n2']);
    expect(raw.metadata.get('leader-address')).toEqual([leaderAddress]);
    const client = logClient([followerAddress]);
    expect(await client.append([bytes('hello')])).toEqual({ firstIndex: 1, lastIndex: 1 });
    expect(leaderService.records.map((r) => text(r.payload))).toEqual(['hello']);
    expect(followerService.appendCalls).toHaveLength(2); // the raw call and the client's first try
    await client.append([bytes('again')]); // goes straight to the leader now
    expect(followerService.appendCalls).toHaveLength(2);
  });

  it('retries an append on the next broker when the first refuses connections', async () => {
    const service = new FakeClientService();
    const live = await serve(service);
    const dead = `127.0.0.1:${await ephemeralPort()}`;
    const client = logClient([dead, live]);
    expect(await client.append([bytes('x')])).toEqual({ firstIndex: 1, lastIndex: 1 });
    expect(service.appendCalls).toHaveLength(1);
  });

  it('an append whose connection is lost after it was sent fails with OutcomeUnknownError, not retried', async () => {
    const service = new FakeClientService();
    service.appendGate = new Promise(() => {}); // never commits
    const address = await serve(service);
    const client = logClient([address], 10_000);
    const outcome = client.append([bytes('x')]).catch((e: unknown) => e);
    await waitFor(() => service.appendCalls.length === 1, { what: 'the append to reach the service', timeoutMs: 5_000, intervalMs: 5 });
    await servers.splice(0)[0]?.close(); // cuts the waiting call after its grace
    const error = await outcome;
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect(service.appendCalls).toHaveLength(1);
  });

  it('passes the client deadline down to the service, capped', async () => {
    const service = new FakeClientService();
    const address = await serve(service);
    await logClient([address], 2000).append([bytes('x')]);
    const timeoutMs = service.appendCalls[0]?.timeoutMs ?? 0;
    expect(timeoutMs).toBeGreaterThan(1000);
    expect(timeoutMs).toBeLessThanOrEqual(2000);
    await logClient([address], 120_000).append([bytes('y')]);
    expect(service.appendCalls[1]?.timeoutMs).toBe(30_000);
  });

  it('rejects bad input with INVALID_ARGUMENT and a clear message', async () => {
    const service = new FakeClientService();
    const address = await serve(service, { recordBytesMax: 100 });
    expect(await rawAppend(address, [])).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'append needs at least one record' });
    expect(await rawAppend(address, [bytes('ok'), new Uint8Array(101)])).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/record 1 is 101 bytes.*100/) });
    expect(await rawRead(address, 0, 100)).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/from must be .* 1 or more \(got 0\)/) });
    expect(await rawRead(address, 1, 0)).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/bytesMax must be between 1 and/) });
    expect(await rawRead(address, 1, 2 ** 31)).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await rawRead(address, 2 ** 60, 100)).toMatchObject({ code: status.INVALID_ARGUMENT });
    const client = logClient([address]);
    await expect(client.append([])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.append([new Uint8Array(101)])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.read(0)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(service.appendCalls).toHaveLength(0);
  });

  it('an append larger than one request can carry is refused before it is sent, naming the size and the limit', async () => {
    const service = new FakeClientService();
    const address = await serve(service);
    const client = new LogClient({ brokers: [address], timeoutMs: 3000, messageBytesMax: 64 * 1024 });
    clients.push(client);
    const refused = client.append([new Uint8Array(100 * 1024)]);
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toThrow(/^append: record 0 is 102400 bytes; one request carries at most 65536 bytes/);
    await expect(client.append([new Uint8Array(40 * 1024), new Uint8Array(40 * 1024)])).rejects.toThrow(/^append: the 2 records take 81920 bytes; one request carries at most 65536 bytes/);
    expect(service.appendCalls).toHaveLength(0);
    expect(await client.append([new Uint8Array(60 * 1024)])).toEqual({ firstIndex: 1, lastIndex: 1 });
  });

  it('bytes that are not a protobuf message get INVALID_ARGUMENT, not INTERNAL', async () => {
    const address = await serve(new FakeClientService());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    for (const path of [ClientMethodPath.append, ClientMethodPath.read, ClientMethodPath.transfer]) {
      const raw = await rawCall(address, path, (b: Buffer) => b, (b: Buffer) => b, garbage);
      expect(raw, path).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('not a valid protobuf message') });
    }
  });

  it('a Status request that is not a protobuf message gets INVALID_ARGUMENT, not an answer', async () => {
    const address = await serve(new FakeClientService());
    const raw = await rawCall(address, ClientMethodPath.status, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(raw).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('Status request is not a valid protobuf message') });
  });

  it('a field sent with the wrong wire type gets INVALID_ARGUMENT naming the field, not a default value', async () => {
    const service = new FakeClientService();
    const address = await serve(service);
    const cases: [string, number[], RegExp][] = [
      // AppendRequest.records (bytes) sent as a varint: it used to read as "no records".
      [ClientMethodPath.append, [0x08, 0x00], /records \(field 1\) of AppendRequest .*wire type 0/],
      // ReadRequest.from (uint64) sent length-delimited: it used to read as from 0.
      [ClientMethodPath.read, [0x0a, 0x01, 0x05, 0x10, 0x64], /from \(field 1\) of ReadRequest .*wire type 2/],
      // TransferRequest.to (string) sent as a fixed32.
      [ClientMethodPath.transfer, [0x0d, 0x01, 0x02, 0x03, 0x04], /to \(field 1\) of TransferRequest .*wire type 5/],
    ];
    for (const [path, body, details] of cases) {
      const raw = await rawCall(address, path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(body));
      expect(raw, path).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(details) });
    }
    expect(service.appendCalls).toHaveLength(0);
  });

  it('statusAll reports every broker, unreachable ones with a reason', async () => {
    const address = await serve(new FakeClientService('n1'));
    const dead = `127.0.0.1:${await ephemeralPort()}`;
    const all = await logClient([address, dead]).statusAll();
    expect(all[0]).toMatchObject({ address, id: 'n1', role: 'leader' });
    expect(all[1]).toMatchObject({ address: dead, error: expect.stringContaining(dead) });
  });

  it('a closed client refuses calls', async () => {
    const client = logClient([await serve(new FakeClientService())]);
    client.close();
    await expect(client.read(1)).rejects.toBeInstanceOf(ClientClosedError);
  });

  describe('pipelined streams (AppendStream, ProduceStream)', () => {
    /** A raw AppendStream call: what went out, what came back, and how it ended. */
    function rawStream(address: string) {
      const client = new Client(address, credentials.createInsecure());
      clients.push(client);
      const call = client.makeBidiStreamRequest(ClientMethodPath.appendStream, (b: Buffer) => b, codec.appendStreamResponse.deserialize, new Metadata());
      const answers: AppendStreamResponseMessage[] = [];
      const ended = new Promise<ServiceError | 'ok'>((resolve) => {
        call.on('data', (answer: AppendStreamResponseMessage) => answers.push(answer));
        call.on('error', (error: ServiceError) => resolve(error));
        call.on('end', () => resolve('ok'));
      });
      const send = (id: number, records: Uint8Array[]): void => {
        call.write(codec.appendStreamRequest.serialize({ id, append: { records }, timeoutMs: 2000 }));
      };
      return { call, answers, ended, send };
    }

    it('answers each append by its id, in the order they finish, not the order they were sent', async () => {
      const gate = deferred();
      const service = new (class extends FakeClientService {
        slowArrived = false;
        override async append(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number }) {
          if (text(payloads[0] ?? new Uint8Array()) === 'slow') {
            this.slowArrived = true;
            await gate.promise;
          }
          return super.append(payloads, options);
        }
      })();
      const client = logClient([await serve(service)]);
      const slow = client.append(bytes('slow'));
      await waitFor(() => service.slowArrived, { what: 'the slow append to reach the service', timeoutMs: 5_000, intervalMs: 5 });
      expect(await client.append(bytes('fast'))).toEqual({ firstIndex: 1, lastIndex: 1 });
      gate.resolve();
      expect(await slow).toEqual({ firstIndex: 2, lastIndex: 2 });
    });

    it('a refused append is answered with its status and the stream goes on', async () => {
      const address = await serve(new FakeClientService(), { recordBytesMax: 100 });
      const stream = rawStream(address);
      stream.send(7, []);
      stream.send(8, [new Uint8Array(101)]);
      stream.send(9, [bytes('ok')]);
      await waitFor(() => stream.answers.length === 3, { what: 'three answers', timeoutMs: 5_000, intervalMs: 5 });
      const byId = new Map(stream.answers.map((a) => [a.id, a]));
      expect(byId.get(7)?.error).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'append needs at least one record', errorCode: 'invalidArgument' });
      expect(byId.get(8)?.error).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/record 0 is 101 bytes.*100/) });
      expect(byId.get(9)?.ok).toMatchObject({ firstIndex: 1, lastIndex: 1 });
      stream.call.end();
      expect(await stream.ended).toBe('ok');
    });

    it(`a stream with ${PIPELINED_PENDING_MAX} requests unanswered gets RESOURCE_EXHAUSTED for more, without running them`, async () => {
      const service = new FakeClientService();
      const gate = deferred();
      service.appendGate = gate.promise;
      const stream = rawStream(await serve(service));
      for (let id = 1; id <= PIPELINED_PENDING_MAX + 2; id++) stream.send(id, [bytes('x')]);
      await waitFor(() => stream.answers.length === 2, { what: 'the two refusals', timeoutMs: 5_000, intervalMs: 5 });
      expect(stream.answers.map((a) => [a.id, a.error?.code])).toEqual([
        [PIPELINED_PENDING_MAX + 1, status.RESOURCE_EXHAUSTED],
        [PIPELINED_PENDING_MAX + 2, status.RESOURCE_EXHAUSTED],
      ]);
      expect(service.appendCalls).toHaveLength(PIPELINED_PENDING_MAX);
      gate.resolve();
      await waitFor(() => stream.answers.length === PIPELINED_PENDING_MAX + 2, { what: 'every answer', timeoutMs: 5_000, intervalMs: 5 });
      stream.call.end();
      expect(await stream.ended).toBe('ok');
    });

    it('a request that is not a protobuf message ends the stream with INVALID_ARGUMENT', async () => {
      const stream = rawStream(await serve(new FakeClientService()));
      stream.call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      expect(await stream.ended).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('not a valid protobuf message') });
    });

    it('a request whose append is sent with the wrong wire type ends the stream with INVALID_ARGUMENT naming the field', async () => {
      const service = new FakeClientService();
      const stream = rawStream(await serve(service));
      // AppendStreamRequest{id: 1, append: varint 5}: it used to read as an append of no records.
      stream.call.write(Buffer.from([0x08, 0x01, 0x10, 0x05]));
      let ended = false;
      void stream.ended.then(() => (ended = true));
      await waitFor(() => stream.answers.length > 0 || ended, { what: 'an answer or the end of the stream', timeoutMs: 5_000, intervalMs: 5 });
      expect(stream.answers).toEqual([]);
      expect(await stream.ended).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/append \(field 2\) of AppendStreamRequest .*wire type 0/) });
      expect(service.appendCalls).toHaveLength(0);
    });

    it('a shutting-down node ends an idle stream with UNAVAILABLE, and the client appends elsewhere', async () => {
      const first = new FakeClientService('n1');
      const second = new FakeClientService('n2');
      const firstAddress = await serve(first);
      const secondAddress = await serve(second);
      const stream = rawStream(firstAddress);
      stream.send(1, [bytes('a')]);
      await waitFor(() => stream.answers.length === 1, { what: 'the answer', timeoutMs: 5_000, intervalMs: 5 });
      const client = logClient([firstAddress, secondAddress]);
      await client.append(bytes('b'));
      await servers.splice(0, 1)[0]?.close();
      expect(await stream.ended).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/shutting down/) });
      // The client's stream to n1 ended while nothing was on it: the next append goes to n2.
      expect(await client.append(bytes('c'))).toEqual({ firstIndex: 1, lastIndex: 1 });
      expect(second.records.map((r) => text(r.payload))).toEqual(['c']);
      expect(first.records.map((r) => text(r.payload))).toEqual(['a', 'b']);
    });

    it('ProduceStream takes batches in the order they arrive and answers each by id, refusals included', async () => {
      const broker = new InProcessBroker();
      const address = await serveBroker(broker, servers);
      const client = logClient([address]);
      await client.createTopic('t');
      const message = (text: string) => ({ key: new Uint8Array(), payload: bytes(text), headers: [], timestampMs: 1 });
      // Sent without waiting for each other: one stream, so the node sees them in this order.
      const answers = await Promise.all(
        ['a', 'b', 'c'].map((payload) => client.produce({ topic: 't', producerId: 0, firstSequence: 0, messages: [message(payload)] })),
      );
      expect(answers.map((a) => a.firstOffset)).toEqual([0, 1, 2]);
      expect(broker.written.get('t')).toEqual(['a', 'b', 'c']);
      await expect(client.produce({ topic: 'missing', producerId: 0, firstSequence: 0, messages: [message('x')] })).rejects.toBeInstanceOf(NotFoundError);
      const raw = new Client(address, credentials.createInsecure());
      clients.push(raw);
      const call = raw.makeBidiStreamRequest(ClientMethodPath.produceStream, (b: Buffer) => b, codec.produceStreamResponse.deserialize, new Metadata());
      const answered = new Promise<ProduceStreamResponseMessage>((resolve) => call.on('data', resolve));
      call.on('error', () => undefined); // the test's own cancel at the end
      call.write(codec.produceStreamRequest.serialize({ id: 5, produce: null, timeoutMs: 1000 }));
      expect(await answered).toMatchObject({ id: 5, error: { code: status.INVALID_ARGUMENT, details: 'a ProduceStream request needs a produce batch' } });
      call.end();
    });

    it('an append the node does not answer in time fails with OutcomeUnknownError; the stream serves the next', async () => {
      const service = new FakeClientService();
      service.appendGate = new Promise(() => {}); // the first append never commits
      const client = logClient([await serve(service)], 300);
      await expect(client.append(bytes('stuck'))).rejects.toBeInstanceOf(OutcomeUnknownError);
      service.appendGate = null;
      expect(await client.append(bytes('next'))).toEqual({ firstIndex: 1, lastIndex: 1 });
      expect(service.appendCalls).toHaveLength(2);
    });
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
