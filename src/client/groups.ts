import {
  AckOutcomeCode,
  GroupMethodPath,
  GroupStartCode,
  type GroupInfoMessage,
  type GroupView,
  type GroupSettingsMessage,
  type GroupStartMessage,
} from '../transport/index.js';
import { InvalidArgumentError } from './errors.js';
import type { CallOptions, LogClient } from './log-client.js';

/** Where a new group starts reading its topic. */
export type GroupStart = 'earliest' | 'latest' | { readonly offset: number } | { readonly timeMs: number };

/** Settings of a new group; what is left out takes the broker's defaults (30 s; 10s 30s 1m ... 2h; 16 retries). */
export interface GroupSettings {
  readonly ackDeadlineMs?: number;
  readonly retryDelaysMs?: readonly number[];
  readonly retriesMax?: number;
}

/** A group as the answering node has applied it: committed offset, lag, deliveries in flight and waiting. */
export type GroupInfo = GroupView;

export type AckOutcome = 'acked' | 'alreadyAcked' | 'notDelivered';

/**
 * Where a reset moves a group: the earliest offset the leader keeps, the topic's end, an
 * offset, or the first offset made visible at or after a time (ms since 1970).
 */
export type GroupResetTarget = GroupStart;

export interface GroupResetResult {
  /** Where the group now starts: its committed and next offset. */
  readonly committedOffset: number;
  /** The committed offset before the reset. */
  readonly previousCommittedOffset: number;
  /** Unfinished deliveries the reset forgot (in flight, waiting for a retry, dead). */
  readonly forgotten: number;
}

const ACK_OUTCOMES: readonly AckOutcome[] = ['acked', 'alreadyAcked', 'notDelivered'];
const outcomeOf = (code: number): AckOutcome => ACK_OUTCOMES[code] ?? 'notDelivered';
// Checked against the wire enum once, here.
if (AckOutcomeCode.alreadyAcked !== 1 || AckOutcomeCode.notDelivered !== 2) throw new Error('AckOutcome codes changed');

/** The consumer-group calls of client.proto over a LogClient (redirects, retries, typed errors). */
export class GroupCalls {
  constructor(private readonly client: LogClient) {}

  async create(group: string, topic: string, options: { readonly start?: GroupStart; readonly settings?: GroupSettings; readonly ifAbsent?: boolean } & CallOptions = {}): Promise<boolean> {
    const c = this.client.codec.groups;
    const request = { group, topic, start: startMessage(options.start ?? 'earliest'), settings: settingsMessage(options.settings ?? {}), ifAbsent: options.ifAbsent ?? false };
    const response = await this.client.unaryCall({ operation: 'createGroup', delivery: 'once', path: GroupMethodPath.createGroup, serialize: c.createGroupRequest.serialize, deserialize: c.createGroupResponse.deserialize }, request, options);
    return response.created;
  }

  async delete(group: string, options: CallOptions = {}): Promise<void> {
    const c = this.client.codec.groups;
    await this.client.unaryCall({ operation: 'deleteGroup', delivery: 'once', path: GroupMethodPath.deleteGroup, serialize: c.groupNameRequest.serialize, deserialize: c.deleteGroupResponse.deserialize }, { group }, options);
  }

  async list(options: CallOptions = {}): Promise<readonly GroupInfo[]> {
    const c = this.client.codec.groups;
    const response = await this.client.unaryCall({ operation: 'listGroups', delivery: 'idempotent', path: GroupMethodPath.listGroups, serialize: c.listGroupsRequest.serialize, deserialize: c.listGroupsResponse.deserialize }, {}, options);
    return response.groups.map(groupInfo);
  }

  async describe(group: string, options: CallOptions = {}): Promise<GroupInfo> {
    const c = this.client.codec.groups;
    return groupInfo(await this.client.unaryCall({ operation: 'describeGroup', delivery: 'idempotent', path: GroupMethodPath.describeGroup, serialize: c.groupNameRequest.serialize, deserialize: c.groupInfo.deserialize }, { group }, options));
  }

  /** Acks are idempotent (a repeat answers alreadyAcked), so they are retried like reads. */
  async ack(group: string, offsets: readonly number[], options: CallOptions = {}): Promise<readonly AckOutcome[]> {
    const response = await this.client.ack({ group, offsets }, options);
    return offsets.map((_, k) => outcomeOf(response.outcomes[k] ?? AckOutcomeCode.acked));
  }

  /** delayMs undefined: the group's delay for the message's retry level. */
  async nack(group: string, offset: number, delivery: number, reason: string, delayMs?: number, options: CallOptions = {}): Promise<{ readonly deadLettered: boolean; readonly retryAtMs: number }> {
    if (delayMs !== undefined && !(Number.isSafeInteger(delayMs) && delayMs >= 0)) throw new InvalidArgumentError(`nack: a delay must be a whole number of ms >= 0, not ${delayMs}`);
    const c = this.client.codec.groups;
    const request = { group, offset, delivery, reason, delayMs: delayMs ?? -1 };
    return this.client.unaryCall({ operation: 'nack', delivery: 'once', path: GroupMethodPath.nack, serialize: c.nackRequest.serialize, deserialize: c.nackResponse.deserialize }, request, options);
  }

  /**
   * Leaves the group cleanly (before the consume stream is cancelled): `seen` are the
   * deliveries the application got and did not finish, counted as failed; the others the
   * consumer holds go back without counting a delivery. Idempotent: a repeat finds nothing held.
   */
  async leave(group: string, consumerId: string, seen: readonly { readonly offset: number; readonly delivery: number }[]): Promise<{ readonly counted: number; readonly returned: number }> {
    const c = this.client.codec.groups;
    const request = { group, consumerId, seen };
    return this.client.unaryCall({ operation: 'leave', delivery: 'idempotent', path: GroupMethodPath.leave, serialize: c.leaveRequest.serialize, deserialize: c.leaveResponse.deserialize }, request);
  }

  /**
   * Moves the group (see Admin.resetGroup). Sent once, not retried after it may have been
   * written: a reset that did land moved the group, and a second one would act on
   * whatever its consumers did since.
   */
  async reset(group: string, options: { readonly to: GroupResetTarget; readonly force?: boolean } & CallOptions): Promise<GroupResetResult> {
    const to = options.to;
    if (typeof to === 'object') {
      const [what, value] = 'offset' in to ? ['an offset', to.offset] : ['a time', to.timeMs];
      if (!(Number.isSafeInteger(value) && value >= 0)) throw new InvalidArgumentError(`reset group: ${what} must be a whole number >= 0, not ${value}`);
    }
    const c = this.client.codec.groups;
    const request = { group, to: startMessage(to), force: options.force ?? false };
    const response = await this.client.unaryCall({ operation: 'resetGroup', delivery: 'once', path: GroupMethodPath.resetGroup, serialize: c.resetGroupRequest.serialize, deserialize: c.resetGroupResponse.deserialize }, request, options);
    return { committedOffset: response.committedOffset, previousCommittedOffset: response.previousCommittedOffset, forgotten: response.forgotten };
  }

  async extend(group: string, offset: number, delivery: number, extendMs: number, options: CallOptions = {}): Promise<number> {
    if (!(Number.isSafeInteger(extendMs) && extendMs >= 1)) throw new InvalidArgumentError(`extend: an extension must be a whole number of ms >= 1, not ${extendMs}`);
    const c = this.client.codec.groups;
    const request = { group, offset, delivery, extendMs };
    const response = await this.client.unaryCall({ operation: 'extend', delivery: 'once', path: GroupMethodPath.extend, serialize: c.extendRequest.serialize, deserialize: c.extendResponse.deserialize }, request, options);
    return response.deadlineMs;
  }
}

export function startMessage(start: GroupStart): GroupStartMessage {
  if (start === 'earliest') return { kind: GroupStartCode.earliest, value: 0 };
  if (start === 'latest') return { kind: GroupStartCode.latest, value: 0 };
  if ('offset' in start) return { kind: GroupStartCode.offset, value: start.offset };
  return { kind: GroupStartCode.time, value: start.timeMs };
}

export function settingsMessage(s: GroupSettings): GroupSettingsMessage {
  return { ackDeadlineMs: s.ackDeadlineMs ?? 0, retryDelaysMs: s.retryDelaysMs ?? [], retriesMaxSet: s.retriesMax !== undefined, retriesMax: s.retriesMax ?? 0 };
}

function groupInfo(m: GroupInfoMessage): GroupInfo {
  return {
    name: m.name,
    topic: m.topic,
    deadLetterTopic: m.deadLetterTopic,
    committedOffset: m.committedOffset,
    nextOffset: m.nextOffset,
    lag: m.lag,
    inflight: m.inflight,
    waiting: m.waiting,
    dead: m.dead,
    consumers: m.consumers.map((c) => ({ id: c.id, inflight: c.inflight })),
    ackDeadlineMs: m.ackDeadlineMs,
    retryDelaysMs: [...m.retryDelaysMs],
    retriesMax: m.retriesMax,
  };
}
