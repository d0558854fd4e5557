import { randomInt } from 'node:crypto';
import * as path from 'node:path';

import type { RandomSource } from '../../raft/index.js';
import { durableMarkOf, NodeFileSystem, PowerLossFileSystem, realScheduler, type CommitLog, type FileSystem, type FlushPolicy, type LogDamage, type RecoveryReport } from '../../storage/index.js';
import { startClientServer, startPeerTransport, type ClientServer, type PeerTransport } from '../transport/index.js';
import { member, validateConfig, type NodeConfig } from './config.js';
import { claimDataDir, lockDataDir, type DataDirIdentity } from './data-dir.js';
import { newestSnapshotFileTimeMs, statfsDiskUsage } from './disk-usage.js';
import { assembleNode, repairTarget, type AssembledNode } from './node-assembly.js';
import { inspectNode, type NodeInspection } from './node-inspection.js';
import type { NodeProbe } from './node-probe.js';
import type { NodeService } from './node-service.js';

/** A line for the node's log; the caller decides where it goes. */
export type NodeLogger = (line: string) => void;

export interface RunningNode {
  readonly config: NodeConfig;
  readonly identity: DataDirIdentity;
  readonly recovery: RecoveryReport;
  readonly service: NodeService;
  /** A read-only look inside, for metrics and health checks. */
  readonly inspect: NodeInspection;
  /** Resolves when the node stopped on its own (storage failure); rejects never. */
  readonly stopped: Promise<{ readonly reason: string; readonly error: unknown }>;
  /** Clean shutdown: stop accepting, finish the fsync in progress, close files and sockets. */
  stop(): Promise<void>;
}

/** What an observer of the node plugs in (both optional: a node runs the same without them). */
export interface NodeObservation {
  /** Told of requests and writes as they happen. */
  readonly probe?: NodeProbe;
  /** Wraps the file system the log runs on, to measure its writes and syncs. */
  readonly wrapFileSystem?: (fs: FileSystem) => FileSystem;
}

const systemRandom: RandomSource = { nextInt: (maxExclusive) => randomInt(maxExclusive) };

/**
 * Starts one node: claims its data directory, recovers its log, and serves peers and clients.
 * Throws ConfigError for a configuration or directory it must refuse.
 */
export async function startNode(config: NodeConfig, logLine: NodeLogger, observation: NodeObservation = {}): Promise<RunningNode> {
  const { warnings } = validateConfig(config);
  for (const warning of warnings) logLine(`warning: ${warning}`);
  const baseFs: FileSystem = config.powerLoss ? new PowerLossFileSystem(new NodeFileSystem()) : new NodeFileSystem();
  const fs = observation.wrapFileSystem?.(baseFs) ?? baseFs;
  const dirLock = lockDataDir(fs, config.dataDir);
  let resolveStopped: (value: { reason: string; error: unknown }) => void = () => {};
  const stopped = new Promise<{ reason: string; error: unknown }>((resolve) => (resolveStopped = resolve));
  let transport: PeerTransport | null = null;
  let identity: DataDirIdentity;
  let node: AssembledNode;
  try {
    identity = claimDataDir(config.dataDir, config.clusterId, config.id);
    node = await assembleNode(
      config,
      {
        fs,
        scheduler: realScheduler,
        random: systemRandom,
        diskUsage: statfsDiskUsage(config.dataDir),
        snapshotFileTimeMs: newestSnapshotFileTimeMs,
        log: logLine,
        ...(observation.probe === undefined ? {} : { probe: observation.probe }),
      },
      {
        send: (messages) => transport?.send(messages),
        onFatal: (error) => resolveStopped({ reason: error instanceof Error ? error.message : 'fatal error', error }),
        shipping: {
          sendSnapshot: (message, source) => {
            if (transport !== null) return transport.sendSnapshot(message, source);
            source.close();
            return Promise.reject(new Error('the peer transport is not up yet'));
          },
        },
      },
    );
  } catch (error) {
    dirLock.release();
    throw error;
  }
  const { log, raft, replica } = node;
  reportRecovery(log.recovery, logLine);
  const self = member(config, config.id);
  if (self === undefined) throw new Error('unreachable: validateConfig checked the id');
  transport = await startPeerTransport({
    self: config.id,
    clusterId: config.clusterId,
    listenAddress: self.peerAddress,
    peers: new Map(config.members.filter((m) => m.id !== config.id).map((m) => [m.id, config.dialAddresses.get(m.id) ?? m.peerAddress])),
    onMessage: (message) => node.receive(message),
    snapshots: node.snapshotReceiving,
    messageBytesMax: config.messageBytesMax,
    log: logLine,
    incarnation: identity.incarnation,
    onDuplicateNodeId: (error) => resolveStopped({ reason: 'this node id is taken', error }),
  });
  let clientServer: ClientServer;
  try {
    clientServer = await startClientServer({
      listenAddress: self.clientAddress,
      service: node.service,
      broker: node.broker,
      groups: node.groups,
      transactions: node.transactions,
      messageBytesMax: config.messageBytesMax,
      recordBytesMax: config.recordBytesMax,
    });
  } catch (error) {
    await transport.close();
    await node.stop();
    dirLock.release();
    throw error;
  }
  replica.onRoleChange(() => {
    const st = raft.status();
    logLine(`${st.role} in term ${st.term}${st.leader !== null && st.role !== 'leader' ? `, leader ${st.leader}` : ''}`);
  });
  logLine(`serving clients on ${self.clientAddress}, peers on ${self.peerAddress}; log ${log.firstIndex()}..${log.lastIndex()}, term ${log.hardState().term}; ${describeFlush(config.flush)}`);

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
  return { config, identity, recovery: log.recovery, service: node.service, inspect, stopped, stop };
}

function reportRecovery(recovery: RecoveryReport, logLine: NodeLogger): void {
  if (recovery.fresh) logLine('created a new log');
  if (recovery.cutTailBytes > 0) {
    logLine(`recovery cut ${recovery.cutTailBytes} bytes of torn tail from index ${recovery.cutFromIndex} (${recovery.cutFault ?? 'unknown'})`);
  }
  for (const name of recovery.rebuiltIndexes) logLine(`recovery rebuilt index ${name}`);
  if (recovery.damage !== null) logLine(describeDamage(recovery.damage));
  if (recovery.lostEntries) {
    logLine(
      `recovery: entries through ${repairTarget(recovery)} were durable once and are gone; ` +
        'this node will not vote or campaign until a leader has repaired its log through that index',
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
