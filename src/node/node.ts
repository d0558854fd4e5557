import { randomInt } from 'node:crypto';
import * as path from 'node:path';

import { RaftNode, type Index, type NodeId, type RandomSource } from '../../raft/index.js';
import { durableMarkOf, NodeFileSystem, openLog, PowerLossFileSystem, type CommitLog, type FileSystem, type FlushPolicy, type RecoveryReport } from '../../storage/index.js';
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
    log = await openLog({ dir: path.join(config.dataDir, 'log'), fs, flush: config.flush, segmentBytes: config.segmentBytes, payloadBytesMax: config.maxRecordBytes + 1 });
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
    votingBlockedBelow: log.recovery.lostEntries ? log.recovery.durableMark.index : (0 as Index),
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

function reportRecovery(recovery: RecoveryReport, logLine: NodeLogger): void {
  if (recovery.fresh) logLine('created a new log');
  if (recovery.cutTailBytes > 0) {
    logLine(`recovery cut ${recovery.cutTailBytes} bytes of torn tail from index ${recovery.cutFromIndex} (${recovery.cutFault ?? 'unknown'})`);
  }
  for (const name of recovery.rebuiltIndexes) logLine(`recovery rebuilt index ${name}`);
  if (recovery.lostEntries) {
    logLine(
      `recovery: entries through ${recovery.durableMark.index} (term ${recovery.durableMark.term}) were durable once and are gone; ` +
        'this node will not vote until a leader has repaired its log',
    );
  }
}

export type { CommitLog };

/** The flush policy as the startup line states it. */
function describeFlush(flush: FlushPolicy): string {
  if (flush.mode === 'async') return `flush async, every ${flush.intervalMs} ms`;
  return `flush sync, ${durableMarkOf(flush)} durable mark`;
}
