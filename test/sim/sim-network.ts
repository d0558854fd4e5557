import type { Message, NodeId } from '../../raft/types.js';
import type { Prng } from './prng.js';

/** How the network treats each message while no partition cuts its link. */
export interface NetworkConditions {
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Probability a message is lost. */
  readonly dropRate: number;
  /** Probability a delivered message is delivered a second time (with its own delay). */
  readonly duplicateRate: number;
  /** Deliver each link's messages in the order sent (a TCP-like stream), though still delayed, lost or duplicated. */
  readonly ordered?: boolean;
}

export const reliableNetwork: NetworkConditions = { delayMinMs: 1, delayMaxMs: 8, dropRate: 0, duplicateRate: 0 };

/**
 * A simulated packet network. Independent random delays reorder messages; links are cut per
 * direction, so any partition shape (isolated node, split brain, bridge node, one-way link)
 * is a set of cut links. A link cut while a message is in flight loses that message.
 */
export class SimNetwork {
  conditions: NetworkConditions = reliableNetwork;
  private readonly cut = new Set<string>();
  /** ordered links: the virtual time of the last delivery scheduled on each link. */
  private readonly lastDeliveryMs = new Map<string, number>();
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(
    private readonly prng: Prng,
    private readonly schedule: (delayMs: number, message: Message) => void,
    private readonly now: () => number = () => 0,
  ) {}

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Splits the nodes into groups that cannot reach each other (both directions). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.cut.clear();
    for (const [gi, a] of groups.entries()) {
      for (const [gj, b] of groups.entries()) {
        if (gi === gj) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  send(message: Message): void {
    this.sent++;
    if (this.isCut(message.from, message.to) || this.prng.chance(this.conditions.dropRate)) {
      this.dropped++;
      return;
    }
    this.schedule(this.delay(message), message);
    if (this.prng.chance(this.conditions.duplicateRate)) {
      this.duplicated++;
      this.schedule(this.delay(message), message);
    }
  }

  /** A piece of a snapshot stream from `from` to `to` is lost now (the stream then breaks). */
  losesPiece(from: NodeId, to: NodeId): boolean {
    return this.isCut(from, to) || this.prng.chance(this.conditions.dropRate);
  }

  /** The delay of one piece of a snapshot stream, drawn like a message's. */
  pieceDelayMs(): number {
    return this.prng.between(this.conditions.delayMinMs, this.conditions.delayMaxMs);
  }

  /** Called at delivery time: a link cut meanwhile loses the message. */
  deliverable(message: Message): boolean {
    if (this.isCut(message.from, message.to)) {
      this.dropped++;
      return false;
    }
    return true;
  }

  private delay(message: Message): number {
    const delayMs = this.prng.between(this.conditions.delayMinMs, this.conditions.delayMaxMs);
    if (this.conditions.ordered !== true) return delayMs;
    // Same-time events leave the queue in insertion order, so equal times keep the order too.
    const link = `${message.from}>${message.to}`;
    const at = Math.max(this.now() + delayMs, this.lastDeliveryMs.get(link) ?? 0);
    this.lastDeliveryMs.set(link, at);
    return at - this.now();
  }
}
