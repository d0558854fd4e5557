import type { MembersView } from '../transport/index.js';
import { nodeId } from '../../raft/index.js';
import { sleepUnlessAborted } from './abortable.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from './errors.js';
import type { CallOptions, LogClient } from './log-client.js';

/** Where a new member is found. */
export interface MemberAddresses {
  /** host:port of its peer port. */
  readonly peerAddress: string;
  /** host:port of its client port: it must answer there (started with quorumlog node --join). */
  readonly clientAddress: string;
}

export interface PromoteOptions extends CallOptions {
  /** How long to wait for the learner to catch up before it can be promoted (default 120 s). */
  readonly catchUpTimeoutMs?: number;
}

/** A learner this many entries behind the leader's last index (or fewer) is worth promoting (the leader allows 64). */
const PROMOTE_BEHIND_MAX = 32;
const CATCH_UP_POLL_MS = 250;

/**
 * Membership administration (docs/membership.md): the calls behind `quorumlog members`.
 * Each change is one single-server change on the leader; replace is three of them.
 */
export class MemberCalls {
  constructor(private readonly client: LogClient) {}

  /** The members as the node at `address` (default: any broker) holds them; the leader's view has each member's match index. */
  list(options: CallOptions & { readonly address?: string } = {}): Promise<MembersView> {
    return this.client.members(options);
  }

  /**
   * Adds `id` as a learner. The new node must be running (quorumlog node --join): it is asked
   * who it is first, so a wrong address or id, or a node of another cluster, is refused
   * before anything is written, and its data directory incarnation is recorded with it.
   */
  async add(id: string, addresses: MemberAddresses, options: CallOptions = {}): Promise<MembersView> {
    const cluster = await this.client.status(options);
    let joining;
    try {
      joining = await this.client.status(addresses.clientAddress, options);
    } catch (error) {
      throw new UnavailableError(`cannot ask the new node at ${addresses.clientAddress} who it is: start it first (quorumlog node --id ${id} --join ...)`, { cause: error });
    }
    if (joining.id !== id) throw new InvalidArgumentError(`the node at ${addresses.clientAddress} is ${joining.id}, not ${id}`);
    if (joining.clusterId !== cluster.clusterId) throw new InvalidArgumentError(`the node at ${addresses.clientAddress} is of cluster ${joining.clusterId}, not ${cluster.clusterId}`);
    // A node that holds a configuration of its own (bootstrapped alone, or an old member's
    // data) would have its log overwritten: only a node that joins, on an empty directory, is added.
    const held = joining.voters ?? [];
    const current = await this.client.members(options);
    if (held.length > 0 && !current.members.some((m) => m.id === id)) {
      throw new InvalidArgumentError(`${id} at ${addresses.clientAddress} already holds a configuration (voters ${held.join(',')}): start it with --join on an empty data directory`);
    }
    return this.client.changeMember({ kind: 'add', id: nodeId(id), peerAddress: addresses.peerAddress, clientAddress: addresses.clientAddress, incarnation: joining.incarnation ?? '', httpAddress: joining.httpAddress ?? null }, options);
  }

  /**
   * Makes learner `id` a voter once it has caught up: waits (up to catchUpTimeoutMs) until
   * the leader sees it within a few entries of its log, then promotes it.
   */
  async promote(id: string, options: PromoteOptions = {}): Promise<MembersView> {
    const deadlineMs = Date.now() + (options.catchUpTimeoutMs ?? 120_000);
    let lastRefusal: unknown = null;
    // Bounded by the deadline: each round waits CATCH_UP_POLL_MS at least.
    while (Date.now() < deadlineMs) {
      const view = await this.leaderView(options);
      const member = view.members.find((m) => m.id === id);
      if (member === undefined) throw new NotFoundError(`${id} is not a member; add it first (quorumlog members add)`);
      if (member.role === 'voter') return view;
      const leaderLast = view.leaderClientAddress === null ? null : (await this.client.status(view.leaderClientAddress, options)).lastIndex;
      if (member.matchIndex !== null && leaderLast !== null && leaderLast - member.matchIndex <= PROMOTE_BEHIND_MAX) {
        try {
          return await this.client.changeMember({ kind: 'promote', id: nodeId(id) }, options);
        } catch (error) {
          if (!(error instanceof FailedPreconditionError || error instanceof UnavailableError)) throw error;
          lastRefusal = error;
        }
      }
      await sleepUnlessAborted(CATCH_UP_POLL_MS, options.signal ?? new AbortController().signal);
    }
    const why = lastRefusal instanceof Error ? `: ${lastRefusal.message}` : '';
    throw new UnavailableError(`${id} did not catch up with the leader within ${options.catchUpTimeoutMs ?? 120_000} ms${why}`, { cause: lastRefusal });
  }

  /** Removes `id`; refused when too few live voters would remain, unless `force`. Removing the leader moves leadership first. */
  remove(id: string, options: CallOptions & { readonly force?: boolean } = {}): Promise<MembersView> {
    return this.client.changeMember({ kind: 'remove', id: nodeId(id), force: options.force === true }, options);
  }

  /**
   * Replaces `oldId` by the new node `newId` (a wiped or lost machine): adds the new one as
   * a learner, waits for it to catch up and promotes it, then removes the old one. The
   * cluster's size is one larger in between, never smaller.
   */
  async replace(oldId: string, newId: string, addresses: MemberAddresses, options: PromoteOptions & { readonly force?: boolean } = {}): Promise<MembersView> {
    if (oldId === newId) throw new InvalidArgumentError(`replace needs a new id: ${oldId} stays a member until the new node has caught up`);
    const before = await this.list(options);
    if (!before.members.some((m) => m.id === oldId)) throw new NotFoundError(`${oldId} is not a member`);
    await this.add(newId, addresses, options);
    await this.promote(newId, options);
    return this.remove(oldId, options);
  }

  /** The members as the leader sees them (its view has each member's progress). */
  private async leaderView(options: CallOptions): Promise<MembersView> {
    const any = await this.client.members(options);
    if (any.leaderClientAddress === null) return any;
    return this.client.members({ ...options, address: any.leaderClientAddress });
  }
}
