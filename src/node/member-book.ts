import { nodeId, type NodeId } from '../../raft/index.js';

/**
 * Where a member is found and which data directory it is: what every node needs to dial a
 * member the configuration names (the core knows ids only).
 */
export interface MemberRecord {
  readonly id: NodeId;
  /** host:port of its peer port (Raft traffic). */
  readonly peerAddress: string;
  /** host:port of its client port (redirects, the client library's broker list). */
  readonly clientAddress: string;
  /**
   * Its data directory's incarnation (src/node/data-dir.ts) as it was when it was added, or
   * '' when not recorded (the members a cluster was bootstrapped with, until they are heard
   * from). A peer speaking for this id from another incarnation is a wiped disk (docs/membership.md).
   */
  readonly incarnation: string;
  /** host:port of its HTTP endpoint (metrics, the status page), when it serves one and said so when added. */
  readonly httpAddress?: string;
}

/** A member book holds at most this many records: a configuration is a handful of nodes. */
const RECORDS_MAX = 255;
const CONTEXT_VERSION = 1;

/**
 * The members' addresses and incarnations, as of the state machine's applied index: set
 * from each committed config entry's context (the member a change adds), emptied of those a
 * configuration no longer names, carried in the node's snapshots. Replicated, so every node
 * holds the same book once it has applied the same entries.
 */
export class MemberBook {
  private readonly records = new Map<NodeId, MemberRecord>();
  /** Grows at every change: a reader that saw version v has seen everything up to it. */
  private changes = 0;

  get version(): number {
    return this.changes;
  }

  get(id: NodeId): MemberRecord | undefined {
    return this.records.get(id);
  }

  all(): readonly MemberRecord[] {
    return [...this.records.values()];
  }

  set(record: MemberRecord): void {
    const known = this.records.get(record.id);
    if (known !== undefined && sameRecord(known, record)) return;
    if (known === undefined && this.records.size >= RECORDS_MAX) throw new RangeError(`a member book holds at most ${RECORDS_MAX} members`);
    this.records.set(record.id, record);
    this.changes++;
  }

  /** Drops every record whose id is not in `ids` (the members of a new configuration). */
  retain(ids: ReadonlySet<NodeId>): void {
    for (const id of [...this.records.keys()]) {
      if (ids.has(id)) continue;
      this.records.delete(id);
      this.changes++;
    }
  }

  /** The book as JSON bytes (a snapshot's member section). */
  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ version: CONTEXT_VERSION, members: this.all() }));
  }

  /** The book `bytes` hold (from encode); throws MemberRecordError on anything else. */
  static decode(bytes: Uint8Array): MemberBook {
    const parsed = parseJson(bytes);
    const members = isObject(parsed) && parsed['version'] === CONTEXT_VERSION ? parsed['members'] : undefined;
    if (!Array.isArray(members)) throw new MemberRecordError('the member book is not a version 1 list of members');
    const book = new MemberBook();
    for (const member of members) book.set(recordOf(member));
    return book;
  }
}

/** A config entry's context or a snapshot's member book that does not decode. */
export class MemberRecordError extends Error {
  override readonly name = 'MemberRecordError';
}

/** The context of the config entry that adds `record` (ConfChange.context). */
export function encodeMemberContext(record: MemberRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ version: CONTEXT_VERSION, ...record }));
}

/** The member a config entry's context names; throws MemberRecordError if it is not one. */
export function decodeMemberContext(bytes: Uint8Array): MemberRecord {
  const parsed = parseJson(bytes);
  if (!isObject(parsed) || parsed['version'] !== CONTEXT_VERSION) throw new MemberRecordError('a config entry context is not a version 1 member record');
  return recordOf(parsed);
}

function recordOf(value: unknown): MemberRecord {
  if (!isObject(value)) throw new MemberRecordError('a member record is not an object');
  const { id, peerAddress, clientAddress, incarnation, httpAddress } = value;
  if (typeof id !== 'string' || id === '' || typeof peerAddress !== 'string' || typeof clientAddress !== 'string' || typeof incarnation !== 'string') {
    throw new MemberRecordError('a member record needs id, peerAddress, clientAddress and incarnation strings');
  }
  // httpAddress came later: a record without it (or from an older node) is still a record.
  if (httpAddress !== undefined && typeof httpAddress !== 'string') throw new MemberRecordError('a member record\'s httpAddress is not a string');
  const record = { id: nodeId(id), peerAddress, clientAddress, incarnation };
  return httpAddress === undefined || httpAddress === '' ? record : { ...record, httpAddress };
}

function sameRecord(a: MemberRecord, b: MemberRecord): boolean {
  return a.peerAddress === b.peerAddress && a.clientAddress === b.clientAddress && a.incarnation === b.incarnation && a.httpAddress === b.httpAddress;
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new MemberRecordError('a member record is not JSON', { cause: error });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
