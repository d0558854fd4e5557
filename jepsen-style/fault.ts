/**
 * A fault with its targets chosen and nothing done to the cluster yet: `apply` takes its
 * first action. The split lets the nemesis record the fault's start before that action.
 */
export interface PreparedFault {
  readonly targets: readonly string[];
  /** What it is about to do. */
  readonly detail: string;
  apply(): Promise<ActiveFault>;
  /** Called once the fault is healed (or failed to start): gives back what it claimed. */
  readonly release?: () => void;
}

/** An applied fault: what applying it did, and how to undo it. */
export interface ActiveFault {
  readonly detail: string;
  /** Set when the fault acted but could not do what it is for (no damage to make): why. */
  readonly notApplied?: string;
  heal(): Promise<string>;
}
