import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';

import { nodeId, type NodeId } from '../../raft/index.js';
import { InvalidArgumentError, UnimplementedError } from './node-errors.js';
import { MalformedRequest, type EmptyMessage, type MemberChangeRequestMessage, type MembersResponseMessage } from './client-codec.js';
import type { MemberChangeInput, MembershipService, MembersView } from './client-service.js';
import { answerUnary } from './grpc-server.js';
import { isHostPort } from './host-port.js';
import { CLUSTER_ADMIN, type CallAccess } from './access-check.js';

type Incoming<T> = T | MalformedRequest;

/** Node ids as a configuration may hold them (the node's own check: config.ts's). */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The Members and ChangeMember methods: a thin adapter over the node's MembershipService.
 * Where ACLs are enforced, a change is a cluster admin's (a superuser's, like transfer);
 * the list is every client's (clients refresh their broker lists from it), with the
 * recorded incarnations shown to cluster admins only.
 */
export class MemberHandlers {
  readonly #service: MembershipService | undefined;
  readonly #requestTimeoutMs: number;
  readonly #access: CallAccess;

  constructor(service: MembershipService | undefined, requestTimeoutMs: number, access: CallAccess) {
    this.#service = service;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#access = access;
  }

  readonly members = (call: ServerUnaryCall<Incoming<EmptyMessage>, MembersResponseMessage>, reply: sendUnaryData<MembersResponseMessage>): void => {
    answerUnary(reply, () => {
      decoded(call.request, 'Members');
      const view = this.#membership().members();
      const shown = this.#access.allows(call.metadata, CLUSTER_ADMIN) ? view : { ...view, members: view.members.map((m) => ({ ...m, incarnation: '' })) };
      return Promise.resolve(membersMessage(shown));
    });
  };

  readonly changeMember = (call: ServerUnaryCall<Incoming<MemberChangeRequestMessage>, MembersResponseMessage>, reply: sendUnaryData<MembersResponseMessage>): void => {
    answerUnary(reply, async () => {
      this.#access.check(call.metadata, CLUSTER_ADMIN);
      const change = memberChange(decoded(call.request, 'ChangeMember'));
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
      const timeoutMs = Math.max(1, Math.min(this.#requestTimeoutMs, deadlineMs - Date.now()));
      return membersMessage(await this.#membership().changeMember(change, { timeoutMs }));
    });
  };

  #membership(): MembershipService {
    if (this.#service === undefined) throw new UnimplementedError('this node does not serve membership');
    return this.#service;
  }
}

/** The change a request asks for, or INVALID_ARGUMENT saying what is wrong with it. */
export function memberChange(r: MemberChangeRequestMessage): MemberChangeInput {
  const id = checkedId(r.id);
  switch (r.kind) {
    case 'add':
      for (const [name, address] of [
        ['peer', r.peerAddress],
        ['client', r.clientAddress],
      ] as const) {
        if (!isHostPort(address)) throw new InvalidArgumentError(`the ${name} address "${address}" of ${id} is not host:port`);
      }
      if (r.peerAddress === r.clientAddress) throw new InvalidArgumentError(`${id}'s peer and client addresses are the same (${r.peerAddress})`);
      if (r.httpAddress !== '' && !isHostPort(r.httpAddress)) throw new InvalidArgumentError(`the HTTP address "${r.httpAddress}" of ${id} is not host:port`);
      return { kind: 'add', id, peerAddress: r.peerAddress, clientAddress: r.clientAddress, incarnation: r.incarnation, httpAddress: r.httpAddress === '' ? null : r.httpAddress };
    case 'promote':
      return { kind: 'promote', id };
    case 'remove':
      return { kind: 'remove', id, force: r.force };
    default:
      throw new InvalidArgumentError(`member change "${r.kind}" is not add, promote or remove`);
  }
}

function checkedId(id: string): NodeId {
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(`node id "${id}" must be 1-64 letters, digits, '.', '_' or '-'`);
  return nodeId(id);
}

export function membersMessage(view: MembersView): MembersResponseMessage {
  return {
    members: view.members.map((m) => ({
      id: m.id,
      role: m.role,
      peerAddress: m.peerAddress ?? '',
      clientAddress: m.clientAddress ?? '',
      incarnation: m.incarnation,
      matchIndex: m.matchIndex ?? 0,
      matchKnown: m.matchIndex !== null,
      httpAddress: m.httpAddress ?? '',
    })),
    leaderId: view.leaderId ?? '',
    leaderClientAddress: view.leaderClientAddress ?? '',
    configIndex: view.configIndex,
  };
}

function decoded<T>(request: Incoming<T>, method: string): T {
  if (request instanceof MalformedRequest) throw new InvalidArgumentError(`${method} request is not a valid protobuf message: ${request.reason}`);
  return request;
}
