import {
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { index, nodeId, type Index } from '../../raft/index.js';
import { InvalidArgumentError, UnavailableError, UnimplementedError } from './node-errors.js';
import {
  AcksCode,
  ClientCodec,
  MalformedRequest,
  type CreateTopicRequestMessage,
  type EmptyMessage,
  type FetchRequestMessage,
  type FetchResponseMessage,
  type InitProducerResponseMessage,
  type ListTopicsResponseMessage,
  type ProduceRequestMessage,
  type ProduceResponseMessage,
  type ProduceStreamRequestMessage,
  type ProduceStreamResponseMessage,
  type TopicInfoMessage,
  type TopicNameRequestMessage,
  type AppendRequestMessage,
  type AppendResponseMessage,
  type AppendStreamRequestMessage,
  type AppendStreamResponseMessage,
  type NodeStatusMessage,
  type ReadRequestMessage,
  type ReadResponseMessage,
  type StatusRequestMessage,
  type TransferRequestMessage,
  type TransferResponseMessage,
} from './client-codec.js';
import type { BrokerService, ClientServer, ClientServerOptions, ClientService, NodeStatusView, ReadOutcome } from './client-service.js';
import { GroupHandlers } from './group-handlers.js';
import { answerUnary, bindServer, shutdownServer } from './grpc-server.js';
import { toGrpcStatus } from './grpc-status.js';
import { servePipelined, type PipelinedStream } from './pipelined-stream.js';
import { TransactionCodec } from './transaction-codec.js';
import { TransactionHandlers } from './transaction-handlers.js';
import { MemberHandlers } from './member-handlers.js';
import { clientServerCredentials } from './tls-credentials.js';
import { clientAuthInterceptor } from './client-auth.js';
import { CallAccess, CLUSTER_ADMIN, topicAccess } from './access-check.js';
import { AclHandlers } from './acl-handlers.js';
import { AclCodec } from './acl-codec.js';

export const CLIENT_SERVER_DEFAULTS = {
  requestTimeoutMs: 30_000,
  /** close() waits this long for calls in progress (appends waiting for commit) before cutting them. */
  shutdownGraceMs: 2_000,
  /** Bytes a response may hold beyond its payloads: the per-record index/term/tags and the envelope. */
  recordOverheadBytes: 32,
  responseSlackBytes: 1024,
} as const;

/**
 * Serves client.proto over `listenAddress` as a thin adapter over the node's ClientService:
 * checks input, passes deadlines down, and maps every failure through toGrpcStatus.
 */
export async function startClientServer(options: ClientServerOptions): Promise<ClientServer> {
  if (!(Number.isSafeInteger(options.messageBytesMax) && options.messageBytesMax >= 4096)) {
    throw new RangeError(`messageBytesMax must be an integer of at least 4096 (got ${options.messageBytesMax})`);
  }
  const codec = new ClientCodec();
  const access = new CallAccess(options.authorizer);
  const handlers = new ClientHandlers(options, access);
  const transactions = new TransactionHandlers(options.transactions, options.requestTimeoutMs ?? CLIENT_SERVER_DEFAULTS.requestTimeoutMs, access);
  const acls = new AclHandlers({ service: options.acls, access, requestTimeoutMs: options.requestTimeoutMs ?? CLIENT_SERVER_DEFAULTS.requestTimeoutMs, checkServing: () => handlers.checkServing() });
  const members = new MemberHandlers(options.membership, options.requestTimeoutMs ?? CLIENT_SERVER_DEFAULTS.requestTimeoutMs, access);
  const server = new Server({
    'grpc.max_receive_message_length': options.messageBytesMax,
    'grpc.max_send_message_length': options.messageBytesMax,
    ...(options.auth === undefined ? {} : { interceptors: [clientAuthInterceptor({ ...options.auth, tls: options.tls !== undefined })] }),
  });
  server.addService({ ...codec.serviceDefinition(), ...new TransactionCodec().serviceDefinition(), ...new AclCodec().serviceDefinition() }, {
    append: handlers.append,
    appendStream: handlers.appendStream,
    produceStream: handlers.produceStream,
    read: handlers.read,
    follow: handlers.follow,
    status: handlers.status,
    transfer: handlers.transfer,
    members: members.members,
    changeMember: members.changeMember,
    createTopic: handlers.createTopic,
    deleteTopic: handlers.deleteTopic,
    listTopics: handlers.listTopics,
    describeTopic: handlers.describeTopic,
    initProducer: handlers.initProducer,
    produce: handlers.produce,
    fetch: handlers.fetch,
    createGroup: handlers.groups.createGroup,
    deleteGroup: handlers.groups.deleteGroup,
    listGroups: handlers.groups.listGroups,
    describeGroup: handlers.groups.describeGroup,
    consume: handlers.groups.consume,
    ack: handlers.groups.ack,
    ackStream: handlers.groups.ackStream,
    nack: handlers.groups.nack,
    extend: handlers.groups.extend,
    leave: handlers.groups.leave,
    resetGroup: handlers.groups.resetGroup,
    sendHalf: transactions.sendHalf,
    endTransaction: transactions.endTransaction,
    listTransactions: transactions.listTransactions,
    transactionChecks: transactions.transactionChecks,
    aclAdd: acls.aclAdd,
    aclRemove: acls.aclRemove,
    aclList: acls.aclList,
  });
  const serverCredentials = options.tls === undefined ? ServerCredentials.createInsecure() : clientServerCredentials(options.tls, { askClientCertificate: options.auth !== undefined });
  await bindServer(server, options.listenAddress, serverCredentials);
  let closed: Promise<void> | null = null;
  return {
    close: () => {
      closed ??= (async () => {
        handlers.close();
        transactions.close();
        await shutdownServer(server, CLIENT_SERVER_DEFAULTS.shutdownGraceMs);
      })();
      return closed;
    },
  };
}

type ServingState = 'serving' | 'closing';

/** A request as the handlers get it: decoded, or marked as bytes that did not decode. */
type Incoming<T> = T | MalformedRequest;

function decoded<T>(request: Incoming<T>, method: string): T {
  if (request instanceof MalformedRequest) throw new InvalidArgumentError(`${method} request is not a valid protobuf message: ${request.reason}`);
  return request;
}

class ClientHandlers {
  readonly #service: ClientService;
  readonly #broker: BrokerService | undefined;
  readonly #recordBytesMax: number;
  readonly #requestTimeoutMs: number;
  /** Payload bytes one response may carry: the request's bytesMax may not exceed it. */
  readonly #readBytesMax: number;
  readonly #follows = new Set<AbortController>();
  #state: ServingState = 'serving';
  readonly groups: GroupHandlers;
  readonly #access: CallAccess;

  constructor(options: ClientServerOptions, access: CallAccess) {
    this.#access = access;
    this.groups = new GroupHandlers({
      groups: options.groups,
      decoded,
      checkServing: () => this.#checkServing(),
      timeoutMs: (deadline) => this.#timeoutMs(deadline),
      answer: (reply, work) => this.#answer(reply, work),
      track: (abort) => {
        this.#follows.add(abort);
        return () => this.#follows.delete(abort);
      },
      closing: () => this.#state === 'closing',
      readBytesMax: options.messageBytesMax - CLIENT_SERVER_DEFAULTS.responseSlackBytes,
      access,
      pipelining: this.#pipelining,
    });
    this.#service = options.service;
    this.#broker = options.broker;
    this.#recordBytesMax = options.recordBytesMax ?? options.messageBytesMax;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? CLIENT_SERVER_DEFAULTS.requestTimeoutMs;
    this.#readBytesMax = options.messageBytesMax - CLIENT_SERVER_DEFAULTS.responseSlackBytes;
  }

  /** Ends open follow streams (with UNAVAILABLE, so clients go elsewhere) and refuses new calls. */
  close(): void {
    this.#state = 'closing';
    for (const follow of this.#follows) follow.abort();
    for (const stream of this.#pipelining.streams) stream.endIfIdle();
  }

  readonly append = (call: ServerUnaryCall<Incoming<AppendRequestMessage>, AppendResponseMessage>, reply: sendUnaryData<AppendResponseMessage>): void => {
    this.#answer(reply, () => {
      // The raw log holds every topic's messages and every command: no topic rule covers it.
      this.#access.check(call.metadata, CLUSTER_ADMIN);
      return this.#append(decoded(call.request, 'Append'), this.#timeoutMs(call.getDeadline()));
    });
  };

  /** Appends pipelined on one stream (pipelined-stream.ts). */
  readonly appendStream = (call: ServerDuplexStream<Incoming<AppendStreamRequestMessage>, AppendStreamResponseMessage>): void => {
    servePipelined(call, {
      method: 'AppendStream',
      handle: (request, timeoutMs) => {
        this.#access.check(call.metadata, CLUSTER_ADMIN);
        return this.#append(request.append ?? { records: [] }, timeoutMs);
      },
      ...this.#pipelining,
    });
  };

  /** Produce batches pipelined on one stream, taken in the order they arrive. */
  readonly produceStream = (call: ServerDuplexStream<Incoming<ProduceStreamRequestMessage>, ProduceStreamResponseMessage>): void => {
    servePipelined(call, {
      method: 'ProduceStream',
      handle: (request, timeoutMs) => {
        if (request.produce === null || request.produce === undefined) throw new InvalidArgumentError('a ProduceStream request needs a produce batch');
        this.#access.check(call.metadata, topicAccess('produce', request.produce.topic));
        return this.#produce(request.produce, timeoutMs);
      },
      ...this.#pipelining,
    });
  };

  /** What every pipelined stream of this server shares. */
  readonly #pipelining = {
    timeoutMs: (deadlineMs: number) => this.#timeoutMs(deadlineMs),
    streams: new Set<PipelinedStream>(),
    closing: () => this.#state === 'closing',
  };

  async #append(request: AppendRequestMessage, timeoutMs: number): Promise<AppendResponseMessage> {
    this.#checkServing();
    const records = request.records;
    if (records.length === 0) throw new InvalidArgumentError('append needs at least one record');
    records.forEach((record, k) => {
      if (record.length > this.#recordBytesMax) {
        throw new InvalidArgumentError(`record ${k} is ${record.length} bytes, above the largest record this node takes (${this.#recordBytesMax} bytes)`);
      }
    });
    const code = request.acks ?? AcksCode.all;
    const acks = code === AcksCode.all ? 'all' : code === AcksCode.leader ? 'leader' : null;
    if (acks === null) throw new InvalidArgumentError(`append acks ${String(code)} is not one of all (0), leader (1)`);
    const outcome = await this.#service.append(records, { timeoutMs, acks });
    return { firstIndex: outcome.firstIndex, lastIndex: outcome.lastIndex };
  }

  readonly read = (call: ServerUnaryCall<Incoming<ReadRequestMessage>, ReadResponseMessage>, reply: sendUnaryData<ReadResponseMessage>): void => {
    this.#answer(reply, () => {
      this.#checkServing();
      this.#access.check(call.metadata, CLUSTER_ADMIN);
      const { from, bytesMax } = this.#checkRead(decoded(call.request, 'Read'));
      return Promise.resolve(this.#readResponse(from, bytesMax));
    });
  };

  readonly status = (call: ServerUnaryCall<Incoming<StatusRequestMessage>, NodeStatusMessage>, reply: sendUnaryData<NodeStatusMessage>): void => {
    this.#answer(reply, () => {
      decoded(call.request, 'Status');
      return Promise.resolve(statusMessage(this.#service.status()));
    });
  };

  readonly transfer = (call: ServerUnaryCall<Incoming<TransferRequestMessage>, TransferResponseMessage>, reply: sendUnaryData<TransferResponseMessage>): void => {
    this.#answer(reply, async () => {
      this.#checkServing();
      this.#access.check(call.metadata, CLUSTER_ADMIN);
      const to = decoded(call.request, 'Transfer').to;
      if (to === '') throw new InvalidArgumentError('transfer needs the id of the node to move leadership to');
      await this.#service.transfer(nodeId(to), { timeoutMs: this.#timeoutMs(call.getDeadline()) });
      return {};
    });
  };

  readonly createTopic = (call: ServerUnaryCall<Incoming<CreateTopicRequestMessage>, EmptyMessage>, reply: sendUnaryData<EmptyMessage>): void => {
    this.#answer(reply, async () => {
      const request = decoded(call.request, 'CreateTopic');
      this.#access.check(call.metadata, topicAccess('admin', request.name));
      await this.#brokerService().createTopic(request.name, request.messageBytesMax, { timeoutMs: this.#timeoutMs(call.getDeadline()) });
      return {};
    });
  };

  readonly deleteTopic = (call: ServerUnaryCall<Incoming<TopicNameRequestMessage>, EmptyMessage>, reply: sendUnaryData<EmptyMessage>): void => {
    this.#answer(reply, async () => {
      const request = decoded(call.request, 'DeleteTopic');
      this.#access.check(call.metadata, topicAccess('admin', request.name));
      await this.#brokerService().deleteTopic(request.name, { timeoutMs: this.#timeoutMs(call.getDeadline()) });
      return {};
    });
  };

  readonly listTopics = (call: ServerUnaryCall<Incoming<EmptyMessage>, ListTopicsResponseMessage>, reply: sendUnaryData<ListTopicsResponseMessage>): void => {
    this.#answer(reply, () => {
      decoded(call.request, 'ListTopics');
      return Promise.resolve({ topics: this.#brokerService().listTopics().map(topicInfo) });
    });
  };

  readonly describeTopic = (call: ServerUnaryCall<Incoming<TopicNameRequestMessage>, TopicInfoMessage>, reply: sendUnaryData<TopicInfoMessage>): void => {
    this.#answer(reply, () => Promise.resolve(topicInfo(this.#brokerService().describeTopic(decoded(call.request, 'DescribeTopic').name))));
  };

  readonly initProducer = (call: ServerUnaryCall<Incoming<EmptyMessage>, InitProducerResponseMessage>, reply: sendUnaryData<InitProducerResponseMessage>): void => {
    this.#answer(reply, async () => {
      decoded(call.request, 'InitProducer');
      return { producerId: await this.#brokerService().initProducer({ timeoutMs: this.#timeoutMs(call.getDeadline()) }) };
    });
  };

  readonly produce = (call: ServerUnaryCall<Incoming<ProduceRequestMessage>, ProduceResponseMessage>, reply: sendUnaryData<ProduceResponseMessage>): void => {
    this.#answer(reply, () => {
      const request = decoded(call.request, 'Produce');
      this.#access.check(call.metadata, topicAccess('produce', request.topic));
      return this.#produce(request, this.#timeoutMs(call.getDeadline()));
    });
  };

  async #produce(request: ProduceRequestMessage, timeoutMs: number): Promise<ProduceResponseMessage> {
    const acks = request.acks === AcksCode.all ? 'all' : request.acks === AcksCode.leader ? 'leader' : request.acks === AcksCode.none ? 'none' : null;
    if (acks === null) throw new InvalidArgumentError(`acks ${String(request.acks)} is not one of all (0), leader (1), none (2)`);
    if (request.messages.length === 0) throw new InvalidArgumentError('produce needs at least one message');
    const input = { topic: request.topic, producerId: request.producerId, firstSequence: request.firstSequence, messages: request.messages };
    const outcome = await this.#brokerService().produce(input, { timeoutMs, acks });
    return { firstOffset: outcome.firstOffset, count: outcome.count, duplicate: outcome.duplicate, logIndex: outcome.logIndex, deliverAtMs: outcome.deliverAtMs };
  }

  readonly fetch = (call: ServerUnaryCall<Incoming<FetchRequestMessage>, FetchResponseMessage>, reply: sendUnaryData<FetchResponseMessage>): void => {
    this.#answer(reply, () => {
      this.#checkServing();
      const request = decoded(call.request, 'Fetch');
      this.#access.check(call.metadata, topicAccess('consume', request.topic));
      if (!(request.bytesMax >= 1 && request.bytesMax <= this.#readBytesMax)) {
        throw new InvalidArgumentError(`bytesMax must be between 1 and ${this.#readBytesMax} (got ${request.bytesMax})`);
      }
      return Promise.resolve(this.#brokerService().fetch(request.topic, request.offset, request.bytesMax));
    });
  };

  #brokerService(): BrokerService {
    this.#checkServing();
    if (this.#broker === undefined) throw new UnimplementedError('this server has no broker');
    return this.#broker;
  }

  readonly follow = (call: ServerWritableStream<Incoming<ReadRequestMessage>, ReadResponseMessage>): void => {
    const abort = new AbortController();
    this.#follows.add(abort);
    call.on('cancelled', () => abort.abort());
    this.#follow(call, abort.signal)
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!abort.signal.aborted) call.emit('error', toGrpcStatus(error));
          else if (this.#state === 'closing') call.emit('error', toGrpcStatus(new UnavailableError('the node is shutting down; follow from another node')));
          // else: the client cancelled; nobody is listening.
        },
      )
      .finally(() => this.#follows.delete(abort));
  };

  /**
   * Read, send, wait for more: one response in flight at a time (the next read waits for
   * the previous write to be taken by the stream), so a slow client holds at most one
   * response of at most bytesMax.
   */
  async #follow(call: ServerWritableStream<Incoming<ReadRequestMessage>, ReadResponseMessage>, signal: AbortSignal): Promise<void> {
    this.#checkServing();
    this.#access.check(call.metadata, CLUSTER_ADMIN);
    const { from, bytesMax } = this.#checkRead(decoded(call.request, 'Follow'));
    let next = from;
    while (!signal.aborted) {
      const response = this.#readResponse(next, bytesMax);
      if (response.records.length > 0) await writeOne(call, response, signal);
      const advanced = response.nextIndex > next;
      next = index(response.nextIndex);
      if (advanced && next <= response.appliedIndex) continue;
      await this.#service.waitForApplied(index(Math.max(response.appliedIndex, next - 1)), signal);
    }
    throw signal.reason;
  }

  #readResponse(from: Index, bytesMax: number): ReadResponseMessage {
    return trimmed(this.#service.read(from, bytesMax), this.#readBytesMax);
  }

  #checkRead(request: ReadRequestMessage): { readonly from: Index; readonly bytesMax: number } {
    if (!(Number.isSafeInteger(request.from) && request.from >= 1)) {
      throw new InvalidArgumentError(`from must be a log index of 1 or more (got ${request.from})`);
    }
    if (!(request.bytesMax >= 1 && request.bytesMax <= this.#readBytesMax)) {
      throw new InvalidArgumentError(`bytesMax must be between 1 and ${this.#readBytesMax} (got ${request.bytesMax})`);
    }
    return { from: index(request.from), bytesMax: request.bytesMax };
  }

  #checkServing(): void {
    if (this.#state !== 'serving') throw new UnavailableError('the node is shutting down');
  }

  /** UnavailableError once the server is closing (the ACL handlers share it). */
  checkServing(): void {
    this.#checkServing();
  }

  /** The client's deadline, if it set one, capped by the server's own limit. */
  #timeoutMs(deadline: Date | number): number {
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    return Math.max(1, Math.min(this.#requestTimeoutMs, deadlineMs - Date.now()));
  }

  #answer<T>(reply: sendUnaryData<T>, work: () => Promise<T>): void {
    answerUnary(reply, work);
  }
}

/**
 * Keeps a response under the message limit when records are many and small (the node caps
 * payload bytes, not the per-record overhead). Keeps at least one record.
 */
function trimmed(outcome: ReadOutcome, bytesMax: number): ReadResponseMessage {
  let bytes = 0;
  let kept = 0;
  for (const record of outcome.records) {
    bytes += record.payload.length + CLIENT_SERVER_DEFAULTS.recordOverheadBytes;
    if (kept > 0 && bytes > bytesMax) break;
    kept++;
  }
  const cut = outcome.records[kept];
  if (cut === undefined) return outcome;
  return { ...outcome, records: outcome.records.slice(0, kept), nextIndex: cut.index };
}

function writeOne(call: ServerWritableStream<Incoming<ReadRequestMessage>, ReadResponseMessage>, response: ReadResponseMessage, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    call.write(response, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

function topicInfo(view: { readonly name: string; readonly messageBytesMax: number; readonly nextOffset: number }): TopicInfoMessage {
  return { name: view.name, messageBytesMax: view.messageBytesMax, nextOffset: view.nextOffset };
}

function statusMessage(view: NodeStatusView): NodeStatusMessage {
  return {
    id: view.id,
    clusterId: view.clusterId,
    role: view.role,
    term: view.term,
    leaderId: view.leaderId ?? '',
    leaderClientAddress: view.leaderClientAddress ?? '',
    commitIndex: view.commitIndex,
    appliedIndex: view.appliedIndex,
    firstIndex: view.firstIndex,
    lastIndex: view.lastIndex,
    votingBlocked: view.votingBlocked,
    repairThroughIndex: view.repairThroughIndex,
    followers: view.followers.map((f) => ({ id: f.id, matchIndex: f.matchIndex, lag: f.lag, state: f.state, learner: f.learner === true })),
    flush: view.flush ?? '',
    durableMark: view.durableMark ?? '',
    flushIntervalMs: view.flushIntervalMs ?? 0,
    snapshotIndex: view.snapshotIndex,
    snapshotAgeMs: view.snapshotAgeSeconds === null ? 0 : Math.round(view.snapshotAgeSeconds * 1000),
    logBytes: view.logBytes,
    snapshotBytes: view.snapshotBytes,
    diskUsedBytes: view.disk?.usedBytes ?? 0,
    diskSizeBytes: view.disk?.sizeBytes ?? 0,
    diskHighWatermarkPercent: view.diskHighWatermarkPercent ?? 0,
    produceRefused: view.produceRefused,
    incarnation: view.incarnation ?? '',
    voters: view.voters ?? [],
    learners: view.learners ?? [],
    httpAddress: view.httpAddress ?? '',
  };
}
