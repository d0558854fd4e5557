import { describe, expect, it } from 'vitest';

import { index, nodeId, term } from '../../raft/index.js';
import type { BrokerStatus, NodeStatus } from '../../src/client/index.js';
import { ageText, bytesText, STORAGE_HEADER, storageRows } from '../../src/cli/status-storage.js';

function status(overrides: Partial<NodeStatus>): BrokerStatus {
  return {
    address: '127.0.0.1:7501',
    id: nodeId('n1'),
    clusterId: 'c',
    role: 'leader',
    term: term(2),
    leaderId: nodeId('n1'),
    leaderClientAddress: null,
    commitIndex: index(100),
    appliedIndex: index(100),
    firstIndex: index(41),
    lastIndex: index(100),
    votingBlocked: false,
    repairThroughIndex: index(0),
    flush: 'sync',
    durableMark: 'ordered',
    flushIntervalMs: null,
    followers: [],
    snapshotIndex: index(40),
    snapshotAgeSeconds: 75.4,
    logBytes: 3 * 1024 * 1024,
    snapshotBytes: 2048,
    disk: { usedBytes: 93 * 1024 ** 3, freeBytes: 7 * 1024 ** 3, sizeBytes: 100 * 1024 ** 3 },
    diskHighWatermarkPercent: 90,
    produceRefused: true,
    ...overrides,
  };
}

describe('quorumlog status: the storage table', () => {
  it('shows first index, snapshot and its age, log and snapshot bytes, disk used and free, and the guard', () => {
    expect(STORAGE_HEADER).toEqual(['node', 'first', 'snapshot', 'snapshot age', 'log', 'snapshots', 'disk used', 'disk free', 'produce']);
    expect(storageRows([status({})])).toEqual([['n1', '41', '40', '1m 15s', '3.0 MiB', '2.0 KiB', '93.0 GiB (93%)', '7.0 GiB', 'refused (disk > 90%)']]);
  });

  it('marks what a node does not know, skips unreachable nodes and says when the guard is off', () => {
    const rows = storageRows([
      status({ id: nodeId('n2'), snapshotIndex: index(0), snapshotAgeSeconds: null, disk: null, produceRefused: false, diskHighWatermarkPercent: 100 }),
      { address: '127.0.0.1:7503', error: 'unreachable' },
    ]);
    expect(rows).toEqual([['n2', '41', '-', '-', '3.0 MiB', '2.0 KiB', '?', '?', 'ok (guard off)']]);
  });

  it('formats sizes and ages for people', () => {
    expect([bytesText(0), bytesText(1023), bytesText(1536), bytesText(5 * 1024 ** 4)]).toEqual(['0 B', '1023 B', '1.5 KiB', '5.0 TiB']);
    expect([ageText(0.4), ageText(59), ageText(3_600 + 125), ageText(2 * 86_400 + 4 * 3_600)]).toEqual(['0s', '59s', '1h 2m', '2d 4h']);
  });
});
