import type { Entry, HardState, Index, Message, NodeId, Ready, Term } from '../../raft/types.js';
import type { RaftNodeLike, SimAcceptResult, SimNodeOptions, SimProposeResult, SimStatus } from './node-api.js';

/**
 * A deliberately tiny stand-in for the core, used only to unit-test the simulator: the first
 * voter is leader of term 1 forever, appends carry one entry at a time with no conflict
 * handling, and a follower acknowledges through persistedMessages. It has no elections and
 * no recovery from loss beyond resending, so it is useless for anything but the harness.
 */
export class FakeNode implements RaftNodeLike {
  private readonly unstable: Entry[] = [];
  private readonly outbox: Message[] = [];
  private readonly persistedOutbox: Message[] = [];
  private hardState: HardState;
  private commit: Index;
  private applied: Index;
  private readonly match = new Map<NodeId, Index>();
  private stateReported = false;

  constructor(private readonly options: SimNodeOptions) {
    this.hardState = { ...options.hardState, term: 1 as Term, vote: options.voters[0] ?? null };
    this.commit = options.hardState.commit;
    this.applied = options.applied ?? (0 as Index);
  }

  private get isLeader(): boolean {
    return this.options.id === this.options.voters[0];
  }

  private lastIndex(): Index {
    const last = this.unstable[this.unstable.length - 1];
    return last?.index ?? this.options.log.lastIndex();
  }

  private termAt(at: Index): Term | undefined {
    return this.unstable.find((e) => e.index === at)?.term ?? this.options.log.term(at);
  }

  tick(): void {
    if (!this.isLeader) return;
    for (const peer of this.options.voters) {
      if (peer === this.options.id) continue;
      // One entry per tick, or an empty append that carries the commit index.
      const next = ((this.match.get(peer) ?? 0) + 1) as Index;
      const entries = next > this.options.log.lastIndex() ? [] : this.options.log.entries(next, (next + 1) as Index, 1 << 20);
      const prevIndex = (next - 1) as Index;
      this.outbox.push({ type: 'append', from: this.options.id, to: peer, term: 1 as Term, prevIndex, prevTerm: this.termAt(prevIndex) ?? (0 as Term), entries, commit: this.commit });
    }
  }

  step(message: Message): void {
    if (message.type === 'append') {
      const ok = message.prevIndex <= this.lastIndex();
      const last = (message.prevIndex + message.entries.length) as Index;
      if (ok && message.entries.length > 0 && last > this.lastIndex()) this.unstable.push(...message.entries);
      if (ok) this.commit = Math.max(this.commit, Math.min(message.commit, last)) as Index;
      this.persistedOutbox.push({ type: 'appendResp', from: this.options.id, to: message.from, term: 1 as Term, success: ok, index: ok ? last : message.prevIndex, hintIndex: 0 as Index, hintTerm: 0 as Term });
    } else if (message.type === 'appendResp' && message.success) {
      this.match.set(message.from, Math.max(this.match.get(message.from) ?? 0, message.index) as Index);
      this.advanceCommit();
    }
  }

  private advanceCommit(): void {
    const matches = this.options.voters.map((v) => (v === this.options.id ? this.options.log.lastIndex() : (this.match.get(v) ?? 0)));
    matches.sort((a, b) => b - a);
    const quorum = matches[Math.floor(this.options.voters.length / 2)] ?? 0;
    if (quorum > this.commit) this.commit = quorum as Index;
  }

  propose(payload: Uint8Array): SimProposeResult {
    if (!this.isLeader) return { accepted: false, reason: 'notLeader', leader: this.options.voters[0] ?? null };
    const entry: Entry = { index: (this.lastIndex() + 1) as Index, term: 1 as Term, kind: 1, payload };
    this.unstable.push(entry);
    return { accepted: true, index: entry.index, term: entry.term };
  }

  transferLeadership(): SimAcceptResult {
    return { accepted: false, reason: 'notLeader' };
  }

  readIndex(): SimAcceptResult {
    return { accepted: false, reason: 'notLeader' };
  }

  campaign(): void {}

  hasReady(): boolean {
    return !this.stateReported || this.unstable.length > 0 || this.outbox.length > 0 || this.persistedOutbox.length > 0 || this.commit > this.applied || this.commit !== this.hardState.commit;
  }

  ready(): Ready {
    const durable = this.options.log.lastIndex();
    const committedEntries = this.commit > this.applied ? this.options.log.entries((this.applied + 1) as Index, (Math.min(this.commit, durable) + 1) as Index, 1 << 30) : [];
    const hardState = this.stateReported && this.commit === this.hardState.commit ? null : { ...this.hardState, commit: this.commit };
    const ready: Ready = {
      softState: this.stateReported ? null : { role: this.isLeader ? 'leader' : 'follower', leader: this.options.voters[0] ?? null, term: 1 as Term },
      hardState,
      entries: this.unstable.splice(0),
      messages: this.outbox.splice(0),
      persistedMessages: this.persistedOutbox.splice(0),
      committedEntries: this.applied >= durable ? [] : committedEntries,
      readStates: [],
    };
    this.stateReported = true;
    if (hardState !== null) this.hardState = hardState;
    return ready;
  }

  advance(ready: Ready): void {
    const last = ready.committedEntries[ready.committedEntries.length - 1];
    if (last !== undefined) this.applied = last.index;
    if (this.isLeader) this.advanceCommit();
  }

  status(): SimStatus {
    return {
      id: this.options.id,
      role: this.isLeader ? 'leader' : 'follower',
      term: 1 as Term,
      vote: this.hardState.vote,
      leader: this.options.voters[0] ?? null,
      commit: this.commit,
      applied: this.applied,
      firstIndex: this.options.log.firstIndex(),
      lastIndex: this.lastIndex(),
      votingBlocked: false,
      repairThrough: 0 as Index,
      progress: null,
    };
  }
}
