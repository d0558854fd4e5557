import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';

import { CLUSTER_ADMIN, type AccessOperation, type CallAccess } from './access-check.js';
import type { AclChangeRequestMessage, AclChangeResponseMessage, AclListResponseMessage, AclRuleMessage } from './acl-codec.js';
import { MalformedRequest } from './client-codec.js';
import { answerUnary } from './grpc-server.js';
import { InvalidArgumentError, UnimplementedError } from './node-errors.js';
import type { AclRuleView, AclService } from './client-service.js';

type Incoming<T> = T | MalformedRequest;

const OPERATIONS: readonly AccessOperation[] = ['produce', 'consume', 'admin'];

/** client.proto's ACL methods, superusers only, as thin adapters over an AclService. */
export class AclHandlers {
  constructor(
    private readonly context: {
      readonly service: AclService | undefined;
      readonly access: CallAccess;
      readonly requestTimeoutMs: number;
      readonly checkServing: () => void;
    },
  ) {}

  readonly aclAdd = (call: ServerUnaryCall<Incoming<AclChangeRequestMessage>, AclChangeResponseMessage>, reply: sendUnaryData<AclChangeResponseMessage>): void => {
    answerUnary(reply, async () => {
      const rule = this.#rule(call.request, 'AclAdd');
      this.context.access.check(call.metadata, CLUSTER_ADMIN);
      return { changed: await this.#service().addAcl(rule, { timeoutMs: this.#timeoutMs(call.getDeadline()) }) };
    });
  };

  readonly aclRemove = (call: ServerUnaryCall<Incoming<AclChangeRequestMessage>, AclChangeResponseMessage>, reply: sendUnaryData<AclChangeResponseMessage>): void => {
    answerUnary(reply, async () => {
      const rule = this.#rule(call.request, 'AclRemove');
      this.context.access.check(call.metadata, CLUSTER_ADMIN);
      return { changed: await this.#service().removeAcl(rule, { timeoutMs: this.#timeoutMs(call.getDeadline()) }) };
    });
  };

  readonly aclList = (call: ServerUnaryCall<Incoming<Record<string, never>>, AclListResponseMessage>, reply: sendUnaryData<AclListResponseMessage>): void => {
    answerUnary(reply, () => {
      if (call.request instanceof MalformedRequest) throw new InvalidArgumentError(`AclList request is not a valid protobuf message: ${call.request.reason}`);
      this.context.access.check(call.metadata, CLUSTER_ADMIN);
      return Promise.resolve({ rules: this.#service().listAcls().map(ruleMessage) });
    });
  };

  #rule(request: Incoming<AclChangeRequestMessage>, method: string): AclRuleView {
    if (request instanceof MalformedRequest) throw new InvalidArgumentError(`${method} request is not a valid protobuf message: ${request.reason}`);
    const r = request.rule;
    if (r === null || r === undefined) throw new InvalidArgumentError(`${method} needs a rule`);
    if (r.kind !== 'topic' && r.kind !== 'group') throw new InvalidArgumentError(`an ACL resource kind is "topic" or "group", not "${r.kind}"`);
    const operations: AccessOperation[] = [];
    for (const op of r.operations) {
      const known = OPERATIONS.find((o) => o === op);
      if (known === undefined) throw new InvalidArgumentError(`unknown ACL operation "${op}": produce, consume or admin`);
      if (!operations.includes(known)) operations.push(known);
    }
    return { principal: r.principal, resource: { kind: r.kind, pattern: r.pattern }, operations: OPERATIONS.filter((o) => operations.includes(o)) };
  }

  #service(): AclService {
    this.context.checkServing();
    if (this.context.service === undefined) throw new UnimplementedError('this server has no ACLs');
    return this.context.service;
  }

  #timeoutMs(deadline: Date | number): number {
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    return Math.max(1, Math.min(this.context.requestTimeoutMs, deadlineMs - Date.now()));
  }
}

function ruleMessage(rule: AclRuleView): AclRuleMessage {
  return { principal: rule.principal, kind: rule.resource.kind, pattern: rule.resource.pattern, operations: [...rule.operations] };
}
