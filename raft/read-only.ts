import type { Index, NodeId, ReadState } from './types.js';

interface PendingRead {
  readonly index: Index;
  readonly context: string;
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex requests waiting for a heartbeat round to confirm that this node was still
 * leader when each was made (Raft thesis §6.4). Confirming a later read confirms every
 * earlier one, since the quorum acknowledged a heartbeat sent after all of them.
 */
export class PendingReads {
  private readonly queue: PendingRead[] = [];

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.queue.length;
  }

  isFull(): boolean {
    return this.queue.length >= this.capacity;
  }

  /** `self` is the leader's own acknowledgement, null when it is not a voter (its removal is on its way). */
  add(index: Index, context: string, self: NodeId | null): void {
    this.queue.push({ index, context, acks: new Set(self === null ? [] : [self]) });
  }

  /** The context to carry on the next heartbeat round: the newest read's. */
  latestContext(): string {
    return this.queue.at(-1)?.context ?? '';
  }

  /**
   * Records that `from` acknowledged the heartbeat carrying `context`. Returns the reads
   * now confirmed, oldest first, and removes them.
   */
  acknowledge(context: string, from: NodeId, quorum: number): ReadState[] {
    const at = this.queue.findIndex((read) => read.context === context);
    if (at < 0) return [];
    const read = this.queue[at];
    if (read === undefined) return [];
    read.acks.add(from);
    if (read.acks.size < quorum) return [];
    return this.queue.splice(0, at + 1).map(({ index, context: ctx }) => ({ index, context: ctx }));
  }

  clear(): void {
    this.queue.length = 0;
  }
}
