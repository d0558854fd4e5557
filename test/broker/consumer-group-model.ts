import { expect } from 'vitest';
import { DELIVER_AT_HEADER } from '../../src/broker/commands.js';
import type { GroupSettings } from '../../src/broker/consumer-groups.js';
import {
  BrokerState,
  decodeCommand,
  encodeCommand,
  messagesHeld,
  type ApplyResult,
  type BrokerCommand,
  type CommandEnvelope,
  type MessageRecord,
} from '../../src/broker/index.js';

/** Helpers shared by the consumer-group tests: a replica that keeps its log, and message builders. */

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export function message(payload: string, deliverAtMs?: number): MessageRecord {
  const headers = deliverAtMs === undefined ? [] : [{ name: DELIVER_AT_HEADER, value: bytes(String(deliverAtMs)) }];
  return { key: new Uint8Array(0), headers, payload: bytes(payload), timestampMs: 1 };
}

export function headerOf(m: MessageRecord, name: string): string | undefined {
  const h = m.headers.find((x) => x.name === name);
  return h === undefined ? undefined : text(h.value);
}

/** Header the tests' "leader" puts on a dead-letter copy: the original offset. */
export const ORIGINAL_OFFSET_HEADER = 'test-original-offset';

/** Short timings, so a whole retry ladder fits in a few seconds of log time. */
export const FAST_SETTINGS: GroupSettings = { ackDeadlineMs: 1_000, retryDelaysMs: [100, 200, 400], retriesMax: 3 };

/**
 * One replica: a log of broker commands and the state applying it. Commands go through the
 * wire format (as they would through the Raft log) unless a test hands the state a value
 * the wire cannot carry (a negative delay), which it applies as is.
 */
export class GroupReplica {
  readonly state = new BrokerState();
  readonly log: CommandEnvelope[] = [];
  /** The leader time the next entry carries unless the caller says otherwise. */
  timeMs = 0;

  apply(command: BrokerCommand, atMs: number = this.timeMs): ApplyResult {
    this.timeMs = Math.max(this.timeMs, atMs);
    const envelope = wireSafe(command) ? decodeCommand(encodeCommand({ leaderTimeMs: atMs, command })) : { leaderTimeMs: atMs, command };
    this.log.push(envelope);
    return this.state.apply(this.log.length, envelope.leaderTimeMs, envelope.command);
  }

  /** A `clock` entry at `atMs`. */
  tick(atMs: number): ApplyResult {
    return this.apply({ kind: 'clock' }, atMs);
  }

  /** A new leader's state after failover: the same log applied from the start. */
  replay(): GroupReplica {
    const fresh = new GroupReplica();
    for (const e of this.log) {
      fresh.log.push(e);
      fresh.state.apply(fresh.log.length, e.leaderTimeMs, e.command);
    }
    fresh.timeMs = this.timeMs;
    return fresh;
  }

  /** The message at `offset` of `topic`, read through the topic's offset index and the log. */
  read(topic: string, offset: number): MessageRecord | undefined {
    const at = this.state.locate(topic, offset);
    if (at === undefined) return undefined;
    const entry = this.log[at.logIndex - 1];
    return entry === undefined ? undefined : messagesHeld(entry.command)[at.position];
  }

  /** Every message of `topic`, in offset order. */
  readAll(topic: string): MessageRecord[] {
    const out: MessageRecord[] = [];
    const end = this.state.topic(topic)?.nextOffset ?? 0;
    for (let offset = 0; offset < end; offset++) {
      const m = this.read(topic, offset);
      if (m === undefined) throw new Error(`offset ${offset} of ${topic} has no message`);
      out.push(m);
    }
    return out;
  }

  /** The leader's dead-letter copy of `offset`: the original with a header saying where it came from. */
  deadLetterCopy(topic: string, offset: number): MessageRecord {
    const original = this.read(topic, offset);
    if (original === undefined) throw new Error(`no message at ${topic}/${offset} to dead-letter`);
    return { ...original, headers: [...original.headers, { name: ORIGINAL_OFFSET_HEADER, value: bytes(String(offset)) }] };
  }

  /** Everything a client or checker can see of the groups, for before/after and failover comparisons. */
  groupView(): unknown {
    const snapshots = this.state.groupList().map((g) => ({ name: g.name, rows: this.state.consumerGroups.group(g.name)?.snapshot() }));
    return { groups: this.state.groupList(), snapshots, candidates: this.state.deadLetterCandidates(Number.MAX_SAFE_INTEGER), topics: this.state.topics() };
  }
}

/** Whether the codec can carry the command unchanged (u53 fields take no negative or fractional numbers). */
function wireSafe(command: BrokerCommand): boolean {
  const nat = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  switch (command.kind) {
    case 'nack':
      return nat(command.offset) && (command.delayMs === -1 || (nat(command.delayMs) && command.delayMs < Number.MAX_SAFE_INTEGER));
    case 'extend':
      return nat(command.offset) && nat(command.extendMs);
    case 'ack':
      return command.offsets.every(nat);
    case 'createGroup': {
      const s = command.start;
      const startOk = s.kind === 'offset' ? nat(s.offset) : s.kind === 'time' ? nat(s.timeMs) : true;
      return startOk && nat(command.settings.ackDeadlineMs) && command.settings.retryDelaysMs.every(nat) && nat(command.settings.retriesMax);
    }
    case 'resetGroup': {
      const to = command.to;
      return nat(command.earliestOffset) && (to.kind === 'offset' ? nat(to.offset) : to.kind === 'time' ? nat(to.timeMs) : true);
    }
    default:
      return true;
  }
}

/** Applies `command` and expects a refusal with `code` that changed nothing a client can see. */
export function expectRefusedWithoutChange(r: GroupReplica, command: BrokerCommand, code: string): void {
  // An entry at the same time first, so nothing falls due between the two views.
  r.tick(r.timeMs);
  const before = r.groupView();
  const result = r.apply(command);
  expect(result, JSON.stringify(command)).toMatchObject({ kind: 'rejected', error: { code } });
  expect(r.groupView(), `state changed by refused ${command.kind}`).toEqual(before);
}
