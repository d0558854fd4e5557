/**
 * Outcomes of applying a broker command that a client may branch on. They are results of a
 * deterministic state machine (every replica reaches the same one for the same entry), so
 * each carries only data that came from the log.
 */
export const BrokerErrorCode = {
  invalidArgument: 'invalidArgument',
  notFound: 'notFound',
  alreadyExists: 'alreadyExists',
  unknownProducer: 'unknownProducer',
  outOfOrderSequence: 'outOfOrderSequence',
  duplicateTooOld: 'duplicateTooOld',
  /** The request is well formed but the state does not allow it (acking a message already acked, a group on another topic). */
  failedPrecondition: 'failedPrecondition',
  /** A bounded table is full (undecided transactions). */
  resourceExhausted: 'resourceExhausted',
  /** A transaction was already decided the other way (commit after rollback, rollback after commit). */
  transactionDecided: 'transactionDecided',
} as const;
export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A log entry whose payload is not a broker command this version understands. */
export class MalformedCommandError extends Error {
  override readonly name = 'MalformedCommandError';
}
