import fc from 'fast-check';
import { DELIVER_AT_HEADER } from '../../src/broker/commands.js';
import type { GroupSettings, GroupStart } from '../../src/broker/consumer-groups.js';
import { BrokerState, type ApplyResult, type BrokerCommand, type EndTransaction, type MessageRecord, type ResetTarget } from '../../src/broker/index.js';

/**
 * Random broker scenarios over every command kind, for tests that compare states (a
 * snapshot against the state it was taken of) or check queries against brute force. A
 * step is abstract (picks, not offsets): `resolve` turns it into a concrete command from
 * the state it is about to be applied to, so most steps hit something that exists (a
 * delivery in flight, a dead message, an undecided transaction), and some do not.
 */

const TOPICS = ['t0', 't1'] as const;
const GROUPS = ['g0', 'g1', 'g2'] as const;
const CONSUMERS = ['c0', 'c1', 'c2'] as const;
const TX_IDS = ['x0', 'x1', 'x2', 'x3', 'x4', 'x5'] as const;
const REASONS = ['boom', 'timeout', 'bad input'] as const;

export type Action =
  | { readonly kind: 'createTopic'; readonly topic: number }
  | { readonly kind: 'deleteTopic'; readonly topic: number }
  | { readonly kind: 'initProducer'; readonly idleExpiryMs: number }
  | { readonly kind: 'produce'; readonly topic: number; readonly producer: number; readonly sequence: 'next' | 'retry' | 'gap'; readonly count: number; readonly delayMs: number }
  | { readonly kind: 'createGroup'; readonly group: number; readonly topic: number; readonly start: GroupStart; readonly settings: GroupSettings; readonly ifAbsent: boolean }
  | { readonly kind: 'deleteGroup'; readonly group: number }
  | { readonly kind: 'deliver'; readonly group: number; readonly consumer: number; readonly max: number }
  | { readonly kind: 'lease'; readonly group: number; readonly consumer: number; readonly max: number }
  /** asRanges: as an ackRanges entry (runs of consecutive offsets), as the leader proposes acks. */
  | { readonly kind: 'ack'; readonly group: number; readonly picks: readonly number[]; readonly asRanges: boolean }
  | { readonly kind: 'nack'; readonly group: number; readonly pick: number; readonly delayMs: number; readonly reason: number }
  | { readonly kind: 'extend'; readonly group: number; readonly pick: number; readonly extendMs: number }
  | { readonly kind: 'release'; readonly group: number; readonly consumer: number }
  | { readonly kind: 'leave'; readonly group: number; readonly consumer: number; readonly seenPicks: readonly number[] }
  | { readonly kind: 'deadLetter'; readonly pick: number }
  | { readonly kind: 'reset'; readonly group: number; readonly to: ResetTarget; readonly earliestOffset: number; readonly force: boolean }
  | { readonly kind: 'half'; readonly tx: number; readonly topic: number; readonly count: number; readonly checkDelayMs: number; readonly checkIntervalMs: number; readonly checkMax: number }
  | { readonly kind: 'end'; readonly pick: number; readonly commit: boolean; readonly source: EndTransaction['source'] }
  | { readonly kind: 'clock' }
  /** trimLog below the entry `back` entries before this one (the leader's compaction point). */
  | { readonly kind: 'trim'; readonly back: number };

/** `dtMs` moves the proposing leader's clock, now and then backwards (a new leader's clock may lag). */
export interface Step {
  readonly dtMs: number;
  readonly action: Action;
}

const topicArb = fc.nat({ max: TOPICS.length - 1 });
const groupArb = fc.nat({ max: GROUPS.length - 1 });
const consumerArb = fc.nat({ max: CONSUMERS.length - 1 });

const settingsArb: fc.Arbitrary<GroupSettings> = fc.record({
  ackDeadlineMs: fc.integer({ min: 200, max: 1_500 }),
  retryDelaysMs: fc.array(fc.integer({ min: 0, max: 800 }), { minLength: 1, maxLength: 3 }),
  retriesMax: fc.integer({ min: 0, max: 3 }),
});

const startArb: fc.Arbitrary<GroupStart> = fc.oneof(
  fc.constant({ kind: 'earliest' as const }),
  fc.constant({ kind: 'latest' as const }),
  fc.record({ kind: fc.constant('offset' as const), offset: fc.nat({ max: 6 }) }),
  fc.record({ kind: fc.constant('time' as const), timeMs: fc.nat({ max: 20_000 }) }),
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('createTopic' as const), topic: topicArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteTopic' as const), topic: topicArb }) },
  // Rarer than it looks: most deletes are of a topic a group still reads, which ends that group's story.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('initProducer' as const), idleExpiryMs: fc.integer({ min: 500, max: 8_000 }) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('produce' as const),
      topic: topicArb,
      producer: fc.nat({ max: 5 }),
      sequence: fc.constantFrom('next' as const, 'next' as const, 'retry' as const, 'retry' as const, 'gap' as const),
      count: fc.integer({ min: 1, max: 3 }),
      delayMs: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 5_000 })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('createGroup' as const), group: groupArb, topic: topicArb, start: startArb, settings: settingsArb, ifAbsent: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteGroup' as const), group: groupArb }) },
  { weight: 7, arbitrary: fc.record({ kind: fc.constant('deliver' as const), group: groupArb, consumer: consumerArb, max: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('lease' as const), group: groupArb, consumer: consumerArb, max: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ack' as const), group: groupArb, picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), asRanges: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('nack' as const), group: groupArb, pick: fc.nat(), delayMs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 1_500 })), reason: fc.nat({ max: REASONS.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extend' as const), group: groupArb, pick: fc.nat(), extendMs: fc.integer({ min: 1, max: 2_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), group: groupArb, consumer: consumerArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), group: groupArb, consumer: consumerArb, seenPicks: fc.array(fc.nat(), { maxLength: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deadLetter' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reset' as const),
      // Only g2: a reset forgets the group's retries, and g0 and g1 keep theirs for the cuts to catch.
      group: fc.constant(2),
      to: fc.oneof(
        fc.constant({ kind: 'latest' as const }),
        fc.record({ kind: fc.constant('offset' as const), offset: fc.nat({ max: 8 }) }),
        fc.record({ kind: fc.constant('time' as const), timeMs: fc.nat({ max: 20_000 }) }),
      ),
      earliestOffset: fc.oneof(fc.constant(0), fc.nat({ max: 4 })),
      force: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('half' as const),
      tx: fc.nat({ max: TX_IDS.length - 1 }),
      topic: topicArb,
      count: fc.integer({ min: 1, max: 2 }),
      checkDelayMs: fc.integer({ min: 100, max: 2_000 }),
      checkIntervalMs: fc.integer({ min: 100, max: 1_000 }),
      checkMax: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('end' as const), pick: fc.nat(), commit: fc.boolean(), source: fc.constantFrom('producer' as const, 'checkBack' as const, 'admin' as const) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'clock' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('trim' as const), back: fc.nat({ max: 40 }) }) },
);

const stepArb: fc.Arbitrary<Step> = fc.record({
  dtMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: 900 }) }, { weight: 1, arbitrary: fc.integer({ min: -300, max: -1 }) }),
  action: actionArb,
});

/** Retry delays of a few steps' time, so a snapshot often catches a delivery waiting for its retry. */
const FAST: GroupSettings = { ackDeadlineMs: 1_500, retryDelaysMs: [1_000, 3_000], retriesMax: 2 };

/** Every scenario starts with topics, groups on them and a producer, so the random steps find something to act on. */
const PRELUDE: readonly Step[] = [
  { dtMs: 0, action: { kind: 'createTopic', topic: 0 } },
  { dtMs: 0, action: { kind: 'createTopic', topic: 1 } },
  { dtMs: 0, action: { kind: 'createGroup', group: 0, topic: 0, start: { kind: 'earliest' }, settings: FAST, ifAbsent: false } },
  { dtMs: 0, action: { kind: 'createGroup', group: 1, topic: 0, start: { kind: 'earliest' }, settings: { ...FAST, retriesMax: 0 }, ifAbsent: false } },
  { dtMs: 0, action: { kind: 'createGroup', group: 2, topic: 1, start: { kind: 'latest' }, settings: FAST, ifAbsent: false } },
  { dtMs: 0, action: { kind: 'initProducer', idleExpiryMs: 5_000 } },
];

export const scenarioArb = fc.array(stepArb, { minLength: 20, maxLength: 160, size: 'max' }).map((steps) => [...PRELUDE, ...steps]);

const encoder = new TextEncoder();

function messages(count: number, deliverAtMs: number, tag: string): MessageRecord[] {
  const headers = deliverAtMs === 0 ? [] : [{ name: DELIVER_AT_HEADER, value: encoder.encode(String(deliverAtMs)) }];
  return Array.from({ length: count }, (_, k) => ({ key: encoder.encode(`k${k}`), headers, payload: encoder.encode(`${tag}-${k}`), timestampMs: 1 }));
}

function at<T>(list: readonly T[], pick: number): T | undefined {
  return list.length === 0 ? undefined : list[pick % list.length];
}

function name<T extends string>(list: readonly T[], k: number): T {
  const n = list[k];
  if (n === undefined) throw new Error(`pick ${k} outside ${list.length}`);
  return n;
}

/**
 * The proposing side of a scenario: the leader's clock, the producer ids granted and each
 * producer's next sequence per topic, learned from results as a real producer would.
 */
export class ScenarioDriver {
  private leaderTimeMs = 1_000;
  private logIndex = 0;
  private readonly producerIds: number[] = [];
  /** Per producer and topic: the next sequence, and the last batch written (what a retry resends). */
  private readonly sequences = new Map<string, { readonly next: number; readonly lastFirst: number; readonly lastCount: number }>();

  /** The next entry's index and leader time, and its command resolved against `state`. */
  next(step: Step, state: BrokerState): { readonly logIndex: number; readonly leaderTimeMs: number; readonly command: BrokerCommand } {
    this.leaderTimeMs = Math.max(0, this.leaderTimeMs + step.dtMs);
    this.logIndex++;
    return { logIndex: this.logIndex, leaderTimeMs: this.leaderTimeMs, command: this.resolve(step.action, state) };
  }

  /** What the proposer learns from the result of the command it proposed. */
  learn(command: BrokerCommand, result: ApplyResult): void {
    if (result.kind === 'producerGranted') this.producerIds.push(result.producerId);
    if (command.kind === 'produce' && result.kind === 'produced' && !result.duplicate && command.producerId !== 0) {
      const count = command.messages.length;
      this.sequences.set(`${command.producerId}/${command.topic}`, { next: command.firstSequence + count, lastFirst: command.firstSequence, lastCount: count });
    }
  }

  private resolve(a: Action, state: BrokerState): BrokerCommand {
    switch (a.kind) {
      case 'createTopic':
        return { kind: 'createTopic', name: name(TOPICS, a.topic), messageBytesMax: 1_000 };
      case 'deleteTopic':
        return { kind: 'deleteTopic', name: name(TOPICS, a.topic) };
      case 'initProducer':
        return { kind: 'initProducer', idleExpiryMs: a.idleExpiryMs };
      case 'produce':
        return this.produce(a, state);
      case 'createGroup':
        return { kind: 'createGroup', group: name(GROUPS, a.group), topic: name(TOPICS, a.topic), start: a.start, settings: a.settings, ifAbsent: a.ifAbsent };
      case 'deleteGroup':
        return { kind: 'deleteGroup', group: name(GROUPS, a.group) };
      case 'deliver':
      case 'lease':
        return { kind: a.kind, group: name(GROUPS, a.group), consumer: name(CONSUMERS, a.consumer), max: a.max };
      case 'release':
        return { kind: 'release', group: name(GROUPS, a.group), consumer: name(CONSUMERS, a.consumer) };
      case 'clock':
        return { kind: 'clock' };
      case 'trim':
        return { kind: 'trimLog', beforeLogIndex: Math.max(0, this.logIndex - a.back) };
      case 'reset':
        return { kind: 'resetGroup', group: name(GROUPS, a.group), to: a.to, earliestOffset: a.earliestOffset, force: a.force };
      case 'half': {
        const txId = name(TX_IDS, a.tx);
        return { kind: 'halfMessage', txId, producerGroup: 'pg', topic: name(TOPICS, a.topic), checkDelayMs: a.checkDelayMs, checkIntervalMs: a.checkIntervalMs, checkMax: a.checkMax, messages: messages(a.count, 0, txId) };
      }
      case 'end': {
        const txId = at(state.transactions(), a.pick)?.txId ?? 'never-prepared';
        return { kind: 'endTransaction', txId, outcome: a.commit ? 'commit' : 'rollback', source: a.source };
      }
      default:
        return resolveDelivery(a, state);
    }
  }

  private produce(a: Extract<Action, { kind: 'produce' }>, state: BrokerState): BrokerCommand {
    const topic = name(TOPICS, a.topic);
    // Pick 0 is the non-idempotent producer; 5 an id never granted (or long expired).
    const producerId = a.producer === 0 ? 0 : a.producer === 5 ? 999_999 : (at(this.producerIds, a.producer) ?? 0);
    const known = this.sequences.get(`${producerId}/${topic}`);
    const next = known?.next ?? 0;
    const deliverAtMs = a.delayMs === 0 ? 0 : state.nowMs + a.delayMs;
    // A retry resends the last batch as it was: answered with its original offsets while remembered.
    const [firstSequence, count] = a.sequence === 'retry' && known !== undefined ? [known.lastFirst, known.lastCount] : [a.sequence === 'gap' ? next + 1 : next, a.count];
    return { kind: 'produce', topic, producerId, firstSequence, messages: messages(count, deliverAtMs, `p${producerId}`) };
  }
}

type DeliveryAction = Extract<Action, { kind: 'ack' | 'nack' | 'extend' | 'leave' | 'deadLetter' }>;

/** `offsets` in order as runs of consecutive offsets. */
export function offsetRuns(offsets: readonly number[]): { offset: number; count: number }[] {
  const runs: { offset: number; count: number }[] = [];
  for (const offset of offsets) {
    const last = runs.at(-1);
    if (last !== undefined && offset === last.offset + last.count) last.count++;
    else runs.push({ offset, count: 1 });
  }
  return runs;
}

/** Commands naming deliveries: picked among the group's unfinished ones (or a dead one). */
function resolveDelivery(a: DeliveryAction, state: BrokerState): BrokerCommand {
  if (a.kind === 'deadLetter') {
    const c = at(state.deadLetterCandidates(Number.MAX_SAFE_INTEGER), a.pick);
    const group = c?.group ?? 'g0';
    return { kind: 'deadLetter', group, offset: c?.offset ?? 0, message: messages(1, 0, `dlq-${group}-${c?.offset ?? 0}`)[0] as MessageRecord };
  }
  const group = name(GROUPS, a.group);
  const rows = state.consumerGroups.group(group)?.snapshot() ?? [];
  const inflight = rows.filter((r) => r.state === 'inflight');
  switch (a.kind) {
    case 'ack': {
      // Mostly unfinished offsets; a pick past them names an acked or never-delivered one.
      const offsets = a.picks.map((p) => at(rows, p)?.offset ?? p % 8);
      return a.asRanges ? { kind: 'ackRanges', group, ranges: offsetRuns(offsets) } : { kind: 'ack', group, offsets };
    }
    case 'nack': {
      const d = at(inflight, a.pick);
      return { kind: 'nack', group, offset: d?.offset ?? 0, delivery: d?.deliveries ?? 1, reason: name(REASONS, a.reason), delayMs: a.delayMs };
    }
    case 'extend': {
      const d = at(inflight, a.pick);
      return { kind: 'extend', group, offset: d?.offset ?? 0, delivery: d?.deliveries ?? 1, extendMs: a.extendMs };
    }
    case 'leave': {
      const consumer = name(CONSUMERS, a.consumer);
      const held = inflight.filter((r) => r.consumer === consumer);
      const seen = a.seenPicks.flatMap((p) => {
        const d = at(held, p);
        return d === undefined ? [] : [{ offset: d.offset, delivery: d.deliveries }];
      });
      return { kind: 'leave', group, consumer, seen: [...new Map(seen.map((s) => [s.offset, s])).values()] };
    }
  }
}

/** An ApplyResult as plain data: a refusal's error by code and message. */
export function plainResult(result: ApplyResult): unknown {
  return result.kind === 'rejected' ? { kind: 'rejected', code: result.error.code, message: result.error.message } : result;
}

/** Everything the state answers, for comparing two states. Bounded: scenarios write a few hundred offsets. */
export function stateView(s: BrokerState): unknown {
  const topics = s.topics();
  const groups = s.groupList();
  const floors = [0, 1, Math.floor(s.lastApplied / 2), s.lastApplied, s.lastApplied + 1];
  return {
    lastApplied: s.lastApplied,
    nowMs: s.nowMs,
    nextDueMs: s.nextDueMs(),
    producerCount: s.producerCount,
    topics,
    locations: topics.map((t) => Array.from({ length: t.nextOffset + 1 }, (_, o) => s.locate(t.name, o))),
    earliest: topics.map((t) => floors.map((f) => s.earliestOffsetAtOrAfter(t.name, f))),
    groups,
    rows: groups.map((g) => s.consumerGroups.group(g.name)?.snapshot()),
    deliverable: groups.map((g) => s.consumerGroups.deliverableCount(g.name)),
    leases: groups.map((g) => CONSUMERS.map((c) => s.consumerGroups.group(g.name)?.leaseOf(c, s.nowMs))),
    candidates: s.deadLetterCandidates(Number.MAX_SAFE_INTEGER),
    transactions: s.transactions(),
    undecided: s.undecidedTransactions(),
    owed: s.lowestOwedLogIndex(),
    unconsumed: s.lowestUnconsumedLogIndex(),
    trimmedBelow: s.trimmedBelowLogIndex,
    timesBefore: [0, 1_000, Math.floor(s.nowMs / 2), s.nowMs - 1_000, s.nowMs].map((t) => s.logIndexBefore(t)),
  };
}
