import type protobuf from 'protobufjs';
import { nodeId, type InstallSnapshot, type NodeId } from '../../raft/index.js';
import { MalformedMessageError } from './errors.js';
import type { PeerCodec } from './peer-codec.js';
import { WireTypeCheck } from './protobuf-check.js';
import { parseSchema, readSchema, schemaType } from './protobuf-runtime.js';
import { bytesFieldBytes, scalarBytes, varint64Length, writeBytesField, writeScalar, writeVarint64 } from './protobuf-wire.js';

/** The first message of an InstallSnapshot call (peer.proto SnapshotHeader), decoded. */
export interface SnapshotHeader {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Its from and to are the header's. */
  readonly message: InstallSnapshot;
  readonly totalBytes: number;
  readonly ackEveryBytes: number;
}

/** One piece of the file; `data` shares memory with the bytes it was decoded from. */
export interface SnapshotChunk {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly crc32: number;
}

export type SnapshotUpload = { readonly part: 'header'; readonly header: SnapshotHeader } | { readonly part: 'chunk'; readonly chunk: SnapshotChunk };

export interface SnapshotProgress {
  readonly receivedBytes: number;
  readonly done: boolean;
}

/** Field tags of SnapshotUpload.chunk and SnapshotChunk (field number << 3 | wire type). */
const UPLOAD_CHUNK_TAG = (2 << 3) | 2;
const CHUNK_TAG = { offset: (1 << 3) | 0, data: (2 << 3) | 2, crc32: (3 << 3) | 0 } as const;

/** The decoded shapes protobufjs produces (message fields default to null). */
interface WireUpload {
  readonly header: WireHeader | null;
  readonly chunk: WireChunk | null;
}
interface WireHeader {
  readonly clusterId: string;
  readonly from: string;
  readonly to: string;
  readonly message: Uint8Array;
  readonly totalBytes: number;
  readonly ackEveryBytes: number;
}
interface WireChunk {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly crc32: number;
}

/**
 * Encodes and decodes peer.proto's InstallSnapshot messages. The RaftMessage inside a header
 * goes through PeerCodec, so it is the same encoding a batch carries. Chunks, nearly all the
 * bytes, are written by hand into one buffer (one copy of the data).
 */
export class SnapshotCodec {
  readonly #peerCodec: PeerCodec;
  readonly #upload: protobuf.Type;
  readonly #progress: protobuf.Type;
  readonly #wireTypes = new WireTypeCheck();

  constructor(peerCodec: PeerCodec) {
    this.#peerCodec = peerCodec;
    const root = parseSchema(readSchema('peer.proto'));
    this.#upload = schemaType(root, 'quorumlog.peer.SnapshotUpload');
    this.#progress = schemaType(root, 'quorumlog.peer.SnapshotProgress');
  }

  encodeHeader(header: SnapshotHeader): Buffer {
    const wire: WireHeader = {
      clusterId: header.clusterId,
      from: header.from,
      to: header.to,
      message: this.#peerCodec.encodeMessage(header.message),
      totalBytes: header.totalBytes,
      ackEveryBytes: header.ackEveryBytes,
    };
    return Buffer.from(this.#upload.encode({ header: wire }).finish());
  }

  encodeChunk(offset: number, data: Uint8Array, crc32: number): Buffer {
    const inner = scalarBytes(offset) + bytesFieldBytes(data) + scalarBytes(crc32);
    const total = 1 + varint64Length(inner) + inner;
    const out = Buffer.allocUnsafe(total);
    out[0] = UPLOAD_CHUNK_TAG;
    let at = writeVarint64(out, 1, inner);
    at = writeScalar(out, at, CHUNK_TAG.offset, offset);
    at = writeBytesField(out, at, CHUNK_TAG.data, data);
    at = writeScalar(out, at, CHUNK_TAG.crc32, crc32);
    if (at !== total) throw new Error(`encodeChunk: wrote ${at} bytes, sized ${total}`);
    return out;
  }

  /** Decodes one upload message; throws MalformedMessageError for anything that is not one. */
  decodeUpload(bytes: Uint8Array): SnapshotUpload {
    const problem = this.#wireTypes.problem(this.#upload, bytes);
    if (problem !== null) throw new MalformedMessageError(`snapshot upload does not decode: ${problem}`);
    let wire: WireUpload;
    try {
      wire = this.#upload.decode(bytes) as unknown as WireUpload;
    } catch (error) {
      throw new MalformedMessageError(`snapshot upload does not decode: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (wire.header !== null && wire.header !== undefined) return { part: 'header', header: this.#headerFromWire(wire.header) };
    if (wire.chunk !== null && wire.chunk !== undefined) {
      const { offset, data, crc32 } = wire.chunk;
      return { part: 'chunk', chunk: { offset: checkedNumber(offset, 'offset'), data, crc32 } };
    }
    throw new MalformedMessageError('snapshot upload has neither a header nor a chunk');
  }

  encodeProgress(progress: SnapshotProgress): Buffer {
    return Buffer.from(this.#progress.encode({ receivedBytes: progress.receivedBytes, done: progress.done }).finish());
  }

  decodeProgress(bytes: Uint8Array): SnapshotProgress {
    const wire = this.#progress.decode(bytes) as unknown as { readonly receivedBytes: number; readonly done: boolean };
    return { receivedBytes: checkedNumber(wire.receivedBytes, 'receivedBytes'), done: wire.done };
  }

  #headerFromWire(wire: WireHeader): SnapshotHeader {
    const from = nodeId(wire.from);
    const to = nodeId(wire.to);
    const message = this.#peerCodec.decodeMessage(wire.message, from, to);
    if (message.type !== 'snapshot') throw new MalformedMessageError(`a snapshot header carries a ${message.type} message, not a snapshot`);
    return {
      clusterId: wire.clusterId,
      from,
      to,
      message,
      totalBytes: checkedNumber(wire.totalBytes, 'totalBytes'),
      ackEveryBytes: checkedNumber(wire.ackEveryBytes, 'ackEveryBytes'),
    };
  }
}

/** A uint64 decoded as a number is exact only below 2^53; anything above is not ours. */
function checkedNumber(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) throw new MalformedMessageError(`${field} ${value} is not an integer below 2^53`);
  return value;
}
