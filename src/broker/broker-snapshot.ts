import { BinaryReader, BinaryWriter, MalformedBinaryError } from '../encoding/index.js';
import { readAclRule, writeAclRule, type AclRule } from './acl.js';
import { BrokerState, type BrokerStateOptions, type BrokerStateSnapshot, type BrokerStateSource, type ProducerState, type ProducerTopicState, type RecentBatch } from './broker-state.js';
import { BrokerSnapshotError } from './errors.js';
import { readGroups, writeGroups } from './groups-snapshot.js';
import { readCount, readOffsetOrNone, readTimeOrNever, writeOffsetOrNone, writeTimeOrNever } from './snapshot-fields.js';
import { SNAPSHOT_STEP_ITEMS, StepCounter, type EncodeSteps } from './snapshot-steps.js';
import type { OffsetRun, ScheduledBatch, TopicLogSnapshot } from './topic-log.js';
import { readTransactions, writeTransactions } from './transactions-snapshot.js';

/**
 * The broker's whole state as bytes: the opaque payload of a snapshot file (the file adds
 * the checksum and the crash-atomic write). A state decoded from it and then given the log
 * entries after its applied index answers and applies exactly as the state encoded.
 *
 * Format (little-endian, BinaryWriter's fields):
 *   version u32 (=4)
 *   appliedIndex u53, clockMs u53, nextExpiryScanMs u53, nextScheduledMs f64 (Infinity: none)
 *   topics:       u32 n, each: id u53, name, messageBytesMax u32, nextOffset u53, startOffset u53,
 *                 runs u32 n (logIndex u53, firstPosition u32, count u32, appendedAtMs u53;
 *                 firstOffsets follow from startOffset and the counts), scheduled u32 n (dueMs u53, logIndex u53, count u32)
 *   producers:    u32 n, each: id u53, lastActiveMs u53, idleExpiryMs u53,
 *                 topics u32 n (topicId u53, nextSequence u53, recent u32 n (firstSequence u53, count u32, firstOffset f64))
 *   groups:       groups-snapshot.ts
 *   transactions: transactions-snapshot.ts
 *   time index:   u32 n, each: index u53, time u53
 *   trimmedBelow u53
 *   ACL rules:    u32 n, each: principal, resource kind u8 (1 topic, 2 group), pattern, operations u8 (bits: 1 produce, 2 consume, 4 admin)
 * Every part is in the state's own order, so the decoded state iterates as the original.
 *
 * Format 1 (written before trims existed) is still read: it is format 2 without a topic's
 * startOffset (0) and without trimmedBelow (0), which is what an untrimmed state holds.
 * Format 2 (written before ACLs existed) is still read: it is format 3 without the ACL
 * rules, which is what a state that never applied an aclAdd holds (no rules).
 * Format 3 (written before consumer leases existed) is still read: it is format 4 without
 * the groups' leases, which is what a state that never applied a lease entry holds.
 */
export const BROKER_SNAPSHOT_FORMAT = 4;
/** The formats this version reads. */
const FORMATS_READ = [1, 2, 3, 4] as const;
type Format = (typeof FORMATS_READ)[number];

const RUN_BYTES = 8 + 4 + 4 + 8;

/** The whole state as one snapshot payload, encoded at once (see BrokerSnapshotEncoder for slices). */
export function encodeBrokerSnapshot(state: BrokerState): Uint8Array {
  return new BrokerSnapshotEncoder(state).encode(() => false);
}

/**
 * Encodes a state's snapshot in slices: each encode() call goes on where the last one
 * stopped and returns the bytes it added, so a caller can stream them out and let the event
 * loop run between two calls. The slices' bytes, joined, are exactly what one-shot
 * encodeBrokerSnapshot returns.
 *
 * It reads the live state (no copy of it is made): nothing may be applied to the state from
 * its construction until done. A change would make the snapshot none of the states the log
 * passed through, so it is checked at each call and throws as a programmer error.
 */
export class BrokerSnapshotEncoder {
  /** The applied index the snapshot is of. */
  readonly appliedIndex: number;
  private readonly state: BrokerState;
  private readonly writer = new BinaryWriter(64 * 1024);
  private readonly steps: EncodeSteps;
  private finished = false;

  /** `stepItems`: items encoded per step (the unit `stop` is asked after); small ones make many slices of a small state (tests, the simulator). */
  constructor(state: BrokerState, options: { readonly stepItems?: number } = {}) {
    this.state = state;
    this.appliedIndex = state.lastApplied;
    this.steps = encodeSteps(state.snapshotSource(), this.writer, new StepCounter(options.stepItems ?? SNAPSHOT_STEP_ITEMS));
  }

  /** The last slice has been returned. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Encodes steps of `stepItems` items until `stop()` (asked after each step) says
   * so or the snapshot ends, and returns the bytes added: a view that the next call
   * overwrites, so consume it first. Bounded by the state's items.
   */
  encode(stop: () => boolean): Uint8Array {
    if (this.finished) throw new Error('broker: a snapshot encoder used after its end');
    if (this.state.lastApplied !== this.appliedIndex) {
      throw new Error(`broker: entry ${this.state.lastApplied} was applied while the snapshot of ${this.appliedIndex} was being encoded`);
    }
    this.writer.clear();
    for (;;) {
      if (this.steps.next().done === true) {
        this.finished = true;
        break;
      }
      if (stop()) break;
    }
    return this.writer.finish();
  }
}

function* encodeSteps(s: BrokerStateSource, w: BinaryWriter, steps: StepCounter): EncodeSteps {
  w.u32(BROKER_SNAPSHOT_FORMAT).u53(s.appliedIndex).u53(s.clockMs).u53(s.nextExpiryScanMs);
  writeTimeOrNever(w, s.nextScheduledMs);
  w.u32(s.topics.length);
  for (const t of s.topics) yield* writeTopic(w, t, steps);
  w.u32(s.producers.size);
  for (const [id, p] of s.producers) {
    writeProducer(w, id, p);
    if (steps.due()) yield;
  }
  yield* writeGroups(w, s.groups, steps);
  yield* writeTransactions(w, s.transactions, steps);
  w.u32(s.timeIndex.indexes.length);
  for (let k = 0; k < s.timeIndex.indexes.length; k++) {
    w.u53(s.timeIndex.indexes[k] as number).u53(s.timeIndex.times[k] as number);
    if (steps.due()) yield;
  }
  w.u53(s.trimmedBelow);
  w.u32(s.acls.length);
  for (const rule of s.acls) {
    writeAclRule(w, rule);
    if (steps.due()) yield;
  }
}

/**
 * The state `bytes` describe, with `options` as a new state would take them. Bytes that are
 * not a snapshot of this format (another version, cut short, trailing bytes, a field out of
 * range, parts that disagree) throw BrokerSnapshotError.
 */
export function decodeBrokerSnapshot(bytes: Uint8Array, options: BrokerStateOptions = {}): BrokerState {
  let snapshot: BrokerStateSnapshot;
  try {
    snapshot = readSnapshot(new BinaryReader(bytes));
  } catch (error) {
    if (error instanceof MalformedBinaryError) throw new BrokerSnapshotError(`broker snapshot: ${error.message}`, { cause: error });
    throw error;
  }
  try {
    return BrokerState.fromSnapshot(snapshot, options);
  } catch (error) {
    // The parts read well one by one but do not form a state (a group's offsets past its
    // committed one all finished, a name twice): the bytes, not this code, are wrong.
    throw new BrokerSnapshotError(`broker snapshot: its parts disagree: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function readSnapshot(r: BinaryReader): BrokerStateSnapshot {
  const version = r.u32();
  if (!FORMATS_READ.includes(version as Format)) throw new BrokerSnapshotError(`broker snapshot format ${version} is not known to this version (it reads ${FORMATS_READ.join(' and ')})`);
  const format = version as Format;
  const appliedIndex = r.u53();
  const clockMs = r.u53();
  const nextExpiryScanMs = r.u53();
  const nextScheduledMs = readTimeOrNever(r, 'the next scheduled time');
  const topicCount = readCount(r, 32, 'topics');
  const topics: TopicLogSnapshot[] = [];
  for (let k = 0; k < topicCount; k++) topics.push(readTopic(r, format));
  const producerCount = readCount(r, 28, 'producers');
  const producers: [number, ProducerState][] = [];
  for (let k = 0; k < producerCount; k++) producers.push(readProducer(r));
  const groups = readGroups(r, format >= 4);
  const transactions = readTransactions(r);
  const timeIndex = readTimeIndex(r);
  const trimmedBelow = format === 1 ? 0 : r.u53();
  if (trimmedBelow > appliedIndex) throw new BrokerSnapshotError(`broker snapshot: trimmed below ${trimmedBelow}, past its applied index ${appliedIndex}`);
  const acls = format < 3 ? [] : readAcls(r);
  if (!r.done) throw new BrokerSnapshotError(`broker snapshot: ${r.remaining} bytes after its end`);
  return { appliedIndex, clockMs, nextExpiryScanMs, nextScheduledMs, topics, producers, groups, transactions, timeIndex, trimmedBelow, acls };
}

function readAcls(r: BinaryReader): AclRule[] {
  // A rule takes at least 4 + 1 + 4 + 1 bytes.
  const count = readCount(r, 10, 'ACL rules');
  const rules: AclRule[] = [];
  for (let k = 0; k < count; k++) rules.push(readAclRule(r, (message) => new BrokerSnapshotError(`broker snapshot: ACL rule ${k}: ${message}`)));
  return rules;
}

/** The log's time samples: (index, time) pairs, both never decreasing. */
function readTimeIndex(r: BinaryReader): BrokerStateSnapshot['timeIndex'] {
  const count = readCount(r, 16, 'time samples');
  const indexes: number[] = [];
  const times: number[] = [];
  for (let k = 0; k < count; k++) {
    const index = r.u53();
    const time = r.u53();
    if (k > 0 && (index < (indexes[k - 1] as number) || time < (times[k - 1] as number))) throw new BrokerSnapshotError(`broker snapshot: time sample ${k} goes back`);
    indexes.push(index);
    times.push(time);
  }
  return { indexes, times };
}

function* writeTopic(w: BinaryWriter, t: TopicLogSnapshot, steps: StepCounter): EncodeSteps {
  w.u53(t.id).string(t.name).u32(t.messageBytesMax).u53(t.nextOffset).u53(t.startOffset).u32(t.runs.length);
  for (const run of t.runs) {
    w.u53(run.logIndex).u32(run.firstPosition).u32(run.count).u53(run.appendedAtMs);
    if (steps.due()) yield;
  }
  w.u32(t.scheduled.length);
  for (const s of t.scheduled) {
    w.u53(s.dueMs).u53(s.logIndex).u32(s.count);
    if (steps.due()) yield;
  }
}

function readTopic(r: BinaryReader, format: Format): TopicLogSnapshot {
  const id = r.u53();
  const name = r.string();
  const messageBytesMax = r.u32();
  const nextOffset = r.u53();
  const startOffset = format === 1 ? 0 : r.u53();
  if (startOffset > nextOffset) throw new BrokerSnapshotError(`topic ${name}: start offset ${startOffset} past its end ${nextOffset}`);
  const runCount = readCount(r, RUN_BYTES, `offset runs of topic ${name}`);
  const runs: OffsetRun[] = new Array<OffsetRun>(runCount);
  let firstOffset = startOffset;
  for (let k = 0; k < runCount; k++) {
    const run: OffsetRun = { firstOffset, logIndex: r.u53(), firstPosition: r.u32(), count: r.u32(), appendedAtMs: r.u53() };
    if (run.count === 0) throw new BrokerSnapshotError(`topic ${name}: an empty offset run at offset ${firstOffset}`);
    runs[k] = run;
    firstOffset += run.count;
  }
  if (firstOffset !== nextOffset) throw new BrokerSnapshotError(`topic ${name}: its runs end at offset ${firstOffset}, not at ${nextOffset}`);
  const scheduledCount = readCount(r, 20, `scheduled batches of topic ${name}`);
  const scheduled: ScheduledBatch[] = [];
  for (let k = 0; k < scheduledCount; k++) {
    const batch: ScheduledBatch = { dueMs: r.u53(), logIndex: r.u53(), count: r.u32() };
    if (batch.dueMs < (scheduled[k - 1]?.dueMs ?? 0)) throw new BrokerSnapshotError(`topic ${name}: scheduled batches out of due order at ${k}`);
    scheduled.push(batch);
  }
  return { id, name, messageBytesMax, nextOffset, startOffset, runs, scheduled };
}

function writeProducer(w: BinaryWriter, id: number, p: Readonly<ProducerState>): void {
  w.u53(id).u53(p.lastActiveMs).u53(p.idleExpiryMs).u32(p.topics.size);
  for (const [topicId, t] of p.topics) {
    w.u53(topicId).u53(t.nextSequence).u32(t.recent.length);
    for (const b of t.recent) {
      w.u53(b.firstSequence).u32(b.count);
      writeOffsetOrNone(w, b.firstOffset);
    }
  }
}

function readProducer(r: BinaryReader): [number, ProducerState] {
  const id = r.u53();
  const lastActiveMs = r.u53();
  const idleExpiryMs = r.u53();
  const topicCount = readCount(r, 20, `topics of producer ${id}`);
  const topics = new Map<number, ProducerTopicState>();
  for (let k = 0; k < topicCount; k++) {
    const topicId = r.u53();
    const nextSequence = r.u53();
    const recentCount = readCount(r, 20, `recent batches of producer ${id}`);
    const recent: RecentBatch[] = [];
    for (let j = 0; j < recentCount; j++) recent.push({ firstSequence: r.u53(), count: r.u32(), firstOffset: readOffsetOrNone(r, `a batch of producer ${id}`) });
    topics.set(topicId, { nextSequence, recent });
  }
  return [id, { lastActiveMs, idleExpiryMs, topics }];
}
