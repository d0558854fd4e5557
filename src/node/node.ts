import { randomInt } from 'node:crypto';
import * as path from 'node:path';

import type { RandomSource, Status } from '../../raft/index.js';
import { durableMarkOf, NodeFileSystem, PowerLossFileSystem, realScheduler, type CommitLog, type FileSystem, type FlushPolicy, type LogDamage, type RecoveryReport, type Scheduler } from '../../storage/index.js';
import { annotatedLog, LogEvent, type Log, type LogFields } from '../log/index.js';
import { startClientServer, startPeerTransport, type ClientServer, type PeerTransport } from '../transport/index.js';
import { member, validateConfig, type NodeConfig } from './config.js';
import { claimDataDir, lockDataDir, type DataDirIdentity } from './data-dir.js';
import { newestSnapshotFileTimeMs, statfsDiskUsage } from './disk-usage.js';
import { assembleNode, repairTarget, type AssembledNode } from './node-assembly.js';
import { inspectNode, type NodeInspection } from './node-inspection.js';
import { NodeAuth } from './node-auth.js';
import { NodeAcl } from './node-acl.js';
import { NodeTls } from './node-tls.js';
import { PeerIncarnations } from './peer-incarnations.js';
import { DataDirWipedError, heardFrom, judgeIncarnationCheck } from './bootstrap-check.js';
import type { NodeProbe } from './node-probe.js';
import type { NodeService } from './node-service.js';

export interface RunningNode {
  readonly config: NodeConfig;
  readonly identity: DataDirIdentity;
  readonly recovery: RecoveryReport;
  readonly service: NodeService;
  /** A read-only look inside, for metrics and health checks. */
  readonly inspect: NodeInspection;
  /** The log it was started with, each line with the node's term and role added. */
  readonly log: Log;
  /** Resolves when the node stopped on its own (storage failure); rejects never. */
  readonly stopped: Promise<{ readonly reason: string; readonly error: unknown }>;
  /** Clean shutdown: stop accepting, finish the fsync in progress, close files and sockets. */
  stop(): Promise<void>;
  /**
   * Re-reads the TLS files (certificate rotation, SIGHUP): new connections use the new set,
   * open ones keep theirs. False (and a logged reason) if the files were unusable and the
   * old set stays, or if the node runs without TLS.
   */
  reloadTls(): boolean;
  /**
   * Re-reads the users file (SIGHUP): its users hold from the next call on. False (and a
   * logged reason) if it was unusable and the old users stay, or if the node has no users file.
   */
  reloadUsers(): boolean;
}

/** What an observer of the node plugs in (both optional: a node runs the same without them). */
export interface NodeObservation {
  /** Told of requests and writes as they happen. */
  readonly probe?: NodeProbe;
  /** Wraps the file system the log runs on, to measure its writes and syncs. */
  readonly wrapFileSystem?: (fs: FileSystem) => FileSystem;
  /** Wraps the scheduler the node sets its timers on, to measure how late they fire. */
  readonly wrapScheduler?: (scheduler: Scheduler) => Scheduler;
}

const systemRandom: RandomSource = { nextInt: (maxExclusive) => randomInt(maxExclusive) };

/**
 * Starts one node: claims its data directory, recovers its log, and serves peers and clients.
 * Throws ConfigError for a configuration or directory it must refuse.
 */
export async function startNode(config: NodeConfig, baseLog: Log, observation: NodeObservation = {}): Promise<RunningNode> {
  // Set once the core exists; lines before it (recovery) carry no term or role.
  let status: (() => Status) | null = null;
  const logLine = annotatedLog(baseLog, () => (status === null ? {} : whereOf(status())));
  const { warnings } = validateConfig(config);
  for (const warning of warnings) logLine.warn(`warning: ${warning}`, { event: LogEvent.configWarning });
  // Before the data directory is touched: unusable TLS files are a configuration refused.
  const tls = config.tls === undefined ? null : new NodeTls({ files: config.tls, self: config.id, log: logLine });
  const auth = config.usersFile === undefined && config.requireClientAuth !== true ? null : new NodeAuth({ usersFile: config.usersFile, log: logLine, nowMs: () => realScheduler.nowMs(), ...(observation.probe === undefined ? {} : { probe: observation.probe }) });
  const baseFs: FileSystem = config.powerLoss ? new PowerLossFileSystem(new NodeFileSystem()) : new NodeFileSystem();
  const fs = observation.wrapFileSystem?.(baseFs) ?? baseFs;
  const dirLock = lockDataDir(fs, config.dataDir);
  let resolveStopped: (value: { reason: string; error: unknown }) => void = () => {};
  const stopped = new Promise<{ reason: string; error: unknown }>((resolve) => (resolveStopped = resolve));
  let transport: PeerTransport | null = null;
  let identity: DataDirIdentity;
  let node: AssembledNode;
  let peerIncarnations: PeerIncarnations;
  try {
    identity = claimDataDir(config.dataDir, config.clusterId, config.id);
    peerIncarnations = PeerIncarnations.open(config.dataDir);
    node = await assembleNode(
      config,
      {
        fs,
        scheduler: observation.wrapScheduler?.(realScheduler) ?? realScheduler,
        random: systemRandom,
        diskUsage: statfsDiskUsage(config.dataDir),
        snapshotFileTimeMs: newestSnapshotFileTimeMs,
        log: logLine,
        incarnation: identity.incarnation,
        ...(observation.probe === undefined ? {} : { probe: observation.probe }),
      },
      {
        send: (messages) => transport?.send(messages),
        onFatal: (error) => resolveStopped({ reason: fatalReason(error), error }),
        shipping: {
          sendSnapshot: (message, source) => {
            if (transport !== null) return transport.sendSnapshot(message, source);
            source.close();
            return Promise.reject(new Error('the peer transport is not up yet'));
          },
        },
        checkIncarnation: (peer) => transport?.checkIncarnation(peer) ?? Promise.reject(new Error('the peer transport is not up yet')),
      },
    );
  } catch (error) {
    dirLock.release();
    throw error;
  }
  const { log, raft, replica } = node;
  status = () => raft.status();
  reportRecovery(log.recovery, logLine);
  const self = member(config, config.id);
  if (self === undefined) throw new Error('unreachable: validateConfig checked the id');
  transport = await startPeerTransport({
    self: config.id,
    clusterId: config.clusterId,
    listenAddress: self.peerAddress,
    peers: node.membership.peerAddresses(),
    advertisedAddress: self.peerAddress,
    admitsStranger: (peer, peerAddress) => node.membership.admitsStranger(peer, peerAddress),
    onMessage: (message) => node.receive(message),
    snapshots: node.snapshotReceiving,
    messageBytesMax: config.messageBytesMax,
    log: logLine,
    incarnation: identity.incarnation,
    // The book's (members added since bootstrap), else the one this node first heard.
    recordedIncarnation: (peer) => node.membership.recordedIncarnation(peer, peerIncarnations.get(peer)),
    onPeerIncarnation: (peer, incarnation) => heardFrom(node.membership, peerIncarnations, peer, incarnation),
    onIncarnationCheck: (peer, incarnation) => judgeIncarnationCheck(node.membership, peerIncarnations, peer, incarnation),
    onDuplicateNodeId: (error) => resolveStopped({ reason: 'this node id is taken', error }),
    ...(tls === null ? {} : { tls: tls.certificates }),
  });
  // From now on the peer links follow the configuration (members added, removed); a member
  // that left is forgotten, so one added later under its id is heard afresh.
  const peerTransport = transport;
  node.membership.onPeers((peers) => {
    for (const peer of peerTransport.peers().keys()) if (!peers.has(peer) && node.membership.mayForgetIncarnation(peer)) peerIncarnations.forget(peer);
    peerTransport.setPeers(peers);
  });
  node.membership.warnIfFlagsDiffer();
  const acl = new NodeAcl({
    superUsers: config.superUsers ?? [],
    state: () => node.stateMachine.broker,
    propose: (command, timeoutMs) => node.broker.propose(command, timeoutMs),
    log: logLine,
    nowMs: () => realScheduler.nowMs(),
    enforced: auth !== null,
    ...(observation.probe === undefined ? {} : { probe: observation.probe }),
  });
  acl.describeAtStart();
  let clientServer: ClientServer;
  try {
    clientServer = await startClientServer({
      listenAddress: self.clientAddress,
      service: node.service,
      broker: node.broker,
      groups: node.groups,
      transactions: node.transactions,
      membership: node.members,
      messageBytesMax: config.messageBytesMax,
      recordBytesMax: config.recordBytesMax,
      ...(tls === null ? {} : { tls: tls.certificates }),
      acls: acl,
      ...(auth === null ? {} : { auth: auth.options, authorizer: acl }),
    });
  } catch (error) {
    await transport.close();
    await node.stop();
    dirLock.release();
    throw error;
  }
  replica.onRoleChange(() => logRoleChange(raft.status(), logLine));
  logRepair(() => raft.status(), replica, logLine);
  const security = `${tls === null ? 'plaintext' : 'TLS, peers mutual TLS'}${auth === null ? '' : ', clients authenticated'}`;
  logLine.info(`serving clients on ${self.clientAddress}, peers on ${self.peerAddress} (${security}); log ${log.firstIndex()}..${log.lastIndex()}, term ${log.hardState().term}; ${describeFlush(config.flush)}`, {
    event: LogEvent.serving,
    clientAddress: self.clientAddress,
    peerAddress: self.peerAddress,
    firstIndex: log.firstIndex(),
    lastIndex: log.lastIndex(),
  });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await clientServer.close();
      await node.stop();
      await transport.close();
      dirLock.release();
    })();
    return stopping;
  };
  const inspect = inspectNode({ replica, log, stateMachine: node.stateMachine, status: () => raft.status(), storage: () => node.storageStatus() });
  const reloadTls = (): boolean => tls?.reload() ?? false;
  const reloadUsers = (): boolean => auth?.reload() ?? false;
  return { config, identity, recovery: log.recovery, service: node.service, inspect, log: logLine, stopped, stop, reloadTls, reloadUsers };
}

/** What stopped the node, in a few words (its error's message follows it in the last line). */
function fatalReason(error: unknown): string {
  if (error instanceof DataDirWipedError) return 'a member knows another data directory under this node id';
  return error instanceof Error ? error.message : 'fatal error';
}

/** The node's place in the cluster as every line carries it. */
function whereOf(status: Status): LogFields {
  return { term: status.term, role: status.role };
}

/**
 * One line per change of role or known leader: winning an election and following a known
 * leader at info; the steps between (pre-candidate, candidate, a follower that lost its
 * leader) at debug, as a node cut off from the others repeats them every election timeout.
 */
function logRoleChange(st: Status, log: Log): void {
  const msg = `${st.role} in term ${st.term}${st.leader !== null && st.role !== 'leader' ? `, leader ${st.leader}` : ''}`;
  const fields = { event: LogEvent.roleChanged, leader: st.leader };
  if (st.role === 'leader' || (st.role === 'follower' && st.leader !== null)) log.info(msg, fields);
  else log.debug(msg, fields);
}

/** While recovery keeps the node from voting, one line once a leader has repaired its log (checked after each applied batch). */
function logRepair(status: () => Status, replica: AssembledNode['replica'], log: Log): void {
  const initial = status();
  if (!initial.votingBlocked) return;
  const repairThrough = initial.repairThrough;
  const off = replica.onApplied(() => {
    if (status().votingBlocked) return;
    off();
    log.info(`repaired: the log holds entries through ${repairThrough} again; this node votes and campaigns again`, { event: LogEvent.repaired, repairThrough });
  });
}

function reportRecovery(recovery: RecoveryReport, log: Log): void {
  if (recovery.fresh) log.info('created a new log', { event: LogEvent.logCreated });
  if (recovery.cutTailBytes > 0) {
    log.warn(`recovery cut ${recovery.cutTailBytes} bytes of torn tail from index ${recovery.cutFromIndex} (${recovery.cutFault ?? 'unknown'})`, {
      event: LogEvent.recoveryTailCut,
      bytes: recovery.cutTailBytes,
      fromIndex: recovery.cutFromIndex,
      fault: recovery.cutFault ?? null,
    });
  }
  for (const name of recovery.rebuiltIndexes) log.info(`recovery rebuilt index ${name}`, { event: LogEvent.recoveryIndexRebuilt, file: name });
  if (recovery.damage !== null) {
    log.warn(describeDamage(recovery.damage), { event: LogEvent.recoveryDamageCut, fault: recovery.damage.fault, fromIndex: recovery.damage.fromIndex, file: recovery.damage.file });
  }
  if (recovery.lostEntries) {
    log.warn(
      `recovery: entries through ${repairTarget(recovery)} were durable once and are gone; ` +
        'this node will not vote or campaign until a leader has repaired its log through that index',
      { event: LogEvent.recoveryEntriesLost, repairThrough: repairTarget(recovery) },
    );
  }
}

/** "segment file A" / "segment files A, B, C" / "12 segment files, A to L" (names only: they share the damaged file's directory). */
function describeFiles(paths: readonly string[]): string {
  const names = paths.map((p) => path.basename(p));
  if (names.length === 1) return `segment file ${names[0]}`;
  if (names.length <= 4) return `segment files ${names.join(', ')}`;
  return `${names.length} segment files, ${names[0]} to ${names.at(-1)}`;
}

/** One line saying what damage recovery found and exactly what it discarded. */
function describeDamage(damage: LogDamage): string {
  const where = damage.fault === 'missing-segment' || damage.fault === 'unreadable-segment' ? `${damage.file}` : `${damage.file} at byte ${damage.byteOffset}`;
  const parts: string[] = [];
  if (damage.cutBytes > 0) parts.push(`${damage.cutBytes} bytes of ${damage.file} from byte ${damage.byteOffset}`);
  if (damage.discardedSegments.length > 0) parts.push(describeFiles(damage.discardedSegments));
  const discarded = parts.length === 0 ? 'nothing on disk' : parts.join(' and ');
  return `recovery: damage (${damage.fault}) in ${where}, at entry ${damage.fromIndex}: kept entries before ${damage.fromIndex}, discarded every entry from ${damage.fromIndex} on (${discarded})`;
}

export type { CommitLog };

/** The flush policy as the startup line states it. */
function describeFlush(flush: FlushPolicy): string {
  if (flush.mode === 'async') return `flush async, every ${flush.intervalMs} ms`;
  return `flush sync, ${durableMarkOf(flush)} durable mark`;
}
