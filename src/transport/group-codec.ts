import type protobuf from 'protobufjs';
import { decodeConsumeResponse, encodeConsumeResponse, type ConsumeResponseMessage } from './consume-codec.js';
import type { GroupView } from './client-service.js';
import type { PipelinedRequest } from './pipelined-request-codec.js';
import { schemaType } from './protobuf-runtime.js';

/** Consumer-group messages of client.proto as plain data (see client-codec.ts for the rest). */
export interface GroupStartMessage {
  readonly kind: number;
  readonly value: number;
}
export interface GroupSettingsMessage {
  readonly ackDeadlineMs: number;
  readonly retryDelaysMs: readonly number[];
  readonly retriesMaxSet: boolean;
  readonly retriesMax: number;
}
export interface CreateGroupRequestMessage {
  readonly group: string;
  readonly topic: string;
  readonly start?: GroupStartMessage | null;
  readonly settings?: GroupSettingsMessage | null;
  readonly ifAbsent: boolean;
}
export interface CreateGroupResponseMessage {
  readonly created: boolean;
}
export interface GroupNameRequestMessage {
  readonly group: string;
}
/** On the wire as the service shows it. */
export type GroupInfoMessage = GroupView;
export interface ListGroupsResponseMessage {
  readonly groups: readonly GroupInfoMessage[];
}
export interface ConsumeRequestMessage {
  readonly group: string;
  readonly topic: string;
  readonly consumerId: string;
  readonly prefetch: number;
  readonly start?: GroupStartMessage | null;
  readonly settings?: GroupSettingsMessage | null;
  readonly bytesMax: number;
}
export type { ConsumeResponseMessage, DeliveryMessage } from './consume-codec.js';
export interface AckRequestMessage {
  readonly group: string;
  readonly offsets: readonly number[];
}
/** client.proto's AckOutcome enum. */
export const AckOutcomeCode = { acked: 0, alreadyAcked: 1, notDelivered: 2 } as const;
export interface AckResponseMessage {
  readonly outcomes: readonly number[];
}
/** An ack on the AckStream (its answer is a PipelinedResponse of AckResponseMessage, client-codec.ts). */
export interface AckStreamRequestMessage extends PipelinedRequest {
  readonly ack?: AckRequestMessage | null;
}
export interface NackRequestMessage {
  readonly group: string;
  readonly offset: number;
  readonly delivery: number;
  readonly reason: string;
  readonly delayMs: number;
}
export interface NackResponseMessage {
  readonly deadLettered: boolean;
  readonly retryAtMs: number;
}
export interface ExtendRequestMessage {
  readonly group: string;
  readonly offset: number;
  readonly delivery: number;
  readonly extendMs: number;
}
export interface ExtendResponseMessage {
  readonly deadlineMs: number;
}
export interface DeliveryRefMessage {
  readonly offset: number;
  readonly delivery: number;
}
export interface LeaveRequestMessage {
  readonly group: string;
  readonly consumerId: string;
  readonly seen: readonly DeliveryRefMessage[];
}
export interface LeaveResponseMessage {
  readonly counted: number;
  readonly returned: number;
}
export interface ResetGroupRequestMessage {
  readonly group: string;
  readonly to?: GroupStartMessage | null;
  readonly force: boolean;
}
export interface ResetGroupResponseMessage {
  readonly committedOffset: number;
  readonly previousCommittedOffset: number;
  readonly forgotten: number;
}
/** client.proto's GroupStartKind enum. */
export const GroupStartCode = { earliest: 0, latest: 1, offset: 2, time: 3 } as const;

export const GroupMethodPath = {
  createGroup: '/quorumlog.client.Client/CreateGroup',
  deleteGroup: '/quorumlog.client.Client/DeleteGroup',
  listGroups: '/quorumlog.client.Client/ListGroups',
  describeGroup: '/quorumlog.client.Client/DescribeGroup',
  consume: '/quorumlog.client.Client/Consume',
  ack: '/quorumlog.client.Client/Ack',
  ackStream: '/quorumlog.client.Client/AckStream',
  nack: '/quorumlog.client.Client/Nack',
  extend: '/quorumlog.client.Client/Extend',
  leave: '/quorumlog.client.Client/Leave',
  resetGroup: '/quorumlog.client.Client/ResetGroup',
} as const;

export interface Codec<T> {
  readonly serialize: (value: T) => Buffer;
  readonly deserialize: (bytes: Buffer) => T;
}

/** Serializers for the consumer-group messages; ClientCodec builds one from the parsed schema. */
export class GroupCodec {
  readonly createGroupRequest: Codec<CreateGroupRequestMessage>;
  readonly createGroupResponse: Codec<CreateGroupResponseMessage>;
  readonly groupNameRequest: Codec<GroupNameRequestMessage>;
  readonly deleteGroupResponse: Codec<Record<string, never>>;
  readonly listGroupsRequest: Codec<Record<string, never>>;
  readonly listGroupsResponse: Codec<ListGroupsResponseMessage>;
  readonly groupInfo: Codec<GroupInfoMessage>;
  readonly consumeRequest: Codec<ConsumeRequestMessage>;
  readonly consumeResponse: Codec<ConsumeResponseMessage>;
  readonly ackRequest: Codec<AckRequestMessage>;
  readonly ackResponse: Codec<AckResponseMessage>;
  readonly nackRequest: Codec<NackRequestMessage>;
  readonly nackResponse: Codec<NackResponseMessage>;
  readonly extendRequest: Codec<ExtendRequestMessage>;
  readonly extendResponse: Codec<ExtendResponseMessage>;
  readonly leaveRequest: Codec<LeaveRequestMessage>;
  readonly leaveResponse: Codec<LeaveResponseMessage>;
  readonly resetGroupRequest: Codec<ResetGroupRequestMessage>;
  readonly resetGroupResponse: Codec<ResetGroupResponseMessage>;

  constructor(root: protobuf.Root, typeCodec: <T>(type: protobuf.Type) => Codec<T>) {
    const codec = <T>(name: string): Codec<T> => typeCodec<T>(schemaType(root, `quorumlog.client.${name}`));
    this.createGroupRequest = codec('CreateGroupRequest');
    this.createGroupResponse = codec('CreateGroupResponse');
    this.groupNameRequest = codec('GroupNameRequest');
    this.deleteGroupResponse = codec('DeleteGroupResponse');
    this.listGroupsRequest = codec('ListGroupsRequest');
    this.listGroupsResponse = codec('ListGroupsResponse');
    this.groupInfo = codec('GroupInfo');
    this.consumeRequest = codec('ConsumeRequest');
    // Every consumed message crosses here: framed and read by hand (consume-codec.ts).
    this.consumeResponse = { serialize: encodeConsumeResponse, deserialize: decodeConsumeResponse };
    this.ackRequest = codec('AckRequest');
    this.ackResponse = codec('AckResponse');
    this.nackRequest = codec('NackRequest');
    this.nackResponse = codec('NackResponse');
    this.extendRequest = codec('ExtendRequest');
    this.extendResponse = codec('ExtendResponse');
    this.leaveRequest = codec('LeaveRequest');
    this.leaveResponse = codec('LeaveResponse');
    this.resetGroupRequest = codec('ResetGroupRequest');
    this.resetGroupResponse = codec('ResetGroupResponse');
  }
}
