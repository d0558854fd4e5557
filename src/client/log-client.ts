import type { ClientAuth, ClientTlsOptions } from '../transport/index.js';
import { index } from '../../raft/index.js';
import {
  ClientCodec,
  ClientMethodPath,
  AcksCode,
  type AckRequestMessage,
  type AckResponseMessage,
  type AppendAcks,
  type AppendOutcome,
  type AppendRequestMessage,
  type AppendResponseMessage,
  type BrokerMessageView,
  type FetchOutcome,
  type FollowerView,
  type ProduceOutcome,
  type ProduceRequestMessage,
  type ProduceResponseMessage,
  type TopicView,
  type LogRecord as ServiceLogRecord,
  type MemberChangeInput,
  type MembersView,
  type NodeStatusView,
  type ReadOutcome,
} from '../transport/index.js';
import { untilAborted } from './abortable.js';
import { PipelinedCalls } from './pipelined-calls.js';
import { checkBrokers } from './broker-address.js';
import { awaitReady, BrokerChannels, KEEPALIVE_DEFAULTS, type KeepaliveOptions } from './broker-channels.js';
import { followBatches, leaderStream, type UnaryMethod } from './broker-streams.js';
import { describe, refusedClient, type Delivery } from './call-errors.js';
import { CallRouter, unary } from './call-router.js';
import { AbortedError, InvalidArgumentError } from './errors.js';
import { fetchResult, membersView, nodeStatus, produceResult, readResult, topicInfo } from './wire-results.js';

export type { Delivery } from './call-errors.js';
export type { KeepaliveOptions } from './broker-channels.js';
export type { UnaryMethod } from './broker-streams.js';

export interface LogClientOptions {
  /**
   * Client addresses (host:port) of some or all nodes; followers redirect to the leader. The
   * list then follows the cluster's membership: every brokerRefreshIntervalMs, and when a node
   * knows no leader or names one not in the list, a node is asked for the members' addresses.
   */
  readonly brokers: readonly string[];
  /** How often the broker list is refreshed from the cluster's members; 0: never (the list stays as given). Default 30 s. */
  readonly brokerRefreshIntervalMs?: number;
  /** Overall budget of one call, retries and redirects included. Default 30 s. */
  readonly timeoutMs?: number;
  /** How long one attempt waits to connect to a broker before trying the next. Default 2 s. */
  readonly connectTimeoutMs?: number;
  /** Back-off between retries; doubles per retry up to maxMs, with jitter. Default 50 ms .. 1 s. */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Largest gRPC message either way. Default 16 MiB (the node's default). */
  readonly messageBytesMax?: number;
  /**
   * How a broker that is connected but no longer answering (stopped, in a long pause, behind
   * a half-open network) is found: a ping every intervalMs while calls are open, the
   * connection dropped after timeoutMs without an answer. Default 500 ms and 1 s, matched to
   * the cluster's default election timeout (0.5-1 s); keep timeoutMs at or above the
   * cluster's. See "A broker that stops answering" on LogClient.
   */
  readonly keepalive?: KeepaliveOptions;
  /**
   * TLS to the brokers: `ca` (PEM) is the only authority trusted (the broker's certificate
   * must name the host dialled); `cert` and `key`, when given, are presented as this
   * client's certificate. Default: plaintext.
   */
  readonly tls?: ClientTlsOptions;
  /**
   * A user and password (the node's users file), sent with every call. Only with `tls`: a
   * password is never sent over plaintext (the constructor throws InvalidArgumentError).
   * A client certificate in `tls` authenticates without one.
   */
  readonly auth?: ClientAuth;
}

export const LOG_CLIENT_DEFAULTS = {
  timeoutMs: 30_000,
  connectTimeoutMs: 2_000,
  retryBackoff: { initialMs: 50, maxMs: 1_000 },
  messageBytesMax: 16 * 1024 * 1024,
  // Well under any node's message limit (which a larger bytesMax must not exceed).
  readMaxBytes: 512 * 1024,
  /** statusAll() gives each broker this long. */
  statusTimeoutMs: 5_000,
  keepalive: KEEPALIVE_DEFAULTS,
  /** The broker list is refreshed from the cluster's members this often (docs/membership.md). */
  brokerRefreshIntervalMs: 30_000,
} as const;

/**
 * Results carry the log's branded types (Index, Term, NodeId): they are plain numbers and
 * strings at run time, and the same shapes the node's ClientService speaks, so a status
 * from the client is a NodeStatusView.
 */
export type AppendResult = AppendOutcome;
export type LogRecord = ServiceLogRecord;
export type ReadResult = ReadOutcome;
export type FollowerStatus = FollowerView;
export type NodeStatus = NodeStatusView;
export type TopicInfo = TopicView;
export type FetchResult = FetchOutcome;
export type ProduceResult = ProduceOutcome;
export type BrokerMessage = BrokerMessageView;

/** One Produce request: a batch of messages for one topic. */
export interface ProduceBatch {
  readonly topic: string;
  /** 0: no idempotence. */
  readonly producerId: number;
  readonly firstSequence: number;
  readonly messages: readonly BrokerMessage[];
}

/**
 * One broker's answer in statusAll(): its status, or why it gave none; `refused` when it was
 * reached and refused this client (its credentials or rights), rather than not reached.
 */
export type BrokerStatus = (NodeStatus & { readonly address: string }) | { readonly address: string; readonly error: string; readonly refused?: true };

/** What every call that can wait takes: its signal ends the wait with AbortedError. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

type LogClientState = 'open' | 'closed';

/**
 * A client of a quorumlog cluster over gRPC. Follows redirects to the leader, retries what
 * is safe to retry across all brokers with back-off and jitter within `timeoutMs`, and
 * reports the rest as typed errors (errors.ts).
 *
 * Appends are NOT idempotent here: an append is retried only when it certainly did not
 * reach a leader (the node said it is not the leader, or no connection could be made
 * before sending). After a timeout, or a connection lost once the request was sent, it
 * fails with OutcomeUnknownError: the records may or may not have been committed.
 *
 * A broker that stops answering: its connection is dropped once a keepalive ping goes
 * unanswered (LogClientOptions.keepalive), failing what was in flight on it (an append with
 * OutcomeUnknownError; the idempotent Producer resends). It is then left alone until its
 * channel connects again, which takes a live process: calls go to the other brokers, and a
 * redirect to it (its followers name it until they elect another leader) is not followed;
 * the client asks the others again, with back-off, until one names a leader it can reach.
 */
export class LogClient {
  /** The channels' send limit: a request over it would fail in grpc-js, so append refuses it first. */
  readonly #messageBytesMax: number;
  readonly #codec = new ClientCodec();
  readonly #channels: BrokerChannels;
  /** Appends and produce batches go over one long-lived stream per broker each, not a call each. */
  readonly #appends: PipelinedCalls<AppendRequestMessage, AppendResponseMessage>;
  readonly #produces: PipelinedCalls<ProduceRequestMessage, ProduceResponseMessage>;
  /** Ack requests likewise: a consumer sends one per commit round, tens a second, each a new HTTP/2 stream if unary. */
  readonly #acks: PipelinedCalls<AckRequestMessage, AckResponseMessage>;
  /** Which broker each call goes to, with redirects and retries. */
  readonly #router: CallRouter;
  #state: LogClientState = 'open';
  /** Ends retries' sleeps and open follow streams on close(). */
  readonly #closing = new AbortController();

  constructor(options: LogClientOptions) {
    checkBrokers(options.brokers);
    const keepalive = options.keepalive ?? LOG_CLIENT_DEFAULTS.keepalive;
    if (!(Number.isSafeInteger(keepalive.intervalMs) && keepalive.intervalMs >= 1 && Number.isSafeInteger(keepalive.timeoutMs) && keepalive.timeoutMs >= 1)) {
      throw new InvalidArgumentError(`keepalive intervalMs and timeoutMs must be whole numbers of ms, at least 1 (got ${keepalive.intervalMs} and ${keepalive.timeoutMs})`);
    }
    const requestBytesMax = options.messageBytesMax ?? LOG_CLIENT_DEFAULTS.messageBytesMax;
    this.#messageBytesMax = requestBytesMax;
    this.#appends = new PipelinedCalls({
      path: ClientMethodPath.appendStream,
      serialize: (id, append, timeoutMs) => this.#codec.appendStreamRequest.serialize({ id, append, timeoutMs }),
      deserialize: this.#codec.appendStreamResponse.deserialize,
      requestBytesMax,
    });
    this.#produces = new PipelinedCalls({
      path: ClientMethodPath.produceStream,
      serialize: (id, produce, timeoutMs) => this.#codec.produceStreamRequest.serialize({ id, produce, timeoutMs }),
      deserialize: this.#codec.produceStreamResponse.deserialize,
      requestBytesMax,
    });
    this.#acks = new PipelinedCalls({
      path: ClientMethodPath.ackStream,
      serialize: (id, ack, timeoutMs) => this.#codec.ackStreamRequest.serialize({ id, ack, timeoutMs }),
      deserialize: this.#codec.ackStreamResponse.deserialize,
      requestBytesMax,
    });
    this.#channels = new BrokerChannels({
      messageBytesMax: requestBytesMax,
      addressesMax: options.brokers.length + 16,
      keepalive,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    });
    const refreshMs = options.brokerRefreshIntervalMs ?? LOG_CLIENT_DEFAULTS.brokerRefreshIntervalMs;
    this.#router = new CallRouter({
      brokers: options.brokers,
      timeoutMs: options.timeoutMs ?? LOG_CLIENT_DEFAULTS.timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? LOG_CLIENT_DEFAULTS.connectTimeoutMs,
      retryBackoff: options.retryBackoff ?? LOG_CLIENT_DEFAULTS.retryBackoff,
      channels: this.#channels,
      closing: this.#closing.signal,
      ...(refreshMs === 0
        ? {}
        : {
            refreshBrokers: {
              intervalMs: refreshMs,
              list: async (address: string, deadlineMs: number) => {
                const client = this.#channels.get(address);
                if (!(await awaitReady(client, Math.min(deadlineMs, Date.now() + (options.connectTimeoutMs ?? LOG_CLIENT_DEFAULTS.connectTimeoutMs))))) return [];
                const message = await unary(client, ClientMethodPath.members, this.#codec.membersRequest.serialize, this.#codec.membersResponse.deserialize, {}, deadlineMs);
                return message.members.map((m) => m.clientAddress);
              },
            },
          }),
    });
  }

  /**
   * Appends records as consecutive log entries; resolves once they are committed (acks 'all',
   * the default) or once durable in the leader's own log (acks 'leader': not yet replicated,
   * so a leader failure before a majority has them loses them).
   */
  async append(records: readonly Uint8Array[] | Uint8Array, options: { readonly acks?: AppendAcks } & CallOptions = {}): Promise<AppendResult> {
    if (typeof records === 'string') throw new InvalidArgumentError('append takes Uint8Array records, not a string: encode it (new TextEncoder().encode(text))');
    const list = records instanceof Uint8Array ? [records] : records;
    if (list.length === 0) throw new InvalidArgumentError('append needs at least one record');
    const notBytes = list.findIndex((r) => !(r instanceof Uint8Array));
    if (notBytes >= 0) throw new InvalidArgumentError(`append: record ${notBytes} is a ${typeof list[notBytes]}, not a Uint8Array`);
    const acks = options.acks ?? 'all';
    if (acks !== 'all' && acks !== 'leader') throw new InvalidArgumentError(`append acks must be 'all' or 'leader', not '${String(acks)}'`);
    this.#checkAppendBytes(list);
    const request = { records: list, acks: acks === 'leader' ? AcksCode.leader : AcksCode.all };
    const response = await this.#router.call({
      operation: 'append',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => this.#appends.call(client, request, deadlineMs),
    });
    return { firstIndex: index(response.firstIndex), lastIndex: index(response.lastIndex) };
  }

  /** Committed records from `from` on, up to bytesMax of payload (at least one record if any). */
  async read(from: number, options: { readonly bytesMax?: number } & CallOptions = {}): Promise<ReadResult> {
    if (!(Number.isSafeInteger(from) && from >= 1)) throw new InvalidArgumentError(`read: from must be a log index (a whole number >= 1), not ${from}`);
    const bytesMax = options.bytesMax ?? LOG_CLIENT_DEFAULTS.readMaxBytes;
    if (!(Number.isSafeInteger(bytesMax) && bytesMax >= 1)) throw new InvalidArgumentError(`read: bytesMax must be a whole number >= 1, not ${bytesMax}`);
    const request = { from, bytesMax };
    const response = await this.#router.call({
      operation: 'read',
      delivery: 'idempotent',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.read, this.#codec.readRequest.serialize, this.#codec.readResponse.deserialize, request, deadlineMs),
    });
    return readResult(response);
  }

  /**
   * Every committed record from `from` on, as they commit, until `signal` aborts (the
   * iteration then ends without error) or no broker answers for timeoutMs (UnavailableError).
   * A stream that breaks resumes from the next record on any broker, so no record is
   * skipped or repeated.
   */
  async *follow(from: number, options: { readonly signal?: AbortSignal; readonly bytesMax?: number } = {}): AsyncGenerator<LogRecord, void, undefined> {
    for await (const batch of this.followBatches(from, options)) yield* batch;
  }

  /**
   * follow() a response at a time: each batch is the records of one stream message (never
   * empty), in log order. Cheaper than follow() when records arrive by the thousand.
   */
  followBatches(from: number, options: { readonly signal?: AbortSignal; readonly bytesMax?: number } = {}): AsyncGenerator<readonly LogRecord[], void, undefined> {
    return followBatches(this.#router, this.#codec, from, { ...options, bytesMax: options.bytesMax ?? LOG_CLIENT_DEFAULTS.readMaxBytes });
  }

  /** One node's status (with `address`), or any reachable broker's (without). */
  status(options?: CallOptions): Promise<NodeStatus>;
  status(address: string | undefined, options?: CallOptions): Promise<NodeStatus>;
  async status(addressOrOptions?: string | CallOptions, callOptions: CallOptions = {}): Promise<NodeStatus> {
    const address = typeof addressOrOptions === 'string' ? addressOrOptions : undefined;
    const options = typeof addressOrOptions === 'object' ? addressOrOptions : callOptions;
    const message = await this.#router.call({
      operation: 'status',
      delivery: 'idempotent',
      signal: options.signal,
      ...(address === undefined ? {} : { pinnedAddress: address }),
      run: (client, deadlineMs) => unary(client, ClientMethodPath.status, this.#codec.statusRequest.serialize, this.#codec.nodeStatus.deserialize, {}, deadlineMs),
    });
    return nodeStatus(message);
  }

  /**
   * Every configured broker's status, asked in parallel, one attempt each; unreachable ones
   * say why. `signal` ends the wait with AbortedError (the brokers' answers are dropped).
   */
  async statusAll(options: CallOptions = {}): Promise<readonly BrokerStatus[]> {
    this.#router.checkOpen();
    const aborted = (): AbortedError => new AbortedError('status all: aborted');
    if (options.signal?.aborted === true) throw aborted();
    const all = Promise.all(
      this.#router.brokers.map(async (address): Promise<BrokerStatus> => {
        const deadlineMs = Date.now() + Math.min(this.#router.timeoutMs, LOG_CLIENT_DEFAULTS.statusTimeoutMs);
        try {
          const client = this.#channels.get(address);
          if (!(await awaitReady(client, Math.min(deadlineMs, Date.now() + this.#router.connectTimeoutMs)))) return { address, error: `cannot connect to ${address}${this.#channels.connectHint}` };
          const message = await unary(client, ClientMethodPath.status, this.#codec.statusRequest.serialize, this.#codec.nodeStatus.deserialize, {}, deadlineMs);
          return { address, ...nodeStatus(message) };
        } catch (error) {
          return { address, error: describe(error), ...(refusedClient(error) ? { refused: true as const } : {}) };
        }
      }),
    );
    return untilAborted(all, options.signal, aborted);
  }

  /** Moves leadership to node `to`; resolves once it leads. */
  async transfer(to: string, options: CallOptions = {}): Promise<void> {
    if (to === '') throw new InvalidArgumentError('transfer needs the id of the node to move leadership to');
    await this.#router.call({
      operation: 'transfer',
      delivery: 'idempotent',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.transfer, this.#codec.transferRequest.serialize, this.#codec.transferResponse.deserialize, { to }, deadlineMs),
    });
  }

  /** The members of the configuration the asked node holds (any broker, or the one at `address`), with their addresses. */
  async members(options: CallOptions & { readonly address?: string } = {}): Promise<MembersView> {
    const message = await this.#router.call({
      operation: 'members',
      delivery: 'idempotent',
      signal: options.signal,
      ...(options.address === undefined ? {} : { pinnedAddress: options.address }),
      run: (client, deadlineMs) => unary(client, ClientMethodPath.members, this.#codec.membersRequest.serialize, this.#codec.membersResponse.deserialize, {}, deadlineMs),
    });
    return membersView(message);
  }

  /**
   * One membership change, on the leader; resolves once committed, with the members it
   * made. Sent once: a change whose answer was lost is safe to ask again (the node answers
   * a change already made at once, docs/membership.md).
   */
  async changeMember(change: MemberChangeInput, options: CallOptions = {}): Promise<MembersView> {
    const request = {
      kind: change.kind,
      id: change.id,
      peerAddress: change.kind === 'add' ? change.peerAddress : '',
      clientAddress: change.kind === 'add' ? change.clientAddress : '',
      incarnation: change.kind === 'add' ? change.incarnation : '',
      force: change.kind === 'remove' && change.force,
      httpAddress: change.kind === 'add' ? (change.httpAddress ?? '') : '',
    };
    const message = await this.#router.call({
      operation: 'changeMember',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.changeMember, this.#codec.memberChangeRequest.serialize, this.#codec.membersResponse.deserialize, request, deadlineMs),
    });
    return membersView(message);
  }

  /** Creates a topic; messageBytesMax 0 (default) takes the broker's default. */
  async createTopic(name: string, options: { readonly messageBytesMax?: number } & CallOptions = {}): Promise<void> {
    const request = { name, messageBytesMax: options.messageBytesMax ?? 0 };
    await this.#router.call({
      operation: 'createTopic',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.createTopic, this.#codec.createTopicRequest.serialize, this.#codec.createTopicResponse.deserialize, request, deadlineMs),
    });
  }

  async deleteTopic(name: string, options: CallOptions = {}): Promise<void> {
    await this.#router.call({
      operation: 'deleteTopic',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.deleteTopic, this.#codec.deleteTopicRequest.serialize, this.#codec.deleteTopicResponse.deserialize, { name }, deadlineMs),
    });
  }

  /** Topics as the answering node has applied them. */
  async listTopics(options: CallOptions = {}): Promise<readonly TopicInfo[]> {
    const response = await this.#router.call({
      operation: 'listTopics',
      delivery: 'idempotent',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.listTopics, this.#codec.listTopicsRequest.serialize, this.#codec.listTopicsResponse.deserialize, {}, deadlineMs),
    });
    return response.topics.map(topicInfo);
  }

  async describeTopic(name: string, options: CallOptions = {}): Promise<TopicInfo> {
    const response = await this.#router.call({
      operation: 'describeTopic',
      delivery: 'idempotent',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.describeTopic, this.#codec.describeTopicRequest.serialize, this.#codec.topicInfo.deserialize, { name }, deadlineMs),
    });
    return topicInfo(response);
  }

  /** A new producer id (each call writes one log entry). */
  async initProducer(options: CallOptions = {}): Promise<number> {
    const response = await this.#router.call({
      operation: 'initProducer',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => unary(client, ClientMethodPath.initProducer, this.#codec.initProducerRequest.serialize, this.#codec.initProducerResponse.deserialize, {}, deadlineMs),
    });
    return response.producerId;
  }

  /**
   * One Produce request, with redirects; like append, it is not retried once it may have
   * reached a leader (OutcomeUnknownError). The Producer retries it with its sequence.
   */
  async produce(batch: ProduceBatch, options: { readonly acks?: 'all' | 'leader' | 'none' } & CallOptions = {}): Promise<ProduceResult> {
    const acks = options.acks === 'leader' ? AcksCode.leader : options.acks === 'none' ? AcksCode.none : AcksCode.all;
    const request = { topic: batch.topic, producerId: batch.producerId, firstSequence: batch.firstSequence, messages: batch.messages, acks };
    const response = await this.#router.call({
      operation: 'produce',
      delivery: 'once',
      signal: options.signal,
      run: (client, deadlineMs) => this.#produces.call(client, request, deadlineMs),
    });
    return produceResult(response);
  }

  /** Messages of `topic` from `offset`, as the answering node has applied them. */
  async fetch(topic: string, offset: number, options: { readonly bytesMax?: number; readonly address?: string } & CallOptions = {}): Promise<FetchResult> {
    const request = { topic, offset, bytesMax: options.bytesMax ?? LOG_CLIENT_DEFAULTS.readMaxBytes };
    const response = await this.#router.call({
      operation: 'fetch',
      delivery: 'idempotent',
      signal: options.signal,
      ...(options.address === undefined ? {} : { pinnedAddress: options.address }),
      run: (client, deadlineMs) => unary(client, ClientMethodPath.fetch, this.#codec.fetchRequest.serialize, this.#codec.fetchResponse.deserialize, request, deadlineMs),
    });
    return fetchResult(response);
  }

  /** The serializers of client.proto, shared with the library's other clients. */
  get codec(): ClientCodec {
    return this.#codec;
  }

  /**
   * A server stream on the leader: follows redirects, and reopens with the same request on
   * another broker (with back-off) when the stream breaks, until `signal` aborts (the
   * iteration ends) or no broker serves it for `giveUpAfterMs` (default timeoutMs; null:
   * never) (UnavailableError). A refusal that retrying cannot fix is thrown as its typed error.
   */
  leaderStream<Req, Res>(
    operation: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    signal: AbortSignal,
    options: { readonly giveUpAfterMs?: number | null } = {},
  ): AsyncGenerator<Res, void, undefined> {
    const giveUpAfterMs = options.giveUpAfterMs === undefined ? this.#router.timeoutMs : options.giveUpAfterMs;
    return leaderStream(this.#router, { operation, method, request }, signal, giveUpAfterMs);
  }

  /**
   * One unary call of a method another module of this library owns (transactions), with
   * the same redirects, retries and typed errors as the methods above.
   */
  unaryCall<Req, Res>(
    call: { readonly operation: string; readonly delivery: Delivery; readonly path: string; readonly serialize: (value: Req) => Buffer; readonly deserialize: (bytes: Buffer) => Res },
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    return this.#router.call({ operation: call.operation, delivery: call.delivery, signal: options.signal, run: (client, deadlineMs) => unary(client, call.path, call.serialize, call.deserialize, request, deadlineMs) });
  }

  /**
   * One Ack request on the broker's ack stream, with the redirects, retries and typed errors
   * of a unary call: acks are idempotent (a repeat answers alreadyAcked), so they are retried
   * like reads, a broken stream included.
   */
  ack(request: AckRequestMessage, options: CallOptions = {}): Promise<AckResponseMessage> {
    return this.#router.call({ operation: 'ack', delivery: 'idempotent', signal: options.signal, run: (client, deadlineMs) => this.#acks.call(client, request, deadlineMs) });
  }

  /** Closes every channel; calls in progress fail (ClientClosedError), follow iterations end. */
  close(): Promise<void> {
    this.#closeNow();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #closeNow(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closing.abort();
    this.#appends.close();
    this.#produces.close();
    this.#acks.close();
    this.#channels.close();
  }

  /**
   * Refuses an append that one request cannot carry, before anything is sent, saying the
   * size and the limit. The limit is this client's own (messageBytesMax), the one it knows
   * for certain; a node with a lower one, or a record over the node's --max-record-bytes, is
   * refused by the node with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and the sizes.
   */
  #checkAppendBytes(records: readonly Uint8Array[]): void {
    let bytes = APPEND_ENVELOPE_BYTES;
    for (const record of records) bytes += record.length + APPEND_RECORD_OVERHEAD_BYTES;
    if (bytes <= this.#messageBytesMax) return;
    const limit = `one request carries at most ${this.#messageBytesMax} bytes (LogClient messageBytesMax; a node also refuses any record over its --max-record-bytes)`;
    const only = records.length === 1 ? records[0] : undefined;
    if (only !== undefined) throw new InvalidArgumentError(`append: record 0 is ${only.length} bytes; ${limit}`);
    const payloadBytes = records.reduce((sum, r) => sum + r.length, 0);
    throw new InvalidArgumentError(`append: the ${records.length} records take ${payloadBytes} bytes; ${limit}`);
  }
}

/** What an AppendStream request adds around its records, at most: id, timeout, acks, tags and lengths. */
const APPEND_ENVELOPE_BYTES = 32;
/** What one record adds: its tag and a length varint of up to 5 bytes. */
const APPEND_RECORD_OVERHEAD_BYTES = 6;
