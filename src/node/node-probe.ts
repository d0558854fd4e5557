import type { Index } from '../../raft/index.js';
import { AuthRefusalKind } from '../transport/index.js';

/** The client calls a node times and counts, each with its own label in the metrics. */
export type ProbedCall = 'append' | 'produce' | 'ack';

/**
 * What a node tells an observer while it works: hooks on the request and write paths, for
 * counters and latency histograms. The node reads no clock for them (its clock is the
 * Scheduler): `startMark` comes from the observer, which is handed it back when the work
 * ends. Every hook is called with numbers and strings it already has, never an object built
 * for the call, and must return at once without throwing. NO_PROBE does nothing: the
 * simulator and tests that do not look at metrics run with it.
 */
export interface NodeProbe {
  /** An opaque mark of "now" on the observer's own clock, to pass back to a hook. */
  startMark(): number;
  /** A client call ended: `error` is what it failed with, or null on success. */
  callEnded(call: ProbedCall, startedMark: number, error: unknown): void;
  /** This leader accepted a produce of `messages` messages, `bytes` in all, into `topic`. */
  produced(topic: string, messages: number, bytes: number): void;
  /** This leader took entries into its log, through `lastIndex`. */
  proposed(lastIndex: Index): void;
  /** One Ready's entries, handed to the log at `startedMark`, are durable here. */
  logAppended(entries: number, startedMark: number): void;
  /** This leader handed out `count` deliveries that were not a message's first. */
  redelivered(count: number): void;
  /** This leader sent a transaction check-back to a producer. */
  checkBackSent(): void;
  /** A client call was refused by the ACLs (PERMISSION_DENIED), asking for `operation`. */
  permissionDenied(operation: 'produce' | 'consume' | 'admin'): void;
  /** A client call was refused before any handler (UNAUTHENTICATED), for this kind of reason. */
  authRefused(kind: AuthRefusalKind): void;
}

/** Every kind authRefused is called with, for an observer that shows each from the start. */
export const AUTH_REFUSAL_KINDS: readonly AuthRefusalKind[] = Object.values(AuthRefusalKind);

export const NO_PROBE: NodeProbe = {
  startMark: () => 0,
  callEnded: () => {},
  produced: () => {},
  proposed: () => {},
  logAppended: () => {},
  redelivered: () => {},
  checkBackSent: () => {},
  permissionDenied: () => {},
  authRefused: () => {},
};

/** Runs one client call, telling `probe` when it ended and how. */
export async function probedCall<T>(probe: NodeProbe, call: ProbedCall, work: () => Promise<T>): Promise<T> {
  const started = probe.startMark();
  try {
    const result = await work();
    probe.callEnded(call, started, null);
    return result;
  } catch (error) {
    probe.callEnded(call, started, error);
    throw error;
  }
}
