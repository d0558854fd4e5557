import type { Index, NodeId, Term } from '../../raft/index.js';
import type { BrokerMessageView, TransactionService } from './transaction-service.js';
import type { TlsCertificates } from './tls-certificates.js';
import type { ClientAuthOptions } from './client-auth.js';
import type { AccessOperation, ClientAuthorizer } from './access-check.js';

export type { BrokerMessageView } from './transaction-service.js';

/**
 * What a node offers its clients. The gRPC client server (client-server.ts) is a thin
 * adapter over this; the node (src/node/) implements it. Methods fail with the NodeError
 * subclasses of src/transport/node-errors.ts, whose `code` the server maps to a gRPC status.
 */
export interface ClientService {
  /**
   * Appends records as consecutive log entries. Resolves once all are committed (on a
   * quorum, each with the configured flush) and applied on this node. Fails with
   * NotLeaderError on a follower, DeadlineExceededError after `timeoutMs` (outcome unknown),
   * UnavailableError if leadership was lost while waiting (outcome unknown).
   */
  /** acks (default 'all'): answer once committed and applied, or once durable in this leader's own log. */
  append(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number; readonly acks?: AppendAcks }): Promise<AppendOutcome>;
  /** Committed records with index >= from (no-op entries skipped), at most bytesMax of payload (at least one record if any). */
  read(from: Index, bytesMax: number): ReadOutcome;
  /** Resolves when this node's applied index exceeds `after`, or rejects when `signal` aborts. */
  waitForApplied(after: Index, signal: AbortSignal): Promise<void>;
  status(): NodeStatusView;
  /** Moves leadership to `to`; resolves once `to` leads. NotLeaderError on a follower. */
  transfer(to: NodeId, options: { readonly timeoutMs: number }): Promise<void>;
}

/**
 * The broker's client API on one node. Writes (topics, producer ids, produce) fail with
 * NotLeaderError on a follower and resolve once committed and applied, like append; a
 * refusal by the broker's state machine is a BrokerRefusedError (src/transport/node-errors.ts) whose
 * code names it. Reads are served from this node's applied state.
 */
export interface BrokerService {
  createTopic(name: string, messageBytesMax: number, options: { readonly timeoutMs: number }): Promise<void>;
  deleteTopic(name: string, options: { readonly timeoutMs: number }): Promise<void>;
  listTopics(): readonly TopicView[];
  /** NotFoundError for a topic that does not exist. */
  describeTopic(name: string): TopicView;
  initProducer(options: { readonly timeoutMs: number }): Promise<number>;
  /** acks (default 'all'): answer once applied, once durable in the leader's log, or once proposed. */
  produce(request: ProduceInput, options: { readonly timeoutMs: number; readonly acks?: ProduceAcks }): Promise<ProduceOutcome>;
  /** Messages from `offset` on, up to bytesMax of payload (at least one if any). NotFoundError for an unknown topic. */
  fetch(topic: string, offset: number, bytesMax: number): FetchOutcome;
}

/** Where a new group starts reading. */
export type GroupStartView =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'offset'; readonly offset: number }
  | { readonly kind: 'time'; readonly timeMs: number };

/** Group settings a client may give; what it leaves out takes the broker's defaults. */
export interface GroupSettingsInput {
  readonly ackDeadlineMs?: number;
  readonly retryDelaysMs?: readonly number[];
  readonly retriesMax?: number;
}

export interface GroupView {
  readonly name: string;
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly committedOffset: number;
  readonly nextOffset: number;
  readonly lag: number;
  readonly inflight: number;
  readonly waiting: number;
  readonly dead: number;
  readonly consumers: readonly { readonly id: string; readonly inflight: number }[];
  readonly ackDeadlineMs: number;
  readonly retryDelaysMs: readonly number[];
  readonly retriesMax: number;
}

export interface ConsumeInput {
  readonly group: string;
  readonly topic: string;
  readonly consumerId: string;
  readonly prefetch: number;
  readonly start: GroupStartView;
  readonly settings: GroupSettingsInput;
  readonly bytesMax: number;
}

export interface DeliveryView {
  readonly offset: number;
  readonly delivery: number;
  readonly deadlineMs: number;
  readonly message: BrokerMessageView;
}

export type AckOutcomeView = 'acked' | 'alreadyAcked' | 'notDelivered';

/**
 * Consumer groups on one node. Writes fail with NotLeaderError on a follower and resolve
 * once committed and applied; refusals are BrokerRefusedError / NotFoundError /
 * InvalidArgumentError as for the broker.
 */
export interface GroupService {
  createGroup(request: { readonly group: string; readonly topic: string; readonly start: GroupStartView; readonly settings: GroupSettingsInput; readonly ifAbsent: boolean }, options: { readonly timeoutMs: number }): Promise<boolean>;
  deleteGroup(group: string, options: { readonly timeoutMs: number }): Promise<void>;
  listGroups(): readonly GroupView[];
  describeGroup(group: string): GroupView;
  /**
   * Pushes deliveries to `send` (one batch at a time; the next waits for the previous send)
   * as the consumer's prefetch allows, until `signal` aborts (the consumer's unacked
   * messages are then released for redelivery) or this node stops leading (NotLeaderError).
   */
  consume(request: ConsumeInput, send: (deliveries: readonly DeliveryView[]) => Promise<void>, signal: AbortSignal): Promise<void>;
  ack(group: string, offsets: readonly number[], options: { readonly timeoutMs: number }): Promise<readonly AckOutcomeView[]>;
  nack(request: { readonly group: string; readonly offset: number; readonly delivery: number; readonly reason: string; readonly delayMs: number }, options: { readonly timeoutMs: number }): Promise<{ readonly deadLettered: boolean; readonly retryAtMs: number }>;
  extend(request: { readonly group: string; readonly offset: number; readonly delivery: number; readonly extendMs: number }, options: { readonly timeoutMs: number }): Promise<number>;
  /**
   * The consumer leaves cleanly: delivering to it stops, then what it holds is released;
   * `seen` deliveries count as failed ones, the others not (the broker's Leave command).
   */
  leave(request: LeaveInput, options: { readonly timeoutMs: number }): Promise<{ readonly counted: number; readonly returned: number }>;
  /**
   * Moves the group's committed and next offset to `to` and forgets its unfinished
   * deliveries (the broker's ResetGroup command); 'earliest' is the earliest offset the
   * leader's log keeps. BrokerRefusedError (failedPrecondition) while messages are in flight
   * or dead ones wait for their copy, unless `force`; OutOfRangeError for an offset
   * retention deleted; InvalidArgumentError for one past the topic's end.
   */
  resetGroup(request: ResetGroupInput, options: { readonly timeoutMs: number }): Promise<ResetGroupOutcome>;
}

export interface ResetGroupInput {
  readonly group: string;
  readonly to: GroupStartView;
  readonly force: boolean;
}

export interface ResetGroupOutcome {
  /** Where the group now starts: its committed and next offset. */
  readonly committedOffset: number;
  readonly previousCommittedOffset: number;
  /** Unfinished deliveries forgotten (in flight, waiting, ready, dead). */
  readonly forgotten: number;
}

export interface LeaveInput {
  readonly group: string;
  readonly consumerId: string;
  readonly seen: readonly { readonly offset: number; readonly delivery: number }[];
}

export interface TopicView {
  readonly name: string;
  readonly messageBytesMax: number;
  readonly nextOffset: number;
}

export interface ProduceInput {
  readonly topic: string;
  /** 0: no idempotence. */
  readonly producerId: number;
  readonly firstSequence: number;
  readonly messages: readonly BrokerMessageView[];
}

/** When a produce is answered (client.proto's Acks). */
export type ProduceAcks = 'all' | 'leader' | 'none';

export interface ProduceOutcome {
  /** Valid for acks 'all' only (assigned when the entry is applied); 0 otherwise. */
  readonly firstOffset: number;
  readonly count: number;
  readonly duplicate: boolean;
  /** The log entry holding the batch; 0 when unknown here (a duplicate answered from the dedupe window). */
  readonly logIndex: number;
  /** Non-zero for a delayed batch: it gets its offsets at this time (firstOffset is 0 meanwhile). */
  readonly deliverAtMs: number;
}

export interface FetchOutcome {
  readonly messages: readonly (BrokerMessageView & { readonly offset: number })[];
  readonly nextOffset: number;
  readonly endOffset: number;
}

export type AppendAcks = 'all' | 'leader';

export interface AppendOutcome {
  readonly firstIndex: Index;
  readonly lastIndex: Index;
}

export interface LogRecord {
  readonly index: Index;
  readonly term: Term;
  readonly payload: Uint8Array;
}

export interface ReadOutcome {
  readonly records: readonly LogRecord[];
  /** The index to ask for next: one past the last record returned (or past skipped no-ops). */
  readonly nextIndex: Index;
  readonly appliedIndex: Index;
  readonly firstIndex: Index;
}

export interface FollowerView {
  readonly id: NodeId;
  readonly matchIndex: Index;
  /** Entries the follower is behind the leader's last index. */
  readonly lag: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  /** A learner: replicated to, not counted in quorums (absent: a voter). */
  readonly learner?: boolean;
}

export interface NodeStatusView {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  readonly term: Term;
  readonly leaderId: NodeId | null;
  readonly leaderClientAddress: string | null;
  readonly commitIndex: Index;
  readonly appliedIndex: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  /** Storage found lost durable entries and no leader has repaired them yet. */
  readonly votingBlocked: boolean;
  /** While votingBlocked, the index the log must reach again from the leader before this node votes (0 otherwise, and from a node that does not say). */
  readonly repairThroughIndex: Index;
  /** This node's flush policy (null from a node that does not report it). */
  readonly flush: 'sync' | 'async' | null;
  /** With sync flush, whether an acknowledgement also waits for the durable mark's fdatasync (ordered); else null. */
  readonly durableMark: 'ordered' | 'lagging' | null;
  /** With async flush, the interval between fdatasyncs; else null. */
  readonly flushIntervalMs: number | null;
  /** On the leader only; empty elsewhere. */
  readonly followers: readonly FollowerView[];
  /** The newest snapshot this node holds (0: none). */
  readonly snapshotIndex: Index;
  /** Seconds since that snapshot was written, installed or (the one a node started from) saved to its file; null with none. */
  readonly snapshotAgeSeconds: number | null;
  /** Bytes of the log's segment files. */
  readonly logBytes: number;
  /** Bytes of the snapshot files. */
  readonly snapshotBytes: number;
  /** The data directory's file system as the node last sampled it; null before a sample, or from a node that does not say. */
  readonly disk: DiskView | null;
  /** Percent of the disk used above which the leader refuses new messages (100: never); null from a node that does not say. */
  readonly diskHighWatermarkPercent: number | null;
  /** The disk guard refuses new messages on this node now (RESOURCE_EXHAUSTED); reads and acks go on. */
  readonly produceRefused: boolean;
  /** This node's data directory incarnation (absent from a node that does not say). */
  readonly incarnation?: string;
  /** The configuration this node holds (empty voters: none yet; absent from a node that does not say). */
  readonly voters?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** host:port of this node's HTTP endpoint (absent: it serves none, or does not say). */
  readonly httpAddress?: string;
}

/** One member of the configuration a node holds. */
export interface MemberInfo {
  readonly id: NodeId;
  readonly role: 'voter' | 'learner';
  /** null when the node knows no address for it. */
  readonly peerAddress: string | null;
  readonly clientAddress: string | null;
  /** Its data directory incarnation as recorded ('' when none is). */
  readonly incarnation: string;
  /** On the leader: how far its log matches the leader's; null elsewhere. */
  readonly matchIndex: number | null;
  /** host:port of its HTTP endpoint as recorded when it was added; null when not known. */
  readonly httpAddress: string | null;
}

export interface MembersView {
  readonly members: readonly MemberInfo[];
  readonly leaderId: NodeId | null;
  readonly leaderClientAddress: string | null;
  /** The index of the entry (or snapshot) the configuration comes from. */
  readonly configIndex: number;
}

/** One single-server membership change as a client asks for it. */
export type MemberChangeInput =
  | { readonly kind: 'add'; readonly id: NodeId; readonly peerAddress: string; readonly clientAddress: string; readonly incarnation: string; readonly httpAddress: string | null }
  | { readonly kind: 'promote'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId; readonly force: boolean };

/**
 * Membership on one node (docs/membership.md). members() answers from this node's
 * configuration; changeMember() runs on the leader (NotLeaderError elsewhere), resolves once
 * the change is committed, and fails with MembershipRefusedError for a change the leader
 * refuses (its message says why), UnavailableError when no change can be made right now.
 */
export interface MembershipService {
  members(): MembersView;
  changeMember(change: MemberChangeInput, options: { readonly timeoutMs: number }): Promise<MembersView>;
}

/** How full a node's data directory's file system is; sizeBytes is what the node can fill (used plus available). */
export interface DiskView {
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly sizeBytes: number;
}

/** An ACL rule as the wire layer hands it to the node (the node checks the rest: names, lengths, '*'). */
export interface AclRuleView {
  readonly principal: string;
  readonly resource: { readonly kind: 'topic' | 'group'; readonly pattern: string };
  readonly operations: readonly AccessOperation[];
}

/**
 * A node's ACLs. Changes fail with NotLeaderError on a follower and resolve once committed
 * and applied (true if the rules changed); a rule that cannot be one is InvalidArgumentError.
 * The list is this node's applied rules.
 */
export interface AclService {
  addAcl(rule: AclRuleView, options: { readonly timeoutMs: number }): Promise<boolean>;
  removeAcl(rule: AclRuleView, options: { readonly timeoutMs: number }): Promise<boolean>;
  listAcls(): readonly AclRuleView[];
}

export interface ClientServerOptions {
  /** host:port to listen on for clients. */
  readonly listenAddress: string;
  readonly service: ClientService;
  /** The broker API; without it the broker methods answer UNIMPLEMENTED. */
  readonly broker?: BrokerService;
  /** Consumer groups; without them the group methods answer UNIMPLEMENTED. */
  readonly groups?: GroupService;
  /** Transactions (half messages, check-back); without it those methods answer UNIMPLEMENTED. */
  readonly transactions?: TransactionService;
  /** Membership (Members, ChangeMember); without it those methods answer UNIMPLEMENTED. */
  readonly membership?: MembershipService;
  readonly messageBytesMax: number;
  /** Largest single record an Append may carry (INVALID_ARGUMENT above it). Default: messageBytesMax. */
  readonly recordBytesMax?: number;
  /** Longest an Append or Transfer waits when the client set no shorter deadline. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** TLS on the client port with these certificates (replaceable while running); without it, plaintext. */
  readonly tls?: TlsCertificates;
  /**
   * Every call must authenticate (client-auth.ts): a client certificate the CA signed, or a
   * password auth.checkPassword accepts (over TLS only). Absent: no authentication, as before.
   */
  readonly auth?: ClientAuthOptions;
  /**
   * Decides each call by its authenticated principal (ACLs, superusers); only with `auth`,
   * since without it no call has a principal. Absent: every call is allowed.
   */
  readonly authorizer?: ClientAuthorizer;
  /** The ACL methods; without them they answer UNIMPLEMENTED. */
  readonly acls?: AclService;
}

export interface ClientServer {
  /** Stops taking new calls, ends open follow streams, waits for calls in progress. */
  close(): Promise<void>;
}
