/**
 * The nodes' snapshot, segment and retention flags as a run passes them on (docs/snapshots.md).
 * null leaves a flag out, so the node keeps its own default.
 */
export interface CompactionFlags {
  /** --snapshot-entries: a snapshot every N applied entries. */
  readonly snapshotEntries: number | null;
  /** --segment-bytes: a new segment file past this size (at least 4096). */
  readonly segmentBytes: number | null;
  /** --retention-hours: 0 keeps nothing for time's sake; fractional allowed. */
  readonly retentionHours: number | null;
  readonly retentionPolicy: RetentionPolicyName | null;
}

export const RETENTION_POLICIES = ['keep-unconsumed', 'delete'] as const;
export type RetentionPolicyName = (typeof RETENTION_POLICIES)[number];

/** Every flag left to the nodes' defaults. */
export const NODE_DEFAULT_COMPACTION: CompactionFlags = { snapshotEntries: null, segmentBytes: null, retentionHours: null, retentionPolicy: null };

/** The flags as `quorumlog node` and `npm run jepsen` spell them (only those given). */
export function compactionArgs(flags: CompactionFlags): string[] {
  return [
    ...(flags.snapshotEntries === null ? [] : ['--snapshot-entries', String(flags.snapshotEntries)]),
    ...(flags.segmentBytes === null ? [] : ['--segment-bytes', String(flags.segmentBytes)]),
    ...(flags.retentionHours === null ? [] : ['--retention-hours', String(flags.retentionHours)]),
    ...(flags.retentionPolicy === null ? [] : ['--retention-policy', flags.retentionPolicy]),
  ];
}

/**
 * The policy the nodes run with (theirs when not given). The checkers need it: under
 * keep-unconsumed a topic message deleted before its group acked past it is a violation.
 */
export function effectivePolicy(flags: CompactionFlags): RetentionPolicyName {
  return flags.retentionPolicy ?? 'keep-unconsumed';
}
