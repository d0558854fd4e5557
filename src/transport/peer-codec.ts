import type protobuf from 'protobufjs';
import { EntryKind, index, nodeId, term, type Entry, type Message, type MessageType, type NodeId, type SnapshotMeta } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';
import { WireReader, WireType } from './wire-reader.js';
import { bytesFieldBytes, scalarBytes, varint64Length, varintLength, writeBytesField, writeScalar, writeVarint, writeVarint64 } from './protobuf-wire.js';

/** Wire numbers of peer.proto's MessageType, by our message type names. */
const WIRE_TYPE = {
  preVote: 1,
  vote: 2,
  preVoteResp: 3,
  voteResp: 4,
  append: 5,
  appendResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  timeoutNow: 9,
  snapshot: 10,
} as const satisfies Record<MessageType, number>;

const TYPE_BY_WIRE: ReadonlyMap<number, MessageType> = new Map(
  Object.entries(WIRE_TYPE).map(([name, wire]) => [wire, name as MessageType]),
);

/** Field 4 of PeerBatch (`repeated RaftMessage messages`), wire type 2 (length-delimited). */
const MESSAGES_FIELD_TAG = (4 << 3) | 2;
/** Bytes a message adds to a batch beyond its own encoding, at most: the tag and a 32-bit length varint. */
export const BATCH_MESSAGE_OVERHEAD_BYTES = 1 + 5;

/** What a receiver gets from one batch on the wire. */
export interface DecodedPeerBatch {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: readonly Message[];
}

/** The receiver's answer when a stream ends normally. */
export interface StreamSummary {
  readonly receivedMessages: number;
}

/** Addresses of one direction of one link; the same for every batch on it. */
export interface BatchEnvelope {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

/**
 * Encodes Raft messages for peer.proto. A message is encoded once, when it is queued, so its
 * size is known before it is accepted; a batch is then the envelope's bytes followed by the
 * already-encoded messages, each framed as field 4 — exactly what encoding a PeerBatch with
 * `repeated RaftMessage messages` would produce, without encoding anything twice.
 */
export class PeerCodec {
  readonly #raftMessage: protobuf.Type;
  readonly #peerBatch: protobuf.Type;
  readonly #streamSummary: protobuf.Type;

  constructor() {
    const root = parseSchema(readSchema('peer.proto'));
    this.#raftMessage = schemaType(root, 'quorumlog.peer.RaftMessage');
    this.#peerBatch = schemaType(root, 'quorumlog.peer.PeerBatch');
    this.#streamSummary = schemaType(root, 'quorumlog.peer.StreamSummary');
  }

  encodeSummary(summary: StreamSummary): Buffer {
    return Buffer.from(this.#streamSummary.encode({ receivedMessages: summary.receivedMessages }).finish());
  }

  decodeSummary(bytes: Uint8Array): StreamSummary {
    const wire = this.#streamSummary.decode(bytes) as unknown as { readonly receivedMessages: number };
    return { receivedMessages: wire.receivedMessages };
  }

  encodeMessage(message: Message): Uint8Array {
    // Appends carry the entries, so they are most of the bytes and nearly every message
    // under load: written by hand into one buffer (protobufjs builds a list of write
    // operations per field, several objects per entry). Everything else is rare.
    if (message.type === 'append') return encodeAppend(message);
    return this.#raftMessage.encode(toWire(message)).finish();
  }

  /** The envelope's bytes, to be computed once per link and passed to encodeBatch. */
  encodeEnvelope(envelope: BatchEnvelope): Uint8Array {
    return this.#peerBatch.encode({ clusterId: envelope.clusterId, from: envelope.from, to: envelope.to }).finish();
  }

  /** Concatenates an encoded envelope and encoded messages into one PeerBatch. */
  encodeBatch(envelope: Uint8Array, messages: readonly Uint8Array[]): Buffer {
    let total = envelope.length;
    for (const message of messages) total += 1 + varintLength(message.length) + message.length;
    const out = Buffer.allocUnsafe(total);
    out.set(envelope, 0);
    let at = envelope.length;
    for (const message of messages) {
      out[at++] = MESSAGES_FIELD_TAG;
      at = writeVarint(out, at, message.length);
      out.set(message, at);
      at += message.length;
    }
    return out;
  }

  /**
   * Decodes one RaftMessage encoded alone (encodeMessage's output, as an InstallSnapshot
   * header carries it); the wire message has no addresses, so the caller gives them.
   */
  decodeMessage(bytes: Uint8Array, from: NodeId, to: NodeId): Message {
    return decoding('Raft message', () => fromWire(readRaftMessage(new WireReader(bytes), bytes.length), from, to));
  }

  /**
   * Decodes a batch; payloads share memory with `bytes`, which must not be reused by the
   * caller. Read by hand (wire-reader.ts), field by field, as protobufjs would read
   * peer.proto's PeerBatch: unknown fields skipped, the last of a repeated scalar kept, and a
   * known field of the wrong wire type refused rather than read as its default. By hand
   * because every follower decodes a batch per append.
   */
  decodeBatch(bytes: Uint8Array): DecodedPeerBatch {
    return decoding('peer batch', () => readBatch(new WireReader(bytes), bytes.length));
  }
}

/** Runs a decoder, naming what did not decode in its MalformedMessageError. */
function decoding<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    throw new MalformedMessageError(`${what} does not decode: ${error.message}`, { cause: error });
  }
}

function readBatch(r: WireReader, end: number): DecodedPeerBatch {
  let clusterId = '';
  let fromText = '';
  let toText = '';
  const wires: WireMessage[] = [];
  // Bounded by the bytes: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'PeerBatch')) {
      case 1:
        r.expect(tag, WireType.lengthDelimited, 'clusterId (field 1) of PeerBatch');
        clusterId = r.string(end);
        break;
      case 2:
        r.expect(tag, WireType.lengthDelimited, 'from (field 2) of PeerBatch');
        fromText = r.string(end);
        break;
      case 3:
        r.expect(tag, WireType.lengthDelimited, 'to (field 3) of PeerBatch');
        toText = r.string(end);
        break;
      case 4:
        r.expect(tag, WireType.lengthDelimited, 'messages (field 4) of PeerBatch');
        wires.push(readRaftMessage(r, r.nestedEnd(end)));
        break;
      default:
        r.skip(tag, end);
    }
  }
  const from = nodeId(fromText);
  const to = nodeId(toText);
  return { clusterId, from, to, messages: wires.map((m) => fromWire(m, from, to)) };
}

/** The decoded shape: every field, at its proto3 default when absent (readRaftMessage). */
interface WireMessage {
  readonly type: number;
  readonly term: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly transfer: boolean;
  readonly granted: boolean;
  readonly prevIndex: number;
  readonly prevTerm: number;
  /** Checked as they were read (readEntry). */
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly success: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
  readonly context: string;
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

function toWire(message: Message): Record<string, unknown> {
  const type = WIRE_TYPE[message.type];
  switch (message.type) {
    case 'preVote':
    case 'vote':
      return { type, term: message.term, lastIndex: message.lastIndex, lastTerm: message.lastTerm, transfer: message.transfer };
    case 'preVoteResp':
    case 'voteResp':
      return { type, term: message.term, granted: message.granted };
    case 'append':
      return {
        type,
        term: message.term,
        prevIndex: message.prevIndex,
        prevTerm: message.prevTerm,
        entries: message.entries,
        commit: message.commit,
      };
    case 'appendResp':
      return {
        type,
        term: message.term,
        success: message.success,
        index: message.index,
        hintIndex: message.hintIndex,
        hintTerm: message.hintTerm,
      };
    case 'heartbeat':
      return { type, term: message.term, commit: message.commit, context: message.context };
    case 'heartbeatResp':
      return { type, term: message.term, context: message.context };
    case 'timeoutNow':
      return { type, term: message.term };
    case 'snapshot':
      return {
        type,
        term: message.term,
        snapshotIndex: message.snapshot.index,
        snapshotTerm: message.snapshot.term,
        voters: message.snapshot.voters,
        learners: message.snapshot.learners ?? [],
      };
  }
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_BYTES = new Uint8Array(0);

/** A RaftMessage's field, by field number: its name (as protobufjs names it, for errors) and wire type. */
const RAFT_MESSAGE_FIELD_LIST: readonly (readonly [name: string, wireType: WireType] | undefined)[] = [
  undefined,
  ['type', WireType.varint],
  ['term', WireType.varint],
  ['lastIndex', WireType.varint],
  ['lastTerm', WireType.varint],
  ['transfer', WireType.varint],
  ['granted', WireType.varint],
  ['prevIndex', WireType.varint],
  ['prevTerm', WireType.varint],
  ['entries', WireType.lengthDelimited],
  ['commit', WireType.varint],
  ['success', WireType.varint],
  ['index', WireType.varint],
  ['hintIndex', WireType.varint],
  ['hintTerm', WireType.varint],
  ['context', WireType.lengthDelimited],
  ['snapshotIndex', WireType.varint],
  ['snapshotTerm', WireType.varint],
  ['voters', WireType.lengthDelimited],
  ['learners', WireType.lengthDelimited],
];
const RAFT_MESSAGE_FIELDS = RAFT_MESSAGE_FIELD_LIST.map((field, number) => (field === undefined ? undefined : { name: `${field[0]} (field ${number}) of RaftMessage`, wireType: field[1] }));

/** One RaftMessage from `r.at` to `end`, every field at its proto3 default unless present. */
function readRaftMessage(r: WireReader, end: number): WireMessage {
  const m = {
    type: 0, term: 0, lastIndex: 0, lastTerm: 0, transfer: false, granted: false, prevIndex: 0, prevTerm: 0,
    entries: NO_ENTRIES as Entry[] | readonly Entry[], commit: 0, success: false, index: 0, hintIndex: 0, hintTerm: 0, context: '',
    snapshotIndex: 0, snapshotTerm: 0, voters: NO_STRINGS as string[] | readonly string[], learners: NO_STRINGS as string[] | readonly string[],
  };
  // Bounded by the message: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    const fieldNumber = r.field(tag, 'RaftMessage');
    const field = RAFT_MESSAGE_FIELDS[fieldNumber];
    if (field === undefined) {
      r.skip(tag, end);
      continue;
    }
    r.expect(tag, field.wireType, field.name);
    switch (fieldNumber) {
      case 1: m.type = r.uint32(end) | 0; break;
      case 2: m.term = r.uint64(end); break;
      case 3: m.lastIndex = r.uint64(end); break;
      case 4: m.lastTerm = r.uint64(end); break;
      case 5: m.transfer = r.bool(end); break;
      case 6: m.granted = r.bool(end); break;
      case 7: m.prevIndex = r.uint64(end); break;
      case 8: m.prevTerm = r.uint64(end); break;
      case 9: (m.entries === NO_ENTRIES ? (m.entries = []) : (m.entries as Entry[])).push(readEntry(r, r.nestedEnd(end))); break;
      case 10: m.commit = r.uint64(end); break;
      case 11: m.success = r.bool(end); break;
      case 12: m.index = r.uint64(end); break;
      case 13: m.hintIndex = r.uint64(end); break;
      case 14: m.hintTerm = r.uint64(end); break;
      case 15: m.context = r.string(end); break;
      case 16: m.snapshotIndex = r.uint64(end); break;
      case 17: m.snapshotTerm = r.uint64(end); break;
      case 18: (m.voters === NO_STRINGS ? (m.voters = []) : (m.voters as string[])).push(r.string(end)); break;
      case 19: (m.learners === NO_STRINGS ? (m.learners = []) : (m.learners as string[])).push(r.string(end)); break;
    }
  }
  return m;
}

/** One Entry from `r.at` to `end`, checked as the core takes it (a known kind, numbers below 2^53). */
function readEntry(r: WireReader, end: number): Entry {
  let entryIndex = 0;
  let entryTerm = 0;
  let kind = 0;
  let payload: Uint8Array = NO_BYTES;
  // Bounded by the entry: every field read moves past at least its tag.
  while (r.at < end) {
    const tag = r.tag(end);
    switch (r.field(tag, 'Entry')) {
      case 1:
        r.expect(tag, WireType.varint, 'index (field 1) of Entry');
        entryIndex = r.uint64(end);
        break;
      case 2:
        r.expect(tag, WireType.varint, 'term (field 2) of Entry');
        entryTerm = r.uint64(end);
        break;
      case 3:
        r.expect(tag, WireType.varint, 'kind (field 3) of Entry');
        kind = r.uint32(end);
        break;
      case 4:
        r.expect(tag, WireType.lengthDelimited, 'payload (field 4) of Entry');
        payload = r.bytes(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  if (kind !== EntryKind.normal && kind !== EntryKind.noop && kind !== EntryKind.config) {
    throw new MalformedMessageError(`unknown entry kind ${kind} at index ${entryIndex}`);
  }
  return { index: index(checkedNumber(entryIndex, 'entry index')), term: term(checkedNumber(entryTerm, 'entry term')), kind, payload };
}

/**
 * Every case spells out from, to and term instead of spreading a shared envelope: V8 in Node
 * 20 builds `{ ...object, key }` with a key the object lacks through a slow path, about 4 us
 * for a one-message batch against 0.2 us written out (a micro-benchmark of decodeBatch), and
 * a leader decodes two replies per round.
 */
function fromWire(wire: WireMessage, from: NodeId, to: NodeId): Message {
  const type = TYPE_BY_WIRE.get(wire.type);
  const messageTerm = term(checkedNumber(wire.term, 'term'));
  switch (type) {
    case 'preVote':
    case 'vote':
      return {
        type,
        from,
        to,
        term: messageTerm,
        lastIndex: index(checkedNumber(wire.lastIndex, 'lastIndex')),
        lastTerm: term(checkedNumber(wire.lastTerm, 'lastTerm')),
        transfer: wire.transfer,
      };
    case 'preVoteResp':
    case 'voteResp':
      return { type, from, to, term: messageTerm, granted: wire.granted };
    case 'append':
      return {
        type,
        from,
        to,
        term: messageTerm,
        prevIndex: index(checkedNumber(wire.prevIndex, 'prevIndex')),
        prevTerm: term(checkedNumber(wire.prevTerm, 'prevTerm')),
        entries: wire.entries,
        commit: index(checkedNumber(wire.commit, 'commit')),
      };
    case 'appendResp':
      return {
        type,
        from,
        to,
        term: messageTerm,
        success: wire.success,
        index: index(checkedNumber(wire.index, 'index')),
        hintIndex: index(checkedNumber(wire.hintIndex, 'hintIndex')),
        hintTerm: term(checkedNumber(wire.hintTerm, 'hintTerm')),
      };
    case 'heartbeat':
      return { type, from, to, term: messageTerm, commit: index(checkedNumber(wire.commit, 'commit')), context: wire.context };
    case 'heartbeatResp':
      return { type, from, to, term: messageTerm, context: wire.context };
    case 'timeoutNow':
      return { type, from, to, term: messageTerm };
    case 'snapshot':
      return {
        type,
        from,
        to,
        term: messageTerm,
        snapshot: snapshotMetaFromWire(wire),
      };
    case undefined:
      throw new MalformedMessageError(`unknown Raft message type ${wire.type}`);
  }
}

function snapshotMetaFromWire(wire: WireMessage): SnapshotMeta {
  const meta = {
    index: index(checkedNumber(wire.snapshotIndex, 'snapshotIndex')),
    term: term(checkedNumber(wire.snapshotTerm, 'snapshotTerm')),
    voters: wire.voters.map(nodeId),
  };
  // Absent rather than empty when there are none, as the core and the snapshot files hold it.
  return wire.learners.length === 0 ? meta : { ...meta, learners: wire.learners.map(nodeId) };
}

/** A uint64 decoded as a number is exact only below 2^53; anything above is not ours. */
function checkedNumber(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) throw new MalformedMessageError(`${field} ${value} is not an integer below 2^53`);
  return value;
}

/** RaftMessage field tags (field number << 3 | wire type) used by encodeAppend. */
const TAG = {
  type: (1 << 3) | 0,
  term: (2 << 3) | 0,
  prevIndex: (7 << 3) | 0,
  prevTerm: (8 << 3) | 0,
  entries: (9 << 3) | 2,
  commit: (10 << 3) | 0,
} as const;
/** Entry field tags. */
const ENTRY_TAG = { index: (1 << 3) | 0, term: (2 << 3) | 0, kind: (3 << 3) | 0, payload: (4 << 3) | 2 } as const;

type AppendMessage = Extract<Message, { type: 'append' }>;

/**
 * The protobuf encoding of an append RaftMessage, as protobufjs would decode it: proto3
 * scalars that are zero are left out (they decode as zero), entries are length-delimited
 * Entry messages. One allocation for the whole message.
 */
function encodeAppend(message: AppendMessage): Uint8Array {
  let total = scalarBytes(WIRE_TYPE.append) + scalarBytes(message.term) + scalarBytes(message.prevIndex) + scalarBytes(message.prevTerm) + scalarBytes(message.commit);
  for (const entry of message.entries) {
    const size = entryBytes(entry);
    total += 1 + varint64Length(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let at = writeScalar(out, 0, TAG.type, WIRE_TYPE.append);
  at = writeScalar(out, at, TAG.term, message.term);
  at = writeScalar(out, at, TAG.prevIndex, message.prevIndex);
  at = writeScalar(out, at, TAG.prevTerm, message.prevTerm);
  for (const entry of message.entries) {
    out[at++] = TAG.entries;
    at = writeVarint64(out, at, entryBytes(entry));
    at = writeScalar(out, at, ENTRY_TAG.index, entry.index);
    at = writeScalar(out, at, ENTRY_TAG.term, entry.term);
    at = writeScalar(out, at, ENTRY_TAG.kind, entry.kind);
    at = writeBytesField(out, at, ENTRY_TAG.payload, entry.payload);
  }
  at = writeScalar(out, at, TAG.commit, message.commit);
  if (at !== total) throw new Error(`encodeAppend: wrote ${at} bytes, sized ${total}`);
  return out;
}

function entryBytes(entry: Entry): number {
  return scalarBytes(entry.index) + scalarBytes(entry.term) + scalarBytes(entry.kind) + bytesFieldBytes(entry.payload);
}

