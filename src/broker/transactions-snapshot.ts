import type { BinaryReader, BinaryWriter } from '../encoding/index.js';
import { BrokerSnapshotError } from './errors.js';
import { nameIndex, readCount, readNamed, readOffsetOrNone, readTimeOrNever, writeOffsetOrNone, writeTimeOrNever } from './snapshot-fields.js';
import type { EncodeSteps, StepCounter } from './snapshot-steps.js';
import { TransactionState, type DecisionSource, type Transaction, type TransactionTableSnapshot, type TransactionTableSource } from './transactions.js';

/**
 * The transactions' part of a broker snapshot: the table's earliest check time, then the
 * undecided transactions in half order and the remembered decided ones, oldest decision first.
 */

/** Written as u8: positions never reused. */
const STATES: readonly TransactionState[] = [TransactionState.prepared, TransactionState.committed, TransactionState.rolledBack];
/** Position 0: not decided yet. */
const DECIDERS: readonly (DecisionSource | null)[] = [null, 'producer', 'checkBack', 'admin', 'checkExhausted', 'topicDeleted'];
/** Three strings (4 bytes each at least) and the fixed fields. */
const TRANSACTION_BYTES_MIN = 3 * 4 + 8 + 4 + 8 + 8 + 8 + 4 + 1 + 4 + 8 + 1 + 8;

/** Writes the transactions' part from the table's live maps, yielding between steps (see snapshot-steps.ts). */
export function* writeTransactions(w: BinaryWriter, s: TransactionTableSource, steps: StepCounter): EncodeSteps {
  writeTimeOrNever(w, s.earliestDueMs);
  for (const list of [s.prepared, s.decided]) {
    w.u32(list.size);
    for (const tx of list.values()) {
      writeTransaction(w, tx);
      if (steps.due()) yield;
    }
  }
}

export function readTransactions(r: BinaryReader): TransactionTableSnapshot {
  const earliestDueMs = readTimeOrNever(r, "the transactions' earliest check time");
  const prepared = readList(r, 'undecided transactions');
  const decided = readList(r, 'decided transactions');
  for (const tx of prepared) if (tx.state !== TransactionState.prepared) throw new BrokerSnapshotError(`transaction ${tx.txId} is among the undecided but ${tx.state}`);
  for (const tx of decided) if (tx.state === TransactionState.prepared) throw new BrokerSnapshotError(`transaction ${tx.txId} is among the decided but undecided`);
  return { prepared, decided, earliestDueMs };
}

function readList(r: BinaryReader, what: string): Transaction[] {
  const count = readCount(r, TRANSACTION_BYTES_MIN, what);
  const list: Transaction[] = [];
  for (let k = 0; k < count; k++) list.push(readTransaction(r));
  return list;
}

function writeTransaction(w: BinaryWriter, tx: Readonly<Transaction>): void {
  w.string(tx.txId).string(tx.producerGroup).string(tx.topic).u53(tx.topicId).u32(tx.count).u53(tx.logIndex).u53(tx.preparedAtMs);
  w.u53(tx.checkIntervalMs).u32(tx.checkMax).u8(nameIndex(STATES, tx.state)).u32(tx.checkCount);
  writeTimeOrNever(w, tx.nextCheckMs);
  w.u8(nameIndex(DECIDERS, tx.decidedBy));
  writeOffsetOrNone(w, tx.firstOffset);
}

function readTransaction(r: BinaryReader): Transaction {
  const txId = r.string();
  const producerGroup = r.string();
  const topic = r.string();
  const topicId = r.u53();
  const count = r.u32();
  const logIndex = r.u53();
  const preparedAtMs = r.u53();
  const checkIntervalMs = r.u53();
  const checkMax = r.u32();
  const state = readNamed(r, STATES, `state of transaction ${txId}`);
  const checkCount = r.u32();
  const nextCheckMs = readTimeOrNever(r, `next check of transaction ${txId}`);
  const decidedBy = readNamed(r, DECIDERS, `decider of transaction ${txId}`);
  const firstOffset = readOffsetOrNone(r, `first offset of transaction ${txId}`);
  return { txId, producerGroup, topic, topicId, count, logIndex, preparedAtMs, checkIntervalMs, checkMax, state, checkCount, nextCheckMs, decidedBy, firstOffset };
}
