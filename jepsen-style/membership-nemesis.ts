import type { MemberAddresses, MembersView, PromoteOptions } from '../src/client/index.js';
import type { NodeState, StartOutcome } from './node-state.js';
import type { KnownConfiguration } from './member-set.js';
import type { ActiveFault, PreparedFault } from './fault.js';
import type { History, MemberAction } from './history.js';
import type { NodeClaims } from './node-claims.js';
import type { Prng } from './prng.js';
import { sleep } from '../src/process/index.js';

/** The shapes of the membership nemesis (docs/jepsen.md "Membership"). */
export const MEMBER_VARIANTS = ['grow-shrink', 'replace-wiped', 'remove-leader'] as const;
export type MemberVariant = (typeof MEMBER_VARIANTS)[number];

/** The calls of `Admin.members` the nemesis makes (what `quorumlog members` makes); a signal ends one attempt. */
export interface MemberAdmin {
  list(options?: { readonly address?: string; readonly signal?: AbortSignal }): Promise<MembersView>;
  add(id: string, addresses: MemberAddresses, options?: { readonly signal?: AbortSignal }): Promise<MembersView>;
  promote(id: string, options?: PromoteOptions): Promise<MembersView>;
  remove(id: string, options?: { readonly signal?: AbortSignal }): Promise<MembersView>;
  close(): Promise<void>;
}

/** What the membership nemesis does to the cluster: `Cluster` is one; a test passes a fake. */
export interface MembershipCluster {
  /** The members (voters and learners) of the configuration last confirmed. */
  readonly ids: readonly string[];
  readonly configuration: KnownConfiguration;
  /** Ids of the pool that are not members (spares and removed members). */
  readonly nonMembers: readonly string[];
  /** How many voters the cluster was bootstrapped with: every membership fault ends there. */
  readonly votersWanted: number;
  setConfiguration(configuration: KnownConfiguration): void;
  addressesOf(id: string): MemberAddresses;
  startJoining(id: string): Promise<StartOutcome>;
  kill(id: string): Promise<void>;
  wipe(id: string): void;
  state(id: string): NodeState;
  leader(): Promise<string | null>;
  /** A client for member changes, over the members' client ports. */
  memberAdmin(): MemberAdmin;
}

export interface MembersContext {
  readonly members: MembershipCluster;
  readonly history: History;
  readonly claims: NodeClaims;
  readonly log: (line: string) => void;
}

/**
 * How long one change is tried before it is given up: longer than the other lane's faults
 * last (a kill of the leader while a replaced voter is down leaves no quorum until the
 * restart). Attempts are bounded too (each also by the client's timeout).
 */
const STEP_BUDGET_MS = 30_000;
const ATTEMPTS_MAX = 40;
const RETRY_MS = 1_000;
/**
 * One attempt's budget, all its calls together (an add asks the cluster, the new node and
 * the leader before the change): a call stuck on a node that is down or cut off is let go
 * and the step looked up again.
 */
const ATTEMPT_MS = 12_000;
/** How long a promote waits for the learner to catch up, per attempt (within ATTEMPT_MS). */
const CATCH_UP_TIMEOUT_MS = 10_000;
/** Rounds of settle() (each one look at the configuration and the change it calls for), within a budget. */
const SETTLE_ROUNDS_MAX = 12;
const SETTLE_BUDGET_MS = 90_000;
/** Tries to find a leader the other lane does not hold (remove-leader). */
const LEADER_TRIES_MAX = 20;

/**
 * One membership fault. Every variant ends (in its heal, or in settle() when a step was
 * given up) with `votersWanted` voters, no learners, and every node outside the
 * configuration stopped; the steps are `member` events in the history.
 *  - grow-shrink: two spares start with --join, are added as learners and promoted (five
 *    voters of three); the heal removes two: the two added, or two others (seeded).
 *  - replace-wiped: a follower is killed -9 and its data directory deleted; a spare with a new
 *    id joins, is added, promoted, and the old member removed (quorumlog members replace).
 *  - remove-leader: the leader is removed (it hands leadership over first); its data
 *    directory, which the others would refuse as a removed member's, is deleted, and it joins
 *    again under the same id and is added as a learner with its new incarnation; the heal
 *    promotes it.
 */
export async function prepareMembersFault(ctx: MembersContext, faultId: number, variant: string, random: Prng): Promise<PreparedFault> {
  switch (variant) {
    case 'grow-shrink':
      return growShrink(ctx, faultId, random);
    case 'replace-wiped':
      return replaceWiped(ctx, faultId, random);
    case 'remove-leader':
      return removeLeader(ctx, faultId);
    default:
      throw new Error(`unknown members variant ${variant}`);
  }
}

function claimed(ctx: MembersContext, targets: readonly string[], fault: Omit<PreparedFault, 'targets' | 'release'>): PreparedFault {
  if (!ctx.claims.claim('members', targets)) throw new Error(`${targets.join(',')} taken by another fault`);
  return { ...fault, targets, release: () => ctx.claims.release('members', ctx.claims.heldBy('members')) };
}

/** Spares that are down and free, in pool order. */
function freeSpares(ctx: MembersContext): string[] {
  return ctx.claims.free('members', ctx.members.nonMembers).filter((id) => ctx.members.state(id) === 'down');
}

function growShrink(ctx: MembersContext, faultId: number, random: Prng): PreparedFault {
  const spares = freeSpares(ctx);
  if (spares.length < 2) throw new Error(`two spare ids needed, free: ${spares.join(',') || 'none'}`);
  const added = random.sample(spares, 2);
  const removeAdded = random.pick([true, false]);
  return claimed(ctx, added, {
    detail: `add ${added.join(',')} as learners, promote them; then remove ${removeAdded ? 'them' : 'two others'}`,
    apply: async () => {
      const steps = new Steps(ctx, faultId);
      const joined: string[] = [];
      for (const id of added) if (await steps.join(id)) joined.push(id);
      for (const id of joined) await steps.ensureMember(id);
      for (const id of joined) await steps.ensureVoter(id);
      ctx.claims.release('members', added);
      return {
        detail: `configuration ${describe(ctx.members.configuration)}`,
        ...(joined.length === added.length ? {} : { notApplied: `${added.filter((id) => !joined.includes(id)).join(',')} would not start` }),
        heal: async () => {
          const others = ctx.claims.free('members', ctx.members.configuration.voters).filter((id) => !added.includes(id));
          const prefer = removeAdded || others.length < 2 ? added : random.sample(others, 2);
          return settle(ctx, faultId, prefer);
        },
      };
    },
  });
}

async function replaceWiped(ctx: MembersContext, faultId: number, random: Prng): Promise<PreparedFault> {
  const leader = await ctx.members.leader();
  const followers = ctx.claims.free('members', ctx.members.configuration.voters).filter((id) => id !== leader && ctx.members.state(id) === 'running');
  const spares = freeSpares(ctx);
  if (followers.length === 0 || spares.length === 0) throw new Error(`a running follower and a spare id are needed (followers free: ${followers.join(',') || 'none'}, spares: ${spares.join(',') || 'none'})`);
  const old = random.pick(followers);
  const fresh = random.pick(spares);
  return claimed(ctx, [old, fresh], {
    detail: `kill -9 ${old}, delete its data directory, replace it by ${fresh} (add, promote, remove ${old})`,
    apply: async () => {
      const steps = new Steps(ctx, faultId);
      await steps.act('kill', old, () => ctx.members.kill(old));
      await steps.act('wipe', old, () => Promise.resolve(ctx.members.wipe(old)));
      const promoted = (await steps.join(fresh)) && (await steps.ensureMember(fresh)) && (await steps.ensureVoter(fresh));
      // Without its replacement in, the old member is still removed: settle() then makes a voter of a spare.
      const removed = await steps.ensureRemoved(old);
      // The new member is an ordinary voter now; a wiped old one that is still a member stays held (it must not be restarted).
      ctx.claims.release('members', removed ? [old, fresh] : [fresh]);
      return {
        detail: `configuration ${describe(ctx.members.configuration)}`,
        ...(removed && promoted ? {} : { notApplied: removed ? `${fresh} did not become a voter` : `${old} was not removed` }),
        heal: () => settle(ctx, faultId, [old]),
      };
    },
  });
}

async function removeLeader(ctx: MembersContext, faultId: number): Promise<PreparedFault> {
  let leader: string | null = null;
  for (let k = 0; k < LEADER_TRIES_MAX && leader === null; k++) {
    const found = await ctx.members.leader().catch(() => null);
    if (found !== null && ctx.claims.free('members', [found]).length === 1 && ctx.members.state(found) === 'running') leader = found;
    else await sleep(250);
  }
  if (leader === null) throw new Error('no leader the other faults leave alone');
  const target = leader;
  return claimed(ctx, [target], {
    detail: `remove the leader ${target}, delete its data directory, add it again as a learner (new incarnation); promote it at the heal`,
    apply: async () => {
      const steps = new Steps(ctx, faultId);
      const removed = await steps.ensureRemoved(target);
      if (!removed) return { detail: `${target} was not removed`, notApplied: `${target} was not removed`, heal: () => settle(ctx, faultId, [target]) };
      await steps.act('wipe', target, () => Promise.resolve(ctx.members.wipe(target)));
      const readded = (await steps.join(target)) && (await steps.ensureMember(target));
      ctx.claims.release('members', [target]);
      if (!readded) return { detail: `${target} was not added again`, notApplied: `${target} was not added again`, heal: () => settle(ctx, faultId, []) };
      return {
        detail: `configuration ${describe(ctx.members.configuration)}`,
        heal: async () => {
          await steps.ensureVoter(target);
          return settle(ctx, faultId, []);
        },
      };
    },
  });
}

/**
 * Brings the configuration back to `votersWanted` voters and no learners, and stops every
 * node outside it: learners are promoted while voters are wanted, else removed; extra voters
 * are removed (those in `prefer` first, never one the other lane holds); a missing voter is
 * made of a spare. Bounded; returns what it found and did.
 */
export async function settle(ctx: MembersContext, faultId: number, prefer: readonly string[]): Promise<string> {
  const steps = new Steps(ctx, faultId);
  const wanted = ctx.members.votersWanted;
  const deadlineMs = Date.now() + SETTLE_BUDGET_MS;
  for (let round = 0; round < SETTLE_ROUNDS_MAX && Date.now() < deadlineMs; round++) {
    const config = await steps.configuration();
    if (config === null) continue;
    const [learner] = ctx.claims.free('members', config.learners);
    if (learner !== undefined) {
      if (config.voters.length < wanted) await steps.ensureVoter(learner);
      else await steps.ensureRemoved(learner);
      continue;
    }
    if (config.voters.length > wanted) {
      const free = ctx.claims.free('members', config.voters);
      const victim = prefer.find((id) => free.includes(id)) ?? free.find((id) => ctx.members.state(id) === 'down') ?? free.at(-1);
      if (victim !== undefined) await steps.ensureRemoved(victim);
      continue;
    }
    if (config.voters.length < wanted && config.learners.length === 0) {
      const [spare] = freeSpares(ctx);
      if (spare !== undefined && (await steps.join(spare)) && (await steps.ensureMember(spare))) await steps.ensureVoter(spare);
      continue;
    }
    break;
  }
  await stopNonMembers(ctx, steps);
  return `configuration ${describe(ctx.members.configuration)}`;
}

/** Kills every node that runs outside the configuration (a removed member, a joiner never added) that no other fault holds. */
export async function stopNonMembers(ctx: MembersContext, steps = new Steps(ctx, 0)): Promise<void> {
  for (const id of ctx.claims.free('members', ctx.members.nonMembers)) {
    if (ctx.members.state(id) !== 'down') await steps.act('kill', id, () => ctx.members.kill(id));
  }
}

export function describe(config: KnownConfiguration): string {
  return `voters ${config.voters.join(',') || '-'}${config.learners.length === 0 ? '' : `, learners ${config.learners.join(',')}`}`;
}

/** The configuration in a Members answer (the leader's when the answering node names one). */
export function configurationOf(view: MembersView): KnownConfiguration {
  return { voters: view.members.filter((m) => m.role === 'voter').map((m) => m.id), learners: view.members.filter((m) => m.role === 'learner').map((m) => m.id) };
}

/** The steps of one fault: each change looked up, made, confirmed, retried; each recorded as a `member` event. */
class Steps {
  constructor(private readonly ctx: MembersContext, private readonly faultId: number) {}

  record(action: MemberAction, node: string, outcome: 'ok' | 'info' | 'fail', detail: string): void {
    this.ctx.history.add({ type: 'member', faultId: this.faultId, action, node, outcome, detail });
    this.ctx.log(`fault ${this.faultId} members: ${action} ${node} ${outcome}${detail === '' ? '' : `: ${detail}`}`);
  }

  /** One action on a node's process or data (never retried: these do not fail for the cluster's sake). */
  async act(action: MemberAction, node: string, run: () => Promise<void>): Promise<void> {
    await run();
    this.record(action, node, 'ok', '');
  }

  /** Starts `id` afresh with --join; false (recorded) when it would not start. */
  async join(id: string): Promise<boolean> {
    if (this.ctx.members.state(id) !== 'down') await this.act('kill', id, () => this.ctx.members.kill(id));
    const outcome = await this.ctx.members.startJoining(id);
    this.record('start', id, outcome.ok ? 'ok' : 'fail', outcome.ok ? 'fresh data directory, --join' : outcome.reason);
    return outcome.ok;
  }

  /** The configuration as the leader holds it (recorded in the cluster), or null when no leader answered. */
  async configuration(): Promise<KnownConfiguration | null> {
    const admin = this.ctx.members.memberAdmin();
    try {
      return await this.#read(admin);
    } catch {
      await sleep(RETRY_MS);
      return null;
    } finally {
      await admin.close();
    }
  }

  ensureMember(id: string): Promise<boolean> {
    return this.#ensure('add', id, (c) => c.voters.includes(id) || c.learners.includes(id), (admin, signal) => admin.add(id, this.ctx.members.addressesOf(id), { signal }));
  }

  /** Promotes learner `id`; given up at once when it is no member at all (its add was given up). */
  ensureVoter(id: string): Promise<boolean> {
    return this.#ensure('promote', id, (c) => c.voters.includes(id), (admin, signal) => admin.promote(id, { catchUpTimeoutMs: CATCH_UP_TIMEOUT_MS, signal }), (c) => !c.learners.includes(id));
  }

  /** Removes `id` and, once the removal is confirmed, stops it (unless the other lane holds it). */
  async ensureRemoved(id: string): Promise<boolean> {
    const removed = await this.#ensure('remove', id, (c) => !c.voters.includes(id) && !c.learners.includes(id), (admin, signal) => admin.remove(id, { signal }));
    if (removed && this.ctx.members.state(id) !== 'down' && this.ctx.claims.free('members', [id]).length === 1) await this.act('kill', id, () => this.ctx.members.kill(id));
    return removed;
  }

  /**
   * Looks the configuration up; when it does not show the change yet, asks for it and looks
   * again. A failed or unanswered call is recorded `info` (it may have taken effect: the next
   * look says) and tried again, ATTEMPTS_MAX times at most; then `fail`.
   */
  async #ensure(action: MemberAction, id: string, done: (c: KnownConfiguration) => boolean, change: (admin: MemberAdmin, signal: AbortSignal) => Promise<unknown>, impossible: (c: KnownConfiguration) => boolean = () => false): Promise<boolean> {
    const deadlineMs = Date.now() + STEP_BUDGET_MS;
    let attempt = 1;
    for (; attempt <= ATTEMPTS_MAX && (attempt === 1 || Date.now() < deadlineMs); attempt++) {
      const admin = this.ctx.members.memberAdmin();
      try {
        const before = await this.#read(admin);
        if (done(before)) {
          this.record(action, id, 'ok', attempt === 1 ? 'already so' : `so after attempt ${attempt - 1}`);
          return true;
        }
        if (impossible(before)) {
          this.record(action, id, 'fail', `not possible in ${describe(before)}`);
          return false;
        }
        await change(admin, AbortSignal.timeout(ATTEMPT_MS));
        if (done(await this.#read(admin))) {
          this.record(action, id, 'ok', `committed${attempt === 1 ? '' : ` at attempt ${attempt}`}; ${describe(this.ctx.members.configuration)}`);
          return true;
        }
        this.record(action, id, 'info', `attempt ${attempt}: answered, but the leader's configuration does not show it yet`);
      } catch (error) {
        this.record(action, id, 'info', `attempt ${attempt}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`.slice(0, 400));
      } finally {
        await admin.close();
      }
      await sleep(RETRY_MS);
    }
    this.record(action, id, 'fail', `given up after ${attempt - 1} attempts in ${STEP_BUDGET_MS} ms`);
    return false;
  }

  /**
   * The leader's configuration. The first node to answer may know no leader: one just removed
   * (it runs until it is stopped, outside the configuration) or one cut off; then each member
   * is asked in turn.
   */
  async #read(admin: MemberAdmin): Promise<KnownConfiguration> {
    let leaderAddress = (await admin.list()).leaderClientAddress;
    for (const id of this.ctx.members.ids) {
      if (leaderAddress !== null) break;
      leaderAddress = (await admin.list({ address: this.ctx.members.addressesOf(id).clientAddress }).catch(() => null))?.leaderClientAddress ?? null;
    }
    if (leaderAddress === null) throw new Error('no member knows a leader');
    const view = await admin.list({ address: leaderAddress });
    if (view.leaderId === null) throw new Error('no leader known');
    const config = configurationOf(view);
    this.ctx.members.setConfiguration(config);
    return this.ctx.members.configuration;
  }
}
