import type { Message, NodeId, RaftNode } from '../../raft/index.js';
import type { IncarnationCheckAnswer } from '../../src/transport/index.js';
import { Invariant, type SafetyChecker } from './invariants.js';
import type { SimNode } from './sim-node.js';
import type { SimNetwork } from './sim-network.js';
import type { SimPeerLinks } from './sim-peer-links.js';
import type { SimProcess, SimWorld } from './sim-scheduler.js';

/** Each way of a CheckIncarnation call. */
const INCARNATION_CHECK_HOP_MS = 1;

/** What the delivery needs of the cluster. */
export interface DeliveryHost {
  readonly world: SimWorld;
  readonly checker: SafetyChecker;
  readonly peerLinks: SimPeerLinks;
  /** Runs before a sent message reaches the network: 'drop' loses it (NodeClusterOptions.intercept). */
  intercept(message: Message): 'pass' | 'drop';
  /** Sees every message the moment it is delivered to a running node (NodeClusterOptions.onDeliver). */
  delivered(message: Message): void;
  network(): SimNetwork;
  node(id: NodeId): SimNode;
  raft(id: NodeId): RaftNode | null;
  addressOf(id: NodeId): { readonly peerAddress: string };
  /** Runs a check from inside a node: a violation is raised by the step, not by the node. */
  checkInNode(check: () => void): void;
  /** Tells the durability checks a message left its node. */
  durabilitySent(message: Message): void;
}

/**
 * The nodes' traffic between the simulated network and their processes: Raft messages
 * (checked as they leave, admitted as each receiver's transport admits them, delivered to the
 * process running when they were sent) and CheckIncarnation calls. The ground truth of whose
 * disk a message came from travels beside it (a stream's metadata), for the wiped-disk check.
 */
export class SimDelivery {
  /** Raft messages handed to the network. */
  sent = 0;
  /** The sending process's disk (generation) and data directory incarnation, carried beside each message (a stream's metadata). */
  private readonly senderDisk = new WeakMap<Message, { readonly generation: number; readonly incarnation: string }>();
  /** `to>from`: the first of `from`'s disks (generation) whose messages reached `to`'s core since `to`'s own disk was new. */
  private readonly firstDiskHeard = new Map<string, number>();

  constructor(private readonly host: DeliveryHost) {}

  /** `id`'s disk is new: what others heard of its old disks, and it of theirs, starts over. */
  diskReplaced(id: NodeId): void {
    for (const key of [...this.firstDiskHeard.keys()]) if (key.startsWith(`${id}>`)) this.firstDiskHeard.delete(key);
  }

  send(message: Message): void {
    this.sent++;
    const sender = this.host.node(message.from);
    this.host.checkInNode(() => {
      if (message.type === 'voteResp' && message.granted) this.host.checker.voteGranted(sender.checkerId, message.to, message.term);
      if ((message.type === 'voteResp' || message.type === 'preVoteResp') && message.granted && this.host.raft(message.from)?.status().votingBlocked === true) {
        this.host.checker.violation(Invariant.votedWhileDamaged, `${message.from} granted ${message.to} a ${message.type === 'voteResp' ? 'vote' : 'pre-vote'} in term ${message.term} before its lost entries were repaired`);
      }
      const held = this.host.raft(message.from)?.status().votingHeld === true;
      if (held && (((message.type === 'voteResp' || message.type === 'preVoteResp') && message.granted) || message.type === 'vote' || message.type === 'preVote')) {
        this.host.checker.violation(Invariant.votedBeforeBootstrapCheck, `${message.from} sent a ${message.type}${message.type.endsWith("Resp") ? " granting it" : ""} in term ${message.term} before its members confirmed its new data directory`);
      }
      this.host.durabilitySent(message);
    });
    if (this.host.intercept(message) === 'drop') return;
    if (!this.host.peerLinks.mayDial(message.from, message.to)) return;
    this.senderDisk.set(message, { generation: sender.generation, incarnation: sender.incarnation });
    this.host.network().send(message);
  }

  /**
   * Ground truth, whatever the transport decided: a node that heard `from` on one disk never
   * takes a vote, pre-vote or append acknowledgement from a later disk of it (wiped, restarted
   * under its id). A node that never heard the old disk (one that joined later) may: the limit
   * of first-heard incarnations docs/membership.md names.
   */
  private checkWipedDisk(message: Message, generation: number): void {
    const key = `${message.to}>${message.from}`;
    const first = this.firstDiskHeard.get(key);
    if (first === undefined) this.firstDiskHeard.set(key, generation);
    if (first === undefined || first >= generation) return;
    const counts = ((message.type === 'voteResp' || message.type === 'preVoteResp') && message.granted) || (message.type === 'appendResp' && message.success);
    if (counts) {
      this.host.checkInNode(() => this.host.checker.violation(Invariant.wipedDiskCounted, `${message.to} took ${message.type} from ${message.from}'s wiped disk (disk ${generation}; it heard disk ${first} before) in term ${message.term}`));
    }
  }

  /** Whether `to`'s transport takes a message from `from` now (a member, from the disk it knows). */
  admits(to: NodeId, from: NodeId, incarnation = this.host.node(from).incarnation): boolean {
    const target = this.host.node(to).node;
    return target !== null && this.host.peerLinks.admit(to, target.membership, from, incarnation, this.host.addressOf(from).peerAddress);
  }

  /** A message reaches the process running at its destination when sent; a restarted process never sees it. */
  scheduleDelivery(delayMs: number, message: Message): void {
    const process = this.host.node(message.to).process;
    if (process === null) return;
    this.host.world.schedule(delayMs, process, `${message.type} ${message.from}->${message.to}`, () => {
      const target = this.host.node(message.to).node;
      if (target === null || !this.host.network().deliverable(message)) return;
      const disk = this.senderDisk.get(message);
      if (!this.admits(message.to, message.from, disk?.incarnation)) return;
      if (disk !== undefined) this.checkWipedDisk(message, disk.generation);
      this.host.delivered(message);
      target.receive(message);
    });
  }

  /**
   * CheckIncarnation on the simulated network: the question reaches `peer`'s running process
   * a millisecond after it is asked, and the answer `from`'s a millisecond after that. A link
   * cut, a peer down or not serving, or a refusal fails the call. So does the peer's death
   * before it answered, as a call fails when the far end of its connection dies: the question's
   * task is dropped with the peer's process, and the call would otherwise never settle (the
   * asker then never asks again; FINDINGS H2 is the same for a snapshot stream). The delays are
   * fixed, so a question draws nothing from the network's generator and shifts no random choice
   * of the run.
   */
  askIncarnation(from: NodeId, asker: SimProcess, peer: NodeId): Promise<IncarnationCheckAnswer> {
    const incarnation = this.host.node(from).incarnation;
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        this.host.world.schedule(INCARNATION_CHECK_HOP_MS, asker, `incarnation check ${from}->${peer} failed`, () => reject(new Error(why)));
      };
      const receiver = this.host.node(peer).process;
      if (!this.host.peerLinks.mayDial(from, peer) || receiver === null || this.host.network().isCut(from, peer)) {
        fail(`${peer} cannot be reached`);
        return;
      }
      const stopListening = receiver.whenDead(() => fail(`${peer} went down before it answered`));
      this.host.world.schedule(INCARNATION_CHECK_HOP_MS, receiver, `incarnation check ${from}->${peer}`, () => {
        stopListening();
        const target = this.host.node(peer).node;
        if (target === null || this.host.node(peer).process !== receiver || this.host.network().isCut(from, peer)) {
          fail(`${peer} did not answer`);
          return;
        }
        const answer = this.host.peerLinks.answerIncarnationCheck(peer, target.membership, from, incarnation);
        this.host.world.schedule(INCARNATION_CHECK_HOP_MS, asker, `incarnation answer ${peer}->${from}`, () => {
          if (answer === null) reject(new Error(`${peer} refused the question: ${from} is not a member there`));
          else if (this.host.network().isCut(peer, from)) reject(new Error(`the answer of ${peer} was lost`));
          else resolve(answer);
        });
      });
    });
  }
}
