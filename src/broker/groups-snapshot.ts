import type { BinaryReader, BinaryWriter } from '../encoding/index.js';
import { GROUP_DEFAULTS, type ConsumerGroupSnapshot, type ConsumerGroupSource, type Delivery, type DeliveryState, type GroupSettings, type Lease } from './consumer-groups.js';
import { BrokerSnapshotError } from './errors.js';
import { nameIndex, readCount, readNamed, readTimeOrNever, writeTimeOrNever } from './snapshot-fields.js';
import type { EncodeSteps, StepCounter } from './snapshot-steps.js';

/**
 * The consumer groups' part of a broker snapshot. Per group: name, topic, settings, cursor
 * and committed offset, then a table of the strings its deliveries repeat (consumer ids,
 * last errors), then the deliveries naming them by position (0: none), the ready queue and
 * the in-flight counts per consumer, then (from broker snapshot format 4 on) the standing
 * leases: consumer u32, room u32, untilMs u53 each. The table keeps a group of 10k in-flight messages from
 * paying 10k string encodes for its handful of consumers.
 */

/** Written as u8: a position never reused. */
const DELIVERY_STATES: readonly DeliveryState[] = ['inflight', 'waiting', 'ready', 'dead'];
/** offset u53, state u8, deliveries u32, consumer u32, dueMs u53, lastError u32. */
const DELIVERY_BYTES = 8 + 1 + 4 + 4 + 8 + 4;

/** Writes the groups' part from views of the live groups, yielding between steps (see snapshot-steps.ts). */
export function* writeGroups(w: BinaryWriter, groups: readonly ConsumerGroupSource[], steps: StepCounter): EncodeSteps {
  w.u32(groups.length);
  for (const g of groups) yield* writeGroup(w, g, steps);
}

/** Reads the groups' part; `withLeases` false for broker snapshot formats before 4, which had no leases. */
export function readGroups(r: BinaryReader, withLeases: boolean): ConsumerGroupSnapshot[] {
  const count = readCount(r, 40, 'groups');
  const groups: ConsumerGroupSnapshot[] = [];
  for (let k = 0; k < count; k++) groups.push(readGroup(r, withLeases));
  return groups;
}

function* writeGroup(w: BinaryWriter, g: ConsumerGroupSource, steps: StepCounter): EncodeSteps {
  w.string(g.name).u53(g.topicId).string(g.topicName);
  writeSettings(w, g.settings);
  w.u53(g.cursor).u53(g.committed);
  writeTimeOrNever(w, g.earliestDueMs);
  // The table goes before the deliveries that name it: one pass to gather it, one to write.
  const strings = new StringTable();
  for (const [consumer] of g.inflightByConsumer) strings.ref(consumer);
  for (const [consumer] of g.leases) strings.ref(consumer);
  for (const d of g.deliveries.values()) {
    strings.ref(d.consumer);
    strings.ref(d.lastError);
    if (steps.due()) yield;
  }
  w.u32(strings.list.length);
  for (const s of strings.list) w.string(s);
  w.u32(g.deliveries.size);
  for (const d of g.deliveries.values()) {
    w.u53(d.offset).u8(nameIndex(DELIVERY_STATES, d.state)).u32(d.deliveries).u32(strings.ref(d.consumer)).u53(d.dueMs).u32(strings.ref(d.lastError));
    if (steps.due()) yield;
  }
  // Stale offsets (no longer ready) are left out, so the count needs a pass of its own.
  let ready = 0;
  for (const offset of g.readyQueue) {
    if (isReady(g, offset)) ready++;
    if (steps.due()) yield;
  }
  w.u32(ready);
  for (const offset of g.readyQueue) {
    if (isReady(g, offset)) w.u53(offset);
    if (steps.due()) yield;
  }
  w.u32(g.inflightByConsumer.size);
  for (const [consumer, count] of g.inflightByConsumer) w.u32(strings.ref(consumer)).u32(count);
  w.u32(g.leases.size);
  for (const [consumer, lease] of g.leases) w.u32(strings.ref(consumer)).u32(lease.room).u53(lease.untilMs);
}

function isReady(g: ConsumerGroupSource, offset: number): boolean {
  return g.deliveries.get(offset)?.state === 'ready';
}

function readGroup(r: BinaryReader, withLeases: boolean): ConsumerGroupSnapshot {
  const name = r.string();
  const topicId = r.u53();
  const topicName = r.string();
  const settings = readSettings(r);
  const cursor = r.u53();
  const committed = r.u53();
  const earliestDueMs = readTimeOrNever(r, `group ${name}'s earliest due time`);
  if (committed > cursor) throw new BrokerSnapshotError(`group ${name}: committed offset ${committed} is past its cursor ${cursor}`);
  const stringCount = readCount(r, 4, `strings of group ${name}`);
  // Position 0 is "none" (a delivery no consumer holds); the table's strings follow it.
  const strings: (string | null)[] = [null];
  for (let k = 0; k < stringCount; k++) strings.push(r.string());
  const deliveries = readDeliveries(r, { name, committed, cursor, strings });
  const firstUnfinished = deliveries[0]?.offset ?? cursor;
  if (firstUnfinished !== committed) throw new BrokerSnapshotError(`group ${name}: committed offset ${committed}, but the first unfinished one is ${firstUnfinished}`);
  const readyCount = readCount(r, 8, `ready offsets of group ${name}`);
  const readyQueue: number[] = [];
  for (let k = 0; k < readyCount; k++) readyQueue.push(r.u53());
  const consumerCount = readCount(r, 8, `consumers of group ${name}`);
  const inflightByConsumer: [string, number][] = [];
  for (let k = 0; k < consumerCount; k++) {
    const consumer = stringAt(strings, r.u32(), name);
    if (consumer === null) throw new BrokerSnapshotError(`group ${name}: an in-flight count for no consumer`);
    inflightByConsumer.push([consumer, r.u32()]);
  }
  const leases = withLeases ? readLeases(r, name, strings) : [];
  return { name, topicId, topicName, settings, cursor, committed, deliveries, readyQueue, inflightByConsumer, earliestDueMs, leases };
}

function readLeases(r: BinaryReader, name: string, strings: readonly (string | null)[]): Lease[] {
  const count = readCount(r, 16, `leases of group ${name}`);
  const leases: Lease[] = [];
  const holders = new Set<string | null>();
  for (let k = 0; k < count; k++) {
    const consumer = stringAt(strings, r.u32(), name);
    const room = r.u32();
    const untilMs = r.u53();
    if (consumer === null || room < 1 || room > GROUP_DEFAULTS.maxSeenOnLeave || holders.has(consumer)) {
      throw new BrokerSnapshotError(`group ${name}: a lease of ${room} for ${consumer ?? 'no consumer'}, or a second one`);
    }
    holders.add(consumer);
    leases.push({ consumer, room, untilMs });
  }
  return leases;
}

function readDeliveries(
  r: BinaryReader,
  group: { readonly name: string; readonly committed: number; readonly cursor: number; readonly strings: readonly (string | null)[] },
): Delivery[] {
  const count = readCount(r, DELIVERY_BYTES, `deliveries of group ${group.name}`);
  const deliveries: Delivery[] = [];
  let previous = group.committed - 1;
  for (let k = 0; k < count; k++) {
    const offset = r.u53();
    if (offset <= previous || offset >= group.cursor) {
      throw new BrokerSnapshotError(`group ${group.name}: delivery of offset ${offset} is not ascending within ${group.committed}..${group.cursor - 1}`);
    }
    previous = offset;
    const state = readNamed(r, DELIVERY_STATES, `delivery state in group ${group.name}`);
    const times = r.u32();
    const consumer = stringAt(group.strings, r.u32(), group.name);
    const dueMs = r.u53();
    const lastError = stringAt(group.strings, r.u32(), group.name) ?? '';
    deliveries.push({ offset, state, deliveries: times, consumer, dueMs, lastError });
  }
  return deliveries;
}

function writeSettings(w: BinaryWriter, s: GroupSettings): void {
  w.u53(s.ackDeadlineMs).u32(s.retriesMax).u32(s.retryDelaysMs.length);
  for (const d of s.retryDelaysMs) w.u53(d);
}

function readSettings(r: BinaryReader): GroupSettings {
  const ackDeadlineMs = r.u53();
  const retriesMax = r.u32();
  const levels = r.u32();
  if (levels > GROUP_DEFAULTS.retryLevelsMax) throw new BrokerSnapshotError(`a group with ${levels} retry levels`);
  const retryDelaysMs: number[] = [];
  for (let k = 0; k < levels; k++) retryDelaysMs.push(r.u53());
  return { ackDeadlineMs, retriesMax, retryDelaysMs };
}

function stringAt(strings: readonly (string | null)[], k: number, group: string): string | null {
  if (k >= strings.length) throw new BrokerSnapshotError(`group ${group}: string ${k} of a table of ${strings.length - 1}`);
  return strings[k] ?? null;
}

/** Distinct strings in order of first use; position 0 stands for null. */
class StringTable {
  readonly list: string[] = [];
  private readonly positions = new Map<string, number>();

  ref(s: string | null): number {
    if (s === null) return 0;
    let k = this.positions.get(s);
    if (k === undefined) {
      this.list.push(s);
      k = this.list.length;
      this.positions.set(s, k);
    }
    return k;
  }
}
