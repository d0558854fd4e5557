import {
  GROUP_DEFAULTS,
  DeadLetterHeader,
  groupNameProblem,
  messageBytes,
  topicNameProblem,
  type BrokerCommand,
  type ConsumerGroup,
  type DeadLetterCandidate,
  type GroupDescription,
  type GroupSettings,
  type LeaseDelivery,
  type MessageRecord,
} from '../broker/index.js';
import type { AckOutcomeView, ConsumeInput, DeliveryView, GroupService, GroupSettingsInput, GroupStartView, GroupView, LeaveInput, ResetGroupInput, ResetGroupOutcome } from '../transport/index.js';
import { expect, type NodeBrokerService } from './broker-service.js';
import { GroupAcks } from './group-acks.js';
import { resetGroup } from './group-reset.js';
import { NO_PROBE, probedCall, type NodeProbe } from './node-probe.js';
import { InvalidArgumentError, NotFoundError } from '../transport/index.js';
import type { Scheduler, Timer } from '../../storage/index.js';
import type { Replica } from './replica.js';
import type { AppliedMessages, NodeStateMachine } from './state-machine.js';

export const GROUP_SERVICE_DEFAULTS = {
  /** How long a lease, release or dead-letter entry may take to commit. */
  entryTimeoutMs: 5_000,
  /** A consume loop with nothing to do looks again at least this often (deadlines, deletions). */
  idleRecheckMs: 500,
  prefetchMax: 10_000,
  /** Dead-letter entries the leader has in flight at once. */
  deadLettersInFlightMax: 16,
  /** Bytes a delivered message costs beyond its key, headers and payload, for the response budget. */
  deliveryOverheadBytes: 48,
} as const;

/**
 * Consumer groups on one node. The group state lives in the replicated BrokerState; this
 * class proposes the commands that change it and, on the leader, runs the loops a state
 * machine cannot: pushing deliveries to connected consumers, releasing what a consumer that
 * went away held, and copying dead messages to their dead-letter topic.
 */
export class NodeGroupService implements GroupService {
  /** Dead letters proposed and not yet applied (or failed), by "group/offset". */
  private readonly deadLettersInFlight = new Set<string>();
  /** The leader's group commit of acks (one ack entry in flight per group). */
  private readonly acks: GroupAcks;
  /** The consume loops this node runs, by loopKey(group, consumer): what leave() stops. */
  private readonly loops = new Map<string, ConsumeLoop>();

  constructor(
    private readonly replica: Replica,
    private readonly stateMachine: NodeStateMachine,
    private readonly broker: NodeBrokerService,
    private readonly probe: NodeProbe = NO_PROBE,
  ) {
    this.acks = new GroupAcks(async (group, ranges, timeoutMs) => expect(await this.broker.propose({ kind: 'ackRanges', group, ranges }, timeoutMs), 'acked').outcomes);
    // For as long as the node runs, as the service itself.
    stateMachine.onLeaseDeliveries((deliveries, applied) => this.leased(deliveries, applied));
  }

  async createGroup(
    request: { readonly group: string; readonly topic: string; readonly start: GroupStartView; readonly settings: GroupSettingsInput; readonly ifAbsent: boolean },
    options: { readonly timeoutMs: number },
  ): Promise<boolean> {
    checkNames(request.group, request.topic);
    const command: BrokerCommand = { kind: 'createGroup', group: request.group, topic: request.topic, start: request.start, settings: withDefaults(request.settings), ifAbsent: request.ifAbsent };
    return expect(await this.broker.propose(command, options.timeoutMs), 'groupCreated').created;
  }

  async deleteGroup(group: string, options: { readonly timeoutMs: number }): Promise<void> {
    checkGroup(group);
    expect(await this.broker.propose({ kind: 'deleteGroup', group }, options.timeoutMs), 'groupDeleted');
  }

  /** See group-reset.ts. */
  resetGroup(request: ResetGroupInput, options: { readonly timeoutMs: number }): Promise<ResetGroupOutcome> {
    return resetGroup({ replica: this.replica, stateMachine: this.stateMachine, broker: this.broker }, request, options);
  }

  listGroups(): readonly GroupView[] {
    return this.stateMachine.broker.groupList().map(groupView);
  }

  describeGroup(group: string): GroupView {
    const g = this.stateMachine.broker.group(group);
    if (g === undefined) throw new NotFoundError(`group ${group} does not exist`);
    return groupView(g);
  }

  ack(group: string, offsets: readonly number[], options: { readonly timeoutMs: number }): Promise<readonly AckOutcomeView[]> {
    return probedCall(this.probe, 'ack', async () => {
      checkGroup(group);
      if (offsets.length > GROUP_DEFAULTS.ackOffsetsMax) throw new InvalidArgumentError(`one ack takes at most ${GROUP_DEFAULTS.ackOffsetsMax} offsets, not ${offsets.length}`);
      for (const offset of offsets) checkWhole('an offset', offset);
      // Not before the entry holding them is applied here: an ack is durable when answered.
      return this.acks.ack(group, offsets, options.timeoutMs);
    });
  }

  async nack(
    request: { readonly group: string; readonly offset: number; readonly delivery: number; readonly reason: string; readonly delayMs: number },
    options: { readonly timeoutMs: number },
  ): Promise<{ readonly deadLettered: boolean; readonly retryAtMs: number }> {
    checkGroup(request.group);
    checkWhole('an offset', request.offset);
    if (!(request.delayMs === -1 || (Number.isSafeInteger(request.delayMs) && request.delayMs >= 0 && request.delayMs <= GROUP_DEFAULTS.delayMsMax))) {
      throw new InvalidArgumentError(`a nack delay must be 0..${GROUP_DEFAULTS.delayMsMax} ms (or -1 for the retry level's), not ${request.delayMs}`);
    }
    const result = expect(await this.broker.propose({ kind: 'nack', ...request }, options.timeoutMs), 'nacked');
    return { deadLettered: result.deadLettered, retryAtMs: result.retryAtMs };
  }

  async extend(request: { readonly group: string; readonly offset: number; readonly delivery: number; readonly extendMs: number }, options: { readonly timeoutMs: number }): Promise<number> {
    checkGroup(request.group);
    checkWhole('an offset', request.offset);
    checkWhole('an extension', request.extendMs, { min: 1, max: GROUP_DEFAULTS.delayMsMax, unit: ' ms' });
    return expect(await this.broker.propose({ kind: 'extend', ...request }, options.timeoutMs), 'extended').deadlineMs;
  }

  /**
   * A consumer leaves cleanly: its delivery loop on this node stops proposing deliveries
   * (and finishes sending what it proposed), then one leave entry releases what the
   * consumer holds, counting only the `seen` deliveries. The consumer cancels its stream
   * afterwards; the loop then has nothing left to release.
   */
  async leave(request: LeaveInput, options: { readonly timeoutMs: number }): Promise<{ readonly counted: number; readonly returned: number }> {
    checkGroup(request.group);
    checkConsumerId(request.consumerId);
    if (request.seen.length > GROUP_DEFAULTS.maxSeenOnLeave) {
      throw new InvalidArgumentError(`a consumer leaves with at most ${GROUP_DEFAULTS.maxSeenOnLeave} unfinished deliveries, not ${request.seen.length}`);
    }
    if (this.replica.role() !== 'leader') throw this.replica.notLeader();
    const loop = this.loops.get(loopKey(request.group, request.consumerId));
    if (loop !== undefined) {
      loop.leaving = true;
      loop.nudge();
      // A deliver entry in flight takes at most entryTimeoutMs to settle.
      await untilOrAfter(this.replica.scheduler, loop.quiet, Math.min(options.timeoutMs, GROUP_SERVICE_DEFAULTS.entryTimeoutMs));
    }
    const command: BrokerCommand = { kind: 'leave', group: request.group, consumer: request.consumerId, seen: request.seen };
    const result = expect(await this.broker.propose(command, options.timeoutMs), 'left');
    if (loop !== undefined) loop.left = true;
    return { counted: result.counted, returned: result.returned };
  }

  /**
   * The leader's delivery loop for one connected consumer. It keeps the consumer's standing
   * lease (ConsumerGroup.lease) as large as its prefetch allows: a lease entry hands out what
   * is there now and reserves the rest of the room, so the messages entries make visible
   * later go to the consumer as those entries apply, without a deliver entry of their own.
   * Everything handed to the consumer (by its lease entries or at later entries) reaches the
   * loop through the state machine's lease listener, once applied, and is sent in apply
   * order. A new lease entry is proposed when acks freed a quarter of the prefetch, or when
   * something is waiting that the lease cannot take (retries ready again, a lapsed lease).
   * Woken by every applied entry and at least every idleRecheckMs.
   */
  async consume(input: ConsumeInput, send: (deliveries: readonly DeliveryView[]) => Promise<void>, signal: AbortSignal): Promise<void> {
    checkNames(input.group, input.topic);
    checkConsumerId(input.consumerId);
    if (!(Number.isSafeInteger(input.prefetch) && input.prefetch >= 1 && input.prefetch <= GROUP_SERVICE_DEFAULTS.prefetchMax)) {
      throw new InvalidArgumentError(`prefetch must be 1..${GROUP_SERVICE_DEFAULTS.prefetchMax}, not ${input.prefetch}`);
    }
    if (this.replica.role() !== 'leader') throw this.replica.notLeader();
    await this.createGroup({ group: input.group, topic: input.topic, start: input.start, settings: input.settings, ifAbsent: true }, { timeoutMs: GROUP_SERVICE_DEFAULTS.entryTimeoutMs });
    const wake = new Wake(this.replica, signal);
    const loop = new ConsumeLoop(() => wake.fire());
    const key = loopKey(input.group, input.consumerId);
    this.loops.set(key, loop);
    const chunk = Math.max(1, Math.floor(input.prefetch / 4));
    // Two deep: what the next entries hand out is taken while the previous messages are sent.
    let sending: Promise<void> = Promise.resolve();
    try {
      while (!signal.aborted) {
        if (loop.leaving) {
          // The consumer is leaving (leave()): nothing more goes to it; it cancels the stream.
          // What its lease handed out meanwhile is returned uncounted by the leave entry.
          loop.handed.length = 0;
          await sending;
          loop.markQuiet();
          await wake.next(GROUP_SERVICE_DEFAULTS.idleRecheckMs);
          continue;
        }
        if (this.replica.role() !== 'leader') throw this.replica.notLeader();
        const state = this.stateMachine.broker;
        const group = state.consumerGroups.group(input.group);
        if (group === undefined) throw new NotFoundError(`group ${input.group} was deleted`);
        if (loop.handed.length === 0) {
          if (!this.leaseWanted(input, group, state.consumerGroups.deliverableCount(input.group), state.nowMs, chunk)) {
            await wake.next(GROUP_SERVICE_DEFAULTS.idleRecheckMs);
            continue;
          }
          // What it hands out arrives through the lease listener, in apply order.
          await this.lease(input, input.prefetch - group.inflightOf(input.consumerId));
        }
        if (loop.handed.length > 0) {
          const batches = this.sendable(input, loop.handed.splice(0));
          const previous = sending;
          sending = previous.then(async () => {
            for (const batch of batches) await send(batch);
          });
          // A send fails when the stream is cancelled, often while this loop is proposing the
          // next entry and nobody awaits `sending` yet: handled here, so that rejection is not
          // an unhandled one (which ends the process); the loop still sees it when it awaits.
          sending.catch(() => undefined);
          await previous;
        }
      }
      await sending;
    } finally {
      wake.close();
      await sending.catch(() => undefined);
      loop.markQuiet();
      if (this.loops.get(key) === loop) this.loops.delete(key);
      if (signal.aborted && !loop.left) this.release(input.group, input.consumerId);
    }
  }

  /**
   * Called every tick: on the leader, proposes the dead-letter entries for messages that
   * failed every delivery (a copy with headers saying where it came from), a few at a time.
   */
  tick(): void {
    if (this.replica.role() !== 'leader') return;
    const room = GROUP_SERVICE_DEFAULTS.deadLettersInFlightMax - this.deadLettersInFlight.size;
    if (room <= 0) return;
    for (const candidate of this.stateMachine.broker.deadLetterCandidates(GROUP_SERVICE_DEFAULTS.deadLettersInFlightMax)) {
      const key = `${candidate.group}/${candidate.offset}`;
      if (this.deadLettersInFlight.has(key) || this.deadLettersInFlight.size >= GROUP_SERVICE_DEFAULTS.deadLettersInFlightMax) continue;
      const message = this.deadLetterCopy(candidate);
      if (message === null) continue;
      this.deadLettersInFlight.add(key);
      this.broker
        .propose({ kind: 'deadLetter', group: candidate.group, offset: candidate.offset, message }, GROUP_SERVICE_DEFAULTS.entryTimeoutMs)
        .catch(() => undefined)
        .finally(() => this.deadLettersInFlight.delete(key));
    }
  }

  /**
   * Whether the consumer's lease should be renewed now: a quarter of its prefetch (`chunk`)
   * is free of both in-flight messages and lease, or the group has something the lease did
   * not take (retries ready again: a lease takes only new offsets; new offsets past what one
   * entry hands out at once, or that came while its lease had lapsed) and the consumer can
   * take a quarter of its prefetch of it, or all of it. Room is taken in chunks so that an
   * ack of one message does not cost a lease entry of one while a backlog waits.
   */
  private leaseWanted(input: ConsumeInput, group: ConsumerGroup, deliverable: number, nowMs: number, chunk: number): boolean {
    const free = input.prefetch - group.inflightOf(input.consumerId);
    if (free <= 0) return false;
    if (free - group.leaseOf(input.consumerId, nowMs) >= chunk) return true;
    return deliverable > 0 && (Math.min(free, deliverable) >= chunk || free >= deliverable);
  }

  /** Proposes one lease entry of `max` (see ConsumerGroup.lease) and waits until it is applied. */
  private async lease(input: ConsumeInput, max: number): Promise<void> {
    this.refuseIfCursorDeleted(input.group);
    expect(await this.broker.propose({ kind: 'lease', group: input.group, consumer: input.consumerId, max }, GROUP_SERVICE_DEFAULTS.entryTimeoutMs), 'delivered');
  }

  /**
   * Called inside the apply of every entry at which leases handed messages out: queues them
   * on the consume loops of their consumers on this node (none on a follower). Takes note
   * only: the loop reads the messages and sends them.
   */
  private leased(deliveries: readonly LeaseDelivery[], applied: AppliedMessages): void {
    for (const d of deliveries) {
      const loop = this.loops.get(loopKey(d.group, d.consumer));
      if (loop === undefined) continue;
      loop.handed.push({ delivery: d, applied });
      loop.nudge();
    }
  }

  /** What leases handed to the consumer, with their messages, in responses of at most bytesMax. */
  private sendable(input: ConsumeInput, handed: readonly HandedOut[]): DeliveryView[][] {
    const batches: DeliveryView[][] = [];
    let batch: DeliveryView[] = [];
    let bytes = 0;
    let redeliveries = 0;
    // Bounded by the messages handed out (at most the prefetch in flight).
    for (const { delivery, applied } of handed) {
      // Most point into the entry that handed them out; consecutive others usually share an entry: read and decode it once.
      let entry: AppliedMessages = applied;
      for (const d of delivery.messages) {
        if (entry.logIndex !== d.logIndex) entry = { logIndex: d.logIndex, messages: this.broker.producedMessages(d.logIndex, { topic: delivery.topic, offset: d.offset }) };
        const message = entry.messages[d.position];
        if (message === undefined) throw new Error(`delivered offset ${d.offset} points at a missing message of entry ${d.logIndex}`);
        const size = messageBytes(message) + GROUP_SERVICE_DEFAULTS.deliveryOverheadBytes;
        if (batch.length > 0 && bytes + size > input.bytesMax) {
          batches.push(batch);
          batch = [];
          bytes = 0;
        }
        batch.push({ offset: d.offset, delivery: d.delivery, deadlineMs: d.deadlineMs, message });
        bytes += size;
        if (d.delivery > 1) redeliveries++;
      }
    }
    if (batch.length > 0) batches.push(batch);
    if (redeliveries > 0) this.probe.redelivered(redeliveries);
    return batches;
  }

  /**
   * Under the delete retention policy a group can fall behind what the log keeps: its next
   * message is gone. Consuming then answers OUT_OF_RANGE with the earliest offset kept
   * (nothing is proposed), until the group is reset, as a Kafka consumer without an
   * automatic offset reset is told.
   */
  private refuseIfCursorDeleted(group: string): void {
    const g = this.stateMachine.broker.group(group);
    if (g === undefined) return; // the deliver entry answers NOT_FOUND
    // Below what the last trim left (alike on every node), or in an entry this node deleted.
    if (g.nextOffset < (this.stateMachine.broker.earliestOffset(g.topic) ?? 0)) throw this.broker.deletedError(g.topic, g.nextOffset);
    const location = this.stateMachine.broker.locate(g.topic, g.nextOffset);
    if (location !== undefined && this.broker.isDeleted(location.logIndex)) throw this.broker.deletedError(g.topic, g.nextOffset);
  }

  /** The consumer went away: what it held goes out again now (best effort: deadlines cover a failure). */
  private release(group: string, consumer: string): void {
    if (this.replica.role() !== 'leader') return;
    this.broker.propose({ kind: 'release', group, consumer }, GROUP_SERVICE_DEFAULTS.entryTimeoutMs).catch(() => undefined);
  }

  private deadLetterCopy(candidate: DeadLetterCandidate): MessageRecord | null {
    const location = this.stateMachine.broker.locate(candidate.topic, candidate.offset);
    if (location === undefined) return null; // the topic was deleted: nothing left to copy
    // Retention keeps what the broker owes, dead deliveries included; a node whose log lost
    // it some other way copies nothing rather than stop its tick.
    if (this.broker.isDeleted(location.logIndex)) return null;
    const original = this.broker.producedMessages(location.logIndex)[location.position];
    if (original === undefined) return null;
    const text = (value: string | number): Uint8Array => Buffer.from(String(value));
    const headers = [
      ...original.headers.filter((h) => !Object.values(DeadLetterHeader).includes(h.name as never)),
      { name: DeadLetterHeader.group, value: text(candidate.group) },
      { name: DeadLetterHeader.topic, value: text(candidate.topic) },
      { name: DeadLetterHeader.offset, value: text(candidate.offset) },
      { name: DeadLetterHeader.deliveries, value: text(candidate.deliveries) },
      { name: DeadLetterHeader.lastError, value: text(candidate.lastError) },
    ];
    return { key: original.key, headers, payload: original.payload, timestampMs: original.timestampMs };
  }
}

/** Messages a lease handed to a consumer at one entry, and the messages that entry holds. */
interface HandedOut {
  readonly delivery: LeaseDelivery;
  readonly applied: AppliedMessages;
}

/** One consume loop as leave() and the lease listener see it. */
class ConsumeLoop {
  /**
   * Handed to the consumer and not yet sent, in apply order. Bounded by the prefetch: the
   * state hands a consumer no more than its leases allow, which the loop sizes to it.
   */
  readonly handed: HandedOut[] = [];
  /** Set by leave(): the loop proposes no more deliveries. */
  leaving = false;
  /** Set once the leave entry is applied: the stream's end releases nothing more. */
  left = false;
  /** Resolves once the loop, leaving (or ended), has no delivery in flight. */
  readonly quiet: Promise<void>;
  markQuiet: () => void = () => undefined;

  constructor(readonly nudge: () => void) {
    this.quiet = new Promise((resolve) => {
      this.markQuiet = resolve;
    });
  }
}

function loopKey(group: string, consumer: string): string {
  return `${group}\u0000${consumer}`;
}

/** Resolves when `promise` does or after `ms`, whichever is first. */
function untilOrAfter(scheduler: Scheduler, promise: Promise<void>, ms: number): Promise<void> {
  let timer: Timer | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = scheduler.after(ms, resolve)))]).finally(() => timer?.cancel());
}

/** Resolves next() on the next applied entry or role change, after `timeoutMs`, or on abort. */
class Wake {
  private pending: (() => void) | null = null;
  private readonly unsubscribe: (() => void)[];

  private readonly scheduler: Scheduler;

  constructor(replica: Replica, private readonly signal: AbortSignal) {
    this.scheduler = replica.scheduler;
    const fire = (): void => this.fire();
    this.unsubscribe = [replica.onApplied(fire), replica.onRoleChange(fire)];
    signal.addEventListener('abort', fire, { once: true });
  }

  /** Ends a next() in progress now. */
  fire(): void {
    const resolve = this.pending;
    this.pending = null;
    resolve?.();
  }

  next(timeoutMs: number): Promise<void> {
    if (this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.scheduler.after(timeoutMs, () => {
        this.pending = null;
        resolve();
      });
      this.pending = () => {
        timer.cancel();
        resolve();
      };
    });
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.pending?.();
  }
}

function withDefaults(s: GroupSettingsInput): GroupSettings {
  return {
    ackDeadlineMs: s.ackDeadlineMs ?? GROUP_DEFAULTS.ackDeadlineMs,
    retryDelaysMs: s.retryDelaysMs ?? GROUP_DEFAULTS.retryDelaysMs,
    retriesMax: s.retriesMax ?? GROUP_DEFAULTS.retriesMax,
  };
}

function groupView(g: GroupDescription): GroupView {
  return {
    name: g.name,
    topic: g.topic,
    deadLetterTopic: g.deadLetterTopic,
    committedOffset: g.committedOffset,
    nextOffset: g.nextOffset,
    lag: g.lag,
    inflight: g.inflight,
    waiting: g.waiting,
    dead: g.dead,
    consumers: [...g.consumers].map(([id, inflight]) => ({ id, inflight })),
    ackDeadlineMs: g.settings.ackDeadlineMs,
    retryDelaysMs: g.settings.retryDelaysMs,
    retriesMax: g.settings.retriesMax,
  };
}

/** A whole number from the client that the log's encoding must carry (below 2^53): refused as input when out of range. */
function checkWhole(what: string, value: number, range: { readonly min?: number; readonly max?: number; readonly unit?: string } = {}): void {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!(Number.isSafeInteger(value) && value >= min && value <= max)) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}${range.unit ?? ''}, not ${value}`);
}

function checkGroup(group: string): void {
  const problem = groupNameProblem(group);
  if (problem !== null) throw new InvalidArgumentError(problem);
}

function checkConsumerId(consumerId: string): void {
  if (consumerId.length === 0 || consumerId.length > 128) throw new InvalidArgumentError(`a consumer id has 1..128 characters, not ${consumerId.length}`);
}

function checkNames(group: string, topic: string): void {
  checkGroup(group);
  const problem = topicNameProblem(topic);
  if (problem !== null) throw new InvalidArgumentError(problem);
}
