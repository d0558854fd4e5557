import type { Entry, HardState, Index, NodeId, Term } from '../../raft/types.js';

/** The properties the simulator checks after every step. */
export const Invariant = {
  electionSafety: 'electionSafety', // at most one leader per term
  singleVote: 'singleVote', // a node grants at most one vote per term, across restarts
  termMonotonic: 'termMonotonic', // a node's persisted term never goes back
  leaderAppendOnly: 'leaderAppendOnly', // a leader never overwrites or deletes its own entries
  logMatching: 'logMatching', // same index and term => same entry and same prefix
  leaderCompleteness: 'leaderCompleteness', // a leader holds every entry committed in earlier terms
  commitStable: 'commitStable', // a committed index never changes its entry
  stateMachineSafety: 'stateMachineSafety', // no two nodes apply different entries at one index
  applyOrder: 'applyOrder', // entries are applied once each, in index order
  ackDurable: 'ackDurable', // every acknowledged append ends up once, at its index, in every node's log
  durableBeforeAck: 'durableBeforeAck', // an append acknowledgement, a vote or a commit is held only once its disks hold what it promises
  liveness: 'liveness', // after healing: a leader within bounded ticks, everything applied
  nodeFailed: 'nodeFailed', // a node stopped itself (storage failed, or its core found a broken invariant)
  votedWhileDamaged: 'votedWhileDamaged', // a node whose disk lost acknowledged entries grants no vote until repaired
  votedBeforeBootstrapCheck: 'votedBeforeBootstrapCheck', // a node on a new data directory grants no vote and campaigns not before its members confirmed it
  failedWritten: 'failedWritten', // an append the client was told failed for sure is nowhere in any log
  wipedDiskCounted: 'wipedDiskCounted', // a vote or append acknowledgement from a wiped disk reached a node that knew the disk before
} as const;
export type Invariant = (typeof Invariant)[keyof typeof Invariant];

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(
    readonly invariant: Invariant,
    detail: string,
    readonly atMs: number,
  ) {
    super(`${invariant} violated at t=${atMs}ms: ${detail}`);
  }
}

/** What the checker reads of a node's log (the simulator's MemoryLog, or a CommitLog through an adapter). */
export interface CheckedLog {
  firstIndex(): Index;
  lastIndex(): Index;
  term(at: Index): Term | undefined;
  entry(at: Index): Entry | undefined;
}

/** A stable identity for an entry's content, used to compare entries across nodes. */
export function entryKey(entry: Entry): string {
  return `${entry.term}/${entry.kind}/${Buffer.from(entry.payload).toString('latin1')}`;
}

interface CommittedRecord {
  readonly key: string;
  /** The term of the first leader seen committing this index: leaders of later terms must hold it. */
  readonly commitTerm: Term;
}

/**
 * Global history of a run, shared by all nodes, so that a crash erases nothing the checker
 * knows. Each check throws SafetyViolation; the simulator stops at the first one.
 */
export class SafetyChecker {
  nowMs = 0;
  private readonly leaderOfTerm = new Map<Term, NodeId>();
  private readonly voteOfTerm = new Map<string, NodeId>();
  private readonly logRegistry = new Map<string, { readonly key: string; readonly prevTerm: Term | undefined }>();
  private readonly committed = new Map<Index, CommittedRecord>();
  private readonly appliedAt = new Map<Index, { readonly key: string; readonly node: NodeId }>();
  maxCommitted = 0;

  private fail(invariant: Invariant, detail: string): never {
    throw new SafetyViolation(invariant, detail, this.nowMs);
  }

  leaderSeen(node: NodeId, term: Term): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) this.leaderOfTerm.set(term, node);
    else if (known !== node) this.fail(Invariant.electionSafety, `${known} and ${node} both leader in term ${term}`);
  }

  voteGranted(voter: NodeId, candidate: NodeId, term: Term): void {
    const k = `${voter}@${term}`;
    const known = this.voteOfTerm.get(k);
    if (known === undefined) this.voteOfTerm.set(k, candidate);
    else if (known !== candidate) this.fail(Invariant.singleVote, `${voter} granted votes to ${known} and ${candidate} in term ${term}`);
  }

  hardStateWritten(node: NodeId, before: HardState, after: HardState): void {
    if (after.term < before.term) this.fail(Invariant.termMonotonic, `${node} term ${before.term} -> ${after.term}`);
    if (after.term === before.term && before.vote !== null && after.vote !== before.vote) {
      this.fail(Invariant.singleVote, `${node} changed its vote in term ${after.term} from ${before.vote} to ${String(after.vote)}`);
    }
  }

  /**
   * Called before `entries` are written to `node`'s log. `wasLeaderInTerm` is the term the node
   * was leader in before this batch and still is, or null.
   */
  entriesWritten(node: NodeId, log: CheckedLog, entries: readonly Entry[], wasLeaderInTerm: Term | null): void {
    const head = entries[0];
    if (head === undefined) return;
    if (wasLeaderInTerm !== null && head.index <= log.lastIndex()) {
      this.fail(Invariant.leaderAppendOnly, `${node}, leader of term ${wasLeaderInTerm}, wrote at ${head.index} over its last index ${log.lastIndex()}`);
    }
    let prevTerm = log.term((head.index - 1) as Index);
    for (const entry of entries) {
      const k = `${entry.index}:${entry.term}`;
      const key = entryKey(entry);
      const known = this.logRegistry.get(k);
      if (known === undefined) {
        this.logRegistry.set(k, { key, prevTerm });
      } else if (known.key !== key) {
        this.fail(Invariant.logMatching, `${node} wrote a different entry at index ${entry.index} term ${entry.term}`);
      } else if (known.prevTerm !== undefined && prevTerm !== undefined && known.prevTerm !== prevTerm) {
        this.fail(Invariant.logMatching, `${node} holds (${entry.index}, ${entry.term}) after term ${prevTerm}, elsewhere after term ${known.prevTerm}`);
      }
      prevTerm = entry.term;
    }
  }

  /** The leader of `term` reports commit index `commit`; its log holds those entries. */
  /** The key of the entry recorded as committed at `at`, or undefined if none was seen committed there. */
  committedKey(at: Index): string | undefined {
    return this.committed.get(at)?.key;
  }

  leaderCommitted(node: NodeId, term: Term, commit: Index, log: CheckedLog): void {
    for (let i = this.maxCommitted + 1; i <= commit; i++) {
      const at = i as Index;
      const entry = log.entry(at);
      if (entry === undefined) {
        if (at < log.firstIndex()) continue; // compacted: committed long ago
        this.fail(Invariant.commitStable, `${node}, leader of term ${term}, reports commit ${commit} beyond its log (${log.lastIndex()})`);
      }
      this.committed.set(at, { key: entryKey(entry), commitTerm: term });
    }
    if (commit > this.maxCommitted) this.maxCommitted = commit;
    this.checkPrefix(node, log, commit, Invariant.commitStable);
  }

  /** A leader's log (fully written) must hold every entry committed in an earlier term. */
  leaderLogComplete(node: NodeId, term: Term, log: CheckedLog): void {
    for (const [at, record] of this.committed) {
      if (record.commitTerm >= term || at < log.firstIndex()) continue;
      const entry = log.entry(at);
      if (entry === undefined || entryKey(entry) !== record.key) {
        this.fail(Invariant.leaderCompleteness, `${node}, leader of term ${term}, lacks entry ${at} committed in term ${record.commitTerm}`);
      }
    }
  }

  private checkPrefix(node: NodeId, log: CheckedLog, upTo: Index, invariant: Invariant): void {
    const from = Math.max(log.firstIndex(), upTo - 64);
    for (let i = from; i <= upTo; i++) {
      const record = this.committed.get(i as Index);
      const entry = log.entry(i as Index);
      if (record !== undefined && entry !== undefined && entryKey(entry) !== record.key) {
        this.fail(invariant, `${node} holds a different entry at committed index ${i}`);
      }
    }
  }

  applied(node: NodeId, entry: Entry): void {
    const key = entryKey(entry);
    const known = this.appliedAt.get(entry.index);
    if (known === undefined) this.appliedAt.set(entry.index, { key, node });
    else if (known.key !== key) {
      this.fail(Invariant.stateMachineSafety, `${node} applied ${key} at ${entry.index}, ${known.node} applied ${known.key}`);
    }
    const record = this.committed.get(entry.index);
    if (record !== undefined && record.key !== key) {
      this.fail(Invariant.stateMachineSafety, `${node} applied at ${entry.index} an entry other than the committed one`);
    }
  }

  violation(invariant: Invariant, detail: string): never {
    this.fail(invariant, detail);
  }
}
