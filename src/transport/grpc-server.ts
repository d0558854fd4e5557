import type { Http2Server, Http2Session, Settings } from 'node:http2';

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

/**
 * What a client may send on one of our connections, and on each stream, before it must wait
 * for a window update. HTTP/2 starts both at 64 KiB, less than a 64 x 1 KiB append from a
 * client or from the leader to a follower, so each such message waited for the receiver to
 * read the first 64 KiB and grant more (measured at 1 KiB x 64: client -> leader p50 298 ->
 * 225 us, leader -> follower 409 -> 290 us with 1 MiB). The peer links and client channels
 * open the same window in the other direction (CHANNEL_RECEIVE_WINDOW_BYTES).
 */
export const SERVER_RECEIVE_WINDOW_BYTES = 1024 * 1024;

/**
 * Binds `address` (host:port; port 0 picks one) and resolves with the bound port; opens the
 * receive window of every connection to SERVER_RECEIVE_WINDOW_BYTES.
 */
export function bindServer(server: Server, address: string, serverCredentials: ServerCredentials): Promise<number> {
  const internals = serverInternals(server);
  // Stream windows: the initial SETTINGS every connection starts with.
  if (internals.options !== null) internals.options.settings = { ...internals.options.settings, initialWindowSize: SERVER_RECEIVE_WINDOW_BYTES };
  return new Promise((resolve, reject) => {
    server.bindAsync(address, serverCredentials, (error, port) => {
      if (error !== null) {
        reject(new ListenError(address, { cause: error }));
        return;
      }
      // The connection's window: raised on each new session (a WINDOW_UPDATE on stream 0).
      for (const http2Server of internals.http2Servers()) http2Server.on('session', widenConnectionWindow);
      resolve(port);
    });
  });
}

function widenConnectionWindow(session: Http2Session): void {
  if (session.destroyed) return;
  try {
    session.setLocalWindowSize(SERVER_RECEIVE_WINDOW_BYTES);
  } catch {
    // A session closing as it opens keeps HTTP/2's window; a throw here would end the process.
  }
}

/**
 * The two parts of a grpc-js Server that its API does not offer: the options it creates its
 * HTTP/2 servers with, and those servers (an open pull request, grpc/grpc-node#3058, would
 * make servers honour 'grpc-node.flow_control_window' the same two ways). Each is null or empty if a grpc-js version lacks it: the server then
 * works as before, with HTTP/2's windows, and test/transport/grpc-server.test.ts fails.
 */
function serverInternals(server: Server): { options: { settings?: Settings } | null; http2Servers: () => Http2Server[] } {
  const inner = server as unknown as { commonServerOptions?: unknown; http2Servers?: unknown };
  const options = typeof inner.commonServerOptions === 'object' && inner.commonServerOptions !== null ? (inner.commonServerOptions as { settings?: Settings }) : null;
  const http2Servers = (): Http2Server[] => (inner.http2Servers instanceof Map ? [...(inner.http2Servers.keys() as Iterable<Http2Server>)] : []);
  return { options, http2Servers };
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
