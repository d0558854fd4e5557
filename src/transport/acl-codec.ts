import type { ServiceDefinition } from '@grpc/grpc-js';

import { methodDefinition, typeCodec } from './client-codec.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';

/** client.proto's AclRule as plain data; kind and operations are checked by the node, not here. */
export interface AclRuleMessage {
  readonly principal: string;
  readonly kind: string;
  readonly pattern: string;
  readonly operations: readonly string[];
}
export interface AclChangeRequestMessage {
  /** Absent only in a request that names no rule (answered INVALID_ARGUMENT). */
  readonly rule?: AclRuleMessage | null;
}
export interface AclChangeResponseMessage {
  readonly changed: boolean;
}
export interface AclListResponseMessage {
  readonly rules: readonly AclRuleMessage[];
}

/** gRPC paths of the ACL methods (same service as ClientMethodPath). */
export const AclMethodPath = {
  aclAdd: '/quorumlog.client.Client/AclAdd',
  aclRemove: '/quorumlog.client.Client/AclRemove',
  aclList: '/quorumlog.client.Client/AclList',
} as const;

interface Codec<T> {
  readonly serialize: (value: T) => Buffer;
  readonly deserialize: (bytes: Buffer) => T;
}

/** Serializers for the ACL messages of client.proto. Build one and share it. */
export class AclCodec {
  readonly changeRequest: Codec<AclChangeRequestMessage>;
  readonly changeResponse: Codec<AclChangeResponseMessage>;
  readonly listRequest: Codec<Record<string, never>>;
  readonly listResponse: Codec<AclListResponseMessage>;

  constructor() {
    const root = parseSchema(readSchema('client.proto'));
    const codec = <T>(name: string): Codec<T> => typeCodec<T>(schemaType(root, `quorumlog.client.${name}`));
    this.changeRequest = codec('AclChangeRequest');
    this.changeResponse = codec('AclChangeResponse');
    this.listRequest = codec('AclListRequest');
    this.listResponse = codec('AclListResponse');
  }

  /** The ACL methods' part of the Client service definition (merged with ClientCodec's). */
  serviceDefinition(): ServiceDefinition<Record<keyof typeof AclMethodPath, unknown>> {
    const method = methodDefinition;
    return {
      aclAdd: method(AclMethodPath.aclAdd, this.changeRequest, this.changeResponse),
      aclRemove: method(AclMethodPath.aclRemove, this.changeRequest, this.changeResponse),
      aclList: method(AclMethodPath.aclList, this.listRequest, this.listResponse),
    };
  }
}
