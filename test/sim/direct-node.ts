import { RaftNode, type Entry, type HardState, type Index, type Message, type NodeId, type ReadState, type SnapshotMeta, type Term } from '../../raft/index.js';
import { hardState } from './log-builder.js';
import { MemoryLog } from './memory-log.js';
import type { NodeTuning } from './node-api.js';
import { Prng } from './prng.js';

/**
 * One core driven by hand, for the paper's scripted situations: the test builds each message,
 * steps it in, and `drain()` carries out every Ready at once (write, "fsync", send, apply).
 * A `restart()` rebuilds the core from exactly what was persisted, as after a crash.
 */
export class DirectNode {
  core: RaftNode;
  hardState: HardState;
  readonly applied: Entry[] = [];
  readonly readStates: ReadState[] = [];
  /** The newest snapshot: taken by takeSnapshot() or installed from a leader. */
  snapshot: SnapshotMeta | null;
  /** Snapshots installed from a leader, in order. */
  readonly installed: SnapshotMeta[] = [];

  constructor(
    readonly id: NodeId,
    private readonly options: {
      voters: readonly NodeId[];
      log?: MemoryLog;
      hardState?: HardState;
      tuning?: NodeTuning;
      seed?: number;
      votingBlockedBelow?: Index;
      votingHeld?: boolean;
    },
  ) {
    this.log = options.log ?? new MemoryLog();
    this.hardState = options.hardState ?? hardState(0);
    // A log that starts later was compacted below a snapshot of its compaction point.
    const first = this.log.firstIndex();
    this.snapshot = first > 1 ? { index: (first - 1) as Index, term: this.log.term((first - 1) as Index) as Term, voters: options.voters } : null;
    this.core = this.build();
  }

  readonly log: MemoryLog;

  private build(): RaftNode {
    return new RaftNode({
      ...this.options.tuning,
      id: this.id,
      voters: this.options.voters,
      log: this.log,
      hardState: this.hardState,
      random: new Prng(this.options.seed ?? 1),
      applied: (this.log.firstIndex() - 1) as Index,
      snapshot: this.snapshot,
      ...(this.options.votingBlockedBelow !== undefined ? { votingBlockedBelow: this.options.votingBlockedBelow } : {}),
      ...(this.options.votingHeld !== undefined ? { votingHeld: this.options.votingHeld } : {}),
    });
  }

  /** Steps every message addressed to this node; returns what it sends in answer (after drain). */
  step(...messages: Message[]): Message[] {
    for (const m of messages) this.core.step(m);
    return this.drain();
  }

  tick(times = 1): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < times; i++) {
      this.core.tick();
      out.push(...this.drain());
    }
    return out;
  }

  /** Carries out every pending Ready, persisting at once. Returns all messages sent. */
  drain(): Message[] {
    const out: Message[] = [];
    for (let i = 0; this.core.hasReady(); i++) {
      if (i > 1_000) throw new Error('direct-node: Readies without end');
      const ready = this.core.ready();
      out.push(...ready.messages);
      if (ready.snapshot !== null) {
        this.log.resetTo(ready.snapshot.index, ready.snapshot.term);
        this.snapshot = ready.snapshot;
        this.installed.push(ready.snapshot);
      }
      this.log.append(ready.entries);
      if (ready.hardState !== null) this.hardState = ready.hardState;
      out.push(...ready.persistedMessages);
      this.applied.push(...ready.committedEntries);
      this.readStates.push(...ready.readStates);
      this.core.advance(ready);
    }
    return out;
  }

  /**
   * Snapshots the state as applied through `at` and compacts the log through `compactThrough`
   * (default `at`), as a driver does every so many entries.
   */
  takeSnapshot(at: number, compactThrough = at): SnapshotMeta {
    const snapshot: SnapshotMeta = { index: at as Index, term: this.log.term(at as Index) as Term, voters: this.options.voters };
    this.core.snapshotTaken(snapshot);
    this.snapshot = snapshot;
    this.log.compactThrough(compactThrough as Index);
    return snapshot;
  }

  /** A crash after everything drained was persisted: a new core from the same disk. */
  restart(): void {
    this.core = this.build();
  }

  terms(): number[] {
    return this.log.all().map((e) => e.term);
  }
}

const envelope = (from: string, to: string, t: number) => ({ from: from as NodeId, to: to as NodeId, term: t as Term });

export const msg = {
  vote: (from: string, to: string, t: number, lastIndex: number, lastTerm: number, type: 'vote' | 'preVote' = 'vote'): Message => ({
    ...envelope(from, to, t),
    type,
    lastIndex: lastIndex as Index,
    lastTerm: lastTerm as Term,
    transfer: false,
  }),
  voteResp: (from: string, to: string, t: number, granted: boolean, type: 'voteResp' | 'preVoteResp' = 'voteResp'): Message => ({ ...envelope(from, to, t), type, granted }),
  append: (from: string, to: string, t: number, prevIndex: number, prevTerm: number, entries: readonly Entry[], commit: number): Message => ({
    ...envelope(from, to, t),
    type: 'append',
    prevIndex: prevIndex as Index,
    prevTerm: prevTerm as Term,
    entries,
    commit: commit as Index,
  }),
  appendResp: (from: string, to: string, t: number, index: number): Message => ({
    ...envelope(from, to, t),
    type: 'appendResp',
    success: true,
    index: index as Index,
    hintIndex: 0 as Index,
    hintTerm: 0 as Term,
  }),
  heartbeatResp: (from: string, to: string, t: number, context: string): Message => ({ ...envelope(from, to, t), type: 'heartbeatResp', context }),
};

/** The messages of one type, narrowed. */
type MessageOfType<T extends Message['type'], M extends Message = Message> = M extends Message ? (T extends M['type'] ? M : never) : never;

export function ofType<T extends Message['type']>(messages: readonly Message[], type: T): MessageOfType<T>[] {
  return messages.filter((m): m is MessageOfType<T> => m.type === type);
}
