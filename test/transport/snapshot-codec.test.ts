import { crc32 } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { index, nodeId, term, type InstallSnapshot } from '../../raft/index.js';
import { MalformedMessageError, PeerCodec } from '../../src/transport/index.js';
import { SnapshotCodec } from '../../src/transport/snapshot-codec.js';

const codec = new SnapshotCodec(new PeerCodec());
const message: InstallSnapshot = { type: 'snapshot', from: nodeId('n1'), to: nodeId('n2'), term: term(4), snapshot: { index: index(2 ** 40), term: term(3), voters: [nodeId('n1'), nodeId('n2')] } };

describe('SnapshotCodec', () => {
  it('round-trips a header, with the Raft message addressed by the header', () => {
    const header = { clusterId: 'c', from: nodeId('n1'), to: nodeId('n2'), message, totalBytes: 2 ** 45 + 3, ackEveryBytes: 4 * 1024 * 1024 };
    expect(codec.decodeUpload(codec.encodeHeader(header))).toEqual({ part: 'header', header });
  });

  it('decodes the hand-written chunk encoding as protobuf does, zero fields and all', () => {
    for (const [offset, length] of [[0, 1], [0, 300_000], [2 ** 50, 7], [129, 0]] as const) {
      const data = Uint8Array.from({ length }, (_, k) => (k * 7 + offset) & 0xff);
      const decoded = codec.decodeUpload(codec.encodeChunk(offset, data, crc32(data)));
      expect(decoded.part).toBe('chunk');
      if (decoded.part !== 'chunk') continue;
      expect(decoded.chunk.offset).toBe(offset);
      expect(decoded.chunk.crc32).toBe(crc32(data));
      expect(Buffer.from(decoded.chunk.data).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('refuses an upload that is neither, and a header whose message is not a snapshot', () => {
    expect(() => codec.decodeUpload(new Uint8Array(0))).toThrow(MalformedMessageError);
    const vote = new PeerCodec().encodeMessage({ type: 'timeoutNow', from: nodeId('n1'), to: nodeId('n2'), term: term(1) });
    // SnapshotUpload.header (field 1) holding SnapshotHeader.message (field 4) = the vote.
    const inner = Buffer.concat([Buffer.from([0x22, vote.length]), vote]);
    const upload = Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
    expect(() => codec.decodeUpload(upload)).toThrow(/timeoutNow message, not a snapshot/);
  });

  it('round-trips progress', () => {
    expect(codec.decodeProgress(codec.encodeProgress({ receivedBytes: 12_345_678_901, done: true }))).toEqual({ receivedBytes: 12_345_678_901, done: true });
  });
});
