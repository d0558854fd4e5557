import { AclCodec, AclMethodPath, type AclRuleMessage } from '../transport/index.js';
import type { CallOptions, LogClient } from './log-client.js';

export type AclOperation = 'produce' | 'consume' | 'admin';

/**
 * An allow rule (docs/security.md): `principal` (a user, a client certificate's client name,
 * or '*' for any authenticated client) may do `operations` to the topics or groups that
 * `resource.pattern` names: an exact name, or a prefix ending in '*' ('*' alone: all).
 */
export interface AclRule {
  readonly principal: string;
  readonly resource: { readonly kind: 'topic' | 'group'; readonly pattern: string };
  readonly operations: readonly AclOperation[];
}

/** The ACL calls of client.proto over a LogClient. Superusers only, on a node that authenticates clients. */
export class AclCalls {
  readonly #codec = new AclCodec();

  constructor(private readonly client: LogClient) {}

  /** Adding a grant twice changes nothing, so a retry is safe: answered true if the rules changed. */
  async add(rule: AclRule, options: CallOptions = {}): Promise<boolean> {
    const c = this.#codec;
    const response = await this.client.unaryCall({ operation: 'aclAdd', delivery: 'idempotent', path: AclMethodPath.aclAdd, serialize: c.changeRequest.serialize, deserialize: c.changeResponse.deserialize }, { rule: ruleMessage(rule) }, options);
    return response.changed;
  }

  async remove(rule: AclRule, options: CallOptions = {}): Promise<boolean> {
    const c = this.#codec;
    const response = await this.client.unaryCall({ operation: 'aclRemove', delivery: 'idempotent', path: AclMethodPath.aclRemove, serialize: c.changeRequest.serialize, deserialize: c.changeResponse.deserialize }, { rule: ruleMessage(rule) }, options);
    return response.changed;
  }

  async list(options: CallOptions = {}): Promise<readonly AclRule[]> {
    const c = this.#codec;
    const response = await this.client.unaryCall({ operation: 'aclList', delivery: 'idempotent', path: AclMethodPath.aclList, serialize: c.listRequest.serialize, deserialize: c.listResponse.deserialize }, {}, options);
    return response.rules.map(ruleOf);
  }
}

function ruleMessage(rule: AclRule): AclRuleMessage {
  return { principal: rule.principal, kind: rule.resource.kind, pattern: rule.resource.pattern, operations: [...rule.operations] };
}

function ruleOf(m: AclRuleMessage): AclRule {
  const kind = m.kind === 'group' ? 'group' : 'topic';
  const operations = m.operations.filter((op): op is AclOperation => op === 'produce' || op === 'consume' || op === 'admin');
  return { principal: m.principal, resource: { kind, pattern: m.pattern }, operations };
}
