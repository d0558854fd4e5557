import { describe, expect, it } from 'vitest';
import { index, term, type SnapshotMeta } from '../../raft/index.js';
import { BrokerState, encodeBrokerSnapshot } from '../../src/broker/index.js';
import type { NodeConfig } from '../../src/node/config.js';
import { assembleNode, type AssembledNode } from '../../src/node/node-assembly.js';
import { CorruptRecordError, MemoryFileSystem, openLog, openSnapshotStore, realScheduler } from '../../storage/index.js';
import { logTo } from '../../src/log/index.js';
import { MEMBER_IDS, quietNodeConfig, recordEntry } from './node-fixtures.js';

/**
 * A node opens its log naming its newest snapshot, so that segments wholly below it (not
 * replayed) are verified when read rather than at start: damage there neither slows the start
 * nor cuts the log, a read of it fails with CorruptRecordError and a log line, and the next
 * start cuts it as before. Damage after the snapshot is cut at start, as always.
 */
const DATA_DIR = '/data/n1';
const LOG_DIR = `${DATA_DIR}/log`;
const ids = MEMBER_IDS;
const config = (): NodeConfig => quietNodeConfig(DATA_DIR);
const record = recordEntry;
const COUNT = 60;
const SNAPSHOT = 30;

/** A log of COUNT plain records in term 1, in segments of a few records each, and a snapshot through SNAPSHOT. */
async function writeDisk(fs: MemoryFileSystem): Promise<void> {
  const log = await openLog({ dir: LOG_DIR, fs, segmentBytes: 256 });
  await log.saveHardState({ term: term(1), vote: null, commit: index(0) });
  for (let at = 1; at <= COUNT; at++) await log.append([record(at, 1)]);
  await log.close();
  const state = new BrokerState();
  state.apply(3, 1_000, { kind: 'createTopic', name: 'restored-topic', messageBytesMax: 1024 });
  const store = await openSnapshotStore({ fs, dir: `${DATA_DIR}/snapshots` });
  const meta: SnapshotMeta = { index: index(SNAPSHOT), term: term(1), voters: ids };
  const writer = store.create(meta);
  writer.write(encodeBrokerSnapshot(state));
  await writer.finish();
  store.close();
}

/** The segment files' first indexes, in order. */
function segmentFirsts(fs: MemoryFileSystem): number[] {
  return fs
    .list(LOG_DIR)
    .filter((name) => name.endsWith('.log'))
    .map((name) => Number(name.slice(0, -4)))
    .sort((a, b) => a - b);
}

const segmentPath = (first: number): string => `${LOG_DIR}/${String(first).padStart(20, '0')}.log`;

async function start(fs: MemoryFileSystem, lines: string[]): Promise<AssembledNode> {
  return assembleNode(config(), { fs, scheduler: realScheduler, random: { nextInt: () => 0 }, log: logTo((_level, line) => lines.push(line), 'trace') }, {
    send: () => undefined,
    // No incarnation in the environment: the node makes no bootstrap check, so never asks.
    checkIncarnation: () => Promise.reject(new Error('no peers here')),
    onFatal: (error) => {
      throw error;
    },
    shipping: { sendSnapshot: () => Promise.reject(new Error('no peers in this test')) },
  });
}

/** Reads every entry of the log one at a time: the CorruptRecordError of the first damaged one, or null. */
function readAll(node: AssembledNode): CorruptRecordError | null {
  for (let at = node.log.firstIndex(); at <= node.log.lastIndex(); at++) {
    try {
      node.log.entries(at, index(at + 1), 1 << 20);
    } catch (error) {
      if (error instanceof CorruptRecordError) return error;
      throw error;
    }
  }
  return null;
}

describe('a node starting with damage in its log', () => {
  it('below its newest snapshot: starts whole, a read of the damage fails with CorruptRecordError and a log line, and the next start cuts it', async () => {
    const fs = new MemoryFileSystem();
    await writeDisk(fs);
    const firsts = segmentFirsts(fs);
    expect(firsts.length).toBeGreaterThan(3);
    const second = firsts[1] as number;
    expect((firsts[2] as number) - 1).toBeLessThanOrEqual(SNAPSHOT); // the second segment lies wholly below the snapshot
    fs.flipBit(segmentPath(second), 34, 1); // the payload of its first record (after a 32-byte header): not the last one, which open checks

    const lines: string[] = [];
    const node = await start(fs, lines);
    let found: CorruptRecordError | null;
    try {
      expect(node.log.recovery).toMatchObject({ damage: null, lostEntries: false });
      expect(node.log.lastIndex()).toBe(COUNT);
      expect(node.raft.status()).toMatchObject({ applied: SNAPSHOT, snapshotIndex: SNAPSHOT });
      found = readAll(node);
      expect(found).toMatchObject({ file: segmentPath(second), expectedIndex: second });
      expect(lines.filter((line) => line.startsWith('log damage found on read'))).toHaveLength(1);
    } finally {
      await node.stop();
    }

    const restarted = await start(fs, []);
    try {
      expect(restarted.log.recovery.damage).toMatchObject({ file: segmentPath(second), fromIndex: second });
      expect(restarted.log.recovery.lostEntries).toBe(true);
      expect(restarted.log.lastIndex()).toBe(second - 1);
      expect(readAll(restarted)).toBeNull();
    } finally {
      await restarted.stop();
    }
  });

  it('after its newest snapshot: cut at start, as without a snapshot', async () => {
    const fs = new MemoryFileSystem();
    await writeDisk(fs);
    const firsts = segmentFirsts(fs);
    const after = firsts.find((first) => first > SNAPSHOT && first !== firsts.at(-1));
    expect(after).toBeDefined();
    fs.flipBit(segmentPath(after as number), 34, 1);
    const node = await start(fs, []);
    try {
      expect(node.log.recovery.damage).toMatchObject({ file: segmentPath(after as number), fromIndex: after });
      expect(node.log.recovery.lostEntries).toBe(true);
      expect(node.log.lastIndex()).toBe((after as number) - 1);
    } finally {
      await node.stop();
    }
  });
});
