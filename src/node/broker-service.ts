import { ErrorCode } from '../../errors/index.js';
import { EntryKind, type Index } from '../../raft/index.js';
import type { CommitLog } from '../../storage/index.js';
import { MalformedBinaryError } from '../encoding/index.js';
import {
  BROKER_DEFAULTS,
  decodeCommand,
  messageBytes,
  messagesHeld,
  topicNameProblem,
  type ApplyResult,
  type BrokerCommand,
  type BrokerError,
  type MessageRecord,
} from '../broker/index.js';
import type { BrokerMessageView, BrokerService, FetchOutcome, ProduceAcks, ProduceInput, ProduceOutcome, TopicView } from '../transport/index.js';
import type { NodeConfig } from './config.js';
import { BrokerRefusedError, InternalError, InvalidArgumentError, NotFoundError, OutOfRangeError, ResourceExhaustedError } from '../transport/index.js';
import { ADMIT_ALL, type WriteAdmission } from './disk-guard.js';
import { NO_PROBE, probedCall, type NodeProbe } from './node-probe.js';
import { UNTIL_OF_ACKS, type Appended, type AppendUntil, type Replica } from './replica.js';
import { brokerEntryPayload, PayloadTag, type NodeStateMachine } from './state-machine.js';

type ProduceCommand = Extract<BrokerCommand, { kind: 'produce' }>;

/** Bytes a fetched message costs beyond its key, headers and payload, for the response budget. */
const FETCH_OVERHEAD_BYTES = 32;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** How long a clock entry may take to commit before the next tick tries another. */
const CLOCK_ENTRY_TIMEOUT_MS = 5_000;
/** A log growing by plain records alone gets a clock entry this often (see advanceClockIfDue). */
const CLOCK_SAMPLE_INTERVAL_MS = 10_000;
/** How long a trim entry may take to commit; a failed one is proposed again at the next compaction. */
const TRIM_ENTRY_TIMEOUT_MS = 5_000;

/**
 * The broker API of one node. Writes are broker commands proposed as tag-1 log entries
 * stamped with this leader's clock; the answer is what the state machine returned when the
 * entry was applied here (a produce with acks 'leader' or 'none' is answered earlier, see
 * produce). Only what needs no state is checked before proposing (names, sizes, number
 * ranges): a new leader may not yet have applied everything committed, so questions of
 * state (does the topic exist, is the producer known) are the state machine's alone,
 * answered in log order, the same on every replica.
 */
export class NodeBrokerService implements BrokerService {
  /** A clock entry of ours is on its way through the log: propose no second one meanwhile. */
  private clockInFlight = false;
  /** A trim entry of ours is on its way through the log: propose no second one meanwhile. */
  private trimInFlight = false;

  constructor(
    private readonly config: NodeConfig,
    private readonly log: CommitLog,
    private readonly replica: Replica,
    private readonly stateMachine: NodeStateMachine,
    private readonly probe: NodeProbe = NO_PROBE,
    /** The disk guard: asked before a new message is proposed (produce, half message). */
    private readonly admission: WriteAdmission = ADMIT_ALL,
  ) {}

  /**
   * Throws ResourceExhaustedError while the disk guard refuses new messages. Only what adds
   * messages asks (produce here, half messages in the transaction service): acks, group
   * changes, transaction decisions and clock entries go on, as they free room or cost little.
   */
  admitNewMessages(): void {
    this.admission.admitNewWrite();
  }

  async createTopic(name: string, messageBytesMax: number, options: { readonly timeoutMs: number }): Promise<void> {
    checkTopicName(name);
    const max = messageBytesMax === 0 ? Math.min(BROKER_DEFAULTS.defaultMaxMessageBytes, this.config.recordBytesMax) : messageBytesMax;
    if (!(Number.isSafeInteger(max) && max >= 1 && max <= this.config.recordBytesMax)) {
      throw new InvalidArgumentError(`max message size must be 1..${this.config.recordBytesMax} bytes on this cluster (its largest record), not ${max}`);
    }
    expect(await this.propose({ kind: 'createTopic', name, messageBytesMax: max }, options.timeoutMs), 'topicCreated');
  }

  async deleteTopic(name: string, options: { readonly timeoutMs: number }): Promise<void> {
    checkTopicName(name);
    expect(await this.propose({ kind: 'deleteTopic', name }, options.timeoutMs), 'topicDeleted');
  }

  listTopics(): readonly TopicView[] {
    return this.stateMachine.broker.topics();
  }

  describeTopic(name: string): TopicView {
    const topic = this.stateMachine.broker.topic(name);
    if (topic === undefined) throw new NotFoundError(`topic ${name} does not exist`);
    return topic;
  }

  async initProducer(options: { readonly timeoutMs: number }): Promise<number> {
    const idleExpiryMs = this.config.producerIdleExpiryMs;
    return expect(await this.propose({ kind: 'initProducer', idleExpiryMs }, options.timeoutMs), 'producerGranted').producerId;
  }

  /**
   * Every produce takes one route, whatever its acks: validated (produceCommand), encoded and
   * tagged (submit), appended through Replica.append, answered (produceOutcome). The acks
   * choose only what the append waits for (UNTIL_OF_ACKS): commit and apply here for 'all',
   * answered with the batch's offsets; this leader's own fsync for 'leader', or nothing for
   * 'none', answered with the entry's index only, as offsets are assigned when (if) it commits.
   */
  produce(request: ProduceInput, options: { readonly timeoutMs: number; readonly acks?: ProduceAcks }): Promise<ProduceOutcome> {
    return probedCall(this.probe, 'produce', async () => {
      const acks = options.acks ?? 'all';
      const command = this.produceCommand(request, acks);
      this.admitNewMessages();
      const appended = await this.submit(command, { timeoutMs: options.timeoutMs, until: UNTIL_OF_ACKS[acks] });
      const outcome = produceOutcome(acks, command.messages.length, appended);
      if (!outcome.duplicate) this.probe.produced(command.topic, command.messages.length, batchBytes(command.messages));
      return outcome;
    });
  }

  /**
   * The produce command for `request`, or the InvalidArgumentError / NotFoundError that
   * refuses it. Refusals the state machine makes at apply time (a topic deleted meanwhile)
   * are not seen by a producer answered before commit, so acks 'leader' and 'none' take only
   * producer id 0 (sequence checks happen at apply) and are checked against this node's
   * applied state (the topic exists, each message fits) first.
   */
  private produceCommand(request: ProduceInput, acks: ProduceAcks): ProduceCommand {
    checkTopicName(request.topic);
    if (request.messages.length === 0) throw new InvalidArgumentError('produce needs at least one message');
    if (!(Number.isSafeInteger(request.producerId) && request.producerId >= 0 && request.producerId < MAX_SAFE)) throw new InvalidArgumentError(`producer id ${request.producerId} is out of range`);
    if (!(Number.isSafeInteger(request.firstSequence) && request.firstSequence >= 0 && request.firstSequence + request.messages.length < MAX_SAFE)) {
      throw new InvalidArgumentError(`first sequence ${request.firstSequence} is out of range`);
    }
    // The request's messages are the command's as they are: nothing keeps them past the
    // encoding (a copy of each would cost an object and a header list per message).
    const messages = request.messages;
    for (const m of messages) checkTimestamp(m);
    if (acks !== 'all') {
      if (request.producerId !== 0) throw new InvalidArgumentError(`acks ${acks} takes no producer id (idempotence): sequence checks happen at commit, after the answer, where a refusal could not be reported`);
      const topic = this.stateMachine.broker.topic(request.topic);
      if (topic === undefined) throw new NotFoundError(`topic ${request.topic} does not exist`);
      for (const [k, m] of messages.entries()) {
        const bytes = messageBytes(m);
        if (bytes > topic.messageBytesMax) throw new InvalidArgumentError(`message ${k} is ${bytes} bytes; this topic takes at most ${topic.messageBytesMax}`);
      }
    }
    return { kind: 'produce', topic: request.topic, producerId: request.producerId, firstSequence: request.firstSequence, messages };
  }

  fetch(topic: string, offset: number, bytesMax: number): FetchOutcome {
    const description = this.stateMachine.broker.topic(topic);
    if (description === undefined) throw new NotFoundError(`topic ${topic} does not exist`);
    if (!(Number.isSafeInteger(offset) && offset >= 0)) throw new InvalidArgumentError(`offset must be a whole number >= 0, not ${offset}`);
    // Below what the last trim left, every node answers alike (a node that compacted further is told per message below).
    if (offset < (this.stateMachine.broker.earliestOffset(topic) ?? 0)) throw this.deletedError(topic, offset);
    const messages: (BrokerMessageView & { offset: number })[] = [];
    let next = offset;
    let bytes = 0;
    // Each offset is located on its own: a run may cover only some of its entry's messages
    // (a committed transaction's, or their audit copies), so an entry's next message need
    // not be the topic's next offset. The entry last read is kept, so a batch costs one read.
    let heldIndex = 0;
    let held: readonly MessageRecord[] = [];
    // Bounded by bytesMax (each message costs at least the overhead) and by the topic's end.
    while (next < description.nextOffset) {
      const location = this.stateMachine.broker.locate(topic, next);
      if (location === undefined) break;
      if (location.logIndex < this.log.firstIndex()) {
        if (messages.length === 0) throw this.deletedError(topic, next);
        break; // what was read comes back; the next fetch is told
      }
      if (heldIndex !== location.logIndex) {
        held = this.producedMessages(location.logIndex);
        heldIndex = location.logIndex;
      }
      const message = held[location.position];
      if (message === undefined) throw new InternalError(`offset ${next} of ${topic} points past the messages of entry ${location.logIndex}`);
      bytes += messageBytes(message) + FETCH_OVERHEAD_BYTES;
      if (messages.length > 0 && bytes > bytesMax) break;
      // Written out: V8 builds `{ ...message, offset }` (a key the message lacks) on a slow path.
      messages.push({ key: message.key, headers: message.headers, payload: message.payload, timestampMs: message.timestampMs, offset: next });
      next++;
    }
    return { messages, nextOffset: next, endOffset: description.nextOffset };
  }

  /**
   * OUT_OF_RANGE for an offset of `topic` whose entry retention deleted, naming the earliest
   * offset still kept (the topic's end when none is).
   */
  deletedError(topic: string, offset: number): OutOfRangeError {
    const earliest = this.earliestOffset(topic);
    return new OutOfRangeError(`offset ${offset} of topic ${topic} was deleted by retention; the earliest offset kept is ${earliest}`, earliest);
  }

  /** Whether retention deleted the entry at `logIndex` from this node's log. */
  isDeleted(logIndex: number): boolean {
    return logIndex < this.log.firstIndex();
  }

  /**
   * The first offset of `topic` from which this node can read every message (its end if
   * none): what the replicated trim left (the same on every node), or later where this
   * node's own log was compacted further.
   */
  earliestOffset(topic: string): number {
    const broker = this.stateMachine.broker;
    const from = Math.max(this.log.firstIndex(), broker.trimmedBelowLogIndex);
    return broker.earliestOffsetAtOrAfter(topic, from) ?? broker.topic(topic)?.nextOffset ?? 0;
  }

  /**
   * Called when this node compacted its log below `beforeLogIndex`. On the leader, proposes
   * the trimLog entry that lets every node's broker state forget those entries (nodes
   * compact at different times, so the state can drop them only by a replicated command).
   * Followers never propose; at most one is in flight; one at or below the point already
   * trimmed is not proposed; a failed one (lost leadership, timeout) is proposed again at
   * the next compaction.
   */
  proposeTrim(beforeLogIndex: number): void {
    if (this.trimInFlight || this.replica.role() !== 'leader') return;
    if (beforeLogIndex <= this.stateMachine.broker.trimmedBelowLogIndex) return;
    this.trimInFlight = true;
    this.propose({ kind: 'trimLog', beforeLogIndex }, TRIM_ENTRY_TIMEOUT_MS)
      .catch(() => undefined)
      .finally(() => (this.trimInFlight = false));
  }

  /**
   * The messages the entry at `logIndex` holds, which the state machine applied; OUT_OF_RANGE
   * (for `topic`'s `offset`) when retention deleted the entry.
   */
  producedMessages(logIndex: number, deleted?: { readonly topic: string; readonly offset: number }): readonly MessageRecord[] {
    if (logIndex < this.log.firstIndex()) {
      if (deleted !== undefined) throw this.deletedError(deleted.topic, deleted.offset);
      throw new OutOfRangeError(`entry ${logIndex} was deleted by retention`, -1);
    }
    const entry = this.log.entries(logIndex as Index, (logIndex + 1) as Index, Number.MAX_SAFE_INTEGER)[0];
    if (entry === undefined || entry.kind !== EntryKind.normal || entry.payload[0] !== PayloadTag.broker) {
      throw new InternalError(`the offset index points at entry ${logIndex}, which is not a broker entry`);
    }
    const { command } = decodeCommand(entry.payload.subarray(1));
    const messages = messagesHeld(command);
    if (messages.length === 0) throw new InternalError(`the offset index points at entry ${logIndex}, a ${command.kind} command holding no messages`);
    return messages;
  }

  /**
   * Called every tick. On the leader, once its clock has passed the time something in the
   * broker state falls due, proposes a clock entry, so redeliveries and delayed messages
   * happen even when no other entry moves the log clock. At most one is in flight; a
   * failed one (lost leadership, timeout) is simply tried again on a later tick.
   */
  advanceClockIfDue(): void {
    if (this.clockInFlight || this.replica.role() !== 'leader') return;
    const broker = this.stateMachine.broker;
    // Plain records carry no time: once some were appended after the last broker entry, a
    // clock entry within CLOCK_SAMPLE_INTERVAL_MS gives retention by time a bound on their age.
    const timeDueMs = this.log.lastIndex() > broker.lastApplied ? broker.nowMs + CLOCK_SAMPLE_INTERVAL_MS : Infinity;
    if (this.replica.scheduler.nowMs() < Math.min(broker.nextDueMs(), timeDueMs)) return;
    this.clockInFlight = true;
    this.propose({ kind: 'clock' }, CLOCK_ENTRY_TIMEOUT_MS)
      .catch(() => undefined)
      .finally(() => (this.clockInFlight = false));
  }

  /** Proposes one broker command and answers what applying it returned (also for the group and transaction services). */
  async propose(command: BrokerCommand, timeoutMs: number): Promise<ApplyResult & { logIndex: number }> {
    const appended = await this.submit(command, { timeoutMs, until: 'applied' });
    return { ...appliedResult(appended), logIndex: appended.lastIndex };
  }

  /** Stamps `command` with this leader's clock, encodes and tags it as one entry, and appends it. */
  private submit(command: BrokerCommand, options: { readonly timeoutMs: number; readonly until: AppendUntil }): Promise<Appended> {
    let payload: Uint8Array;
    try {
      payload = brokerEntryPayload({ leaderTimeMs: this.replica.scheduler.nowMs(), command });
    } catch (error) {
      // A number past what an entry carries (2^53) that no check before caught came from the
      // request: refused as input, with nothing written.
      if (error instanceof MalformedBinaryError) throw new InvalidArgumentError(`the request does not fit a log entry: ${error.message}`, { cause: error });
      throw error;
    }
    // The same limit as a plain record plus its tag: what storage takes as one entry.
    const encodedBytes = payload.length - 1;
    if (encodedBytes > this.config.recordBytesMax) {
      throw new InvalidArgumentError(`the request encodes to ${encodedBytes} bytes; the largest entry this cluster takes is ${this.config.recordBytesMax} bytes`);
    }
    return this.replica.append([payload], options);
  }
}

function checkTopicName(name: string): void {
  const problem = topicNameProblem(name);
  if (problem !== null) throw new InvalidArgumentError(problem);
}

function batchBytes(messages: readonly MessageRecord[]): number {
  let bytes = 0;
  for (const m of messages) bytes += messageBytes(m);
  return bytes;
}

function checkTimestamp(message: BrokerMessageView): void {
  if (!(Number.isSafeInteger(message.timestampMs) && message.timestampMs >= 0)) throw new InvalidArgumentError(`message timestamp ${message.timestampMs} is out of range`);
}

/** The answer to a produce; the offsets, known only once applied, only for acks 'all'. */
function produceOutcome(acks: ProduceAcks, count: number, appended: Appended): ProduceOutcome {
  if (acks !== 'all') return { firstOffset: 0, count, duplicate: false, logIndex: appended.lastIndex, deliverAtMs: 0 };
  const result = expect(appliedResult(appended), 'produced');
  const delayed = result.firstOffset < 0;
  return {
    firstOffset: delayed ? 0 : result.firstOffset,
    count: result.count,
    duplicate: result.duplicate,
    logIndex: result.duplicate ? 0 : appended.lastIndex,
    deliverAtMs: delayed ? result.deliverAtMs : 0,
  };
}

/** What applying a broker entry returned: the state machine answers every broker entry. */
function appliedResult(appended: Appended): ApplyResult {
  if (appended.result === null) throw new InternalError('the broker entry was applied without a result');
  return appended.result;
}

/** The result of the kind asked for, or the state machine's refusal as the node error for it. */
export function expect<K extends ApplyResult['kind']>(result: ApplyResult, kind: K): Extract<ApplyResult, { kind: K }> {
  if (result.kind === kind) return result as Extract<ApplyResult, { kind: K }>;
  if (result.kind === 'rejected') throw refusal(result.error);
  throw new InternalError(`the broker answered ${result.kind} to a command expecting ${kind}`);
}

/** The state machine's refusal as the node error a client sees: the same code, so the same status. */
export function refusal(error: BrokerError): Error {
  const options = { cause: error };
  switch (error.code) {
    case ErrorCode.invalidArgument:
      return new InvalidArgumentError(error.message, options);
    case ErrorCode.notFound:
      return new NotFoundError(error.message, options);
    case ErrorCode.resourceExhausted:
      return new ResourceExhaustedError(error.message, options);
    default:
      return new BrokerRefusedError(error.code, error.message, options);
  }
}
