/**
 * Bugs planted in the production node, its broker and its storage, for the simulator to find
 * (test/sim/planted-node-bugs.test.ts). The source stays clean: test/sim/planted-bug-transform.ts,
 * registered in vitest.config.ts, rewrites each `original` snippet at transform time into a
 * switch between it and `mutant`, on when `globalThis.__quorumlogPlantedBug` names the bug.
 * So one module graph carries every bug, each off unless a test turns it on; dist/ (built by
 * tsc, run by the integration tests) never has any.
 *
 * A snippet must occur exactly once in its file (a guard test checks it), so a refactor that
 * moves the code disarms no plant silently: it fails the guard, and the snippet is updated.
 *
 * This module is plain data: vitest.config.ts loads it before any test runs.
 */

/** One rewrite: `original` (exact text in `file`) becomes a switch between it and `mutant`. */
export interface PlantedEdit {
  /** Relative to the repository root. */
  readonly file: string;
  /**
   * 'statement': `original` is one or more whole statements, replaced by
   * `if (on) { mutant } else { original }`. 'expression': `original` is an expression,
   * replaced by `(on ? (mutant) : (original))`, for code a block would change (declarations).
   * 'property': `original` is `key: value` in an object literal and `mutant` a value, giving
   * `key: (on ? (mutant) : (value))`.
   */
  readonly form: 'statement' | 'expression' | 'property';
  readonly original: string;
  readonly mutant: string;
}

export interface PlantedBug {
  /** What the global is set to; also the test's name for it. */
  readonly name: string;
  readonly edits: readonly PlantedEdit[];
  /** The promise the bug breaks, and how the simulator sees it. */
  readonly breaks: string;
  /**
   * The simulator's invariants a hunt accepts as finding it: those of test/sim/invariants.ts
   * and durability-checks.ts, or the broker checkers' (BrokerInvariant, broker-checkers.ts).
   */
  readonly caughtBy: readonly string[];
  /**
   * Simulator settings its hunt needs beyond the defaults: small segments, to roll over; the
   * broker workload (broker-workload.ts), for a bug only broker clients can reach; membership
   * changes (node-operator.ts) with wiped disks, for a bug only they reach.
   */
  readonly sim?: { readonly segmentBytes?: number; readonly broker?: true; readonly snapshots?: true; readonly membership?: true };
}

const REPLICA = 'src/node/replica.ts';
const COMMIT_WAITERS = 'src/node/commit-waiters.ts';
const NODE_ASSEMBLY = 'src/node/node-assembly.ts';
const COMMIT_LOG = 'storage/commit-log.ts';
const BROKER_STATE = 'src/broker/broker-state.ts';
const TRANSACTIONS = 'src/broker/transactions.ts';
const CONSUMER_GROUPS = 'src/broker/consumer-groups.ts';
const NODE_SNAPSHOTS = 'src/node/node-snapshots.ts';
const MEMBER_INCARNATION = 'src/transport/member-incarnation.ts';

export const PLANTED_NODE_BUGS: readonly PlantedBug[] = [
  {
    name: 'ack-before-durable',
    edits: [
      {
        file: REPLICA,
        form: 'statement',
        original: 'if (ready.messages.length > 0) this.sink.send(ready.messages);',
        mutant: 'this.sink.send([...ready.messages, ...ready.persistedMessages]);',
      },
    ],
    breaks: 'append acknowledgements and votes leave with the Ready, before its entries and hard state are durable (durableBeforeAck at send; ackDurable after crashes)',
    caughtBy: ['durableBeforeAck', 'ackDurable', 'singleVote'],
  },
  {
    name: 'vote-before-hard-state-durable',
    edits: [
      {
        file: REPLICA,
        form: 'statement',
        original: 'if (hardState !== null) await this.log.saveHardState(hardState);',
        mutant: 'if (hardState !== null) void this.log.saveHardState(hardState).catch(() => undefined);',
      },
    ],
    breaks: 'the Ready finishes without waiting for its term and vote to be durable, so a granted vote leaves before it is on disk (durableBeforeAck; singleVote after a crash)',
    caughtBy: ['durableBeforeAck', 'singleVote'],
  },
  {
    name: 'leader-counts-own-write-at-accept',
    edits: [
      { file: REPLICA, form: 'statement', original: 'this.raft.accept(ready);', mutant: 'this.raft.accept(ready); this.raft.persisted(ready);' },
      { file: REPLICA, form: 'statement', original: 'this.raft.persisted(ready);', mutant: '' },
    ],
    breaks: "the core is told a Ready is persisted when its writes are only issued: a leader counts its own copy before its fsync and commits on too few disks (durableBeforeAck on commit)",
    caughtBy: ['durableBeforeAck', 'ackDurable'],
  },
  {
    name: 'apply-ahead-of-held-entries',
    edits: [{ file: REPLICA, form: 'expression', original: 'this.inflight.some((item) => item.late.length > 0)', mutant: 'false' }],
    breaks: 'committed entries already durable are applied while earlier ones still wait for an fsync: applied out of index order (applyOrder)',
    caughtBy: ['applyOrder'],
  },
  {
    name: 'conflict-truncation-skipped',
    edits: [{ file: REPLICA, form: 'statement', original: 'await this.log.truncateAfter((first.index - 1) as Index);', mutant: '' }],
    breaks: "a follower does not cut its conflicting suffix before writing a new leader's entries over it (nodeFailed: the log refuses the write)",
    caughtBy: ['nodeFailed'],
  },
  {
    name: 'waiter-ignores-term',
    edits: [{ file: COMMIT_WAITERS, form: 'expression', original: 'entry.term === waiter.term', mutant: 'true' }],
    breaks: "a client waiting on (index, term) is answered by whatever entry is applied at that index, also one a new leader wrote over its proposal (ackDurable: the acknowledged record is not at its index)",
    caughtBy: ['ackDurable'],
  },
  {
    name: 'state-not-rebuilt-on-restart',
    edits: [{ file: NODE_ASSEMBLY, form: 'property', original: 'applied: (snapshot?.index ?? 0) as Index', mutant: 'Math.max(log.hardState().commit, snapshot?.index ?? 0) as Index' }],
    breaks: 'a restarted node resumes applying after the saved commit index, so its in-memory broker state misses everything between its snapshot and that index (applyOrder: not rebuilt from the snapshot on)',
    caughtBy: ['applyOrder'],
  },
  {
    name: 'group-acked-before-fdatasync',
    edits: [{ file: COMMIT_LOG, form: 'statement', original: 'await Promise.all(syncs);', mutant: 'void Promise.all(syncs).catch(() => undefined);' }],
    breaks: "the flush loop counts a group durable when its fdatasync starts, not when it completes; the mark's own fsync then acknowledges it (durableBeforeAck)",
    caughtBy: ['durableBeforeAck', 'ackDurable'],
  },
  {
    name: 'group-covers-later-appends',
    edits: [
      {
        file: COMMIT_LOG,
        form: 'statement',
        original: 'this.dataSynced = Math.max(this.dataSynced, target);',
        mutant: 'this.dataSynced = Math.max(this.dataSynced, this.lastIndex());',
      },
    ],
    breaks: "a group's fdatasync is taken to cover entries appended while it ran, which it did not write (durableBeforeAck)",
    caughtBy: ['durableBeforeAck', 'ackDurable'],
  },
  {
    name: 'sealed-segment-not-synced',
    edits: [{ file: COMMIT_LOG, form: 'statement', original: 'this.sealedUnsynced.push(sealed);', mutant: '' }],
    breaks: "a segment sealed at roll-over never gets the fdatasync of its last records, while later segments do (durableBeforeAck: the durable log ends at the gap)",
    caughtBy: ['durableBeforeAck', 'ackDurable'],
    sim: { segmentBytes: 1024 },
  },
  {
    name: 'retried-batch-written-again',
    edits: [
      {
        file: BROKER_STATE,
        form: 'statement',
        original: 'if (firstSequence === state.nextSequence) return null;',
        mutant: 'if (firstSequence >= state.nextSequence - 1) return null;',
      },
    ],
    breaks: "the new-batch test takes the producer's next sequence for its last one: a retried one-message batch whose first attempt was written is written again (producedOnce: a producer duplicate)",
    caughtBy: ['producedOnce'],
    sim: { broker: true },
  },
  {
    name: 'retried-half-prepared-again',
    edits: [
      {
        file: TRANSACTIONS,
        form: 'expression',
        original: 'this.decided.get(command.txId) ?? this.prepared.get(command.txId)',
        mutant: 'this.prepared.get(command.txId)',
      },
    ],
    breaks: 'a half message is checked for a retry only against undecided transactions: a retry that arrives after its transaction was decided (by a check-back) prepares it again, to be committed a second time (transactionAtomic)',
    caughtBy: ['transactionAtomic', 'halfInvisible'],
    sim: { broker: true },
  },
  {
    name: 'repeated-ack-not-recognised',
    edits: [
      {
        file: CONSUMER_GROUPS,
        form: 'expression',
        original: "offset < this.cursor ? 'alreadyAcked' : 'notDelivered'",
        mutant: "offset < this.committed ? 'alreadyAcked' : 'notDelivered'",
      },
    ],
    breaks: "an ack applied again (a retry whose first answer was lost) of a message acked out of order, above the committed offset, is answered 'notDelivered': the consumer is told a message it acked was never delivered to it, and the message is gone (deliveredUntilAcked)",
    caughtBy: ['deliveredUntilAcked'],
    sim: { broker: true },
  },
  {
    name: 'install-keeps-old-log',
    edits: [{ file: REPLICA, form: 'statement', original: 'await this.log.resetToSnapshot({ index: snapshot.index, term: snapshot.term });', mutant: '' }],
    breaks: "a follower installs a leader's snapshot into its state machine but keeps its old log: the core continues after the snapshot while the log does not (nodeFailed: the next append does not continue the log), or acknowledges entries it does not hold",
    caughtBy: ['nodeFailed', 'durableBeforeAck', 'ackDurable', 'stateMachineSafety'],
    sim: { segmentBytes: 1024, snapshots: true },
  },
  {
    name: 'compaction-past-retention',
    edits: [{ file: NODE_SNAPSHOTS, form: 'expression', original: 's.index < keepFrom', mutant: 'true' }],
    breaks: 'the log is compacted below the newest snapshot whatever retention keeps: messages not yet delivered or acked are deleted, and a follower is sent a snapshot beyond them (deliveredUntilAcked: acknowledged messages never reach a consumer)',
    caughtBy: ['deliveredUntilAcked', 'producedOnce'],
    sim: { segmentBytes: 1024, broker: true, snapshots: true },
  },
  {
    name: 'wiped-disk-admitted',
    edits: [{ file: MEMBER_INCARNATION, form: 'statement', original: "if (recorded === '' || incarnation === recorded) return null;", mutant: 'return null;' }],
    breaks: "the incarnation check is skipped: a voter's wiped disk, restarted under its id with an empty log, is taken for the member, so its votes and acknowledgements count (wipedDiskCounted; its vote can elect a leader missing committed entries)",
    caughtBy: ['wipedDiskCounted', 'leaderCompleteness', 'ackDurable', 'electionSafety', 'singleVote'],
    sim: { membership: true },
  },
];
