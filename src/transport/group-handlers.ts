import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { InvalidArgumentError, UnavailableError, UnimplementedError } from './node-errors.js';
import type { AckStreamResponseMessage, EmptyMessage, MalformedRequest } from './client-codec.js';
import type { ConsumeInput, DeliveryView, GroupService, GroupSettingsInput, GroupStartView, GroupView } from './client-service.js';
import {
  AckOutcomeCode,
  GroupStartCode,
  type AckRequestMessage,
  type AckResponseMessage,
  type AckStreamRequestMessage,
  type ConsumeRequestMessage,
  type ConsumeResponseMessage,
  type CreateGroupRequestMessage,
  type CreateGroupResponseMessage,
  type ExtendRequestMessage,
  type ExtendResponseMessage,
  type GroupInfoMessage,
  type GroupNameRequestMessage,
  type GroupSettingsMessage,
  type GroupStartMessage,
  type LeaveRequestMessage,
  type LeaveResponseMessage,
  type ListGroupsResponseMessage,
  type NackRequestMessage,
  type NackResponseMessage,
  type ResetGroupRequestMessage,
  type ResetGroupResponseMessage,
} from './group-codec.js';
import { toGrpcStatus } from './grpc-status.js';
import { groupAccess, topicAccess, type CallAccess } from './access-check.js';
import { servePipelined, type PipelinedOptions } from './pipelined-stream.js';

type Incoming<T> = T | MalformedRequest;

/** What the group handlers borrow from the client server's handlers. */
export interface HandlerContext {
  readonly groups: GroupService | undefined;
  decoded<T>(request: Incoming<T>, method: string): T;
  checkServing(): void;
  timeoutMs(deadline: Date | number): number;
  answer<T>(reply: sendUnaryData<T>, work: () => Promise<T>): void;
  /** Registers an open stream so close() can end it; returns the function that unregisters it. */
  track(abort: AbortController): () => void;
  readonly closing: () => boolean;
  readonly readBytesMax: number;
  /** Asked before each call does anything (ACLs). */
  readonly access: CallAccess;
  /** What every pipelined stream of the server shares (its timeouts, open streams, shutdown). */
  readonly pipelining: Pick<PipelinedOptions<unknown, unknown>, 'timeoutMs' | 'streams' | 'closing'>;
}

/** client.proto's consumer-group methods, as thin adapters over a GroupService. */
export class GroupHandlers {
  constructor(private readonly context: HandlerContext) {}

  readonly createGroup = (call: ServerUnaryCall<Incoming<CreateGroupRequestMessage>, CreateGroupResponseMessage>, reply: sendUnaryData<CreateGroupResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'CreateGroup');
      this.context.access.check(call.metadata, groupAccess('admin', r.group));
      const request = { group: r.group, topic: r.topic, start: startView(r.start), settings: settingsInput(r.settings), ifAbsent: r.ifAbsent };
      return { created: await this.service().createGroup(request, { timeoutMs: this.context.timeoutMs(call.getDeadline()) }) };
    });
  };

  readonly deleteGroup = (call: ServerUnaryCall<Incoming<GroupNameRequestMessage>, EmptyMessage>, reply: sendUnaryData<EmptyMessage>): void => {
    this.context.answer(reply, async () => {
      const group = this.context.decoded(call.request, 'DeleteGroup').group;
      this.context.access.check(call.metadata, groupAccess('admin', group));
      await this.service().deleteGroup(group, { timeoutMs: this.context.timeoutMs(call.getDeadline()) });
      return {};
    });
  };

  readonly listGroups = (call: ServerUnaryCall<Incoming<EmptyMessage>, ListGroupsResponseMessage>, reply: sendUnaryData<ListGroupsResponseMessage>): void => {
    this.context.answer(reply, () => {
      this.context.decoded(call.request, 'ListGroups');
      return Promise.resolve({ groups: this.service().listGroups().map(groupInfo) });
    });
  };

  readonly describeGroup = (call: ServerUnaryCall<Incoming<GroupNameRequestMessage>, GroupInfoMessage>, reply: sendUnaryData<GroupInfoMessage>): void => {
    this.context.answer(reply, () => Promise.resolve(groupInfo(this.service().describeGroup(this.context.decoded(call.request, 'DescribeGroup').group))));
  };

  readonly ack = (call: ServerUnaryCall<Incoming<AckRequestMessage>, AckResponseMessage>, reply: sendUnaryData<AckResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'Ack');
      this.context.access.check(call.metadata, groupAccess('consume', r.group));
      return this.#ack(r, this.context.timeoutMs(call.getDeadline()));
    });
  };

  /** Acks pipelined on one stream (pipelined-stream.ts), each run and answered as a unary Ack. */
  readonly ackStream = (call: ServerDuplexStream<Incoming<AckStreamRequestMessage>, AckStreamResponseMessage>): void => {
    servePipelined(call, {
      method: 'AckStream',
      handle: (request, timeoutMs) => {
        if (request.ack === null || request.ack === undefined) throw new InvalidArgumentError('an AckStream request needs an ack');
        this.context.access.check(call.metadata, groupAccess('consume', request.ack.group));
        return this.#ack(request.ack, timeoutMs);
      },
      ...this.context.pipelining,
    });
  };

  async #ack(r: AckRequestMessage, timeoutMs: number): Promise<AckResponseMessage> {
    if (r.offsets.length === 0) throw new InvalidArgumentError('ack needs at least one offset');
    const outcomes = await this.service().ack(r.group, r.offsets, { timeoutMs });
    return { outcomes: outcomes.map((o) => AckOutcomeCode[o]) };
  }

  readonly nack = (call: ServerUnaryCall<Incoming<NackRequestMessage>, NackResponseMessage>, reply: sendUnaryData<NackResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'Nack');
      this.context.access.check(call.metadata, groupAccess('consume', r.group));
      const request = { group: r.group, offset: r.offset, delivery: r.delivery, reason: r.reason, delayMs: r.delayMs };
      return this.service().nack(request, { timeoutMs: this.context.timeoutMs(call.getDeadline()) });
    });
  };

  readonly extend = (call: ServerUnaryCall<Incoming<ExtendRequestMessage>, ExtendResponseMessage>, reply: sendUnaryData<ExtendResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'Extend');
      this.context.access.check(call.metadata, groupAccess('consume', r.group));
      const request = { group: r.group, offset: r.offset, delivery: r.delivery, extendMs: r.extendMs };
      return { deadlineMs: await this.service().extend(request, { timeoutMs: this.context.timeoutMs(call.getDeadline()) }) };
    });
  };

  readonly leave = (call: ServerUnaryCall<Incoming<LeaveRequestMessage>, LeaveResponseMessage>, reply: sendUnaryData<LeaveResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'Leave');
      this.context.access.check(call.metadata, groupAccess('consume', r.group));
      const request = { group: r.group, consumerId: r.consumerId, seen: r.seen.map((d) => ({ offset: d.offset, delivery: d.delivery })) };
      return this.service().leave(request, { timeoutMs: this.context.timeoutMs(call.getDeadline()) });
    });
  };

  readonly resetGroup = (call: ServerUnaryCall<Incoming<ResetGroupRequestMessage>, ResetGroupResponseMessage>, reply: sendUnaryData<ResetGroupResponseMessage>): void => {
    this.context.answer(reply, async () => {
      const r = this.context.decoded(call.request, 'ResetGroup');
      this.context.access.check(call.metadata, groupAccess('admin', r.group));
      // No default target: a reset left to "earliest" by omission could replay a whole topic.
      if (r.to === null || r.to === undefined) throw new InvalidArgumentError('ResetGroup needs a target (to): earliest, latest, an offset or a time');
      const request = { group: r.group, to: startView(r.to), force: r.force };
      return this.service().resetGroup(request, { timeoutMs: this.context.timeoutMs(call.getDeadline()) });
    });
  };

  readonly consume = (call: ServerWritableStream<Incoming<ConsumeRequestMessage>, ConsumeResponseMessage>): void => {
    const abort = new AbortController();
    const untrack = this.context.track(abort);
    call.on('cancelled', () => abort.abort());
    this.#consume(call, abort.signal)
      .then(
        () => call.end(),
        (error: unknown) => {
          if (!abort.signal.aborted) call.emit('error', toGrpcStatus(error));
          else if (this.context.closing()) call.emit('error', toGrpcStatus(new UnavailableError('the node is shutting down; consume from another node')));
        },
      )
      .finally(untrack);
  };

  async #consume(call: ServerWritableStream<Incoming<ConsumeRequestMessage>, ConsumeResponseMessage>, signal: AbortSignal): Promise<void> {
    const r = this.context.decoded(call.request, 'Consume');
    this.context.access.check(call.metadata, groupAccess('consume', r.group), topicAccess('consume', r.topic));
    if (!(r.bytesMax >= 1 && r.bytesMax <= this.context.readBytesMax)) {
      throw new InvalidArgumentError(`bytesMax must be between 1 and ${this.context.readBytesMax} (got ${r.bytesMax})`);
    }
    const input: ConsumeInput = { group: r.group, topic: r.topic, consumerId: r.consumerId, prefetch: r.prefetch, start: startView(r.start), settings: settingsInput(r.settings), bytesMax: r.bytesMax };
    const send = (deliveries: readonly DeliveryView[]): Promise<void> =>
      new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        call.write({ deliveries }, () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    await this.service().consume(input, send, signal);
  }

  private service(): GroupService {
    this.context.checkServing();
    if (this.context.groups === undefined) throw new UnimplementedError('this server has no consumer groups');
    return this.context.groups;
  }
}

function startView(start: GroupStartMessage | null | undefined): GroupStartView {
  switch (start?.kind ?? GroupStartCode.earliest) {
    case GroupStartCode.earliest:
      return { kind: 'earliest' };
    case GroupStartCode.latest:
      return { kind: 'latest' };
    case GroupStartCode.offset:
      return { kind: 'offset', offset: start?.value ?? 0 };
    case GroupStartCode.time:
      return { kind: 'time', timeMs: start?.value ?? 0 };
    default:
      throw new InvalidArgumentError(`group start kind ${String(start?.kind)} is not one of earliest (0), latest (1), offset (2), time (3)`);
  }
}

function settingsInput(s: GroupSettingsMessage | null | undefined): GroupSettingsInput {
  if (s === null || s === undefined) return {};
  return {
    ...(s.ackDeadlineMs > 0 ? { ackDeadlineMs: s.ackDeadlineMs } : {}),
    ...(s.retryDelaysMs.length > 0 ? { retryDelaysMs: [...s.retryDelaysMs] } : {}),
    ...(s.retriesMaxSet ? { retriesMax: s.retriesMax } : {}),
  };
}

function groupInfo(g: GroupView): GroupInfoMessage {
  return { ...g, consumers: g.consumers.map((c) => ({ id: c.id, inflight: c.inflight })) };
}
