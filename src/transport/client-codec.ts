import type protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { BrokerMessage } from './broker-message.js';
import { GroupCodec, GroupMethodPath, type AckStreamRequestMessage, type Codec as GroupCodecOf } from './group-codec.js';
import { decodeAckStreamRequest, decodeAckStreamResponse, encodeAckStreamRequest, encodeAckStreamResponse, type AckStreamResponseMessage } from './ack-codec.js';

export type { BrokerMessage, MessageHeaderMessage } from './broker-message.js';
export type { AppendRequestMessage, AppendStreamRequestMessage } from './append-codec.js';
export type { CallErrorMessage, PipelinedRequest, PipelinedResponse } from './pipelined-request-codec.js';
import type { PipelinedResponse } from './pipelined-request-codec.js';
export type { ProduceRequestMessage, ProduceResponseMessage, ProduceStreamRequestMessage, ProduceStreamResponseMessage } from './produce-codec.js';
import { MalformedMessageError } from './errors.js';
import { decodeAppendRequest, decodeAppendStreamRequest, type AppendRequestMessage, type AppendStreamRequestMessage } from './append-codec.js';
import { WireTypeCheck } from './protobuf-check.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';
import {
  decodeProduceStreamRequest,
  decodeProduceStreamResponse,
  encodeProduceStreamRequest,
  type ProduceRequestMessage,
  type ProduceResponseMessage,
  type ProduceStreamRequestMessage,
  type ProduceStreamResponseMessage,
} from './produce-codec.js';
import { bytesFieldBytes, scalarBytes, varint64Length, varintLength, writeBytesField, writeScalar, writeVarint, writeVarint64 } from './protobuf-wire.js';

/**
 * The client API's messages as plain data, with numbers for uint64 fields. Shared by the
 * server (client-server.ts) and the client library (src/client/), so both sides encode
 * with the same schema.
 */
export interface AppendResponseMessage {
  readonly firstIndex: number;
  readonly lastIndex: number;
}
export type AppendStreamResponseMessage = PipelinedResponse<AppendResponseMessage>;
export interface ReadRequestMessage {
  readonly from: number;
  readonly bytesMax: number;
}
export interface RecordMessage {
  readonly index: number;
  readonly term: number;
  readonly payload: Uint8Array;
}
export interface ReadResponseMessage {
  readonly records: readonly RecordMessage[];
  readonly nextIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
}
export type StatusRequestMessage = Record<string, never>;
export interface FollowerStatusMessage {
  readonly id: string;
  readonly matchIndex: number;
  readonly lag: number;
  readonly state: string;
  readonly learner: boolean;
}
/** NodeStatus on the wire: no leader is "" rather than null. */
export interface NodeStatusMessage {
  readonly id: string;
  readonly clusterId: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string;
  readonly leaderClientAddress: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly votingBlocked: boolean;
  readonly repairThroughIndex: number;
  readonly followers: readonly FollowerStatusMessage[];
  readonly flush: string;
  readonly durableMark: string;
  readonly flushIntervalMs: number;
  readonly snapshotIndex: number;
  readonly snapshotAgeMs: number;
  readonly logBytes: number;
  readonly snapshotBytes: number;
  readonly diskUsedBytes: number;
  readonly diskSizeBytes: number;
  readonly diskHighWatermarkPercent: number;
  readonly produceRefused: boolean;
  readonly incarnation: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly httpAddress: string;
}
export interface MemberMessage {
  readonly id: string;
  readonly role: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly incarnation: string;
  readonly matchIndex: number;
  readonly matchKnown: boolean;
  readonly httpAddress: string;
}
export interface MembersResponseMessage {
  readonly members: readonly MemberMessage[];
  readonly leaderId: string;
  readonly leaderClientAddress: string;
  readonly configIndex: number;
}
export interface MemberChangeRequestMessage {
  readonly kind: string;
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly incarnation: string;
  readonly force: boolean;
  readonly httpAddress: string;
}
export interface TransferRequestMessage {
  readonly to: string;
}
export type TransferResponseMessage = Record<string, never>;

export interface CreateTopicRequestMessage {
  readonly name: string;
  readonly messageBytesMax: number;
}
export interface TopicNameRequestMessage {
  readonly name: string;
}
export type EmptyMessage = Record<string, never>;
export interface TopicInfoMessage {
  readonly name: string;
  readonly messageBytesMax: number;
  readonly nextOffset: number;
}
export interface ListTopicsResponseMessage {
  readonly topics: readonly TopicInfoMessage[];
}
export interface InitProducerResponseMessage {
  readonly producerId: number;
}
/** client.proto's Acks enum. */
export const AcksCode = { all: 0, leader: 1, none: 2 } as const;
export type AcksCode = (typeof AcksCode)[keyof typeof AcksCode];
export type { AckStreamResponseMessage } from './ack-codec.js';
export interface FetchRequestMessage {
  readonly topic: string;
  readonly offset: number;
  readonly bytesMax: number;
}
export interface FetchedMessageMessage extends BrokerMessage {
  readonly offset: number;
}
export interface FetchResponseMessage {
  readonly messages: readonly FetchedMessageMessage[];
  readonly nextOffset: number;
  readonly endOffset: number;
}

/** gRPC paths of client.proto's methods. */
export const ClientMethodPath = {
  append: '/quorumlog.client.Client/Append',
  appendStream: '/quorumlog.client.Client/AppendStream',
  read: '/quorumlog.client.Client/Read',
  follow: '/quorumlog.client.Client/Follow',
  status: '/quorumlog.client.Client/Status',
  transfer: '/quorumlog.client.Client/Transfer',
  members: '/quorumlog.client.Client/Members',
  changeMember: '/quorumlog.client.Client/ChangeMember',
  createTopic: '/quorumlog.client.Client/CreateTopic',
  deleteTopic: '/quorumlog.client.Client/DeleteTopic',
  listTopics: '/quorumlog.client.Client/ListTopics',
  describeTopic: '/quorumlog.client.Client/DescribeTopic',
  initProducer: '/quorumlog.client.Client/InitProducer',
  produce: '/quorumlog.client.Client/Produce',
  produceStream: '/quorumlog.client.Client/ProduceStream',
  fetch: '/quorumlog.client.Client/Fetch',
  ...GroupMethodPath,
} as const;

/**
 * What the server's request deserializers return for bytes that do not decode, instead of
 * throwing: grpc-js would answer a throw with INTERNAL, and bad input is INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

type Codec<T> = GroupCodecOf<T>;

/** Serializers for every message of client.proto. Build one and share it. */
export class ClientCodec {
  readonly appendRequest: Codec<AppendRequestMessage>;
  readonly appendResponse: Codec<AppendResponseMessage>;
  readonly appendStreamRequest: Codec<AppendStreamRequestMessage>;
  readonly appendStreamResponse: Codec<AppendStreamResponseMessage>;
  readonly readRequest: Codec<ReadRequestMessage>;
  readonly readResponse: Codec<ReadResponseMessage>;
  readonly statusRequest: Codec<StatusRequestMessage>;
  readonly nodeStatus: Codec<NodeStatusMessage>;
  readonly transferRequest: Codec<TransferRequestMessage>;
  readonly transferResponse: Codec<TransferResponseMessage>;
  readonly membersRequest: Codec<EmptyMessage>;
  readonly membersResponse: Codec<MembersResponseMessage>;
  readonly memberChangeRequest: Codec<MemberChangeRequestMessage>;
  readonly createTopicRequest: Codec<CreateTopicRequestMessage>;
  readonly createTopicResponse: Codec<EmptyMessage>;
  readonly deleteTopicRequest: Codec<TopicNameRequestMessage>;
  readonly deleteTopicResponse: Codec<EmptyMessage>;
  readonly listTopicsRequest: Codec<EmptyMessage>;
  readonly listTopicsResponse: Codec<ListTopicsResponseMessage>;
  readonly describeTopicRequest: Codec<TopicNameRequestMessage>;
  readonly topicInfo: Codec<TopicInfoMessage>;
  readonly initProducerRequest: Codec<EmptyMessage>;
  readonly initProducerResponse: Codec<InitProducerResponseMessage>;
  readonly produceRequest: Codec<ProduceRequestMessage>;
  readonly produceResponse: Codec<ProduceResponseMessage>;
  readonly produceStreamRequest: Codec<ProduceStreamRequestMessage>;
  readonly produceStreamResponse: Codec<ProduceStreamResponseMessage>;
  readonly fetchRequest: Codec<FetchRequestMessage>;
  readonly fetchResponse: Codec<FetchResponseMessage>;
  readonly groups: GroupCodec;
  /** Here rather than in GroupCodec: the answer is a PipelinedResponse, which this module defines. */
  readonly ackStreamRequest: Codec<AckStreamRequestMessage>;
  readonly ackStreamResponse: Codec<AckStreamResponseMessage>;

  constructor() {
    const root = parseSchema(readSchema('client.proto'));
    const codec = <T>(name: string): Codec<T> => typeCodec<T>(schemaType(root, `quorumlog.client.${name}`));
    // The request that carries the records: framed by hand into one buffer (protobufjs
    // allocates a write operation per record), and read by hand (append-codec.ts).
    this.appendRequest = { serialize: encodeAppendRequest, deserialize: decodeAppendRequest };
    this.appendResponse = codec('AppendResponse');
    this.appendStreamRequest = { serialize: encodeAppendStreamRequest, deserialize: decodeAppendStreamRequest };
    this.appendStreamResponse = codec('AppendStreamResponse');
    this.readRequest = codec('ReadRequest');
    // Read and follow responses carry records back: framed by hand, as append requests are.
    this.readResponse = { serialize: encodeReadResponse, deserialize: codec<ReadResponseMessage>('ReadResponse').deserialize };
    this.statusRequest = codec('StatusRequest');
    this.nodeStatus = codec('NodeStatus');
    this.transferRequest = codec('TransferRequest');
    this.transferResponse = codec('TransferResponse');
    this.membersRequest = codec('MembersRequest');
    this.membersResponse = codec('MembersResponse');
    this.memberChangeRequest = codec('MemberChangeRequest');
    // Broker messages go through protobufjs, but for the produce stream's requests (framed
    // and read by hand, produce-codec.ts) and its answers (read by hand: a producer reads one a
    // batch); fetch is the next candidate once a profile says so.
    this.createTopicRequest = codec('CreateTopicRequest');
    this.createTopicResponse = codec('CreateTopicResponse');
    this.deleteTopicRequest = codec('DeleteTopicRequest');
    this.deleteTopicResponse = codec('DeleteTopicResponse');
    this.listTopicsRequest = codec('ListTopicsRequest');
    this.listTopicsResponse = codec('ListTopicsResponse');
    this.describeTopicRequest = codec('DescribeTopicRequest');
    this.topicInfo = codec('TopicInfo');
    this.initProducerRequest = codec('InitProducerRequest');
    this.initProducerResponse = codec('InitProducerResponse');
    this.produceRequest = codec('ProduceRequest');
    this.produceResponse = codec('ProduceResponse');
    this.produceStreamRequest = { serialize: encodeProduceStreamRequest, deserialize: decodeProduceStreamRequest };
    this.produceStreamResponse = { serialize: codec<ProduceStreamResponseMessage>('ProduceStreamResponse').serialize, deserialize: decodeProduceStreamResponse };
    this.fetchRequest = codec('FetchRequest');
    this.fetchResponse = codec('FetchResponse');
    this.groups = new GroupCodec(root, typeCodec);
    // An offset a message acked and an outcome back: framed and read by hand (ack-codec.ts).
    this.ackStreamRequest = { serialize: encodeAckStreamRequest, deserialize: decodeAckStreamRequest };
    this.ackStreamResponse = { serialize: encodeAckStreamResponse, deserialize: decodeAckStreamResponse };
  }

  /** The hand-made gRPC service definition for client.proto's Client service. */
  serviceDefinition(): ServiceDefinition<Record<keyof typeof ClientMethodPath, unknown>> {
    const method = methodDefinition;
    return {
      append: method(ClientMethodPath.append, this.appendRequest, this.appendResponse),
      appendStream: pipelinedDefinition(ClientMethodPath.appendStream, this.appendStreamRequest, this.appendStreamResponse),
      read: method(ClientMethodPath.read, this.readRequest, this.readResponse),
      follow: method(ClientMethodPath.follow, this.readRequest, this.readResponse, { responseStream: true }),
      status: method(ClientMethodPath.status, this.statusRequest, this.nodeStatus),
      transfer: method(ClientMethodPath.transfer, this.transferRequest, this.transferResponse),
      members: method(ClientMethodPath.members, this.membersRequest, this.membersResponse),
      changeMember: method(ClientMethodPath.changeMember, this.memberChangeRequest, this.membersResponse),
      createTopic: method(ClientMethodPath.createTopic, this.createTopicRequest, this.createTopicResponse),
      deleteTopic: method(ClientMethodPath.deleteTopic, this.deleteTopicRequest, this.deleteTopicResponse),
      listTopics: method(ClientMethodPath.listTopics, this.listTopicsRequest, this.listTopicsResponse),
      describeTopic: method(ClientMethodPath.describeTopic, this.describeTopicRequest, this.topicInfo),
      initProducer: method(ClientMethodPath.initProducer, this.initProducerRequest, this.initProducerResponse),
      produce: method(ClientMethodPath.produce, this.produceRequest, this.produceResponse),
      produceStream: pipelinedDefinition(ClientMethodPath.produceStream, this.produceStreamRequest, this.produceStreamResponse),
      fetch: method(ClientMethodPath.fetch, this.fetchRequest, this.fetchResponse),
      createGroup: method(ClientMethodPath.createGroup, this.groups.createGroupRequest, this.groups.createGroupResponse),
      deleteGroup: method(ClientMethodPath.deleteGroup, this.groups.groupNameRequest, this.groups.deleteGroupResponse),
      listGroups: method(ClientMethodPath.listGroups, this.groups.listGroupsRequest, this.groups.listGroupsResponse),
      describeGroup: method(ClientMethodPath.describeGroup, this.groups.groupNameRequest, this.groups.groupInfo),
      consume: method(ClientMethodPath.consume, this.groups.consumeRequest, this.groups.consumeResponse, { responseStream: true }),
      ack: method(ClientMethodPath.ack, this.groups.ackRequest, this.groups.ackResponse),
      ackStream: pipelinedDefinition(ClientMethodPath.ackStream, this.ackStreamRequest, this.ackStreamResponse),
      nack: method(ClientMethodPath.nack, this.groups.nackRequest, this.groups.nackResponse),
      extend: method(ClientMethodPath.extend, this.groups.extendRequest, this.groups.extendResponse),
      leave: method(ClientMethodPath.leave, this.groups.leaveRequest, this.groups.leaveResponse),
      resetGroup: method(ClientMethodPath.resetGroup, this.groups.resetGroupRequest, this.groups.resetGroupResponse),
    };
  }
}

/**
 * One method of the Client service for grpc-js. A request that does not decode becomes a
 * MalformedRequest (answered INVALID_ARGUMENT by the handler), not a throw (which grpc-js
 * would answer INTERNAL).
 */
export function methodDefinition<Req, Res>(path: string, request: Codec<Req>, response: Codec<Res>, options: { readonly responseStream?: boolean } = {}) {
  const responseStream = options.responseStream ?? false;
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: request.serialize,
    requestDeserialize: (bytes: Buffer): Req | MalformedRequest => {
      try {
        return request.deserialize(bytes);
      } catch (error) {
        return new MalformedRequest(error instanceof Error ? error.message : String(error));
      }
    },
    responseSerialize: response.serialize,
    responseDeserialize: response.deserialize,
  };
}

/** A pipelined method: requests and answers both streamed, otherwise as methodDefinition. */
function pipelinedDefinition<Req, Res>(path: string, request: Codec<Req>, response: Codec<Res>) {
  return { ...methodDefinition(path, request, response, { responseStream: true }), requestStream: true };
}

/**
 * protobufjs decodes into message instances whose unset fields come from the prototype;
 * our readers only read fields, so the instance serves as the plain-data shape T. The
 * schema is ours and fixed, so T matching it is checked by the round-trip tests. A known
 * field of the wrong wire type throws (protobuf-check.ts) instead of reading as its default.
 */
export function typeCodec<T>(type: protobuf.Type): Codec<T> {
  const wireTypes = new WireTypeCheck();
  return {
    serialize: (value: T): Buffer => {
      const bytes = type.encode(value as protobuf.Message<object>).finish();
      return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    },
    deserialize: (bytes: Buffer): T => {
      const problem = wireTypes.problem(type, bytes);
      if (problem !== null) throw new MalformedMessageError(problem);
      return type.decode(bytes) as unknown as T;
    },
  };
}

/** AppendRequest field 1 (`repeated bytes records`), wire type 2; field 2 (`acks`), varint. */
const RECORDS_TAG = (1 << 3) | 2;
const APPEND_ACKS_TAG = (2 << 3) | 0;

/** AppendStreamRequest fields: id (varint), append (length-delimited AppendRequest), timeout_ms (varint). */
const STREAM_TAG = { id: (1 << 3) | 0, append: (2 << 3) | 2, timeoutMs: (3 << 3) | 0 } as const;

/** The protobuf encoding of an AppendRequest: each record as field 1, length-delimited, then acks if not the default. */
function encodeAppendRequest(request: AppendRequestMessage): Buffer {
  const out = Buffer.allocUnsafe(appendRequestBytes(request));
  writeAppendRequest(out, 0, request);
  return out;
}

/** An AppendStreamRequest in one buffer, its AppendRequest framed in place (no copy of it). */
function encodeAppendStreamRequest(request: AppendStreamRequestMessage): Buffer {
  const append = request.append ?? { records: [] };
  const appendBytes = appendRequestBytes(append);
  const out = Buffer.allocUnsafe(scalarBytes(request.id) + 1 + varintLength(appendBytes) + appendBytes + scalarBytes(request.timeoutMs));
  let at = writeScalar(out, 0, STREAM_TAG.id, request.id);
  out[at++] = STREAM_TAG.append;
  at = writeVarint(out, at, appendBytes);
  at = writeAppendRequest(out, at, append);
  at = writeScalar(out, at, STREAM_TAG.timeoutMs, request.timeoutMs);
  if (at !== out.length) throw new Error(`encodeAppendStreamRequest: wrote ${at} bytes, sized ${out.length}`);
  return out;
}

function appendRequestBytes(request: AppendRequestMessage): number {
  const acks = request.acks ?? 0;
  if (!(Number.isInteger(acks) && acks >= 0 && acks < 0x80)) throw new RangeError(`acks code ${acks} out of range`);
  let total = acks === 0 ? 0 : 2;
  for (const record of request.records) total += 1 + varintLength(record.length) + record.length;
  return total;
}

/** Writes the AppendRequest at `at` (sized by appendRequestBytes); returns the offset after it. */
function writeAppendRequest(out: Buffer, at: number, request: AppendRequestMessage): number {
  for (const record of request.records) {
    out[at++] = RECORDS_TAG;
    at = writeVarint(out, at, record.length);
    out.set(record, at);
    at += record.length;
  }
  const acks = request.acks ?? 0;
  if (acks !== 0) {
    out[at++] = APPEND_ACKS_TAG;
    out[at++] = acks;
  }
  return at;
}

/** ReadResponse and Record field tags (field number << 3 | wire type). */
const READ_TAG = { records: (1 << 3) | 2, nextIndex: (2 << 3) | 0, appliedIndex: (3 << 3) | 0, firstIndex: (4 << 3) | 0 } as const;
const RECORD_TAG = { index: (1 << 3) | 0, term: (2 << 3) | 0, payload: (3 << 3) | 2 } as const;

/**
 * The protobuf encoding of a ReadResponse, as protobufjs would decode it: zero scalars are
 * left out (proto3 defaults), each record is a length-delimited Record. One allocation.
 */
function encodeReadResponse(response: ReadResponseMessage): Buffer {
  let total = scalarBytes(response.nextIndex) + scalarBytes(response.appliedIndex) + scalarBytes(response.firstIndex);
  for (const record of response.records) {
    const size = recordBytes(record);
    total += 1 + varint64Length(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const record of response.records) {
    out[at++] = READ_TAG.records;
    at = writeVarint64(out, at, recordBytes(record));
    at = writeScalar(out, at, RECORD_TAG.index, record.index);
    at = writeScalar(out, at, RECORD_TAG.term, record.term);
    at = writeBytesField(out, at, RECORD_TAG.payload, record.payload);
  }
  at = writeScalar(out, at, READ_TAG.nextIndex, response.nextIndex);
  at = writeScalar(out, at, READ_TAG.appliedIndex, response.appliedIndex);
  at = writeScalar(out, at, READ_TAG.firstIndex, response.firstIndex);
  if (at !== total) throw new Error(`encodeReadResponse: wrote ${at} bytes, sized ${total}`);
  return out;
}

function recordBytes(record: RecordMessage): number {
  return scalarBytes(record.index) + scalarBytes(record.term) + bytesFieldBytes(record.payload);
}
