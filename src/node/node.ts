import { randomInt } from 'node:crypto';
import * as path from 'node:path';

import { RaftNode, type Index, type NodeId, type RandomSource } from '../../raft/index.js';
import { durableMarkOf, NodeFileSystem, openLog, PowerLossFileSystem, type CommitLog, type FileSystem, type FlushPolicy, type LogDamage, type RecoveryReport } from '../../storage/index.js';
import { startClientServer, startPeerTransport, type ClientServer, type PeerTransport } from '../transport/index.js';
import { member, validateConfig, type NodeConfig } from './config.js';
import { claimDataDir, lockDataDir, type DataDirIdentity } from './data-dir.js';
import { NodeBrokerService } from './broker-service.js';
import { NodeGroupService } from './group-service.js';
import { NodeService } from './node-service.js';
import { NodeTransactionService } from './transaction-service.js';
import { Replica } from './replica.js';
import { NodeStateMachine } from './state-machine.js';

/** A line for the node's log; the caller decides where it goes. */
export type NodeLogger = (line: string) => void;

export interface RunningNode {
  readonly config: NodeConfig;
  readonly identity: DataDirIdentity;
  readonly recovery: RecoveryReport;
  readonly service: NodeService;
  /** Resolves when the node stopped on its own (storage failure); rejects never. */
  readonly stopped: Promise<{ readonly reason: string; readonly error: unknown }>;
  /** Clean shutdown: stop accepting, finish the fsync in progress, close files and sockets. */
  stop(): Promise<void>;
}

const systemRandom: RandomSource = { nextInt: (maxExclusive) => randomInt(maxExclusive) };

/**
 * Starts one node: claims its data directory, recovers its log, and serves peers and clients.
 * Throws ConfigError for a configuration or directory it must refuse.
 */
export async function startNode(config: NodeConfig, logLine: NodeLogger): Promise<RunningNode> {
  const { warnings } = validateConfig(config);
  for (const warning of warnings) logLine(`warning: ${warning}`);
  const fs: FileSystem = config.powerLoss ? new PowerLossFileSystem(new NodeFileSystem()) : new NodeFileSystem();
  const dirLock = lockDataDir(fs, config.dataDir);
  let identity: DataDirIdentity;
  let log: CommitLog;
  try {
    identity = claimDataDir(config.dataDir, config.clusterId, config.id);
    // Damage is cut away, not refused: the node then repairs from its leader (not voting
    // until it has), where refusing would leave an operator editing files by hand.
    log = await openLog({
      dir: path.join(config.dataDir, 'log'),
      fs,
      flush: config.flush,
      segmentBytes: config.segmentBytes,
      payloadBytesMax: config.maxRecordBytes + 1,
      onDamage: 'truncate',
    });
  } catch (error) {
    dirLock.release();
    throw error;
  }
  reportRecovery(log.recovery, logLine);

  const hardState = log.hardState();
  const raft = new RaftNode({
    id: config.id,
    voters: config.members.map((m) => m.id),
    log,
    hardState,
    random: systemRandom,
    // The broker's state lives only in memory: every committed entry is applied again on
    // start to rebuild it (plain records cost a one-byte look each).
    applied: 0 as Index,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    preferredLeader: config.preferredLeader,
    maxBatchBytes: Math.min(1024 * 1024, Math.floor(config.maxMessageBytes / 4)),
    votingBlockedBelow: repairTarget(log.recovery),
  });

  let resolveStopped: (value: { reason: string; error: unknown }) => void = () => {};
  const stopped = new Promise<{ reason: string; error: unknown }>((resolve) => (resolveStopped = resolve));
  let transport: PeerTransport | null = null;
  const stateMachine = new NodeStateMachine();
  const replica = new Replica({
    raft,
    log,
    apply: (entry) => stateMachine.apply(entry),
    sink: { send: (messages) => transport?.send(messages) },
    clientAddressOf: (id: NodeId) => member(config, id)?.clientAddress ?? null,
    onFatal: (error) => resolveStopped({ reason: error instanceof Error ? error.message : 'fatal error', error }),
  });
  const self = member(config, config.id);
  if (self === undefined) throw new Error('unreachable: validateConfig checked the id');
  transport = await startPeerTransport({
    self: config.id,
    clusterId: config.clusterId,
    listenAddress: self.peerAddress,
    peers: new Map(config.members.filter((m) => m.id !== config.id).map((m) => [m.id, config.dialAddresses.get(m.id) ?? m.peerAddress])),
    onMessage: (message) => replica.receive(message),
    maxMessageBytes: config.maxMessageBytes,
    log: logLine,
    incarnation: identity.incarnation,
    onDuplicateNodeId: (error) => resolveStopped({ reason: 'this node id is taken', error }),
  });
  const service = new NodeService(config, raft, log, replica);
  const broker = new NodeBrokerService(config, log, replica, stateMachine);
  const groups = new NodeGroupService(replica, stateMachine, broker);
  const transactions = new NodeTransactionService(log, stateMachine, broker, {
    isLeader: () => replica.role() === 'leader',
    leaderRef: () => replica.leaderRef(raft.status().leader),
  });
  let clientServer: ClientServer;
  try {
    clientServer = await startClientServer({ listenAddress: self.clientAddress, service, broker, groups, transactions, maxMessageBytes: config.maxMessageBytes, maxRecordBytes: config.maxRecordBytes });
  } catch (error) {
    await transport.close();
    await log.close();
    dirLock.release();
    throw error;
  }
  const ticker = setInterval(() => {
    replica.tick();
    broker.advanceClockIfDue();
    groups.tick();
    transactions.tick();
  }, config.tickMs);
  replica.onRoleChange(() => {
    const st = raft.status();
    logLine(`${st.role} in term ${st.term}${st.leader !== null && st.role !== 'leader' ? `, leader ${st.leader}` : ''}`);
  });
  logLine(`serving clients on ${self.clientAddress}, peers on ${self.peerAddress}; log ${log.firstIndex()}..${log.lastIndex()}, term ${hardState.term}; ${describeFlush(config.flush)}`);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(ticker);
      await clientServer.close();
      await replica.stop();
      await transport.close();
      await log.close();
      dirLock.release();
    })();
    return stopping;
  };
  return { config, identity, recovery: log.recovery, service, stopped, stop };
}

/**
 * The index a leader must have repaired this log through before it votes again: the durable
 * mark (the most it ever held durably) and, when damage was cut away, at least what was cut.
 */
function repairTarget(recovery: RecoveryReport): Index {
  if (!recovery.lostEntries) return 0 as Index;
  return Math.max(recovery.durableMark.index, recovery.damage?.fromIndex ?? 0) as Index;
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
