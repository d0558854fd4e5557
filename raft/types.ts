/**
 * The vocabulary shared by the consensus core, its drivers and storage.
 *
 * Everything here is plain data: the core hands it out and takes it in, and never
 * touches a file, a socket or a clock. Storage imports these types (and only types).
 */

/** A node's name in the cluster ("n1"). Distinct from other strings so ids are never mixed up with payloads. */
export type NodeId = string & { readonly __brand: 'NodeId' };
/** A Raft term. Starts at 0 on a fresh node; only ever grows. */
export type Term = number & { readonly __brand: 'Term' };
/** A position in the replicated log. The first entry ever written has index 1; 0 means "before the log". */
export type Index = number & { readonly __brand: 'Index' };

export const nodeId = (id: string): NodeId => id as NodeId;
export const term = (n: number): Term => n as Term;
export const index = (n: number): Index => n as Index;

/**
 * What an entry carries. Numeric codes because storage writes them into record headers;
 * new kinds get new numbers, old numbers are never reused.
 */
export const EntryKind = {
  /** A client's payload, handed to the state machine. */
  normal: 1,
  /** Appended by every new leader so it can commit in its own term (Raft §5.4.2, §8). */
  noop: 2,
  /**
   * A membership change: the payload is the whole configuration that follows it (see
   * raft/membership.ts for the encoding), which every node uses from the moment the entry is
   * in its log, committed or not (docs/membership.md).
   */
  config: 3,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  readonly index: Index;
  readonly term: Term;
  readonly kind: EntryKind;
  /** Owned by the log once proposed: nobody mutates it afterwards. */
  readonly payload: Uint8Array;
}

/**
 * State that must be durable before the node acts on it: the term it is in, whom it voted
 * for in that term, and how far it knows the log to be committed.
 */
export interface HardState {
  readonly term: Term;
  /** The candidate this node voted for in `term`, or null if it has not voted in `term`. */
  readonly vote: NodeId | null;
  readonly commit: Index;
}

export const Role = {
  follower: 'follower',
  preCandidate: 'preCandidate',
  candidate: 'candidate',
  leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Volatile state a driver wants to know about when it changes (not persisted). */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
}

/** A linearizable read point: once `index` is applied, a read tagged `context` may be served. */
export interface ReadState {
  readonly index: Index;
  readonly context: string;
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for pre-votes, the term the sender would campaign in. */
  readonly term: Term;
}

/** Sent by a pre-candidate (term = its term + 1, not adopted) or a candidate. */
export interface VoteRequest extends Envelope {
  readonly type: 'preVote' | 'vote';
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** Set when the campaign was ordered by the leader (transfer): bypasses the leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'preVoteResp' | 'voteResp';
  readonly granted: boolean;
}

export interface AppendRequest extends Envelope {
  readonly type: 'append';
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

export interface AppendResponse extends Envelope {
  readonly type: 'appendResp';
  readonly success: boolean;
  /**
   * On success: the highest index the follower now holds durably and in agreement with the
   * leader (prevIndex + entries.length). On rejection: the prevIndex that was rejected.
   */
  readonly index: Index;
  /**
   * On rejection, where the leader should probe next: the follower's last index with a term
   * not above `hintTerm`, so a whole conflicting term is skipped in one round trip.
   */
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

export interface Heartbeat extends Envelope {
  readonly type: 'heartbeat';
  /** min(leader commit, follower match): a follower never learns a commit beyond what it holds. */
  readonly commit: Index;
  /** Read-index round this heartbeat confirms, or "" for none. */
  readonly context: string;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeatResp';
  readonly context: string;
}

/**
 * The members of a cluster at one point of its log. Voters elect and make quorums; learners
 * receive the log (and snapshots) but never count in a quorum, never campaign, and their votes
 * are counted by no one. A node is in at most one of the two lists. No voters at all means "no
 * configuration": a node that joins an existing cluster holds none until a leader sends it a
 * log or snapshot that carries one.
 */
export interface Configuration {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * What a snapshot stands for: the state machine's state with every entry through `index`
 * applied, `term` being that entry's term, and the configuration as of `index` (voters, and
 * learners when there are any). The state itself is the driver's (a file it writes, reads and
 * streams); the core sees only this description.
 */
export interface SnapshotMeta {
  readonly index: Index;
  readonly term: Term;
  readonly voters: readonly NodeId[];
  /** Absent means none. */
  readonly learners?: readonly NodeId[];
}

/**
 * The leader sends a follower whose next entry it has compacted away its newest snapshot
 * (Raft §7, InstallSnapshot). The driver streams the state beside this message and steps it
 * into the receiving core only once the whole snapshot has arrived intact; the follower
 * answers with an AppendResponse.
 */
export interface InstallSnapshot extends Envelope {
  readonly type: 'snapshot';
  readonly snapshot: SnapshotMeta;
}

/** The leader tells a caught-up transfer target to campaign now, skipping pre-vote and lease. */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeoutNow';
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | TimeoutNow;

export type MessageType = Message['type'];

/**
 * One batch of work for the driver. The driver must, in this order:
 *   1. send `messages` (they may leave at once, in parallel with 2);
 *   2. if `snapshot` is set, install it first (see below); then append `entries` to the log
 *      (truncating any existing suffix from entries[0].index) and persist `hardState` if
 *      set, both durably;
 *   3. only then send `persistedMessages`;
 *   4. apply `committedEntries` in order (they may include entries from step 2);
 *   5. call `advance(ready)`.
 * Calls to tick/step/propose between `ready()` and `advance()` are allowed; their effects
 * appear in the next Ready.
 *
 * Or, so that one Ready's fsync need not hold back the next (etcd's asynchronous storage
 * writes), in two halves: `accept(ready)` once step 1 is done and step 2 is issued (written,
 * not yet durable), which lets the next Ready be taken at once; then, when step 2 is durable,
 * `persisted(ready)`, in the order the Readies were accepted, and steps 3 and 4 after it.
 * Committed entries not yet durable in this node's log are applied only after the
 * `persisted()` of the Ready that wrote them; an entry a later Ready replaced (a conflict)
 * never becomes durable by the earlier Ready, so that Ready's append acknowledgements must be
 * dropped, not sent.
 *
 * Installing a snapshot is never overlapped: every earlier Ready is persisted and its
 * committed entries applied first; then the snapshot's state (received whole beside the
 * InstallSnapshot message) replaces the state machine's, and the log is reset to continue
 * after it (every entry discarded, the compaction point set to snapshot.index and
 * snapshot.term), durably, before accept(). The acknowledgements of earlier Readies not yet
 * sent when the snapshot arrived name entries the reset discards, so they must be dropped.
 */
export interface Ready {
  readonly softState: SoftState | null;
  /** A snapshot from the leader to install before this Ready's entries (step 2), or null. */
  readonly snapshot: SnapshotMeta | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/**
 * The core's read-only view of the durable log. Synchronous because the core is: the
 * implementation answers from memory (an index of terms) or a page-cache read.
 *
 * Invariants: firstIndex() >= 1; lastIndex() >= firstIndex() - 1 (equal when empty);
 * term(i) is defined for firstIndex()-1 <= i <= lastIndex() and undefined outside it
 * (term(firstIndex()-1) is the compaction point's term, 0 for an uncompacted log).
 */
export interface LogReader {
  firstIndex(): Index;
  lastIndex(): Index;
  term(at: Index): Term | undefined;
  /** Entries [from, toExclusive), at least one if the range is non-empty, stopping before bytesMax of payload is exceeded. */
  entries(from: Index, toExclusive: Index, bytesMax: number): readonly Entry[];
}

/** The injected source of randomness (election jitter). Seeded in tests and the simulator. */
export interface RandomSource {
  /** A uniformly chosen integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}
