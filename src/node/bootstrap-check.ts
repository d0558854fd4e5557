import * as path from 'node:path';

import type { NodeId } from '../../raft/index.js';
import type { FileSystem, Scheduler, Timer } from '../../storage/index.js';
import { ErrorCode } from '../../errors/index.js';
import { heldBackNote, LogEvent, RepeatGate, type Log } from '../log/index.js';
import type { IncarnationCheckAnswer } from '../transport/index.js';
import type { NodeMembership } from './node-membership.js';

/** The record that a new data directory's check is still to be made: DIR/bootstrap-check.json, naming its incarnation. */
export const BOOTSTRAP_CHECK_FILE = 'bootstrap-check.json';
const FORMAT_VERSION = 1;

export const BOOTSTRAP_CHECK_DEFAULTS = {
  /** Members that have not answered are asked again this often. */
  retryMs: 250,
  /** A member not answering is reported once the node has waited this long (members of a new cluster start within seconds)... */
  waitingLogAfterMs: 5_000,
  /** ...and then at most this often. */
  waitingLogIntervalMs: 60_000,
} as const;

/**
 * A member knows another data directory under this node's id: the node's disk was wiped or
 * replaced, and it must not take part under that id. Final: the node stops.
 */
export class DataDirWipedError extends Error {
  override readonly name = 'DataDirWipedError';
  readonly code = ErrorCode.dataDirWiped;
}

/** The first-heard incarnations a node keeps of its peers (PeerIncarnations in a process). */
export interface FirstHeardIncarnations {
  get(peer: NodeId): string | undefined;
  /** Records `incarnation` for `peer` unless one is recorded already; durable when it returns. */
  learn(peer: NodeId, incarnation: string): void;
}

/**
 * `peer` was heard speaking from data directory `incarnation` (a stream accepted, a question
 * answered): recorded if it is a member and none was (trust on first use). Every place that
 * hears a peer records it this way (node.ts, judgeIncarnationCheck, the simulator's links).
 */
export function heardFrom(membership: Pick<NodeMembership, 'isMember'>, firstHeard: FirstHeardIncarnations, peer: NodeId, incarnation: string): void {
  if (membership.isMember(peer)) firstHeard.learn(peer, incarnation);
}

/**
 * How this node answers `from`'s CheckIncarnation for data directory `incarnation`: wiped
 * when it records another incarnation for `from` (the member book's, else the first heard);
 * else accepted, recording `incarnation` if none was (trust on first use, as for a stream).
 * Null when its configuration does not name `from`: it has nothing to say of a stranger.
 */
export function judgeIncarnationCheck(membership: NodeMembership, firstHeard: FirstHeardIncarnations, from: NodeId, incarnation: string): IncarnationCheckAnswer | null {
  if (!membership.isMember(from)) return null;
  const recorded = membership.recordedIncarnation(from, firstHeard.get(from));
  if (recorded !== '' && recorded !== incarnation) return { verdict: 'wiped', recorded };
  heardFrom(membership, firstHeard, from, incarnation);
  return { verdict: 'accepted', recorded };
}

export interface BootstrapCheckOptions {
  readonly self: NodeId;
  /** This data directory's incarnation. */
  readonly incarnation: string;
  /** The other members the node bootstraps with (its --members): each must accept. */
  readonly peers: readonly NodeId[];
  readonly fs: FileSystem;
  readonly dataDir: string;
  readonly scheduler: Scheduler;
  /** Asks `peer` CheckIncarnation for this node's id and incarnation; rejects when it does not answer. */
  readonly ask: (peer: NodeId) => Promise<IncarnationCheckAnswer>;
  readonly log: Log;
  /** Every peer accepted, and that is recorded durably: the node may take part in elections. */
  readonly onConfirmed: () => void;
  /** A peer knows another data directory under this id; or recording the check failed. The node must stop. */
  readonly onFatal: (error: unknown) => void;
  readonly retryMs?: number;
}

type CheckState = 'asking' | 'recording' | 'confirmed' | 'refused' | 'stopped';

/**
 * Keeps a node that bootstraps a cluster (no --join) on a new data directory out of
 * elections until every other member it bootstraps with has confirmed that it knows no other
 * data directory under the node's id.
 *
 * Why: a wiped disk restarted with its old command line bootstraps the old configuration
 * again with an empty log. Each member refuses it once it has heard the old disk, but two
 * wiped members heard nothing of each other's new disks and would trust each other on first
 * use; together they are a majority of the old configuration and could elect a leader of
 * their own beside the real cluster, in terms it also used. A member that recorded the old
 * disk answers "wiped", and the node stops; a member that does not answer is asked again,
 * and meanwhile the node does not vote. The members of a new cluster are all on new disks:
 * they accept each other, so the cluster forms once every member has started.
 *
 * A directory is new when its log holds nothing. Before the log is opened, the check is
 * recorded as pending in DIR/bootstrap-check.json (written whole, fdatasynced, renamed, the
 * directory synced), so a node that crashes before its members answered makes the check again
 * at its next start; once all have accepted, the record is removed (and the removal synced).
 * A directory with a log and no record (it passed, or predates the check) is never checked.
 */
export class BootstrapCheck {
  readonly #options: BootstrapCheckOptions;
  readonly #pending: Set<NodeId>;
  readonly #asking = new Set<NodeId>();
  readonly #waiting: RepeatGate;
  #state: CheckState = 'asking';
  #timer: Timer | null = null;
  #startedMs = 0;

  /**
   * Whether a node bootstrapping on `dataDir` (its log in `logDir`) must make the check: its
   * pending record is there, or the directory is new, in which case the record is written
   * now, durably, before the log is created. Called before the log is opened.
   */
  static async pending(fs: FileSystem, dataDir: string, logDir: string, incarnation: string): Promise<boolean> {
    if (fs.list(dataDir).includes(BOOTSTRAP_CHECK_FILE)) return true;
    // The log creates its directory too (an empty one is a new log, whoever made it).
    fs.mkdir(logDir);
    if (fs.list(logDir).length > 0) return false;
    await writePendingRecord(fs, dataDir, incarnation);
    return true;
  }

  constructor(options: BootstrapCheckOptions) {
    this.#options = options;
    this.#pending = new Set(options.peers.filter((peer) => peer !== options.self));
    this.#waiting = new RepeatGate({ intervalMs: BOOTSTRAP_CHECK_DEFAULTS.waitingLogIntervalMs, keysMax: 64, nowMs: () => options.scheduler.nowMs() });
  }

  start(): void {
    const { self, incarnation, log } = this.#options;
    this.#startedMs = this.#options.scheduler.nowMs();
    log.info(
      `this node (${self}) bootstraps on a new data directory (incarnation ${incarnation}): it takes part in no election until ${[...this.#pending].join(', ')} ` +
        `confirm${this.#pending.size === 1 ? 's' : ''} that they know no other data directory under id ${self}`,
      { event: LogEvent.bootstrapCheck, peers: [...this.#pending].join(',') },
    );
    if (this.#pending.size === 0) {
      void this.#record();
      return;
    }
    this.#round();
    this.#timer = this.#options.scheduler.every(this.#options.retryMs ?? BOOTSTRAP_CHECK_DEFAULTS.retryMs, () => this.#round());
  }

  /** The node is stopping: no more questions, and nothing is decided from answers still to come. */
  stop(): void {
    if (this.#state === 'asking' || this.#state === 'recording') this.#state = 'stopped';
    this.#cancelTimer();
  }

  #round(): void {
    if (this.#state !== 'asking') return;
    for (const peer of this.#pending) {
      if (this.#asking.has(peer)) continue;
      this.#asking.add(peer);
      this.#options.ask(peer).then(
        (answer) => {
          this.#asking.delete(peer);
          this.#answered(peer, answer);
        },
        (error: unknown) => {
          this.#asking.delete(peer);
          this.#unanswered(peer, error);
        },
      );
    }
  }

  #answered(peer: NodeId, answer: IncarnationCheckAnswer): void {
    if (this.#state !== 'asking') return;
    const { self, incarnation } = this.#options;
    if (answer.verdict === 'wiped') {
      this.#state = 'refused';
      this.#cancelTimer();
      this.#options.onFatal(
        new DataDirWipedError(
          `member ${peer} knows node ${self} by data directory incarnation ${answer.recorded}, and this data directory is a new one (${incarnation}): ` +
            `${self}'s disk was wiped or replaced, or another process runs as ${self} on another directory; this one may not vote or take entries as ${self}, and stops. ` +
            `If ${self}'s disk was lost, replace it: quorumlog members replace ${self} NEW_ID PEER_ADDRESS/CLIENT_ADDRESS, then start the new node with --join (docs/membership.md)`,
        ),
      );
      return;
    }
    this.#pending.delete(peer);
    if (this.#pending.size === 0) void this.#record();
  }

  #unanswered(peer: NodeId, error: unknown): void {
    if (this.#state !== 'asking' || this.#options.scheduler.nowMs() - this.#startedMs < BOOTSTRAP_CHECK_DEFAULTS.waitingLogAfterMs) return;
    const why = error instanceof Error ? error.message : String(error);
    const heldBack = this.#waiting.pass(peer);
    if (heldBack === null) return;
    this.#options.log.warn(`still waiting for ${peer} to confirm this node's data directory before it takes part in elections: ${why}${heldBackNote(heldBack)}`, {
      event: LogEvent.bootstrapCheck,
      peer,
    });
  }

  async #record(): Promise<void> {
    this.#state = 'recording';
    this.#cancelTimer();
    try {
      const { fs, dataDir } = this.#options;
      if (fs.list(dataDir).includes(BOOTSTRAP_CHECK_FILE)) fs.remove(path.join(dataDir, BOOTSTRAP_CHECK_FILE));
      await fs.syncDir(dataDir);
    } catch (error) {
      if (this.#state === 'recording') this.#options.onFatal(error);
      return;
    }
    if (this.#state !== 'recording') return;
    this.#state = 'confirmed';
    this.#options.log.info('every member confirmed this data directory: the node takes part in elections', { event: LogEvent.bootstrapCheck });
    this.#options.onConfirmed();
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}

async function writePendingRecord(fs: FileSystem, dataDir: string, incarnation: string): Promise<void> {
  const file = path.join(dataDir, BOOTSTRAP_CHECK_FILE);
  const temporary = `${file}.tmp`;
  const handle = fs.open(temporary, 'create');
  try {
    fs.truncate(handle, 0);
    fs.writeAt(handle, Buffer.from(`${JSON.stringify({ version: FORMAT_VERSION, incarnation })}\n`, 'utf8'), 0);
    await fs.fdatasync(handle);
  } finally {
    fs.close(handle);
  }
  fs.rename(temporary, file);
  await fs.syncDir(dataDir);
}
