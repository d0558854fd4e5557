/**
 * Server streams that outlive the broker serving them: when one breaks, it is opened again
 * (with back-off) on the broker the CallRouter picks, until the caller aborts, the client
 * closes, or no broker serves it for the give-up time.
 */

import type { ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '../../errors/index.js';
import { Backoff, ClientMethodPath, ErrorMetadataKey, type ClientCodec, type LogRecord, type ReadResponseMessage } from '../transport/index.js';
import { sleepUnlessAborted } from './abortable.js';
import { awaitReady } from './broker-channels.js';
import type { CallRouter } from './call-router.js';
import { describe, failedBelowNode, failureCode, firstValue, isRetriable, operationWords, toClientError } from './call-errors.js';
import { UnavailableError } from './errors.js';

/** One method of client.proto: its path and its request and response serializers. */
export interface UnaryMethod<Req, Res> {
  readonly path: string;
  readonly serialize: (value: Req) => Buffer;
  readonly deserialize: (bytes: Buffer) => Res;
}

/**
 * Committed records from `from` on, a stream message at a time, from any broker (see
 * LogClient.followBatches). A stream that breaks resumes from the next record, so no
 * record is skipped or repeated.
 */
export async function* followBatches(
  router: CallRouter,
  codec: ClientCodec,
  from: number,
  options: { readonly signal?: AbortSignal; readonly bytesMax: number },
): AsyncGenerator<readonly LogRecord[], void, undefined> {
  const signal = options.signal === undefined ? router.closing : AbortSignal.any([options.signal, router.closing]);
  const backoff = new Backoff(router.retryBackoff);
  let next = from;
  let failingSinceMs: number | null = null;
  let lastError: unknown = null;
  while (!signal.aborted) {
    router.checkOpen();
    const address = failingSinceMs === null ? router.firstBroker() : router.nextBroker();
    const client = router.channels.get(address);
    const ready = await awaitReady(client, Date.now() + router.connectTimeoutMs);
    // Aborted while connecting: a stream opened now would never be cancelled.
    if (signal.aborted) break;
    if (ready) {
      const call = client.makeServerStreamRequest(ClientMethodPath.follow, codec.readRequest.serialize, codec.readResponse.deserialize, { from: next, bytesMax: options.bytesMax });
      const cancel = (): void => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      try {
        for await (const response of call as AsyncIterable<ReadResponseMessage>) {
          // Records before `next` were yielded from an earlier stream: never repeat one. The
          // wire records are LogRecords at run time (brands are compile-time only): no copy.
          const records = response.records.filter((r) => r.index >= next) as unknown as readonly LogRecord[];
          const last = records.at(-1);
          if (last !== undefined) {
            next = last.index + 1;
            yield records;
          }
          next = Math.max(next, response.nextIndex);
          failingSinceMs = null;
          backoff.reset();
          router.channels.markResponsive(address);
        }
      } catch (error) {
        if (signal.aborted) break;
        const serviceError = error as ServiceError;
        if (!isRetriable(serviceError)) throw toClientError(serviceError, 'follow', 'idempotent');
        if (failedBelowNode(serviceError)) router.channels.markUnresponsive(address);
        lastError = serviceError;
      } finally {
        signal.removeEventListener('abort', cancel);
        call.cancel();
      }
    } else {
      lastError = new Error(`cannot connect to ${address}${router.channels.connectHint}`);
      router.channels.markUnresponsive(address);
    }
    failingSinceMs ??= Date.now();
    if (Date.now() - failingSinceMs > router.timeoutMs) {
      throw new UnavailableError(`follow: no broker served the stream for ${router.timeoutMs} ms (${describe(lastError)})`, { cause: lastError });
    }
    await sleepUnlessAborted(backoff.nextDelayMs(), signal);
  }
}

/**
 * A server stream on the leader, following redirects (see LogClient.leaderStream);
 * `giveUpAfterMs` null never gives up.
 */
export async function* leaderStream<Req, Res>(
  router: CallRouter,
  call: { readonly operation: string; readonly method: UnaryMethod<Req, Res>; readonly request: Req },
  signal: AbortSignal,
  giveUpAfterMs: number | null,
): AsyncGenerator<Res, void, undefined> {
  const { operation, method, request } = call;
  const stop = AbortSignal.any([signal, router.closing]);
  const backoff = new Backoff(router.retryBackoff);
  let address = router.firstBroker();
  let failingSinceMs: number | null = null;
  let lastError: unknown = null;
  while (!stop.aborted) {
    router.checkOpen();
    const client = router.channels.get(address);
    let redirect: string | null = null;
    const ready = await awaitReady(client, Date.now() + router.connectTimeoutMs);
    // Aborted while connecting: the abort event has fired already, so a stream opened now
    // would never be cancelled and would wait for its next message forever.
    if (stop.aborted) break;
    if (ready) {
      const stream = client.makeServerStreamRequest(method.path, method.serialize, method.deserialize, request);
      const cancel = (): void => stream.cancel();
      stop.addEventListener('abort', cancel, { once: true });
      try {
        for await (const response of stream as AsyncIterable<Res>) {
          router.servedBy(address);
          router.channels.markResponsive(address);
          failingSinceMs = null;
          backoff.reset();
          yield response;
        }
      } catch (error) {
        if (stop.aborted) break;
        const serviceError = error as ServiceError;
        if (!isRetriable(serviceError)) throw toClientError(serviceError, operation, 'idempotent');
        if (failedBelowNode(serviceError)) router.channels.markUnresponsive(address);
        if (failureCode(serviceError) === ErrorCode.notLeader) redirect = firstValue(serviceError.metadata, ErrorMetadataKey.leaderAddress) ?? null;
        lastError = serviceError;
      } finally {
        stop.removeEventListener('abort', cancel);
        stream.cancel();
      }
    } else {
      lastError = new Error(`cannot connect to ${address}${router.channels.connectHint}`);
      router.channels.markUnresponsive(address);
    }
    // Not to a leader that just failed us (see LogClient's class comment).
    if (redirect !== null && !router.channels.usable(redirect)) redirect = null;
    failingSinceMs ??= Date.now();
    if (giveUpAfterMs !== null && Date.now() - failingSinceMs > giveUpAfterMs) {
      throw new UnavailableError(`${operationWords(operation)}: no broker served the stream for ${giveUpAfterMs} ms (${describe(lastError)})`, { cause: lastError });
    }
    // A first redirect goes at once; one back to the same broker (an election settling) waits.
    if (redirect === null || redirect === address) await sleepUnlessAborted(backoff.nextDelayMs(), stop);
    address = redirect ?? router.nextBroker();
  }
}
