import type { sendUnaryData, Server, ServerCredentials } from '@grpc/grpc-js';
import { ListenError } from './errors.js';
import { toGrpcStatus } from './grpc-status.js';

/** Answers a unary call with what `work` resolves to, or with the gRPC status of what it throws or rejects with. */
export function answerUnary<T>(reply: sendUnaryData<T>, work: () => Promise<T>): void {
  let result: Promise<T>;
  try {
    result = work();
  } catch (error) {
    result = Promise.reject(error);
  }
  result.then(
    (value) => reply(null, value),
    (error: unknown) => reply(toGrpcStatus(error)),
  );
}

/** Binds `address` (host:port; port 0 picks one) and resolves with the bound port. */
export function bindServer(server: Server, address: string, serverCredentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, serverCredentials, (error, port) => {
      if (error !== null) reject(new ListenError(address, { cause: error }));
      else resolve(port);
    });
  });
}

/** Stops taking calls, waits up to graceMs for calls in progress, then cuts them. */
export function shutdownServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
