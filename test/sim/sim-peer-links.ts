import type { NodeId } from '../../raft/index.js';
import type { NodeMembership } from '../../src/node/node-membership.js';
import { heardFrom, judgeIncarnationCheck, type FirstHeardIncarnations } from '../../src/node/bootstrap-check.js';
import { memberIncarnationRefusal, type IncarnationCheckAnswer } from '../../src/transport/index.js';

/**
 * Who may talk to whom, as each node's PeerTransport decides it in production
 * (src/node/node.ts wires it): a node sends only to the peers its membership last named
 * (`setPeers`, kept by `NodeMembership.onPeers`), and takes a message only from a peer it
 * names now whose data directory incarnation is the one recorded for it
 * (`NodeMembership.recordedIncarnation`, the book's or the first heard, judged by
 * `memberIncarnationRefusal`). The listener's gRPC stream is not run here: each message is
 * admitted on its own, as if it opened a stream.
 *
 * First-heard incarnations (peer-incarnations.json in production) are per node, survive its
 * crashes (written and fsynced when learnt), are forgotten when a peer leaves its peers, and
 * are lost with a wiped disk.
 */
export class SimPeerLinks {
  /** Each running node's peers as its membership last named them; absent while it is down. */
  private readonly peersOf = new Map<NodeId, ReadonlySet<NodeId>>();
  private readonly firstHeard = new Map<NodeId, Map<NodeId, string>>();
  /** Messages a receiver refused: the sender is not its peer. */
  refusedNotMember = 0;
  /** Messages a receiver refused: the sender's incarnation is not the one recorded for it. */
  refusedIncarnation = 0;

  /** `node`'s membership names its peers (setPeers); a peer that left is forgotten when its membership says it may be (node.ts does the same). */
  setPeers(node: NodeId, membership: NodeMembership, peers: ReadonlyMap<NodeId, string>): void {
    const before = this.peersOf.get(node);
    const heard = this.heardBy(node);
    if (before !== undefined) for (const peer of before) if (!peers.has(peer) && membership.mayForgetIncarnation(peer)) heard.delete(peer);
    this.peersOf.set(node, new Set(peers.keys()));
  }

  /** `node`'s process is gone: its transport with it. */
  down(node: NodeId): void {
    this.peersOf.delete(node);
  }

  /** `node`'s disk was wiped: what it heard of its peers went with it. */
  wiped(node: NodeId): void {
    this.peersOf.delete(node);
    this.firstHeard.delete(node);
  }

  /** Whether `from` has a link to `to` (the transport drops a message for a non-peer). */
  mayDial(from: NodeId, to: NodeId): boolean {
    return this.peersOf.get(from)?.has(to) === true;
  }

  /**
   * Whether `to` (its membership `membership`) takes a message from `from`, sent by the
   * process with data directory `incarnation` that says it listens at `peerAddress`; an
   * accepted sender's incarnation is learnt (trust on first use) when it is a member, as
   * node.ts's onPeerIncarnation does. A sender `to`'s peers do not name is asked about as the
   * listener asks (NodeMembership.admitsStranger: a follower serves it and dials it back).
   */
  admit(to: NodeId, membership: NodeMembership, from: NodeId, incarnation: string, peerAddress: string): boolean {
    if (this.peersOf.get(to)?.has(from) !== true && !membership.admitsStranger(from, peerAddress)) {
      this.refusedNotMember++;
      return false;
    }
    const heard = this.firstHeardOf(to);
    const recorded = membership.recordedIncarnation(from, heard.get(from));
    if (memberIncarnationRefusal({ from, recorded, incarnation, peerAddress: from }) !== null) {
      this.refusedIncarnation++;
      return false;
    }
    heardFrom(membership, heard, from, incarnation);
    return true;
  }

  /**
   * How `to` (its membership `membership`) answers `from`'s CheckIncarnation for data
   * directory `incarnation`, as the listener does: a caller its peers do not name is refused
   * (null; a question is not served as a stranger's); the rest is judgeIncarnationCheck on
   * what `to` first heard.
   */
  answerIncarnationCheck(to: NodeId, membership: NodeMembership, from: NodeId, incarnation: string): IncarnationCheckAnswer | null {
    if (this.peersOf.get(to)?.has(from) !== true) return null;
    return judgeIncarnationCheck(membership, this.firstHeardOf(to), from, incarnation);
  }

  /** The incarnation `node` recorded for `peer` (the book's, else first heard; '' for none). */
  recorded(node: NodeId, membership: NodeMembership, peer: NodeId): string {
    return membership.recordedIncarnation(peer, this.firstHeard.get(node)?.get(peer));
  }

  /** `node`'s first-heard record as the node reads and writes it (peer-incarnations.json in production). */
  private firstHeardOf(node: NodeId): FirstHeardIncarnations {
    const heard = this.heardBy(node);
    return {
      get: (peer) => heard.get(peer),
      learn: (peer, incarnation) => {
        if (incarnation !== '' && !heard.has(peer)) heard.set(peer, incarnation);
      },
    };
  }

  private heardBy(node: NodeId): Map<NodeId, string> {
    let heard = this.firstHeard.get(node);
    if (heard === undefined) {
      heard = new Map();
      this.firstHeard.set(node, heard);
    }
    return heard;
  }
}
