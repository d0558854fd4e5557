import { EntryKind, index, nodeId, term, type Entry } from '../../raft/index.js';
import { NODE_DEFAULTS, type NodeConfig } from '../../src/node/config.js';
import { tagPayloads, PayloadTag } from '../../src/node/state-machine.js';

/** The three members the node tests assemble n1 of. */
export const MEMBER_IDS = ['n1', 'n2', 'n3'].map(nodeId);

/**
 * n1's configuration for a node assembled in process on `dataDir` (a memory file system's
 * path), 4 KiB segments, that never ticks within a test: it neither campaigns nor snapshots
 * on its own.
 */
export function quietNodeConfig(dataDir: string): NodeConfig {
  return {
    id: nodeId('n1'),
    members: MEMBER_IDS.map((id, k) => ({ id, peerAddress: `127.0.0.1:${7601 + k}`, clientAddress: `127.0.0.1:${7501 + k}` })),
    clusterId: 'test',
    dataDir,
    flush: { mode: 'sync' },
    tickMs: 60_000,
    electionTicks: 10,
    heartbeatTicks: 2,
    preferredLeader: null,
    messageBytesMax: NODE_DEFAULTS.messageBytesMax,
    recordBytesMax: NODE_DEFAULTS.recordBytesMax,
    segmentBytes: 4096,
    snapshotEntries: NODE_DEFAULTS.snapshotEntries,
    retention: NODE_DEFAULTS.retention,
    diskHighWatermarkPercent: 100,
    producerIdleExpiryMs: NODE_DEFAULTS.producerIdleExpiryMs,
    dialAddresses: new Map(),
    powerLoss: false,
  };
}

/** A plain record entry "r<at>" at index `at` in term `t`. */
export const recordEntry = (at: number, t: number): Entry => ({ index: index(at), term: term(t), kind: EntryKind.normal, payload: tagPayloads(PayloadTag.record, [Buffer.from(`r${at}`)])[0] as Uint8Array });
