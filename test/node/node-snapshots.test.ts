import { describe, expect, it } from 'vitest';
import { index, term, type SnapshotMeta } from '../../raft/index.js';
import { BrokerState, encodeBrokerSnapshot } from '../../src/broker/index.js';
import type { NodeConfig } from '../../src/node/config.js';
import { assembleNode, type AssembledNode } from '../../src/node/node-assembly.js';
import { brokerEntryPayload } from '../../src/node/state-machine.js';
import { MemoryFileSystem, openLog, openSnapshotStore, realScheduler } from '../../storage/index.js';
import { MEMBER_IDS, quietNodeConfig, recordEntry } from './node-fixtures.js';

/**
 * How a node starts from what its disk holds: the newest snapshot and the log beside it,
 * including the states a crash part way through installing a leader's snapshot leaves.
 */
const DATA_DIR = '/data/n1';
const ids = MEMBER_IDS;
const config = (): NodeConfig => quietNodeConfig(DATA_DIR);
const record = recordEntry;

/** A log of `count` plain records in term `t` on `fs`, compacted below `compactBefore` (whole small segments). */
async function writeLog(fs: MemoryFileSystem, count: number, t: number, compactBefore = 1): Promise<void> {
  const log = await openLog({ dir: `${DATA_DIR}/log`, fs, segmentBytes: 256 });
  await log.saveHardState({ term: term(t), vote: null, commit: index(0) });
  for (let at = 1; at <= count; at++) await log.append([record(at, t)]);
  if (compactBefore > 1) await log.compactBefore(index(compactBefore));
  await log.close();
}

/** A broker state with topic `t` created at entry `createdAt`, as a snapshot through `meta.index`. */
async function writeSnapshot(fs: MemoryFileSystem, meta: SnapshotMeta, createdAt: number): Promise<void> {
  const state = new BrokerState();
  state.apply(createdAt, 1_000, { kind: 'createTopic', name: 'restored-topic', messageBytesMax: 1024 });
  const store = await openSnapshotStore({ fs, dir: `${DATA_DIR}/snapshots` });
  const writer = store.create(meta);
  writer.write(encodeBrokerSnapshot(state));
  await writer.finish();
  store.close();
}

async function start(fs: MemoryFileSystem): Promise<AssembledNode> {
  return assembleNode(config(), { fs, scheduler: realScheduler, random: { nextInt: () => 0 } }, {
    send: () => undefined,
    // No incarnation in the environment: the node makes no bootstrap check, so never asks.
    checkIncarnation: () => Promise.reject(new Error('no peers here')),
    onFatal: (error) => {
      throw error;
    },
    shipping: { sendSnapshot: () => Promise.reject(new Error('no peers in this test')) },
  });
}

describe('a node starting from its snapshot', () => {
  it('whose compacted log does not hold the snapshot (a crash after an install was published, before the log was cut) resets the log after it', async () => {
    const fs = new MemoryFileSystem();
    await writeLog(fs, 12, 1, 8);
    await writeSnapshot(fs, { index: index(20), term: term(2), voters: ids }, 7);
    const node = await start(fs);
    try {
      expect(node.log.firstIndex()).toBe(21);
      expect(node.log.lastIndex()).toBe(20);
      expect(node.log.term(index(20))).toBe(2);
      expect(node.raft.status()).toMatchObject({ commit: 20, applied: 20, snapshotIndex: 20, firstIndex: 21, lastIndex: 20 });
      expect(node.replica.appliedIndex).toBe(20);
      expect(node.stateMachine.broker.topic('restored-topic')).toBeDefined();
    } finally {
      await node.stop();
    }
  });

  it('whose log still starts at 1 but ends before the snapshot (cut short by damage, or by an install that crashed) replays the log instead, keeping every entry', async () => {
    const fs = new MemoryFileSystem();
    await writeLog(fs, 12, 1);
    await writeSnapshot(fs, { index: index(20), term: term(2), voters: ids }, 7);
    const node = await start(fs);
    try {
      expect(node.log.firstIndex()).toBe(1);
      expect(node.log.lastIndex()).toBe(12);
      expect(node.raft.status()).toMatchObject({ snapshotIndex: 0, firstIndex: 1, lastIndex: 12 });
      expect(node.stateMachine.broker.topic('restored-topic')).toBeUndefined();
    } finally {
      await node.stop();
    }
  });

  it('whose point its log holds keeps the entries after it and applies only those (Raft §7, on restart)', async () => {
    const fs = new MemoryFileSystem();
    await writeLog(fs, 30, 1);
    await writeSnapshot(fs, { index: index(20), term: term(1), voters: ids }, 3);
    const node = await start(fs);
    try {
      expect(node.log.lastIndex()).toBe(30);
      expect(node.raft.status()).toMatchObject({ commit: 20, applied: 20, snapshotIndex: 20, lastIndex: 30 });
      expect(node.stateMachine.broker.topic('restored-topic')).toBeDefined();
    } finally {
      await node.stop();
    }
  });

  it('refuses to start on a newest snapshot it cannot read, naming the file, rather than start from an older state', async () => {
    const fs = new MemoryFileSystem();
    await writeLog(fs, 12, 1);
    await writeSnapshot(fs, { index: index(10), term: term(1), voters: ids }, 3);
    const name = fs.list(`${DATA_DIR}/snapshots`).find((n) => n.endsWith('.snap')) as string;
    const handle = fs.open(`${DATA_DIR}/snapshots/${name}`, 'existing');
    const size = fs.size(handle);
    const byte = new Uint8Array(1);
    fs.readAt(handle, byte, size - 20);
    fs.writeAt(handle, Uint8Array.of((byte[0] as number) ^ 0xff), size - 20);
    await fs.fdatasync(handle);
    fs.close(handle);
    await expect(start(fs)).rejects.toMatchObject({ name: 'CorruptSnapshotError', message: expect.stringContaining(name) });
  });

  it('a broker payload that is not a snapshot of this format is a startup error too', async () => {
    const fs = new MemoryFileSystem();
    await writeLog(fs, 12, 1);
    const store = await openSnapshotStore({ fs, dir: `${DATA_DIR}/snapshots` });
    const writer = store.create({ index: index(10), term: term(1), voters: ids });
    writer.write(brokerEntryPayload({ leaderTimeMs: 1, command: { kind: 'clock' } }));
    await writer.finish();
    store.close();
    await expect(start(fs)).rejects.toMatchObject({ name: 'BrokerSnapshotError' });
  });
});
