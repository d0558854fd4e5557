import { aclRuleProblem, ANY_PRINCIPAL, type AclAdd, type AclRemove, type AclRule, type ApplyResult, type BrokerState } from '../broker/index.js';
import { LogEvent, RepeatGate, type Log } from '../log/index.js';
import { InvalidArgumentError, PermissionDeniedError, type Access, type AclRuleView, type AclService, type ClientAuthorizer } from '../transport/index.js';
import { expect } from './broker-service.js';
import { NO_PROBE, type NodeProbe } from './node-probe.js';

/** The part of the broker state the ACLs read. */
export type AclState = Pick<BrokerState, 'aclAllows' | 'aclRules'>;

export interface AclOptions {
  readonly superUsers: readonly string[];
  /** The applied broker state now (a snapshot install replaces it). */
  readonly state: () => AclState;
  /** Proposes an ACL change; resolves with what applying it returned (NodeBrokerService.propose). */
  readonly propose: (command: AclAdd | AclRemove, timeoutMs: number) => Promise<ApplyResult>;
  readonly log: Log;
  readonly nowMs: () => number;
  /** Whether clients are authenticated (so the rules are enforced here). */
  readonly enforced: boolean;
  readonly probe?: NodeProbe;
}

/** Denials of one user, operation and resource are logged once per this interval (a producer retrying would flood the log). */
const DENIAL_LOG_INTERVAL_MS = 60_000;

/**
 * A node's authorization: the ACL rules of the replicated state (the same on every node from
 * the same applied index) plus the node's superusers, who may do everything, including what
 * no rule can grant: the raw log (append, read, follow), leadership transfer and the ACLs
 * themselves. Superusers are node configuration (--super-users), like Kafka's super.users:
 * they are how the first rule gets added, and they keep working whatever the rules say.
 *
 * Used only when the node authenticates clients (a call then always has a principal); on a
 * node without authentication nothing is checked, and the ACL methods are open to anyone
 * (the rules then wait for a node that authenticates).
 */
export class NodeAcl implements ClientAuthorizer, AclService {
  readonly #superUsers: ReadonlySet<string>;
  readonly #state: () => AclState;
  readonly #propose: AclOptions['propose'];
  readonly #probe: NodeProbe;
  readonly #log: Log;
  readonly #denials: RepeatGate;
  readonly #enforced: boolean;
  #unenforcedWarned = false;

  constructor(options: AclOptions) {
    this.#superUsers = new Set(options.superUsers);
    this.#state = options.state;
    this.#propose = options.propose;
    this.#probe = options.probe ?? NO_PROBE;
    this.#log = options.log;
    this.#enforced = options.enforced;
    this.#denials = new RepeatGate({ intervalMs: DENIAL_LOG_INTERVAL_MS, keysMax: 1024, nowMs: options.nowMs });
  }

  /** Logs the rules this node starts with, and warns once if it holds rules it will not enforce. */
  describeAtStart(): void {
    const rules = this.#state().aclRules().length;
    const superUsers = [...this.#superUsers].join(', ') || 'none';
    if (this.#enforced) {
      this.#log.info(`ACLs enforced: ${rules} rule${rules === 1 ? '' : 's'} applied so far; superusers: ${superUsers}`, { event: LogEvent.aclsLoaded, rules, enforced: true });
    } else if (rules > 0) {
      this.#warnUnenforced(rules);
    }
  }

  check(principal: string, access: Access): void {
    if (this.allows(principal, access)) return;
    this.#probe.permissionDenied(access.operation);
    const resource = access.resource.kind === 'cluster' ? 'the cluster' : `${access.resource.kind} ${access.resource.name}`;
    const heldBack = this.#denials.pass(`${principal}\0${access.operation}\0${resource}`);
    if (heldBack !== null) {
      const more = heldBack > 0 ? ` (${heldBack} more like it since the last line)` : '';
      this.#log.warn(`denied user ${principal}: ${access.operation} on ${resource}${more}`, { event: LogEvent.permissionDenied, user: principal, operation: access.operation, resource });
    }
    throw new PermissionDeniedError(denialMessage(principal, access));
  }

  allows(principal: string, access: Access): boolean {
    if (this.#superUsers.has(principal)) return true;
    // No rule names the cluster; '*' is a rule's wildcard, never a caller.
    if (access.resource.kind === 'cluster' || principal === ANY_PRINCIPAL) return false;
    return this.#state().aclAllows(principal, { operation: access.operation, kind: access.resource.kind, name: access.resource.name });
  }

  async addAcl(rule: AclRuleView, options: { readonly timeoutMs: number }): Promise<boolean> {
    const checked = checkedRule(rule);
    const { changed } = expect(await this.#propose({ kind: 'aclAdd', rule: checked }, options.timeoutMs), 'aclAdded');
    if (!this.#enforced) this.#warnUnenforced(this.#state().aclRules().length);
    return changed;
  }

  async removeAcl(rule: AclRuleView, options: { readonly timeoutMs: number }): Promise<boolean> {
    return expect(await this.#propose({ kind: 'aclRemove', rule: checkedRule(rule) }, options.timeoutMs), 'aclRemoved').changed;
  }

  listAcls(): readonly AclRuleView[] {
    return this.#state().aclRules();
  }

  #warnUnenforced(rules: number): void {
    if (this.#unenforcedWarned) return;
    this.#unenforcedWarned = true;
    this.#log.warn(`this node holds ${rules} ACL rule${rules === 1 ? '' : 's'} but does not authenticate clients, so it enforces none: start it with --users-file or --require-client-auth`, {
      event: LogEvent.aclsLoaded,
      rules,
      enforced: false,
    });
  }
}

/** What the client is told: `user bob may not produce to topic orders`. Names no rule and no other user. */
export function denialMessage(principal: string, access: Access): string {
  const who = `user ${principal}`;
  if (access.resource.kind === 'cluster') return `${who} may not use the raw log, move leadership, change the membership or change ACLs: only superusers (--super-users) may`;
  const { kind, name } = access.resource;
  switch (access.operation) {
    case 'produce':
      return `${who} may not produce to ${kind} ${name}`;
    case 'consume':
      return kind === 'topic' ? `${who} may not consume from topic ${name}` : `${who} may not consume in group ${name}`;
    case 'admin':
      return `${who} may not administer ${kind} ${name} (create, delete, reset, resolve)`;
  }
}

/** The rule as the state machine takes it, or InvalidArgumentError before anything is proposed. */
function checkedRule(rule: AclRuleView): AclRule {
  const problem = aclRuleProblem(rule);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return rule;
}
