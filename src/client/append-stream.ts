import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  ClientMethodPath,
  ErrorMetadataKey,
  type AppendErrorMessage,
  type AppendRequestMessage,
  type AppendResponseMessage,
  type AppendStreamRequestMessage,
  type AppendStreamResponseMessage,
  type ClientCodec,
} from '../transport/index.js';

/** timeout_ms is a uint32 on the wire (and setTimeout's own limit is below it). */
const TIMEOUT_MS_MAX = 2 ** 31 - 1;

/** An append sent on a stream and not yet answered. */
interface Pending {
  readonly resolve: (response: AppendResponseMessage) => void;
  readonly reject: (error: ServiceError) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Appends pipelined on one AppendStream per broker, opened on first use and kept open: an
 * append costs one message each way instead of a new HTTP/2 stream with headers and
 * trailers. Failures come back as the ServiceError a unary Append would have ended with
 * (status code, details, quorumlog-error and leader metadata), so LogClient decides on
 * redirects and retries the same way for both.
 */
export class AppendStreams {
  readonly #codec: ClientCodec;
  readonly #links = new Map<Client, AppendLink>();

  constructor(codec: ClientCodec) {
    this.#codec = codec;
  }

  /** Sends one append on `client`'s stream; rejects with a ServiceError, or at `deadlineMs` with DEADLINE_EXCEEDED. */
  append(client: Client, request: AppendRequestMessage, deadlineMs: number): Promise<AppendResponseMessage> {
    let link = this.#links.get(client);
    if (link === undefined || link.broken) {
      const opened = new AppendLink(client, this.#codec, () => {
        if (this.#links.get(client) === opened) this.#links.delete(client);
      });
      link = opened;
      this.#links.set(client, link);
    }
    return link.send(request, deadlineMs);
  }

  /** Cancels every stream; appends still waiting fail with CANCELLED. */
  close(): void {
    for (const link of this.#links.values()) link.cancel();
    this.#links.clear();
  }
}

/** One AppendStream: requests tagged with ids, answers matched back to them. */
class AppendLink {
  readonly #call: ClientDuplexStream<AppendStreamRequestMessage, AppendStreamResponseMessage>;
  readonly #pending = new Map<number, Pending>();
  readonly #onBroken: () => void;
  #nextId = 1;
  broken = false;

  constructor(client: Client, codec: ClientCodec, onBroken: () => void) {
    this.#onBroken = onBroken;
    this.#call = client.makeBidiStreamRequest(ClientMethodPath.appendStream, codec.appendStreamRequest.serialize, codec.appendStreamResponse.deserialize, new Metadata());
    this.#call.on('data', (response: AppendStreamResponseMessage) => this.#answer(response));
    this.#call.on('error', (error: ServiceError) => this.#break(error));
    this.#call.on('end', () => this.#break(streamError(status.UNAVAILABLE, 'the node ended the append stream')));
  }

  send(request: AppendRequestMessage, deadlineMs: number): Promise<AppendResponseMessage> {
    const id = this.#nextId++;
    const timeoutMs = Math.min(TIMEOUT_MS_MAX, Math.max(1, Math.ceil(deadlineMs - Date.now())));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The node may still finish it; its late answer finds no one waiting.
        this.#pending.delete(id);
        reject(streamError(status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#call.write({ id, append: request, timeoutMs });
    });
  }

  cancel(): void {
    this.#call.cancel();
  }

  #answer(response: AppendStreamResponseMessage): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.error !== null && response.error !== undefined) pending.reject(answeredError(response.error));
    else if (response.ok !== null && response.ok !== undefined) pending.resolve(response.ok);
    else pending.reject(streamError(status.INTERNAL, `append ${response.id} was answered with neither a result nor an error`));
  }

  /** The stream is gone: every append on it fails with the stream's error (sent or not is for the caller to judge). */
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

/** An append's error answer as the ServiceError a unary Append would have failed with. */
function answeredError(error: AppendErrorMessage): ServiceError {
  const metadata = new Metadata();
  if (error.errorCode !== '') metadata.set(ErrorMetadataKey.errorCode, error.errorCode);
  if (error.leaderId !== '') metadata.set(ErrorMetadataKey.leaderId, error.leaderId);
  if (error.leaderAddress !== '') metadata.set(ErrorMetadataKey.leaderAddress, error.leaderAddress);
  return streamError(error.code as status, error.details, metadata);
}
