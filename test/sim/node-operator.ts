import type { NodeId } from '../../raft/index.js';
import { MembershipRefusedError, NotFoundError, NotLeaderError, type MemberChangeInput } from '../../src/transport/index.js';
import type { NodeCluster } from './node-cluster.js';

/**
 * The operator of a NodeCluster: membership changes queued and made one at a time through a
 * leader's ChangeMember (NodeMembersService, the handler the Members RPC runs), the way
 * `quorumlog members` does: `add` asks the new node's Status for its incarnation first; a
 * NOT_LEADER answer (a follower, or the leader handing over before its own removal) is
 * followed to the leader it names; a refusal that waiting can change (a learner behind,
 * another change on its way) is asked again.
 */
export type MemberOp =
  | { readonly kind: 'add'; readonly id: NodeId }
  | { readonly kind: 'promote'; readonly id: NodeId }
  /** The `learner`-th learner of the leader's configuration (modulo their count). */
  | { readonly kind: 'promoteAny'; readonly learner: number }
  /** The `member`-th member of the leader's configuration (voters, then learners; modulo), not `except`. */
  | { readonly kind: 'removeAny'; readonly member: number; readonly except?: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId }
  | { readonly kind: 'removeLeader' };

/** Refusals that asking again cannot change: the operation is dropped. */
const PERMANENT = new Set(['alreadyMember', 'notLearner', 'notMember', 'lastVoter']);
/** How long the operator waits before asking again. */
const RETRY_MS = 40;
/** What one ChangeMember call may take (the service retries within it) before the operator gives up on that call. */
const CALL_TIMEOUT_MS = 2_000;

export interface OperatorStats {
  /** Changes committed, by kind (a leader's own removal counted apart). */
  readonly committed: Record<'add' | 'promote' | 'remove' | 'removeLeader', number>;
  /** Answers other than success, by error name or refusal reason. */
  readonly refused: Record<string, number>;
  /** Operations dropped (refused for good, or out of attempts). */
  dropped: number;
}

interface Queued {
  op: MemberOp;
  attempts: number;
  /** Part of a wiped disk's replacement: made first, and the only kind made while a wiped disk is a member. */
  readonly urgent: boolean;
  /** It removes the leader it was first asked at (counted apart). */
  removesLeader: boolean;
}

export class MembershipOperator {
  private readonly queue: Queued[] = [];
  private busy = false;
  /** Attempts scheduled so far: a scheduled one runs only if none was scheduled after it. */
  private wakes = 0;
  readonly stats: OperatorStats = { committed: { add: 0, promote: 0, remove: 0, removeLeader: 0 }, refused: {}, dropped: 0 };
  /** Attempts per operation before it is dropped (the recovery phase raises it). */
  attemptsMax = 40;
  /**
   * Removals wait while a damaged disk is unrepaired (below). The recovery phase turns it off:
   * a damaged node's repair may need the log to grow past what it lost, which the healed
   * cluster's fresh append does only after the operator is done.
   */
  holdRemovalsWhileDamaged = true;

  /**
   * `careful` (the default) promotes a learner only once every member holds the entry that
   * added it, and restarts a joiner whose `--join` answer named other members than the
   * leader's configuration (it asks again) before adding it: what an operator had to do
   * before FINDINGS F7 was fixed. `plain` asks at once, as `quorumlog members` does; the
   * property runs `careful` because `plain` finds FINDINGS O7 (open), and F7's and O7's
   * schedules run `plain`.
   */
  constructor(
    private readonly cluster: NodeCluster,
    private readonly mode: 'careful' | 'plain' = 'careful',
  ) {
    // A client retries at once where a new leader answers: the moment before its first commit
    // in its term, when a change must still be refused (the single-server bug's window).
    cluster.onNewLeader(() => this.kick(0));
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.busy;
  }

  /**
   * A removal is in flight: asked of a leader and not yet answered. The leader may append it
   * only later (ChangeMember waits there for a commit in its term), so a configuration that
   * looks settled now may still lose a member (FINDINGS O6).
   */
  get removalInFlight(): boolean {
    const head = this.queue[0];
    return this.busy && head !== undefined && removes(head.op);
  }

  enqueue(...ops: MemberOp[]): void {
    for (const op of ops) this.queue.push({ op, attempts: 0, urgent: false, removesLeader: false });
    this.kick(0);
  }

  /**
   * Operations that replace a wiped disk: made before anything queued. While a wiped disk is a
   * member, other changes wait: a member added meanwhile hears the wiped disk first and takes
   * it for the member (docs/membership.md, the limit of first-heard incarnations), so removing
   * a healthy voter then could leave a quorum made of it and the wiped disk.
   */
  urgently(...ops: MemberOp[]): void {
    // Behind the call in flight, which stays at the head until it settles.
    this.queue.splice(this.busy ? 1 : 0, 0, ...ops.map((op) => ({ op, attempts: 0, urgent: true, removesLeader: false })));
    this.kick(0);
  }

  /** Schedules the next attempt; only the latest one scheduled runs (so retries never multiply). */
  private kick(delayMs: number): void {
    if (this.busy) return;
    const wake = ++this.wakes;
    this.cluster.at(delayMs, 'operator', () => {
      if (wake === this.wakes) this.attempt();
    });
  }

  private attempt(): void {
    const head = this.queue[0];
    if (this.busy || head === undefined) return;
    if (!head.urgent && this.cluster.staleWiped().length > 0) {
      // A wiped disk's replacement goes first, even when it was queued behind a call in flight.
      const urgent = this.queue.findIndex((queued) => queued.urgent);
      if (urgent > 0) this.queue.unshift(...this.queue.splice(urgent, 1));
      return this.kick(urgent > 0 ? 0 : RETRY_MS);
    }
    // A removal waits for a damaged disk's repair: a configuration left with two voters, one of
    // them damaged, could elect no one if its leader failed first (the damaged one waits for a
    // leader's repair, the other for its vote).
    if (this.holdRemovalsWhileDamaged && !head.urgent && removes(head.op) && this.cluster.damagedUnrepaired()) return this.kick(RETRY_MS);
    const leader = this.cluster.leader();
    const node = leader === null ? null : this.cluster.node(leader).node;
    if (leader === null || node === null) return this.retry(head);
    // A joiner restarting (the careful operator restarts one): asked again once it is up.
    if (head.op.kind === 'add' && this.cluster.node(head.op.id).node === null) return this.retry(head);
    const change = this.resolve(head, leader);
    if (change === null) {
      this.queue.shift();
      return this.kick(0);
    }
    if (this.mode === 'careful' && !this.ready(change, leader)) return this.retry(head);
    this.busy = true;
    let settled = false;
    const finish = (error: unknown | null): void => {
      if (settled) return;
      settled = true;
      this.busy = false;
      if (error === null) {
        this.queue.shift();
        this.stats.committed[head.removesLeader ? 'removeLeader' : change.kind]++;
        return this.kick(0);
      }
      const reason = error instanceof MembershipRefusedError ? error.reason : error instanceof Error ? error.name : 'unknown';
      this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
      if ((error instanceof MembershipRefusedError && PERMANENT.has(error.reason)) || error instanceof NotFoundError) return this.drop();
      this.retry(head, error instanceof NotLeaderError ? 0 : RETRY_MS);
    };
    // The call's promise dies with the leader's process (its timers do): the client gives up then.
    this.cluster.at(CALL_TIMEOUT_MS + 500, 'operator call timeout', () => finish(new Error('no answer')));
    node.members.changeMember(change, { timeoutMs: CALL_TIMEOUT_MS }).then(
      () => finish(null),
      (error: unknown) => finish(error ?? new Error('rejected')),
    );
  }

  /**
   * The careful operator's precondition (see the constructor): for a promote, every other
   * member's log matches the leader's through its newest configuration entry; for an add, the
   * joiner's --members name every member (else it is restarted, and asks again).
   */
  private ready(change: MemberChangeInput, leader: NodeId): boolean {
    const st = this.cluster.status(leader);
    const members = [...st.config.voters, ...st.config.learners].filter((id) => id !== leader);
    // The leader's match index per member, as `quorumlog members list` shows it.
    if (change.kind === 'promote') return members.every((id) => (st.progress?.get(id)?.match ?? 0) >= st.configIndex);
    if (change.kind !== 'add') return true;
    const flags = this.cluster.node(change.id).flags;
    if ([leader, ...members].every((id) => id === change.id || flags.includes(id))) return true;
    this.cluster.crash(change.id, { tear: false });
    this.cluster.restart(change.id);
    return false;
  }

  private retry(head: Queued, delayMs = RETRY_MS): void {
    if (++head.attempts >= this.attemptsMax) return this.drop();
    this.kick(delayMs);
  }

  private drop(): void {
    this.queue.shift();
    this.stats.dropped++;
    this.kick(0);
  }

  /**
   * The ChangeMember call an operation stands for against `leader`'s configuration now, or
   * null when there is none to make. An operation that picks a member by number is pinned to
   * the member it picked first, so a retry (after a leader's handover) removes the same one.
   */
  private resolve(head: Queued, leader: NodeId): MemberChangeInput | null {
    const config = this.cluster.status(leader).config;
    const op = head.op;
    switch (op.kind) {
      case 'add': {
        // `members add` asks the new node itself who it is: its Status names its incarnation.
        const joiner = this.cluster.node(op.id).node;
        if (joiner === null) return null;
        const status = joiner.service.status();
        // As `members add` refuses it: a node that holds a configuration of its own (an old
        // member's data) and is not a member would have its log overwritten.
        if ((status.voters ?? []).length > 0 && !config.voters.includes(op.id) && !config.learners.includes(op.id)) {
          this.stats.refused['holdsConfiguration'] = (this.stats.refused['holdsConfiguration'] ?? 0) + 1;
          return null;
        }
        const { peerAddress, clientAddress } = this.cluster.addressOf(op.id);
        return { kind: 'add', id: op.id, peerAddress, clientAddress, incarnation: status.incarnation ?? '', httpAddress: status.httpAddress ?? null };
      }
      case 'promote':
        return { kind: 'promote', id: op.id };
      case 'promoteAny': {
        const id = config.learners[op.learner % Math.max(1, config.learners.length)];
        if (id === undefined) return null;
        head.op = { kind: 'promote', id };
        return { kind: 'promote', id };
      }
      case 'removeAny': {
        const members = [...config.voters, ...config.learners].filter((id) => id !== op.except);
        const id = members[op.member % Math.max(1, members.length)];
        if (id === undefined) return null;
        head.op = { kind: 'remove', id };
        return { kind: 'remove', id, force: false };
      }
      case 'remove':
        return { kind: 'remove', id: op.id, force: false };
      case 'removeLeader':
        // Pinned, so that the retry at the leader it hands over to removes this one.
        head.op = { kind: 'remove', id: leader };
        head.removesLeader = true;
        return { kind: 'remove', id: leader, force: false };
    }
  }
}

function removes(op: MemberOp): boolean {
  return op.kind === 'remove' || op.kind === 'removeAny' || op.kind === 'removeLeader';
}
