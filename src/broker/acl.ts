import type { BinaryReader, BinaryWriter } from '../encoding/index.js';

/**
 * Access control lists: who may do what to which topics and groups. Kept in the replicated
 * state (changed only by the aclAdd / aclRemove commands), so every node enforces the same
 * rules from the same point of the log.
 *
 * Allow-only, as Kafka's ACLs are used in practice: a rule grants, nothing denies, and a
 * principal with no rule that grants an operation may not do it. With no deny rules, the
 * order of rules never matters and a rule can be reasoned about alone.
 */
export const AclOperation = {
  /** Write messages to a topic (produce, half messages and their decisions). */
  produce: 'produce',
  /** Read a topic (fetch, consume) or take part in a group (consume, ack, nack, extend, leave). */
  consume: 'consume',
  /** Create and delete topics; create, delete and reset groups; decide transactions as an operator. */
  admin: 'admin',
} as const;
export type AclOperation = (typeof AclOperation)[keyof typeof AclOperation];
/** In the order the bit mask and listings use. */
export const ACL_OPERATIONS: readonly AclOperation[] = [AclOperation.produce, AclOperation.consume, AclOperation.admin];

export const AclResourceKind = { topic: 'topic', group: 'group' } as const;
export type AclResourceKind = (typeof AclResourceKind)[keyof typeof AclResourceKind];
const RESOURCE_KINDS: readonly AclResourceKind[] = [AclResourceKind.topic, AclResourceKind.group];

/** The principal that stands for every authenticated client. */
export const ANY_PRINCIPAL = '*';

/** What a rule names: an exact topic or group name, or a prefix ending in '*' ('*' alone: all of that kind). */
export interface AclResource {
  readonly kind: AclResourceKind;
  readonly pattern: string;
}

/**
 * One grant: `principal` (a user name, a client certificate's client name, or '*' for any
 * authenticated client) may do `operations` to the resources `resource` matches.
 * Rules are keyed by (principal, resource): adding to an existing key adds its operations,
 * removing takes them away (the rule goes when none are left).
 */
export interface AclRule {
  readonly principal: string;
  readonly resource: AclResource;
  /** Non-empty, without repeats, in ACL_OPERATIONS order. */
  readonly operations: readonly AclOperation[];
}

/** A request to check: `operation` on the named topic or group. */
export interface AclAccess {
  readonly operation: AclOperation;
  readonly kind: AclResourceKind;
  readonly name: string;
}

export const ACL_LIMITS = {
  /** Rules the table holds at most; an add beyond is refused (resourceExhausted). */
  rulesMax: 10_000,
  /** Characters of a principal or a pattern. */
  nameCharsMax: 256,
} as const;

/** Why `rule` cannot be a rule, or null if it can. */
export function aclRuleProblem(rule: AclRule): string | null {
  const { principal, resource, operations } = rule;
  if (principal === '' || principal.length > ACL_LIMITS.nameCharsMax || hasControl(principal)) {
    return `an ACL principal must be 1..${ACL_LIMITS.nameCharsMax} printable characters (a user, a client name, or '*' for any)`;
  }
  if (!RESOURCE_KINDS.includes(resource.kind)) return `an ACL resource is a topic or a group, not ${String(resource.kind)}`;
  const pattern = resource.pattern;
  if (pattern === '' || pattern.length > ACL_LIMITS.nameCharsMax || hasControl(pattern)) {
    return `an ACL ${resource.kind} pattern must be 1..${ACL_LIMITS.nameCharsMax} printable characters`;
  }
  if (pattern.slice(0, -1).includes('*')) return `an ACL ${resource.kind} pattern may hold '*' only at its end (a prefix): ${pattern}`;
  if (operations.length === 0) return 'an ACL rule needs at least one operation (produce, consume, admin)';
  for (const op of operations) if (!ACL_OPERATIONS.includes(op)) return `unknown ACL operation ${String(op)} (produce, consume, admin)`;
  if (new Set(operations).size !== operations.length) return 'an ACL rule names an operation twice';
  return null;
}

/** A control character (C0 or DEL): a name holding one would garble the log lines and listings it appears in. */
function hasControl(text: string): boolean {
  for (let k = 0; k < text.length; k++) {
    const code = text.charCodeAt(k);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Whether `pattern` (exact, or a prefix ending in '*') names `name`. */
export function aclPatternMatches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/** The operations in ACL_OPERATIONS order, each once. */
export function canonicalOperations(operations: Iterable<AclOperation>): AclOperation[] {
  const set = new Set(operations);
  return ACL_OPERATIONS.filter((op) => set.has(op));
}

interface StoredRule {
  readonly principal: string;
  readonly resource: AclResource;
  readonly operations: Set<AclOperation>;
}

/**
 * The rules, indexed by principal so a check looks only at the caller's rules and the
 * '*' rules. Iterates (list, snapshots) in the order keys were first added.
 */
export class AclTable {
  private readonly rules = new Map<string, StoredRule>();
  private readonly byPrincipal = new Map<string, Set<StoredRule>>();

  get size(): number {
    return this.rules.size;
  }

  /**
   * Grants rule.operations (the rule must be valid: aclRuleProblem). Returns whether the
   * table changed; 'full' when it would need a new rule past ACL_LIMITS.rulesMax.
   */
  add(rule: AclRule): boolean | 'full' {
    const key = ruleKey(rule);
    const stored = this.rules.get(key);
    if (stored === undefined) {
      if (this.rules.size >= ACL_LIMITS.rulesMax) return 'full';
      const fresh: StoredRule = { principal: rule.principal, resource: { kind: rule.resource.kind, pattern: rule.resource.pattern }, operations: new Set(rule.operations) };
      this.rules.set(key, fresh);
      let own = this.byPrincipal.get(rule.principal);
      if (own === undefined) this.byPrincipal.set(rule.principal, (own = new Set()));
      own.add(fresh);
      return true;
    }
    const before = stored.operations.size;
    for (const op of rule.operations) stored.operations.add(op);
    return stored.operations.size !== before;
  }

  /** Takes rule.operations away from the rule of its key; returns whether the table changed. */
  remove(rule: AclRule): boolean {
    const key = ruleKey(rule);
    const stored = this.rules.get(key);
    if (stored === undefined) return false;
    const before = stored.operations.size;
    for (const op of rule.operations) stored.operations.delete(op);
    if (stored.operations.size === 0) {
      this.rules.delete(key);
      const own = this.byPrincipal.get(stored.principal);
      own?.delete(stored);
      if (own?.size === 0) this.byPrincipal.delete(stored.principal);
    }
    return stored.operations.size !== before;
  }

  /** Whether a rule of `principal` or of '*' grants the access. */
  allows(principal: string, access: AclAccess): boolean {
    return this.grants(this.byPrincipal.get(principal), access) || (principal !== ANY_PRINCIPAL && this.grants(this.byPrincipal.get(ANY_PRINCIPAL), access));
  }

  private grants(rules: ReadonlySet<StoredRule> | undefined, access: AclAccess): boolean {
    if (rules === undefined) return false;
    for (const rule of rules) {
      if (rule.resource.kind === access.kind && rule.operations.has(access.operation) && aclPatternMatches(rule.resource.pattern, access.name)) return true;
    }
    return false;
  }

  /** Every rule, operations in canonical order; copies (the caller may keep them). */
  list(): AclRule[] {
    return [...this.rules.values()].map((r) => ({ principal: r.principal, resource: r.resource, operations: canonicalOperations(r.operations) }));
  }
}

function ruleKey(rule: AclRule): string {
  return `${rule.principal}\0${rule.resource.kind}\0${rule.resource.pattern}`;
}

const KIND_CODE: { readonly [K in AclResourceKind]: number } = { topic: 1, group: 2 };
const OPERATION_BIT: { readonly [O in AclOperation]: number } = { produce: 1, consume: 2, admin: 4 };

/** A rule as bytes (commands and snapshots): principal string, kind u8, pattern string, operations bit mask u8. */
export function writeAclRule(w: BinaryWriter, rule: AclRule): void {
  let mask = 0;
  for (const op of rule.operations) mask |= OPERATION_BIT[op];
  w.string(rule.principal).u8(KIND_CODE[rule.resource.kind]).string(rule.resource.pattern).u8(mask);
}

/** The rule writeAclRule wrote; bytes that cannot be a valid rule throw what `fail` makes. */
export function readAclRule(r: BinaryReader, fail: (message: string) => Error): AclRule {
  const principal = r.string();
  const kindCode = r.u8();
  const pattern = r.string();
  const mask = r.u8();
  const kind = RESOURCE_KINDS.find((k) => KIND_CODE[k] === kindCode);
  if (kind === undefined) throw fail(`unknown ACL resource kind ${kindCode}`);
  if (mask === 0 || mask > 7) throw fail(`ACL operations mask ${mask} is not a non-empty subset of produce, consume, admin`);
  const rule: AclRule = { principal, resource: { kind, pattern }, operations: ACL_OPERATIONS.filter((op) => (mask & OPERATION_BIT[op]) !== 0) };
  const problem = aclRuleProblem(rule);
  if (problem !== null) throw fail(problem);
  return rule;
}

/** A rule as one line for people: `alice may produce,consume on topic orders*`. */
export function describeAclRule(rule: AclRule): string {
  const who = rule.principal === ANY_PRINCIPAL ? 'any authenticated client' : rule.principal;
  return `${who} may ${rule.operations.join(',')} on ${rule.resource.kind} ${rule.resource.pattern}`;
}
