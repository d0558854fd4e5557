/**
 * The client picks its error class from the error code a node sends beside the status
 * (the quorumlog-error trailer), never from the message text; with no code (a proxy, a
 * foreign server) it goes by the gRPC status alone. The server here is raw grpc-js, so it
 * can answer any status, text and trailer.
 */
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { ErrorCode } from '../../errors/index.js';
import {
  DataLossError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  LogClient,
  NotFoundError,
  QuorumlogClientError,
  ResourceExhaustedError,
  TransactionDecidedError,
  UnavailableError,
} from '../../src/client/index.js';
import { ClientCodec, ErrorMetadataKey } from '../../src/transport/index.js';
import { bindServer, shutdownServer } from '../../src/transport/grpc-server.js';

interface Answer {
  readonly code: status;
  readonly details: string;
  /** The trailer's error code, or null to send none. */
  readonly errorCode: string | null;
}

const servers: Server[] = [];
const clients: LogClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((s) => shutdownServer(s, 1_000)));
});

function trailer(answer: Answer): Metadata {
  const metadata = new Metadata();
  if (answer.errorCode !== null) metadata.set(ErrorMetadataKey.errorCode, answer.errorCode);
  return metadata;
}

/** A server whose Read and Follow always fail with `answer`; counts the calls it got. */
async function serveFailing(answer: Answer): Promise<{ readonly address: string; readonly calls: () => number }> {
  let calls = 0;
  const server = new Server();
  server.addService(new ClientCodec().serviceDefinition(), {
    read: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      calls++;
      callback({ code: answer.code, details: answer.details, metadata: trailer(answer) });
    },
    follow: (call: ServerWritableStream<unknown, unknown>) => {
      calls++;
      call.emit('error', { code: answer.code, details: answer.details, metadata: trailer(answer) });
    },
  });
  const port = await bindServer(server, '127.0.0.1:0', ServerCredentials.createInsecure());
  servers.push(server);
  return { address: `127.0.0.1:${port}`, calls: () => calls };
}

function logClient(address: string): LogClient {
  const client = new LogClient({ brokers: [address], timeoutMs: 1_500, connectTimeoutMs: 500, retryBackoff: { initialMs: 10, maxMs: 50 } });
  clients.push(client);
  return client;
}

async function readFailure(answer: Answer): Promise<{ readonly error: unknown; readonly calls: number }> {
  const server = await serveFailing(answer);
  const error = await logClient(server.address).read(1).catch((e: unknown) => e);
  return { error, calls: server.calls() };
}

async function followFailure(answer: Answer): Promise<{ readonly error: unknown; readonly calls: number }> {
  const server = await serveFailing(answer);
  const error = await (async () => {
    for await (const _ of logClient(server.address).follow(1)) return null;
    return null;
  })().catch((e: unknown) => e);
  return { error, calls: server.calls() };
}

describe('the client reads the error code, not the message text', () => {
  it('a code the status does not suggest wins over the status: notFound under INTERNAL whose text reads like a stream reset', async () => {
    const { error, calls } = await readFailure({ code: status.INTERNAL, details: 'Received RST_STREAM with code 2', errorCode: ErrorCode.notFound });
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: ErrorCode.notFound, message: expect.stringContaining('Received RST_STREAM') });
    expect(calls).toBe(1);
  });

  it('invalidArgument under UNAVAILABLE whose text reads like a refused connection is not retried', async () => {
    const { error, calls } = await readFailure({ code: status.UNAVAILABLE, details: 'No connection established. Last error: connect ECONNREFUSED', errorCode: ErrorCode.invalidArgument });
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: ErrorCode.invalidArgument });
    expect(calls).toBe(1);
  });

  it('transactionDecided is its own class whatever the text says', async () => {
    const { error } = await readFailure({ code: status.FAILED_PRECONDITION, details: 'unknownProducer: outOfOrderSequence', errorCode: ErrorCode.transactionDecided });
    expect(error).toBeInstanceOf(TransactionDecidedError);
    expect(error).toMatchObject({ code: ErrorCode.transactionDecided });
  });

  it('a damaged or missing record is a DataLossError keeping its code, not retried (DATA_LOSS, as a read of a damaged segment answers)', async () => {
    for (const code of [ErrorCode.corruptRecord, ErrorCode.missingSegment, ErrorCode.malformedRecord]) {
      const { error, calls } = await readFailure({ code: status.DATA_LOSS, details: 'corrupt record in 00000000000000000001.log at byte 4096 (expected index 7)', errorCode: code });
      expect(error, code).toBeInstanceOf(DataLossError);
      expect(error, code).toMatchObject({ code, message: expect.stringContaining('corrupt record in') });
      expect(calls, code).toBe(1);
    }
    // Without a code, DATA_LOSS alone reads as a damaged record too.
    const { error } = await readFailure({ code: status.DATA_LOSS, details: 'lost', errorCode: null });
    expect(error).toBeInstanceOf(DataLossError);
  });

  it('a follow stream that ends with the internal code fails at once, though its text reads like a stream reset', async () => {
    const { error, calls } = await followFailure({ code: status.INTERNAL, details: 'Received RST_STREAM with code 2', errorCode: ErrorCode.internal });
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ code: ErrorCode.internal });
    expect(calls).toBe(1);
  });

  it('a follow stream that ends with the unavailable code is opened again until the budget runs out', async () => {
    const { error, calls } = await followFailure({ code: status.UNAVAILABLE, details: 'the node is shutting down', errorCode: ErrorCode.unavailable });
    expect(error).toBeInstanceOf(UnavailableError);
    expect(calls).toBeGreaterThan(1);
  });
});

describe('without a code the client goes by the gRPC status alone', () => {
  it('FAILED_PRECONDITION whose text names a producer refusal is a plain FailedPreconditionError', async () => {
    const { error } = await readFailure({ code: status.FAILED_PRECONDITION, details: 'unknownProducer: producer id 7 expired', errorCode: null });
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect(error).toMatchObject({ code: ErrorCode.failedPrecondition });
  });

  it("RESOURCE_EXHAUSTED whose text reads like grpc-js's own send limit is a ResourceExhaustedError", async () => {
    const { error } = await readFailure({ code: status.RESOURCE_EXHAUSTED, details: 'Attempted to send message with a size larger than 10', errorCode: null });
    expect(error).toBeInstanceOf(ResourceExhaustedError);
  });

  it('a trailer that is not one of the codes is ignored: NOT_FOUND is NotFoundError', async () => {
    const { error } = await readFailure({ code: status.NOT_FOUND, details: 'no such thing', errorCode: 'invalidArgument, really' });
    expect(error).toBeInstanceOf(NotFoundError);
  });

  it('every error a call fails with is a QuorumlogClientError whose code is one of ErrorCode', async () => {
    const { error } = await readFailure({ code: status.PERMISSION_DENIED, details: 'go away', errorCode: null });
    expect(error).toBeInstanceOf(QuorumlogClientError);
    expect(Object.values(ErrorCode)).toContain((error as QuorumlogClientError).code);
  });
});
