import { assert } from './assert.js';
import { EntryKind, type Configuration, type Entry, type Index, type LogReader, type NodeId, type SnapshotMeta } from './types.js';

/** Held by a node that joins an existing cluster until a leader's log or snapshot gives it one. */
export const NO_CONFIGURATION: Configuration = { voters: [], learners: [] };

/** First payload byte of a config entry: the encoding's version, so it can change without reusing a kind. */
const CONFIG_FORMAT_VERSION = 1;

/**
 * A config entry's payload: version byte, then JSON {voters, learners, context?} (names are
 * short, changes rare). `context` is the driver's (the node puts the new member's addresses
 * there): stored as base64, handed back by configurationContext, otherwise ignored here.
 */
export function encodeConfiguration(config: Configuration, context?: Uint8Array): Uint8Array {
  checkConfiguration(config);
  const fields = context === undefined ? { voters: config.voters, learners: config.learners } : { voters: config.voters, learners: config.learners, context: bytesToBase64(context) };
  const json = new TextEncoder().encode(JSON.stringify(fields));
  const payload = new Uint8Array(json.length + 1);
  payload[0] = CONFIG_FORMAT_VERSION;
  payload.set(json, 1);
  return payload;
}

/** The configuration a config entry carries. Only leaders write these, from encodeConfiguration: a bad one is a bug. */
export function decodeConfiguration(payload: Uint8Array): Configuration {
  assert(payload[0] === CONFIG_FORMAT_VERSION, `membership: config entry format ${String(payload[0])} is not ${CONFIG_FORMAT_VERSION}`);
  const parsed: unknown = JSON.parse(new TextDecoder().decode(payload.subarray(1)));
  assert(typeof parsed === 'object' && parsed !== null, 'membership: a config entry holds an object');
  const { voters, learners } = parsed as { voters?: unknown; learners?: unknown };
  const config = { voters: idList(voters), learners: idList(learners) };
  checkConfiguration(config);
  return config;
}

/** The driver's context a config entry carries (ConfChange.context), or null when it has none. */
export function configurationContext(payload: Uint8Array): Uint8Array | null {
  assert(payload[0] === CONFIG_FORMAT_VERSION, `membership: config entry format ${String(payload[0])} is not ${CONFIG_FORMAT_VERSION}`);
  const parsed: unknown = JSON.parse(new TextDecoder().decode(payload.subarray(1)));
  const context = typeof parsed === 'object' && parsed !== null ? (parsed as { context?: unknown }).context : undefined;
  return typeof context === 'string' ? base64ToBytes(context) : null;
}

// Plain JS (the core uses no Node API): config entries are rare and small.
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  for (let k = 0; k < bytes.length; k += 3) {
    const n = ((bytes[k] ?? 0) << 16) | ((bytes[k + 1] ?? 0) << 8) | (bytes[k + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - k) * 4) / 3));
    for (let c = 0; c < 4; c++) out += c < chars ? BASE64[(n >> (18 - 6 * c)) & 63] : '=';
  }
  return out;
}

function base64ToBytes(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const char of clean) {
    const digit = BASE64.indexOf(char);
    assert(digit >= 0, 'membership: a config entry context is not base64');
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 255;
    }
  }
  return out;
}

function idList(value: unknown): NodeId[] {
  assert(Array.isArray(value) && value.every((id) => typeof id === 'string' && id !== ''), 'membership: a member list is an array of node ids');
  return value as NodeId[];
}

/** A node is listed once, in one role. */
export function checkConfiguration(config: Configuration): void {
  const all = [...config.voters, ...config.learners];
  assert(new Set(all).size === all.length, `membership: a member is listed twice in voters ${config.voters.join(',')} learners ${config.learners.join(',')}`);
}

export function configurationOfSnapshot(meta: SnapshotMeta): Configuration {
  return { voters: meta.voters, learners: meta.learners ?? [] };
}

export function isVoter(config: Configuration, id: NodeId): boolean {
  return config.voters.includes(id);
}

export function isMember(config: Configuration, id: NodeId): boolean {
  return config.voters.includes(id) || config.learners.includes(id);
}

/** Same members in the same roles, in any order. */
export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]): boolean => x.length === y.length && x.every((id) => y.includes(id));
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

interface ConfigPoint {
  /** The config entry's index; for the base, the snapshot's index (0 for the bootstrap configuration). */
  readonly index: Index;
  readonly config: Configuration;
}

/**
 * The configurations a node's log holds: the base (a snapshot's, or the bootstrap one a new
 * cluster starts from) and one per config entry after it. The current configuration is the
 * newest, committed or not (single-server changes take effect on append); cutting a log
 * suffix drops the config entries in it, which reverts to the one before.
 *
 * Invariants: points are in ascending index order, each above base.index, one per config
 * entry in the log after the base. Bounded by the config entries since the last snapshot
 * (changes are operator actions, and each snapshot rebases).
 */
export class ConfigHistory {
  private base: ConfigPoint;
  private points: ConfigPoint[] = [];

  constructor(base: ConfigPoint) {
    checkConfiguration(base.config);
    this.base = base;
  }

  /**
   * The history of a log as storage recovered it: `base` (the snapshot's or bootstrap
   * configuration) and every config entry after it. Reads the entries after base.index once,
   * at start, in batches of `bytesMax`.
   */
  static recover(log: LogReader, base: ConfigPoint, bytesMax: number): ConfigHistory {
    const history = new ConfigHistory(base);
    const last = log.lastIndex();
    let from = Math.max(base.index + 1, log.firstIndex());
    // Bounded by the log's length: every batch holds at least one entry.
    while (from <= last) {
      const batch = log.entries(from as Index, (last + 1) as Index, bytesMax);
      const tail = batch.at(-1);
      assert(tail !== undefined, `membership: no entries read at ${from}`);
      history.appended(batch);
      from = tail.index + 1;
    }
    return history;
  }

  current(): Configuration {
    return (this.points.at(-1) ?? this.base).config;
  }

  /** The index of the entry the current configuration comes from (the base's index when none). */
  currentIndex(): Index {
    return (this.points.at(-1) ?? this.base).index;
  }

  /**
   * Whether `id` takes part in elections: a voter of the current configuration, or of the
   * one before while the current one is not committed (through `committed`). A node whose
   * removal is on its way may be needed to commit it (Raft thesis §4.2.2).
   */
  electsIn(id: NodeId, committed: Index): boolean {
    if (isVoter(this.current(), id)) return true;
    const at = this.currentIndex();
    return at > committed && isVoter(this.at((at - 1) as Index) ?? NO_CONFIGURATION, id);
  }

  /** The configuration in force at `at` (after the entry there), or undefined below the base. */
  at(at: Index): Configuration | undefined {
    if (at < this.base.index) return undefined;
    for (let k = this.points.length - 1; k >= 0; k--) {
      const point = this.points[k] as ConfigPoint;
      if (point.index <= at) return point.config;
    }
    return this.base.config;
  }

  /** `entries` were written at entries[0].index, replacing any suffix from there. */
  appended(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.base.index, `membership: entries at ${first.index} replace the base at ${this.base.index}`);
    while ((this.points.at(-1)?.index ?? 0) >= first.index) this.points.pop();
    for (const entry of entries) {
      if (entry.kind === EntryKind.config) this.points.push({ index: entry.index, config: decodeConfiguration(entry.payload) });
    }
  }

  /** The whole log was replaced by a snapshot: its configuration is the base, nothing follows it. */
  restore(snapshot: SnapshotMeta): void {
    this.base = { index: snapshot.index, config: configurationOfSnapshot(snapshot) };
    this.points = [];
  }

  /** A snapshot through `at` was taken (`at` applied, so committed): the history before it is no longer asked for. */
  compact(at: Index): void {
    if (at <= this.base.index) return;
    const config = this.at(at);
    assert(config !== undefined, `membership: no configuration at ${at}`);
    this.base = { index: at, config };
    this.points = this.points.filter((point) => point.index > at);
  }
}
