import type { Metadata } from '@grpc/grpc-js';

import { principalOf } from './call-principal.js';
import { PermissionDeniedError } from './node-errors.js';

/** What a call asks to do, as the wire layer names it (the node maps it onto its ACL rules). */
export type AccessOperation = 'produce' | 'consume' | 'admin';

/**
 * What a call acts on: a topic or a group by name, or the cluster itself (the raw log,
 * leadership, the ACLs): no rule names the cluster, so only superusers may.
 */
export type AccessResource = { readonly kind: 'topic' | 'group'; readonly name: string } | { readonly kind: 'cluster' };

export interface Access {
  readonly operation: AccessOperation;
  readonly resource: AccessResource;
}

/** Decides client calls by who makes them (the node's ACLs and superusers). */
export interface ClientAuthorizer {
  /** Throws PermissionDeniedError (naming principal, operation and resource) unless `principal` may; a denial is counted. */
  check(principal: string, access: Access): void;
  /** The same question without an error or a count: for filtering what a call is shown. */
  allows(principal: string, access: Access): boolean;
}

/**
 * The handlers' side of authorization: each handler asks before it does anything, so a
 * denied call changes nothing. Without an authorizer (a node that does not authenticate
 * clients) every call is allowed: there is no one to check.
 */
export class CallAccess {
  constructor(private readonly authorizer: ClientAuthorizer | undefined) {}

  /** Throws PermissionDeniedError unless the call's principal has every one of `accesses`. */
  check(metadata: Metadata, ...accesses: readonly Access[]): void {
    if (this.authorizer === undefined) return;
    const principal = this.principal(metadata);
    for (const access of accesses) this.authorizer.check(principal, access);
  }

  allows(metadata: Metadata, access: Access): boolean {
    if (this.authorizer === undefined) return true;
    return this.authorizer.allows(this.principal(metadata), access);
  }

  private principal(metadata: Metadata): string {
    const principal = principalOf(metadata);
    // The interceptor sets it on every call it lets through; its absence is a call it never saw.
    if (principal === null) throw new PermissionDeniedError('the call carries no authenticated principal');
    return principal;
  }
}

export const topicAccess = (operation: AccessOperation, name: string): Access => ({ operation, resource: { kind: 'topic', name } });
export const groupAccess = (operation: AccessOperation, name: string): Access => ({ operation, resource: { kind: 'group', name } });
export const CLUSTER_ADMIN: Access = { operation: 'admin', resource: { kind: 'cluster' } };
