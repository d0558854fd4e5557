import { assert } from './assert.js';
import type { Entry, HardState, Message, ReadState, Ready, SnapshotMeta, SoftState, Term } from './types.js';

/** Messages whose meaning depends on state this node must not forget in a crash. */
const AFTER_PERSIST: ReadonlySet<Message['type']> = new Set(['appendResp', 'voteResp', 'vote']);

/**
 * What the core has for its driver between two Readies, and the Ready handshake: at most one
 * Ready outstanding until accept(), and accepted Readies reported persisted in the order they
 * were accepted (see Ready in types.ts for the driver's side).
 */
export class Outbox {
  private messages: Message[] = [];
  private persistedMessages: Message[] = [];
  private readStates: ReadState[] = [];
  private lastSoftState: SoftState;
  private lastHardState: HardState;
  private outstanding: Ready | null = null;
  /** Readies accepted (asynchronous persistence) whose writes are not yet durable, oldest first. */
  private readonly unpersisted: Ready[] = [];

  /** `soft` and `hard` are the states the driver already knows: they appear in no Ready until they change. */
  constructor(soft: SoftState, hard: HardState) {
    this.lastSoftState = soft;
    this.lastHardState = hard;
  }

  send(m: Message): void {
    if (AFTER_PERSIST.has(m.type)) this.persistedMessages.push(m);
    else this.messages.push(m);
  }

  addReadState(rs: ReadState): void {
    this.readStates.push(rs);
  }

  /** Drops append acknowledgements not yet handed out that were sent in a term below `t`. */
  dropAppendResponsesBelow(t: Term): void {
    this.persistedMessages = this.persistedMessages.filter((m) => m.type !== 'appendResp' || m.term >= t);
  }

  /** A Ready was handed out and neither advanced nor accepted yet. */
  isOutstanding(): boolean {
    return this.outstanding !== null;
  }

  /** Whether the next Ready would carry something of ours, given the node's states now. */
  hasNews(soft: SoftState, hard: HardState): boolean {
    return (
      this.messages.length > 0 ||
      this.persistedMessages.length > 0 ||
      this.readStates.length > 0 ||
      !sameSoftState(soft, this.lastSoftState) ||
      !sameHardState(this.lastHardState, hard)
    );
  }

  /** Hands out everything collected, with the log's part, as the outstanding Ready. */
  take(soft: SoftState, hard: HardState, snapshot: SnapshotMeta | null, entries: readonly Entry[], committedEntries: readonly Entry[]): Ready {
    const ready: Ready = {
      softState: sameSoftState(soft, this.lastSoftState) ? null : soft,
      snapshot,
      hardState: sameHardState(hard, this.lastHardState) ? null : hard,
      entries,
      messages: this.messages,
      persistedMessages: this.persistedMessages,
      committedEntries,
      readStates: this.readStates,
    };
    this.lastSoftState = soft;
    this.lastHardState = hard;
    this.messages = [];
    this.persistedMessages = [];
    this.readStates = [];
    this.outstanding = ready;
    return ready;
  }

  accept(ready: Ready): void {
    assert(ready === this.outstanding, 'raft: accept() with a Ready that is not the outstanding one');
    this.outstanding = null;
    this.unpersisted.push(ready);
  }

  persisted(ready: Ready): void {
    assert(this.unpersisted[0] === ready, 'raft: persisted() out of order, or for a Ready never accepted');
    this.unpersisted.shift();
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
