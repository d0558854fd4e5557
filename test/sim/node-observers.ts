import type { Entry, NodeId, SnapshotMeta, Term } from '../../raft/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { NodeStateMachine } from '../../src/node/state-machine.js';
import { Invariant, type SafetyChecker } from './invariants.js';
import { checkedLog } from './node-state.js';

/** How observeWrites reaches the run: its checker, whether the node's process still lives, and where a check runs. */
export interface WriteChecks {
  readonly checker: SafetyChecker;
  readonly alive: () => boolean;
  /** Runs a check from inside the node, keeping a violation for the step to raise (NodeCluster.checkInNode). */
  readonly check: (run: () => void) => void;
}

/**
 * Holds every write the node's replica hands its log against the run's history, before it
 * is made: log matching and a leader's append-only rule for entries, a term that never goes
 * back and a vote never changed within a term for the hard state. The log's own methods
 * are wrapped on this instance; the replica has written nothing before assembly returns
 * (its first write follows a tick or a message, both later tasks).
 */
export function observeWrites(id: NodeId, node: AssembledNode, run: WriteChecks): void {
  const log = node.log;
  const append = log.append.bind(log);
  const truncateAfter = log.truncateAfter.bind(log);
  const saveHardState = log.saveHardState.bind(log);
  const leaderTermWriting = (entries: readonly Entry[]): Term | null => {
    const st = node.raft.status();
    return st.role === 'leader' && entries.every((entry) => entry.term === st.term) ? st.term : null;
  };
  log.append = (entries) => {
    if (run.alive()) run.check(() => run.checker.entriesWritten(id, checkedLog(node.log), entries, leaderTermWriting(entries)));
    return append(entries);
  };
  log.truncateAfter = (at) => {
    const st = node.raft.status();
    if (run.alive() && st.role === 'leader' && at < log.lastIndex() && log.term(log.lastIndex()) === st.term) {
      run.check(() => run.checker.violation(Invariant.leaderAppendOnly, `${id}, leader of term ${st.term}, cut its log after ${at} (last ${log.lastIndex()})`));
    }
    return truncateAfter(at);
  };
  log.saveHardState = (hardState) => {
    if (run.alive()) run.check(() => run.checker.hardStateWritten(id, log.hardState(), hardState));
    return saveHardState(hardState);
  };
}

/** A state machine that reports each entry before applying it, as the node applies it. */
export class ObservedStateMachine extends NodeStateMachine {
  constructor(
    private readonly onApply: (entry: Entry) => void,
    private readonly onRestore: (snapshot: SnapshotMeta) => void,
    private readonly onApplied: (entry: Entry, result: ReturnType<NodeStateMachine['apply']>) => void = () => {},
  ) {
    super();
  }

  override apply(entry: Entry): ReturnType<NodeStateMachine['apply']> {
    this.onApply(entry);
    const result = super.apply(entry);
    this.onApplied(entry, result);
    return result;
  }

  override restoreSnapshot(payload: Uint8Array, snapshot: SnapshotMeta): void {
    super.restoreSnapshot(payload, snapshot);
    this.onRestore(snapshot);
  }
}
