import { ErrorCode } from '../../errors/index.js';
import { nodeId, type NodeId } from '../../raft/index.js';
import type { FlushPolicy } from '../../storage/index.js';
import { isHostPort, type TlsFiles } from '../transport/index.js';

/** One member of the cluster as every node's configuration names it. */
export interface MemberConfig {
  readonly id: NodeId;
  /** host:port where the member takes Raft traffic from its peers. */
  readonly peerAddress: string;
  /** host:port where the member serves clients (given to clients in redirects). */
  readonly clientAddress: string;
}

export interface NodeConfig {
  readonly id: NodeId;
  /**
   * Where to find the members, this node included. On a fresh data directory (and without
   * `join`) they are also the voters the new cluster bootstraps with; once the log or a
   * snapshot holds a configuration, that one decides who the members are and this list only
   * says where to dial those the replicated member book does not know yet (docs/membership.md).
   */
  readonly members: readonly MemberConfig[];
  /**
   * This node joins an existing cluster: it bootstraps no configuration, so it neither votes
   * nor campaigns until a leader has added it (quorumlog members add) and sent it the log.
   */
  readonly join?: boolean;
  /** Names the cluster; a data directory made for another cluster is refused. */
  readonly clusterId: string;
  readonly dataDir: string;
  readonly flush: FlushPolicy;
  /** Real time per Raft tick. Election and heartbeat timeouts are whole numbers of ticks. */
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preferredLeader: NodeId | null;
  /** Largest gRPC message either way, between peers and from clients. */
  readonly messageBytesMax: number;
  /** Largest single record a client may append. */
  readonly recordBytesMax: number;
  readonly segmentBytes: number;
  /** A snapshot of the state machine is written every this many applied entries, and at a clean shutdown. */
  readonly snapshotEntries: number;
  /** When whole log segments below the newest snapshot are deleted. */
  readonly retention: RetentionConfig;
  /**
   * Percent of the data directory's file system used above which the leader refuses new
   * messages (appends, produces, half messages) with RESOURCE_EXHAUSTED, until it is below
   * again; 100 turns the guard off. Sampled every few seconds (disk-guard.ts).
   */
  readonly diskHighWatermarkPercent: number;
  /**
   * A producer id unused this long expires (its dedupe state is dropped). Written into each
   * producer's InitProducer entry, so replicas agree whatever their own setting.
   */
  readonly producerIdleExpiryMs: number;
  /**
   * Where this node dials each peer, when not at the peer's own peerAddress: lets a test
   * harness put a proxy on each directed link (n1 -> n2 through one proxy, n3 -> n2 through
   * another) to cut or slow it. Members not named here are dialled at their peerAddress. It
   * may name nodes not among --members: a member added later is dialled there once it is one.
   */
  readonly dialAddresses: ReadonlyMap<NodeId, string>;
  /**
   * host:port of this node's HTTP endpoint, when it serves one: reported by Status, so that
   * `members add` records it and every member's status page can read this node.
   */
  readonly httpAddress?: string;
  /**
   * Run storage over the power-loss file system: nothing reaches the real files until it is
   * fsynced, so kill -9 of this process loses exactly what a power failure would. For the
   * fault-injection suite; slower and memory-hungry, never for production.
   */
  readonly powerLoss: boolean;
  /**
   * TLS on the client port and mutual TLS on the peer port, from these PEM files (read at
   * start and again at each reloadTls()). Absent: both ports are plaintext.
   */
  readonly tls?: TlsFiles;
  /** Allows plaintext on a non-loopback address (refused without it). */
  readonly insecure?: boolean;
  /**
   * Users and their scrypt password hashes (src/auth's users file), re-read at each
   * reloadAuth(). Given: every client call must authenticate, by password or by client
   * certificate. Needs tls: a node never takes passwords in plaintext.
   */
  readonly usersFile?: string;
  /**
   * Every client call must authenticate, by a client certificate the cluster CA signed
   * naming `urn:quorumlog:client:NAME` (or, with usersFile, by password). Implied by
   * usersFile; needs tls.
   */
  readonly requireClientAuth?: boolean;
  /**
   * Principals (user names, client certificate client names) that every ACL check lets
   * through, and the only ones that may use the raw log, transfer leadership and change the
   * ACLs. Only meaningful with client authentication (without it nothing is checked).
   */
  readonly superUsers?: readonly string[];
}

/**
 * Retention: a segment below the newest snapshot is deleted once all its entries are older
 * than `hours` (by the leaders' clocks in the log) or the log is over `bytes`, and then only
 * if the policy allows. Whatever the policy, messages the broker still owes (delayed, not
 * yet acknowledged, retrying, in an open transaction) are never deleted.
 */
export interface RetentionConfig {
  readonly hours: number;
  /** Infinity: no limit by size. */
  readonly bytes: number;
  /**
   * keep-unconsumed: also keep every message a consumer group of its topic has not acked
   * past (no consumer loses a message to retention). delete: retention wins (Kafka's and
   * RocketMQ's model); a group behind it is told the earliest offset left.
   */
  readonly policy: RetentionPolicy;
}

export const RetentionPolicy = { keepUnconsumed: 'keep-unconsumed', delete: 'delete' } as const;
export type RetentionPolicy = (typeof RetentionPolicy)[keyof typeof RetentionPolicy];

export const NODE_DEFAULTS = {
  clusterId: 'quorumlog-local',
  flush: { mode: 'sync' } as FlushPolicy,
  tickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 2,
  messageBytesMax: 16 * 1024 * 1024,
  recordBytesMax: 4 * 1024 * 1024,
  segmentBytes: 64 * 1024 * 1024,
  snapshotEntries: 10_000,
  /** 72 hours, as RocketMQ keeps its commit log; no size limit; consumers' messages kept. */
  retention: { hours: 72, bytes: Infinity, policy: RetentionPolicy.keepUnconsumed } as RetentionConfig,
  diskHighWatermarkPercent: 90,
  producerIdleExpiryMs: 24 * 60 * 60 * 1000,
} as const;

/** A configuration that cannot work, with the one line that says why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = ErrorCode.invalidArgument;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Checks a configuration for what would make a node misbehave rather than fail: duplicate
 * ids or addresses, an id not among the members, timeouts that cannot elect. Returns
 * warnings (an even cluster size) for the caller to print.
 */
export function validateConfig(config: NodeConfig): { readonly warnings: readonly string[] } {
  const warnings: string[] = [];
  const ids = new Set<string>();
  const addresses = new Set<string>();
  for (const member of config.members) {
    if (!ID_PATTERN.test(member.id)) throw new ConfigError(`node id "${member.id}" must be 1-64 letters, digits, '.', '_' or '-'`);
    if (ids.has(member.id)) throw new ConfigError(`node id ${member.id} appears twice among the members`);
    ids.add(member.id);
    for (const address of [member.peerAddress, member.clientAddress]) {
      if (!isHostPort(address)) throw new ConfigError(`address "${address}" of ${member.id} is not host:port`);
      const port = Number(address.slice(address.lastIndexOf(':') + 1));
      if (port < 1 || port > 65535) throw new ConfigError(`address "${address}" of ${member.id} has no valid port`);
      if (addresses.has(address)) throw new ConfigError(`address ${address} is used twice`);
      addresses.add(address);
    }
  }
  if (!ids.has(config.id)) throw new ConfigError(`node id ${config.id} is not among the members (${[...ids].join(', ')})`);
  if (config.preferredLeader !== null && !ids.has(config.preferredLeader)) {
    throw new ConfigError(`preferred leader ${config.preferredLeader} is not among the members`);
  }
  for (const [peer, address] of config.dialAddresses) {
    // A peer not among --members may be a member added later (quorumlog members add): it is
    // dialled here from the moment it is in the configuration (a fault harness's proxy).
    if (!ID_PATTERN.test(peer)) throw new ConfigError(`--dial names "${peer}", which is not a node id (1-64 letters, digits, '.', '_' or '-')`);
    if (peer === config.id) throw new ConfigError('--dial names this node itself; it never dials itself');
    if (!isHostPort(address)) throw new ConfigError(`dial address "${address}" for ${peer} is not host:port`);
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw new ConfigError(`dial address "${address}" for ${peer}: port ${port} is not a TCP port (1 to 65535)`);
  }
  if (!ID_PATTERN.test(config.clusterId)) throw new ConfigError(`cluster id "${config.clusterId}" must be 1-64 letters, digits, '.', '_' or '-'`);
  if (!(config.tickMs >= 1)) throw new ConfigError('tick must be at least 1 ms');
  if (!(config.heartbeatTicks >= 1 && config.heartbeatTicks < config.electionTicks)) {
    throw new ConfigError('the heartbeat interval must be shorter than the election timeout');
  }
  const watermark = config.diskHighWatermarkPercent;
  if (!(Number.isInteger(watermark) && watermark >= 1 && watermark <= 100)) throw new ConfigError(`the disk high watermark must be a whole percent from 1 to 100 (100: off), not ${watermark}`);
  if (config.flush.mode === 'async' && !(config.flush.intervalMs >= 1)) throw new ConfigError('async flush needs an interval of at least 1 ms');
  const exposed = plaintextExposure(config);
  if (exposed !== null) throw new ConfigError(exposed);
  const unprotected = authWithoutTls(config);
  if (unprotected !== null) throw new ConfigError(unprotected);
  // A joining node's --members is where to find the cluster, not its size.
  if (config.members.length % 2 === 0 && config.join !== true) {
    warnings.push(`an even cluster of ${config.members.length} tolerates no more failures than ${config.members.length - 1} nodes would`);
  }
  return { warnings };
}

export function member(config: NodeConfig, id: NodeId): MemberConfig | undefined {
  return config.members.find((m) => m.id === id);
}

/** Parses "n1=127.0.0.1:7601/127.0.0.1:7501,n2=..." (peer address / client address). */
export function parseMembers(spec: string): MemberConfig[] {
  return spec.split(',').filter((part) => part.trim() !== '').map((part) => {
    const eq = part.indexOf('=');
    const slash = part.indexOf('/');
    if (eq <= 0 || slash < eq) throw new ConfigError(`member "${part}" must look like id=peerHost:port/clientHost:port`);
    return {
      id: nodeId(part.slice(0, eq).trim()),
      peerAddress: part.slice(eq + 1, slash).trim(),
      clientAddress: part.slice(slash + 1).trim(),
    };
  });
}

/** Parses "n2=127.0.0.1:9012,n3=127.0.0.1:9013" (peer id = address to dial it at). */
export function parseDialAddresses(spec: string): Map<NodeId, string> {
  const out = new Map<NodeId, string>();
  for (const part of spec.split(',').filter((p) => p.trim() !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`dial address "${part}" must look like id=host:port`);
    out.set(nodeId(part.slice(0, eq).trim()), part.slice(eq + 1).trim());
  }
  return out;
}

/** The local cluster's members: n1..nN on 127.0.0.1, client ports 7501.., peer ports 7601.. */
export function localMembers(count: number, clientPortBase = 7501, peerPortBase = 7601): MemberConfig[] {
  return Array.from({ length: count }, (_, k) => ({
    id: nodeId(`n${k + 1}`),
    peerAddress: `127.0.0.1:${peerPortBase + k}`,
    clientAddress: `127.0.0.1:${clientPortBase + k}`,
  }));
}

/**
 * Why this node must not start: it would listen without TLS on an address other hosts can
 * reach, and --insecure does not say that is meant. Null when it may.
 */
export function plaintextExposure(config: Pick<NodeConfig, 'id' | 'members' | 'tls' | 'insecure'>): string | null {
  if (config.tls !== undefined || config.insecure === true) return null;
  const self = config.members.find((m) => m.id === config.id);
  if (self === undefined) return null;
  const exposed = [self.peerAddress, self.clientAddress].filter((address) => !isLoopback(address));
  if (exposed.length === 0) return null;
  return `refusing to listen on ${exposed.join(' and ')} without TLS: give --tls-cert, --tls-key and --tls-ca (quorumlog certs init makes a development set), or --insecure to serve plaintext there`;
}

/**
 * Why client authentication cannot work as configured (it needs TLS: certificates are TLS's,
 * and passwords never travel in plaintext), or null. --insecure does not lift it.
 */
export function authWithoutTls(config: Pick<NodeConfig, 'tls' | 'usersFile' | 'requireClientAuth'>): string | null {
  if (config.tls !== undefined) return null;
  if (config.usersFile !== undefined) return 'refusing --users-file without TLS: passwords are never taken in plaintext; give --tls-cert, --tls-key and --tls-ca';
  if (config.requireClientAuth === true) return 'refusing --require-client-auth without TLS: client certificates need TLS; give --tls-cert, --tls-key and --tls-ca';
  return null;
}

/** Whether host:port names the loopback interface (127.0.0.0/8, ::1, localhost). */
export function isLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
