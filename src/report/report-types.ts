/** A fault drawn on a chart's time axis: shaded from start to end, labelled, its heal marked. */
export interface FaultWindow {
  readonly faultId: number;
  readonly kind: string;
  readonly variant: string;
  readonly targets: readonly string[];
  readonly startMs: number;
  readonly endMs: number;
  readonly detail: string;
}

/** An operation a client ran: when it was invoked, when it completed, how it ended. */
export interface Op {
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly outcome: 'ok' | 'fail' | 'info';
}
