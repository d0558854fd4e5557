import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '../../errors/index.js';
import { ErrorMetadataKey, grpcStatusOf, type CallErrorMessage, type PipelinedResponse } from '../transport/index.js';

/** timeout_ms is a uint32 on the wire (and setTimeout's own limit is below it). */
const TIMEOUT_MS_MAX = 2 ** 31 - 1;

/** A request sent on a stream and not yet answered. */
interface Pending<Res> {
  readonly resolve: (response: Res) => void;
  readonly reject: (error: ServiceError) => void;
  readonly timer: NodeJS.Timeout;
}

/** One pipelined method: its path, and how a request and its answer cross the wire. */
export interface PipelinedMethod<Req, Res> {
  readonly path: string;
  /** Frames `request` with its id and the client's remaining budget. */
  readonly serialize: (id: number, request: Req, timeoutMs: number) => Buffer;
  readonly deserialize: (bytes: Buffer) => PipelinedResponse<Res>;
  /**
   * The channel's gRPC send limit. A larger request is refused alone (INVALID_ARGUMENT)
   * before it is written: grpc-js would cancel the whole shared stream for it, failing every
   * other request on it, and a retry of it would do the same again.
   */
  readonly requestBytesMax: number;
}

/**
 * Unary-shaped requests pipelined on one stream per broker (AppendStream, ProduceStream),
 * opened on first use and kept open: a request costs one message each way instead of a new
 * HTTP/2 stream with headers and trailers. Failures come back as the ServiceError the unary
 * call would have ended with (status code, details, quorumlog-error and leader metadata),
 * so LogClient decides on redirects and retries the same way for both.
 */
export class PipelinedCalls<Req, Res> {
  readonly #method: PipelinedMethod<Req, Res>;
  readonly #links = new Map<Client, PipelinedLink<Req, Res>>();

  constructor(method: PipelinedMethod<Req, Res>) {
    this.#method = method;
  }

  /** Sends one request on `client`'s stream; rejects with a ServiceError, or at `deadlineMs` with DEADLINE_EXCEEDED. */
  call(client: Client, request: Req, deadlineMs: number): Promise<Res> {
    let link = this.#links.get(client);
    if (link === undefined || link.broken) {
      const opened = new PipelinedLink(client, this.#method, () => {
        if (this.#links.get(client) === opened) this.#links.delete(client);
      });
      link = opened;
      this.#links.set(client, link);
    }
    return link.send(request, deadlineMs);
  }

  /** Cancels every stream; requests still waiting fail with CANCELLED. */
  close(): void {
    for (const link of this.#links.values()) link.cancel();
    this.#links.clear();
  }
}

/** One stream: requests tagged with ids, answers matched back to them. */
class PipelinedLink<Req, Res> {
  readonly #method: PipelinedMethod<Req, Res>;
  readonly #call: ClientDuplexStream<Buffer, PipelinedResponse<Res>>;
  readonly #pending = new Map<number, Pending<Res>>();
  readonly #onBroken: () => void;
  #nextId = 1;
  broken = false;

  constructor(client: Client, method: PipelinedMethod<Req, Res>, onBroken: () => void) {
    this.#method = method;
    this.#onBroken = onBroken;
    this.#call = client.makeBidiStreamRequest(method.path, (bytes: Buffer) => bytes, method.deserialize, new Metadata());
    this.#call.on('data', (response: PipelinedResponse<Res>) => this.#answer(response));
    this.#call.on('error', (error: ServiceError) => this.#break(error));
    this.#call.on('end', () => this.#break(streamError(status.UNAVAILABLE, 'the node ended the stream')));
  }

  send(request: Req, deadlineMs: number): Promise<Res> {
    const id = this.#nextId++;
    const timeoutMs = Math.min(TIMEOUT_MS_MAX, Math.max(1, Math.ceil(deadlineMs - Date.now())));
    const frame = this.#method.serialize(id, request, timeoutMs);
    if (frame.length > this.#method.requestBytesMax) {
      return Promise.reject(refusal(ErrorCode.invalidArgument, `the request is ${frame.length} bytes, over the client's gRPC message limit of ${this.#method.requestBytesMax} bytes`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The node may still finish it; its late answer finds no one waiting.
        this.#pending.delete(id);
        reject(streamError(status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#call.write(frame);
    });
  }

  cancel(): void {
    this.#call.cancel();
  }

  #answer(response: PipelinedResponse<Res>): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.error !== null && response.error !== undefined) pending.reject(answeredError(response.error));
    else if (response.ok !== null && response.ok !== undefined) pending.resolve(response.ok);
    else pending.reject(refusal(ErrorCode.internal, `request ${response.id} was answered with neither a result nor an error`));
  }

  /** The stream is gone: every request on it fails with the stream's error (sent or not is for the caller to judge). */
  #break(error: ServiceError): void {
    if (this.broken) return;
    this.broken = true;
    this.#onBroken();
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }
}

function streamError(code: status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

/**
 * A failure this client decides itself (not a broken stream), with its code, so that it
 * reads as the answer it is rather than as a failure below the node.
 */
function refusal(code: ErrorCode, details: string): ServiceError {
  const metadata = new Metadata();
  metadata.set(ErrorMetadataKey.errorCode, code);
  return streamError(grpcStatusOf(code), details, metadata);
}

/** An error answer as the ServiceError the unary call would have failed with. */
function answeredError(error: CallErrorMessage): ServiceError {
  const metadata = new Metadata();
  if (error.errorCode !== '') metadata.set(ErrorMetadataKey.errorCode, error.errorCode);
  if (error.leaderId !== '') metadata.set(ErrorMetadataKey.leaderId, error.leaderId);
  if (error.leaderAddress !== '') metadata.set(ErrorMetadataKey.leaderAddress, error.leaderAddress);
  return streamError(error.code as status, error.details, metadata);
}
