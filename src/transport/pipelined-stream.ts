import type { ServerDuplexStream } from '@grpc/grpc-js';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from './node-errors.js';
import { MalformedRequest, type CallErrorMessage, type PipelinedRequest, type PipelinedResponse } from './client-codec.js';
import { ErrorMetadataKey, toGrpcStatus, type GrpcErrorStatus } from './grpc-status.js';

/**
 * Requests one stream may have unanswered; more are answered RESOURCE_EXHAUSTED at once
 * without running. Far above what a client library keeps in flight (the Producer and
 * AppendBatcher keep a few requests per node), it only stops a runaway client from
 * queueing without limit on one stream.
 */
export const PIPELINED_PENDING_MAX = 4096;

/** An open pipelined stream, as the server's shutdown sees it. */
export interface PipelinedStream {
  /** Ends the stream if nothing is pending (with UNAVAILABLE once the server is closing). */
  endIfIdle(): void;
}

export interface PipelinedOptions<Req, Res> {
  /** The method's name, for messages. */
  readonly method: string;
  /** Runs one request; `timeoutMs` is the client's budget capped by the server's limit. */
  readonly handle: (request: Req, timeoutMs: number) => Promise<Res>;
  /** The server's timeout for a request whose client gave `deadlineMs` (Infinity: none). */
  readonly timeoutMs: (deadlineMs: number) => number;
  /** Open streams, so that shutdown can end them. */
  readonly streams: Set<PipelinedStream>;
  readonly closing: () => boolean;
}

/**
 * Serves unary-shaped requests pipelined on one bidirectional stream (AppendStream,
 * ProduceStream): requests are handled in the order they arrive and answered by id as they
 * finish; a failure is its request's answer, never the stream's. The stream ends when the
 * client half-closes and every request is answered (OK), when a request does not decode
 * (INVALID_ARGUMENT), or, once the server is closing, when nothing is pending any more
 * (UNAVAILABLE, so the client goes to another node).
 */
export function servePipelined<Req extends PipelinedRequest, Res>(
  call: ServerDuplexStream<Req | MalformedRequest, PipelinedResponse<Res>>,
  options: PipelinedOptions<Req, Res>,
): void {
  let pending = 0;
  /** open: taking requests; clientDone: the client half-closed, answers still go; ended: nothing more goes. */
  let state: 'open' | 'clientDone' | 'ended' = 'open';
  const end = (error: GrpcErrorStatus | null): void => {
    if (state === 'ended') return;
    state = 'ended';
    options.streams.delete(stream);
    if (error === null) call.end();
    else call.emit('error', error);
  };
  const stream: PipelinedStream = {
    endIfIdle: () => {
      if (pending > 0) return;
      if (options.closing()) end(toGrpcStatus(new UnavailableError(`the node is shutting down; use another node for ${options.method}`)));
      else if (state === 'clientDone') end(null);
    },
  };
  options.streams.add(stream);
  call.on('data', (request: Req | MalformedRequest) => {
    if (state !== 'open') return;
    if (request instanceof MalformedRequest) {
      end(toGrpcStatus(new InvalidArgumentError(`${options.method} request is not a valid protobuf message: ${request.reason}`)));
      return;
    }
    pending++;
    const deadlineMs = request.timeoutMs > 0 ? Date.now() + request.timeoutMs : Infinity;
    const refused = pending > PIPELINED_PENDING_MAX ? new ResourceExhaustedError(`${PIPELINED_PENDING_MAX} requests on this ${options.method} are unanswered; wait for answers before sending more`) : null;
    // A handler that throws at once is answered like one that rejects.
    (async () => {
      if (refused !== null) throw refused;
      return options.handle(request, options.timeoutMs(deadlineMs));
    })()
      .then(
        (ok): PipelinedResponse<Res> => ({ id: request.id, ok }),
        (error: unknown): PipelinedResponse<Res> => ({ id: request.id, error: callError(toGrpcStatus(error)) }),
      )
      .then((response) => {
        pending--;
        if (state !== 'ended') call.write(response);
        stream.endIfIdle();
      });
  });
  call.on('end', () => {
    if (state === 'open') state = 'clientDone';
    stream.endIfIdle();
  });
  call.on('cancelled', () => {
    state = 'ended';
    options.streams.delete(stream);
  });
}

/** A status as the answer that carries it. */
function callError(error: GrpcErrorStatus): CallErrorMessage {
  const value = (key: string): string => {
    const found = error.metadata.get(key)[0];
    return typeof found === 'string' ? found : '';
  };
  return {
    code: error.code,
    details: error.details,
    errorCode: value(ErrorMetadataKey.errorCode),
    leaderId: value(ErrorMetadataKey.leaderId),
    leaderAddress: value(ErrorMetadataKey.leaderAddress),
  };
}
