/** A message as the client API carries it (produce, fetch, transactions). */
export interface BrokerMessageView {
  readonly key: Uint8Array;
  readonly headers: readonly { readonly name: string; readonly value: Uint8Array }[];
  readonly payload: Uint8Array;
  readonly timestampMs: number;
}

/**
 * The transactions API of one node (client.proto's SendHalf, EndTransaction,
 * ListTransactions and TransactionChecks). Writes fail with NotLeaderError on a follower and
 * resolve once committed and applied; refusals of the state machine are the node errors
 * of src/transport/node-errors.ts (NotFoundError, BrokerRefusedError transactionDecided, ...).
 */
export interface TransactionService {
  sendHalf(request: HalfInput, options: { readonly timeoutMs: number }): Promise<HalfOutcome>;
  endTransaction(request: EndInput, options: { readonly timeoutMs: number }): Promise<EndOutcome>;
  /** Undecided transactions as this node has applied them, oldest first. */
  listTransactions(): readonly TransactionInfoView[];
  /** The topic of a transaction as this node has applied it, for the ACL check of a decision on it. */
  transactionTopic(txId: string): TransactionTopic;
  /**
   * Registers a producer of `producerGroup` for check-backs. Throws NotLeaderError on a
   * follower. The node calls `sink.push` for each check it sends this producer and
   * `sink.end` (with the error to end the stream with) when it stops leading; the returned
   * function unregisters (the stream ended from the client's side).
   */
  subscribeChecks(producerGroup: string, sink: CheckSink): () => void;
}

/**
 * `topic`: the transaction's, when this node has applied it (undecided, or remembered as
 * decided); null when it knows none of that id. `current`: this node leads and has applied
 * every entry committed (one of its own term among them), so an id it does not know was never
 * acknowledged to anyone; false on a new leader still catching up, where null proves nothing.
 */
export interface TransactionTopic {
  readonly topic: string | null;
  readonly current: boolean;
}

export interface CheckSink {
  /** Sends one check-back; false if the stream cannot take it now (the check is left for the next interval). */
  push(check: CheckView): boolean;
  end(error: Error): void;
}

/** 0 for a schedule field: the broker's default. */
export interface HalfInput {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessageView[];
  readonly checkDelayMs: number;
  readonly checkIntervalMs: number;
  readonly checkMax: number;
}

export interface HalfOutcome {
  readonly duplicate: boolean;
  readonly state: 'prepared' | 'committed' | 'rolledBack';
  readonly logIndex: number;
}

export type TransactionSourceName = 'producer' | 'checkBack' | 'admin';

export interface EndInput {
  readonly txId: string;
  readonly outcome: 'commit' | 'rollback';
  readonly source: TransactionSourceName;
}

export interface EndOutcome {
  readonly state: 'committed' | 'rolledBack';
  readonly topic: string;
  /** Committed: the first message's offset; 0 when rolled back. */
  readonly firstOffset: number;
  readonly count: number;
  readonly duplicate: boolean;
}

export interface TransactionInfoView {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messageCount: number;
  readonly preparedAtMs: number;
  readonly checkCount: number;
  readonly checkMax: number;
  readonly nextCheckMs: number;
  readonly logIndex: number;
}

/** One check-back as the leader sends it to a producer of the group. */
export interface CheckView {
  readonly txId: string;
  readonly producerGroup: string;
  readonly topic: string;
  readonly messages: readonly BrokerMessageView[];
  readonly checkCount: number;
  readonly preparedAtMs: number;
}
