import type { InstallSnapshot } from '../../raft/index.js';

/**
 * How a snapshot travels between nodes, beside the Raft message that announces it.
 *
 * A snapshot is a file (see docs/storage.md, "Snapshots"): the sender ships its raw bytes in
 * order, the receiver writes them into a partial copy and, once every byte is there,
 * verifies and publishes the copy crash-atomically and only then steps the InstallSnapshot
 * message into its core. A broken transfer resumes where the receiver's partial copy ends.
 * The transport (gRPC in a process, the simulated network in test/sim) moves the bytes; the
 * node owns the files on both sides.
 */

/** The sender's side: the snapshot file, read in pieces so no read blocks for long. */
export interface SnapshotSource {
  readonly totalBytes: number;
  /** Exactly `length` bytes from `offset` (which with `length` lies within totalBytes). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the file; called once the transfer ended, however it ended. */
  close(): void;
}

/** The receiver's partial copy of one snapshot. */
export interface SnapshotIntake {
  /** Bytes already held (from an earlier, broken transfer of the same snapshot): where the sender resumes. */
  readonly receivedBytes: number;
  /**
   * Appends the bytes at `offset`, where the bytes written so far end; pieces may be of any
   * size. Rejects (typed) if they cannot be right.
   */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Every byte has arrived: verifies the whole snapshot, publishes it durably and hands the
   * InstallSnapshot message to the core. Rejects if the snapshot is not whole and intact.
   */
  finish(): Promise<void>;
}

/** The receiving node: opens (or resumes) the partial copy for a snapshot a peer announces. */
export interface SnapshotReceiving {
  open(message: InstallSnapshot, totalBytes: number): Promise<SnapshotIntake>;
}

/** The sending node's way out: ships one snapshot to `message.to`. */
export interface SnapshotShipping {
  /**
   * Resolves once the receiver has finished (verified, published and stepped) the snapshot;
   * rejects when it could not be delivered (the node then tells the core, which resends).
   */
  sendSnapshot(message: InstallSnapshot, source: SnapshotSource): Promise<void>;
}
