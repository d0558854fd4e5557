import { configurationContext, EntryKind, isMember, sameConfiguration, type Configuration, type Index, type LogReader, type NodeId, type RaftNode, type Status } from '../../raft/index.js';
import { LogEvent, type Log } from '../log/index.js';
import { member, type NodeConfig } from './config.js';
import { isHostPort, type MemberInfo } from '../transport/index.js';
import { decodeMemberContext, MemberRecordError, type MemberBook, type MemberRecord } from './member-book.js';

/** Callers served at once, at most (see NodeMembership.callers): a cluster has a handful of members. */
const CALLERS_MAX = 16;

/** One member as `quorumlog members list` and the Members RPC show it (addresses null when neither the member book nor --members knows them). */
export type MemberView = MemberInfo;

export interface NodeMembershipOptions {
  readonly config: NodeConfig;
  readonly raft: RaftNode;
  /** The replicated member book as applied now (the state machine's: replaced by a snapshot, so asked each time). */
  readonly book: () => MemberBook;
  readonly log: Log;
  /**
   * The node's log, where a member the configuration names before the book does (its config
   * entry appended, not yet applied) is found: that entry's context holds its record.
   */
  readonly logReader?: LogReader;
}

/**
 * Who this node's peers are, and where they are found. The members are the configuration's
 * (the core's, from the log or a snapshot: the newest, committed or not); a node that holds
 * none yet (it joins an existing cluster) reaches the members its --members names. Addresses
 * come from the replicated member book, else from --members (the members a cluster was
 * bootstrapped with are in no config entry); --dial overrides where a peer is dialled.
 */
export class NodeMembership {
  private readonly options: NodeMembershipOptions;
  private peersSink: ((peers: ReadonlyMap<NodeId, string>) => void) | null = null;
  /** What sync() last acted on; it acts again only when one of them changed. */
  private seen: { config: Configuration; book: MemberBook; version: number; leader: NodeId | null; callers: number } | null = null;
  /**
   * The leader the core follows (leaderIs), linked to whether or not the configuration here
   * names it: a learner that installed a snapshot older than the leader's own addition holds a
   * configuration without it, and must still take its messages and answer them to learn the
   * newer configuration (FINDINGS F7). Only a leader this node already heard can be it.
   */
  private leader: NodeId | null = null;
  /** Members the configuration names whose peer address nobody knows: logged once each. */
  private readonly unknownLogged = new Set<NodeId>();
  /**
   * Records of members this leader is adding, until the book has them (the change commits):
   * the configuration names a new learner from the moment its entry is appended, and the
   * leader starts replicating to it then. Bounded: one change at a time, each dropped once booked.
   */
  private readonly adding = new Map<NodeId, MemberRecord>();
  /**
   * Peers that called this follower without being members of its configuration, by where
   * they said they listen: a member added by an entry this node lacks yet (it was down or cut
   * off), which may lead now. They are dialled like members, so this node can answer and take
   * the entries it lacks; each is dropped once the member book knows it, and all of them when
   * this node leads (a leader's configuration is the newest: one it does not name is no member).
   */
  private readonly callers = new Map<NodeId, string>();
  /** Grows at every change of `callers`: sync() acts on it. */
  private callersVersion = 0;
  /**
   * Records read from the config entry that added a member, for members the configuration
   * names and the book does not have yet: a node whose log holds the entry but that has not
   * applied it (it lags, or restarted with an older saved commit) must still admit that member
   * and answer it, since it may be the leader that would tell it the commit (FINDINGS F7).
   * Dropped once the member leaves the configuration.
   */
  private readonly logged = new Map<NodeId, MemberRecord>();
  /** Members already looked for in the log under this configuration (each is looked for once per configuration). */
  private loggedSearch: { readonly config: Configuration; readonly ids: Set<NodeId> } | null = null;

  constructor(options: NodeMembershipOptions) {
    this.options = options;
  }

  /**
   * The configuration in force here (no voters: none yet): the newest in the log, the same
   * object until it changes. Read without building a status: sync() asks before every send.
   */
  configuration(): Configuration {
    return this.options.raft.configuration();
  }

  /** The member's record: the book's, else one made from --members (incarnation unknown). */
  record(id: NodeId): MemberRecord | undefined {
    const booked = this.options.book().get(id);
    if (booked !== undefined) return booked;
    const adding = this.adding.get(id);
    if (adding !== undefined) return adding;
    const flagged = member(this.options.config, id);
    if (flagged !== undefined) return { id, peerAddress: flagged.peerAddress, clientAddress: flagged.clientAddress, incarnation: '' };
    return this.loggedRecord(id);
  }

  /** The record in the config entry that added `id`, when the configuration names it (looked for once per configuration). */
  private loggedRecord(id: NodeId): MemberRecord | undefined {
    const known = this.logged.get(id);
    if (known !== undefined) return known;
    const reader = this.options.logReader;
    const config = this.configuration();
    if (reader === undefined || !isMember(config, id)) return undefined;
    if (this.loggedSearch?.config !== config) this.loggedSearch = { config, ids: new Set() };
    if (this.loggedSearch.ids.has(id)) return undefined;
    this.loggedSearch.ids.add(id);
    const found = addedRecordInLog(reader, id);
    if (found !== undefined) this.logged.set(id, found);
    return found;
  }

  /**
   * The data directory incarnation recorded for member `peer` ('' for none): the book's (members
   * added since bootstrap carry it in their config entry), else the one this node first heard
   * it speak from (`firstHeard`, peer-incarnations.ts). The peer listener refuses a peer from
   * any other (memberIncarnationRefusal).
   */
  recordedIncarnation(peer: NodeId, firstHeard: string | undefined): string {
    const booked = this.record(peer)?.incarnation ?? '';
    return booked !== '' ? booked : (firstHeard ?? '');
  }

  /**
   * Whether the incarnation first heard from `peer` may be forgotten now that it left the
   * peers: only once the configuration as of the commit index no longer names it. A removal
   * that is appended but not committed can be cut, and the member is back; had its
   * incarnation been forgotten, a wiped disk under its id would be heard first, and trusted
   * (FINDINGS F9).
   */
  mayForgetIncarnation(peer: NodeId): boolean {
    const committed = this.options.raft.configurationAt(this.options.raft.status().commit);
    return committed === undefined || !isMember(committed, peer);
  }

  /** Where `id` serves HTTP: as recorded when it was added, or this node's own; null when not known. */
  httpAddressOf(id: NodeId): string | null {
    if (id === this.options.config.id && this.options.config.httpAddress !== undefined) return this.options.config.httpAddress;
    return this.record(id)?.httpAddress ?? null;
  }

  clientAddressOf(id: NodeId): string | null {
    return this.record(id)?.clientAddress ?? null;
  }

  /** Whether `id` is a member (voter or learner) of the configuration here, or of --members while this node holds none. */
  isMember(id: NodeId): boolean {
    const config = this.configuration();
    if (config.voters.length === 0) return member(this.options.config, id) !== undefined;
    return isMember(config, id);
  }

  /** The core's known leader changed (the replica's role listeners): linked to from now on, see `leader`. */
  leaderIs(leader: NodeId | null): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.sync();
  }

  /** The peers to link to now: id -> address to dial. */
  peerAddresses(): Map<NodeId, string> {
    const { config: nodeConfig } = this.options;
    const config = this.configuration();
    const ids = config.voters.length === 0 ? nodeConfig.members.map((m) => m.id) : [...config.voters, ...config.learners];
    if (this.leader !== null && !ids.includes(this.leader)) ids.push(this.leader);
    const peers = new Map<NodeId, string>();
    for (const id of ids) {
      if (id === nodeConfig.id) continue;
      const address = nodeConfig.dialAddresses.get(id) ?? this.record(id)?.peerAddress ?? this.callers.get(id);
      if (address !== undefined) peers.set(id, address);
      else if (!this.unknownLogged.has(id)) {
        this.unknownLogged.add(id);
        this.options.log.warn(`member ${id} has no known peer address yet (it arrives with the committed change that added it)`, { event: LogEvent.membershipChanged, peer: id });
      }
    }
    for (const [id, address] of this.callers) if (!peers.has(id)) peers.set(id, nodeConfig.dialAddresses.get(id) ?? address);
    return peers;
  }

  /**
   * Whether to serve a peer that is not a member of the configuration here, which says it
   * listens at `peerAddress`: yes on a follower (it may be a member added by an entry this
   * node lacks, now leading: refused, this node would never take that entry), which then
   * dials it like a member; no on the leader, whose configuration is the newest. Serving a
   * stranger is safe: the core answers campaigns only of members of its configuration, and a
   * removed member's old-term appends are only answered with the current term.
   */
  admitsStranger(id: NodeId, peerAddress: string | null): boolean {
    if (id === this.options.config.id || peerAddress === null || !isHostPort(peerAddress)) return false;
    if (this.leading()) return false;
    if (this.callers.get(id) === peerAddress) return true;
    if (!this.callers.has(id) && this.callers.size >= CALLERS_MAX) return false;
    this.callers.set(id, peerAddress);
    this.callersVersion++;
    this.options.log.info(`peer ${id} at ${peerAddress} is not in this node's configuration: served and dialled back, in case a change this node lacks added it`, { event: LogEvent.membershipChanged, peer: id });
    return true;
  }

  /** This leader is proposing to add `record`: it is dialled as soon as its config entry is appended. */
  adds(record: MemberRecord): void {
    this.adding.set(record.id, record);
  }

  /** Tells `sink` the peers now, and again each time sync() finds them changed. */
  onPeers(sink: (peers: ReadonlyMap<NodeId, string>) => void): void {
    this.peersSink = sink;
    this.seen = null;
    this.sync();
  }

  /** Cheap when nothing changed (the node calls it every tick and before each send): compares the configuration and the book's version. */
  sync(): void {
    const config = this.configuration();
    const book = this.options.book();
    const seen = this.seen;
    if (seen !== null && seen.config === config && seen.book === book && seen.version === book.version && seen.leader === this.leader && seen.callers === this.callersVersion) return;
    // Callers go when the book learns them or this node leads: both are changes sync() acts on.
    if (this.callers.size > 0) this.dropCallers(book);
    if (seen !== null && !sameConfiguration(seen.config, config)) {
      this.options.log.info(`membership: voters ${list(config.voters)}, learners ${list(config.learners)}`, {
        event: LogEvent.membershipChanged,
        voters: config.voters.join(','),
        learners: config.learners.join(','),
      });
      const self = this.options.config.id;
      if (isMember(seen.config, self) && !isMember(config, self)) {
        this.options.log.warn(`this node (${self}) is not in the newest configuration: once that change commits it takes no part in the cluster; stop it then`, { event: LogEvent.membershipChanged });
      }
    }
    this.seen = { config, book, version: book.version, leader: this.leader, callers: this.callersVersion };
    for (const id of [...this.adding.keys()]) if (book.get(id) !== undefined || !isMember(config, id)) this.adding.delete(id);
    for (const id of [...this.logged.keys()]) if (book.get(id) !== undefined || !isMember(config, id)) this.logged.delete(id);
    this.peersSink?.(this.peerAddresses());
  }

  /** This node leads, as the replica's role listener last said (leaderIs): no status is built for it. */
  private leading(): boolean {
    return this.leader === this.options.config.id;
  }

  /** Drops the callers the member book knows now, and all of them on a leader (see `callers`). */
  private dropCallers(book: MemberBook): void {
    const leading = this.leading();
    for (const id of [...this.callers.keys()]) {
      if (!leading && book.get(id) === undefined) continue;
      this.callers.delete(id);
      this.callersVersion++;
    }
  }

  /** Every member of the configuration here, voters first; progress on the leader. */
  view(status: Status = this.options.raft.status()): MemberView[] {
    const config = status.config;
    const row = (id: NodeId, role: MemberView['role']): MemberView => {
      const record = this.record(id);
      return {
        id,
        role,
        peerAddress: record?.peerAddress ?? null,
        clientAddress: record?.clientAddress ?? null,
        incarnation: record?.incarnation ?? '',
        matchIndex: status.progress?.get(id)?.match ?? null,
        httpAddress: this.httpAddressOf(id),
      };
    };
    return [...config.voters.map((id) => row(id, 'voter')), ...config.learners.map((id) => row(id, 'learner'))];
  }

  /**
   * One line at start when the configuration in the log or snapshot names other members
   * than --members: the log wins, the flag only says where to find peers.
   */
  warnIfFlagsDiffer(): void {
    const config = this.configuration();
    if (config.voters.length === 0) return;
    const flagged = this.options.config.members.map((m) => m.id);
    const logged = [...config.voters, ...config.learners];
    if (flagged.length === logged.length && flagged.every((id) => logged.includes(id))) return;
    this.options.log.warn(
      `--members names ${list(flagged)}, the replicated configuration voters ${list(config.voters)} learners ${list(config.learners)}: the log's is used (--members only says where to find peers)`,
      { event: LogEvent.configWarning },
    );
  }
}

/**
 * The member record in the newest config entry of `reader` whose context names `id`, or
 * undefined. Bounded by the log's length; read one entry at a time from the end, since the
 * entry wanted is one not yet applied, near the end.
 */
function addedRecordInLog(reader: LogReader, id: NodeId): MemberRecord | undefined {
  for (let at = reader.lastIndex(); at >= reader.firstIndex(); at--) {
    const entry = reader.entries(at as Index, (at + 1) as Index, Number.MAX_SAFE_INTEGER)[0];
    if (entry?.kind !== EntryKind.config) continue;
    const context = configurationContext(entry.payload);
    if (context === null) continue;
    try {
      const record = decodeMemberContext(context);
      if (record.id === id) return record;
    } catch (error) {
      if (!(error instanceof MemberRecordError)) throw error;
    }
  }
  return undefined;
}

function list(ids: readonly NodeId[]): string {
  return ids.length === 0 ? 'none' : ids.join(',');
}
