import type { InstallSnapshot, NodeId } from '../../raft/index.js';
import type { SnapshotReceiving, SnapshotShipping, SnapshotSource } from '../../src/transport/index.js';
import type { SimNetwork } from './sim-network.js';
import type { SimProcess, SimWorld } from './sim-scheduler.js';

/** Bytes per piece of a snapshot stream (the gRPC transport's chunk size). */
const PIECE_BYTES = 256 * 1024;

/** What the link needs of the cluster: who runs where, right now. */
export interface SnapshotLinkHost {
  readonly world: SimWorld;
  network(): SimNetwork;
  /** The process running node `id`, or null while it is down. */
  processOf(id: NodeId): SimProcess | null;
  /** Where node `id`'s running process takes snapshots in, or null while it is down or starting. */
  receivingOf(id: NodeId): SnapshotReceiving | null;
  /** Whether `from` has a link to `to` and `to` takes an upload from it (members, incarnations); absent: always. */
  admits?(from: NodeId, to: NodeId): boolean;
}

/**
 * InstallSnapshot on the simulated network: the sender's file travels piece by piece, each
 * piece a delayed delivery on the receiver's process, like the gRPC stream. A link cut, a
 * receiver down or restarted, or a piece the network drops breaks the transfer (the sender's
 * promise rejects, and its core is told); the receiver's partial copy stays, so the next
 * transfer of the same snapshot to the same process resumes where it ended.
 */
export class SimSnapshotLink {
  /** Transfers started and finished, for tests that want to see installs happen. */
  started = 0;
  finished = 0;
  broken = 0;

  constructor(private readonly host: SnapshotLinkHost) {}

  /** The sending side as node `from` sees it. */
  shippingFor(from: NodeId, process: SimProcess): SnapshotShipping {
    return { sendSnapshot: (message, source) => this.send(from, process, message, source) };
  }

  private async send(from: NodeId, sender: SimProcess, message: InstallSnapshot, source: SnapshotSource): Promise<void> {
    this.started++;
    try {
      const receiver = this.host.processOf(message.to);
      const receiving = this.host.receivingOf(message.to);
      if (receiver === null || receiving === null || this.host.network().isCut(from, message.to)) throw new Error(`${message.to} cannot be reached`);
      if (this.host.admits?.(from, message.to) === false) throw new Error(`${message.to} refused the upload from ${from}`);
      const intake = await this.hop(sender, receiver, message, () => receiving.open(message, source.totalBytes));
      // Bounded by the file's size: every piece moves the offset on.
      for (let offset = intake.receivedBytes; offset < source.totalBytes; ) {
        const piece = await source.read(offset, Math.min(PIECE_BYTES, source.totalBytes - offset));
        if (piece.length === 0) throw new Error(`the snapshot source gave nothing at ${offset}`);
        if (this.host.network().losesPiece(from, message.to)) throw new Error('a piece was lost on the way');
        const at = offset;
        await this.hop(sender, receiver, message, () => intake.write(at, piece));
        offset += piece.length;
      }
      await this.hop(sender, receiver, message, () => intake.finish());
      this.finished++;
    } catch (error) {
      this.broken++;
      throw error;
    } finally {
      source.close();
    }
  }

  /**
   * Runs `work` on the receiver's process after a network delay, then resumes the sender after
   * another: a round trip of the stream. Fails if either end died or the link was cut meanwhile.
   */
  private hop<T>(sender: SimProcess, receiver: SimProcess, message: InstallSnapshot, work: () => Promise<T>): Promise<T> {
    const { world } = this.host;
    const network = this.host.network();
    return new Promise<T>((resolve, reject) => {
      const broken = (): void => {
        world.schedule(0, sender, 'snapshot broken', () => reject(new Error('the receiver went away')));
      };
      // A receiver that dies before it answers drops the tasks this hop waits on (the piece's
      // delivery, its write): the stream breaks then, as a gRPC stream does when its far end
      // dies, instead of leaving the sender waiting for ever (FINDINGS H2).
      const stopListening = receiver.whenDead(broken);
      world.schedule(this.host.network().pieceDelayMs(), receiver, `snapshot ${message.from}->${message.to}`, () => {
        if (!receiver.alive || this.host.processOf(message.to) !== receiver || network.isCut(message.from, message.to) || this.host.admits?.(message.from, message.to) === false) {
          stopListening();
          broken();
          return;
        }
        work().then(
          (value) => {
            stopListening();
            world.schedule(this.host.network().pieceDelayMs(), sender, `snapshot ack ${message.to}->${message.from}`, () => resolve(value));
          },
          (error: unknown) => {
            stopListening();
            world.schedule(this.host.network().pieceDelayMs(), sender, 'snapshot refused', () => reject(error));
          },
        );
      });
    });
  }
}
