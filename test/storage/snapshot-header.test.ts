/**
 * Snapshot headers carry the configuration as of the snapshot's index: format 1 (voters) is
 * still written when there are no learners and read as before; format 2 adds the learners.
 */
import { crc32 } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import type { Index, NodeId, SnapshotMeta, Term } from '../../raft/types.js';
import { MemoryFileSystem, openSnapshotStore } from '../../storage/index.js';
import { decodeHeader, encodeHeader, FORMAT_VERSION, FORMAT_VERSION_LEARNERS, headerBytesOf, sameMeta } from '../../storage/snapshot-file.js';
import { manualScheduler, payloadFor } from './log-fixtures.js';

const ids = (...names: string[]): NodeId[] => names as NodeId[];
const meta = (voters: NodeId[], learners?: NodeId[]): SnapshotMeta => ({ index: 120 as Index, term: 7 as Term, voters, ...(learners === undefined ? {} : { learners }) });
const versionOf = (header: Uint8Array): number => new DataView(header.buffer, header.byteOffset).getUint16(12, true);

describe('snapshot headers with learners', () => {
  it('writes format 1 without learners, format 2 with them, and reads both back exactly', () => {
    const plain = encodeHeader(meta(ids('n1', 'n2', 'n3')), 10, 64);
    expect(versionOf(plain)).toBe(FORMAT_VERSION);
    expect(decodeHeader(plain)).toMatchObject({ meta: meta(ids('n1', 'n2', 'n3')), payloadBytes: 10, chunkBytes: 64, headerBytes: plain.length });
    const withLearners = meta(ids('n1', 'n2', 'n3'), ids('n4', 'n5'));
    const header = encodeHeader(withLearners, 10, 64);
    expect(versionOf(header)).toBe(FORMAT_VERSION_LEARNERS);
    expect(header.length).toBe(headerBytesOf(withLearners));
    const decoded = decodeHeader(header);
    expect(typeof decoded === 'string' ? decoded : decoded.meta).toEqual(withLearners);
    // An empty learner list is none: the same header as without.
    expect(Buffer.from(encodeHeader(meta(ids('n1'), []), 10, 64)).equals(Buffer.from(encodeHeader(meta(ids('n1')), 10, 64)))).toBe(true);
  });

  it('a format 2 header cut or claiming more learners than it holds is refused', () => {
    const header = encodeHeader(meta(ids('n1'), ids('n2')), 10, 64);
    expect(decodeHeader(header.subarray(0, header.length - 1))).toBe('short-header');
    const lying = Uint8Array.from(header);
    const view = new DataView(lying.buffer);
    view.setUint16(44 + 2 + 2, 2, true); // the learner count, after voter n1 (2 + 2 bytes)
    expect(decodeHeader(lying)).toBe('bad-crc');
    view.setUint32(4, crc32(lying.subarray(8)), true);
    expect(decodeHeader(lying), 'the checksum right, the count wrong').toBe('bad-header');
    view.setUint16(44 + 2 + 2, 0, true);
    view.setUint32(4, crc32(lying.subarray(8)), true);
    expect(decodeHeader(lying), 'format 2 with no learners').toBe('bad-header');
  });

  it('sameMeta compares learners too', () => {
    expect(sameMeta(meta(ids('n1'), ids('n2')), meta(ids('n1'), ids('n2')))).toBe(true);
    expect(sameMeta(meta(ids('n1'), ids('n2')), meta(ids('n1')))).toBe(false);
    expect(sameMeta(meta(ids('n1'), []), meta(ids('n1')))).toBe(true);
  });

  it('a stored snapshot keeps its learners across a reopen of the store', async () => {
    const fs = new MemoryFileSystem();
    const dir = '/data/n1/snapshots';
    const store = await openSnapshotStore({ fs, dir, chunkBytes: 64, scheduler: manualScheduler });
    const written = meta(ids('n1', 'n2', 'n3'), ids('n4'));
    const writer = store.create(written);
    writer.write(payloadFor(1, 1, 300));
    await writer.finish();
    store.close();
    const again = await openSnapshotStore({ fs, dir, chunkBytes: 64, scheduler: manualScheduler });
    expect(again.latest()).toEqual(written);
    again.close();
  });
});
