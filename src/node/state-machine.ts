import { configurationContext, decodeConfiguration, EntryKind, type Entry, type NodeId, type SnapshotMeta } from '../../raft/index.js';
import { ErrorCode } from '../../errors/index.js';
import {
  BrokerError,
  BrokerSnapshotEncoder,
  BrokerState,
  decodeAppliedCommand,
  decodeBrokerSnapshot,
  decodeCommand,
  encodeBrokerSnapshot,
  encodeCommand,
  MalformedCommandError,
  messagesHeld,
  type AppliedCommand,
  type ApplyResult,
  type BrokerStateOptions,
  type CommandEnvelope,
  type LeaseDelivery,
  type MessageRecord,
} from '../broker/index.js';
import { decodeMemberContext, MemberBook, MemberRecordError } from './member-book.js';

/**
 * A snapshot payload that starts with these four bytes (little-endian "QLMB") has a member
 * section first: u32 length, the member book (MemberBook.encode), then the broker's
 * snapshot. A broker snapshot starts with its format version (a small u32), so a payload
 * written before member sections existed is read as the broker's alone, with an empty book.
 */
const MEMBER_SECTION_MAGIC = 0x424d_4c51;

/**
 * The first byte of every normal entry's payload says what the rest is. Tags are never
 * reused; an unknown tag is applied as a rejection (see NodeStateMachine.apply).
 */
export const PayloadTag = { record: 0, broker: 1 } as const;
export type PayloadTag = (typeof PayloadTag)[keyof typeof PayloadTag];

/**
 * Prefixes each payload with `tag`, all in one allocation: the returned payloads are views
 * into a single buffer, so a batch of small records costs one copy, not one per record.
 */
export function tagPayloads(tag: PayloadTag, payloads: readonly Uint8Array[]): Uint8Array[] {
  let total = 0;
  for (const p of payloads) total += p.length + 1;
  const buffer = Buffer.allocUnsafe(total);
  const tagged: Uint8Array[] = [];
  let at = 0;
  for (const p of payloads) {
    buffer[at] = tag;
    buffer.set(p, at + 1);
    tagged.push(new Uint8Array(buffer.buffer, buffer.byteOffset + at, p.length + 1));
    at += p.length + 1;
  }
  return tagged;
}

/**
 * A broker command as the payload of a tag-1 entry, the one form every broker write takes,
 * encoded in one buffer after its tag. Commands other than produce are decoded again before
 * they leave: an encoder bug (a group reset to "earliest", say, which only the decoder
 * refuses) then fails this request on the leader instead of reaching every replica, which
 * would apply it as a rejection. A produce is not: it is the hot command, and its decoder
 * refuses nothing its encoder writes (every field is range-checked as it is written; the
 * round trip is a property test in test/broker/broker-state.test.ts).
 */
export function brokerEntryPayload(envelope: CommandEnvelope): Uint8Array {
  const payload = encodeCommand(envelope, PayloadTag.broker);
  if (envelope.command.kind !== 'produce') decodeCommand(payload.subarray(1));
  return payload;
}

/** The plain record in a tag-0 entry (a view, no copy), or null for any other entry. */
export function plainRecord(entry: Entry): Uint8Array | null {
  if (entry.kind !== EntryKind.normal || entry.payload[0] !== PayloadTag.record) return null;
  return entry.payload.subarray(1);
}

/** The messages an applied broker entry holds (a produce's batch), by position. */
export interface AppliedMessages {
  readonly logIndex: number;
  readonly messages: readonly MessageRecord[];
}

/**
 * An applied entry's messages, built when first asked for. The apply reads a produce as its
 * summary (no messages), and every node's lease listener is told of each entry that hands
 * messages out, though only the node running the consumer's loop sends them: that node alone
 * decodes the produce's messages, from the entry's bytes (which the apply found well formed).
 */
class EntryMessages implements AppliedMessages {
  private decoded: readonly MessageRecord[] | null = null;

  constructor(
    readonly logIndex: number,
    private readonly command: AppliedCommand,
    /** The entry's command bytes (after its tag): immutable once logged. */
    private readonly bytes: Uint8Array,
  ) {}

  get messages(): readonly MessageRecord[] {
    this.decoded ??= messagesHeld(this.command.kind === 'produceSummary' ? decodeCommand(this.bytes).command : this.command);
    return this.decoded;
  }
}

/**
 * Told, during the apply of an entry, what standing leases handed out at it
 * (BrokerState.leaseDeliveries) and the messages the entry itself holds, which the
 * deliveries mostly point into. Called synchronously inside the apply: it must not throw,
 * and must only take note (the state may not be changed from it).
 */
export type LeaseListener = (deliveries: readonly LeaseDelivery[], applied: AppliedMessages) => void;

/**
 * What the node applies committed entries to, in log order: plain records need nothing
 * (the log is their state), broker commands change the BrokerState. Rebuilt on every start
 * from the newest snapshot and the committed entries after it.
 */
export class NodeStateMachine {
  private state: BrokerState;
  private book = new MemberBook();
  private readonly options: BrokerStateOptions;
  private readonly leaseListeners = new Set<LeaseListener>();

  constructor(options: BrokerStateOptions = {}) {
    this.options = options;
    this.state = new BrokerState(options);
  }

  /** The broker's state now; replaced as a whole when a snapshot is restored, so never kept. */
  get broker(): BrokerState {
    return this.state;
  }

  /** Calls `listener` at every applied entry whose apply handed messages out under a lease; returns the unsubscribe. */
  onLeaseDeliveries(listener: LeaseListener): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  /** The members' addresses and incarnations as of the last entry applied; replaced as a whole by a snapshot, so never kept. */
  get members(): MemberBook {
    return this.book;
  }

  /** The whole state as of the last entry applied, as a snapshot's payload: snapshotPrefix() then the broker's (versioned, see broker-snapshot.ts). */
  encodeSnapshot(): Uint8Array {
    return Buffer.concat([this.snapshotPrefix(), encodeBrokerSnapshot(this.state)]);
  }

  /** The member section a snapshot payload starts with; snapshotEncoder()'s bytes follow it. */
  snapshotPrefix(): Uint8Array {
    const book = this.book.encode();
    const prefix = Buffer.allocUnsafe(8 + book.length);
    prefix.writeUInt32LE(MEMBER_SECTION_MAGIC, 0);
    prefix.writeUInt32LE(book.length, 4);
    prefix.set(book, 8);
    return prefix;
  }

  /**
   * The same payload, encoded in slices (see BrokerSnapshotEncoder): nothing may be applied
   * until it is done (the node holds applies meanwhile). A restore meanwhile replaces the
   * state as a whole and leaves the one being encoded unchanged.
   */
  snapshotEncoder(options: { readonly stepItems?: number } = {}): BrokerSnapshotEncoder {
    return new BrokerSnapshotEncoder(this.state, options);
  }

  /**
   * Replaces the whole state by the payload of the snapshot `meta` describes (the state with
   * every entry through meta.index applied). A payload that does not decode throws, changing nothing.
   */
  restoreSnapshot(payload: Uint8Array, meta: SnapshotMeta): void {
    const { book, broker } = splitSnapshotPayload(payload);
    const state = decodeBrokerSnapshot(broker, this.options);
    this.book = book;
    this.state = state;
  }

  /**
   * Applies one committed entry; returns the broker's result for a broker entry, null for
   * anything else. A broker entry that does not decode is a bug on the leader that proposed
   * it (it validates before proposing), but every replica must still reach the same state:
   * it is applied as a rejection, the same on every node, and the replica goes on.
   */
  apply(entry: Entry): ApplyResult | null {
    if (entry.kind === EntryKind.config) {
      this.applyConfiguration(entry);
      return null;
    }
    if (entry.kind !== EntryKind.normal) return null;
    const tag = entry.payload[0];
    if (tag === PayloadTag.record) return null;
    if (tag !== PayloadTag.broker) {
      return { kind: 'rejected', error: new BrokerError(ErrorCode.invalidArgument, `entry ${entry.index} has unknown payload tag ${String(tag)}`) };
    }
    const bytes = entry.payload.subarray(1);
    let envelope;
    try {
      envelope = decodeAppliedCommand(bytes);
    } catch (error) {
      if (!(error instanceof MalformedCommandError)) throw error;
      return { kind: 'rejected', error: new BrokerError(ErrorCode.invalidArgument, `entry ${entry.index} is not a valid broker command: ${error.message}`, { cause: error }) };
    }
    const result = this.state.apply(entry.index, envelope.leaderTimeMs, envelope.command);
    const handed = this.state.leaseDeliveries;
    if (handed.length > 0 && this.leaseListeners.size > 0) {
      const applied = new EntryMessages(entry.index, envelope.command, bytes);
      for (const listener of this.leaseListeners) listener(handed, applied);
    }
    return result;
  }

  /**
   * A committed configuration: the member it adds is recorded (its context), and those it
   * no longer names are dropped. A context that does not decode is ignored, the same on
   * every replica (the leader encodes it: a bug there must not stop the cluster).
   */
  private applyConfiguration(entry: Entry): void {
    const context = configurationContext(entry.payload);
    if (context !== null) {
      try {
        this.book.set(decodeMemberContext(context));
      } catch (error) {
        if (!(error instanceof MemberRecordError)) throw error;
      }
    }
    const config = decodeConfiguration(entry.payload);
    this.book.retain(new Set<NodeId>([...config.voters, ...config.learners]));
  }
}

/** A snapshot payload's member book (empty for a payload written before books existed) and broker part. */
function splitSnapshotPayload(payload: Uint8Array): { book: MemberBook; broker: Uint8Array } {
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (view.length < 8 || view.readUInt32LE(0) !== MEMBER_SECTION_MAGIC) return { book: new MemberBook(), broker: payload };
  const length = view.readUInt32LE(4);
  if (8 + length > view.length) throw new MemberRecordError(`the snapshot's member section of ${length} bytes runs past its ${view.length} bytes`);
  return { book: MemberBook.decode(payload.subarray(8, 8 + length)), broker: payload.subarray(8 + length) };
}
