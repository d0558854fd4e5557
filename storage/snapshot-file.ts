import { crc32 } from 'node:zlib';

import type { Index, NodeId, SnapshotMeta, Term } from '../raft/index.js';
import { assert } from './assert.js';
import type { SnapshotFault } from './errors.js';

/**
 * The snapshot file format (sans I/O: encoders, the layout and checks; snapshot-store.ts does
 * the files). All integers little-endian; u64 values are below 2^53.
 *
 *   header  0 magic u32 "QLSN" | 4 crc32 u32 of bytes [8, headerBytes) | 8 headerBytes u32
 *           12 version u16 | 14 voter count u16 | 16 index u64 | 24 term u64
 *           32 payloadBytes u64 | 40 chunkBytes u32 | 44 voters: (length u16, UTF-8 bytes)*
 *           version 2 only: learner count u16, learners: (length u16, UTF-8 bytes)*
 *   frame   0 length u32 (1..chunkBytes) | 4 crc32 u32 | 8 `length` payload bytes
 *   end     0 length u32 = 0 | 4 crc32 u32
 *
 * A frame's crc covers its payload offset (u64) and then its bytes, so a frame shipped to
 * the wrong place fails its check like a damaged one; the end frame's covers payloadBytes
 * (u64) from a seed of its own. Every frame but the last holds exactly chunkBytes, so the
 * layout follows from the header alone: a frame's file offset gives its payload offset, the
 * file's size is fixed, and a receiver knows how long the next unit (the header, a frame or
 * the end frame) must be before it arrives. Frames travel as they are on disk: a leader
 * streams the file's units, a follower checks each on arrival and writes it unchanged.
 */

/** A decoded header: the meta plus what the layout needs. */
export interface SnapshotHeader {
  readonly meta: SnapshotMeta;
  readonly payloadBytes: number;
  readonly chunkBytes: number;
  readonly headerBytes: number;
}

export const SNAPSHOT_SUFFIX = '.snap';
export const TEMP_SUFFIX = '.tmp';
const NAME_DIGITS = 20;
const MAGIC = 0x4e53_4c51; // "QLSN" as little-endian bytes
/**
 * Version 1 headers hold voters only; version 2 adds the learners. A snapshot without
 * learners is written as version 1 (what builds before learners existed read, too); both
 * are read.
 */
export const FORMAT_VERSION = 1;
export const FORMAT_VERSION_LEARNERS = 2;
const HEADER_FIXED_BYTES = 44;
/** Length fields are checked against these before anything is allocated for them. */
export const HEADER_BYTES_MAX = 64 * 1024;
export const VOTERS_MAX = 255;
export const VOTER_BYTES_MAX = 128;
export const FRAME_HEADER_BYTES = 8;
export const CHUNK_BYTES_MAX = 16 * 1024 * 1024;
export const CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Starts the end frame's crc, so no data frame's check can pass for it. */
const END_SEED = 0x454e_4421;
const U32 = 0x1_0000_0000;

/** "00000000000000000120-00000000000000000007.snap" for index 120, term 7. */
export function snapshotFileName(position: { readonly index: number; readonly term: number }): string {
  return `${String(position.index).padStart(NAME_DIGITS, '0')}-${String(position.term).padStart(NAME_DIGITS, '0')}${SNAPSHOT_SUFFIX}`;
}

/** The index and term a snapshot file name stands for, or null if it is not one. */
export function parseSnapshotFileName(name: string): { index: Index; term: Term } | null {
  const match = /^(\d{20})-(\d{20})\.snap$/.exec(name);
  if (match?.[1] === undefined || match[2] === undefined) return null;
  return { index: Number(match[1]) as Index, term: Number(match[2]) as Term };
}

function encodeVoters(voters: readonly NodeId[]): Buffer[] {
  assert(voters.length <= VOTERS_MAX, () => `a snapshot holds at most ${VOTERS_MAX} voters, not ${voters.length}`);
  return voters.map((voter) => {
    const bytes = Buffer.from(voter, 'utf8');
    assert(bytes.length <= VOTER_BYTES_MAX, () => `voter id longer than ${VOTER_BYTES_MAX} bytes: ${voter}`);
    return bytes;
  });
}

function learnersOf(meta: SnapshotMeta): readonly NodeId[] {
  return meta.learners ?? [];
}

function idsBytes(ids: readonly Buffer[]): number {
  return ids.reduce((sum, id) => sum + 2 + id.length, 0);
}

/** The header's size for `meta`: fixed by the meta alone, so a writer knows where frames start. */
export function headerBytesOf(meta: SnapshotMeta): number {
  const learners = learnersOf(meta);
  return HEADER_FIXED_BYTES + idsBytes(encodeVoters(meta.voters)) + (learners.length === 0 ? 0 : 2 + idsBytes(encodeVoters(learners)));
}

function writeIds(out: Uint8Array, view: DataView, at: number, ids: readonly Buffer[]): number {
  let next = at;
  for (const id of ids) {
    view.setUint16(next, id.length, true);
    out.set(id, next + 2);
    next += 2 + id.length;
  }
  return next;
}

export function encodeHeader(meta: SnapshotMeta, payloadBytes: number, chunkBytes: number): Uint8Array {
  assert(Number.isSafeInteger(meta.index) && meta.index >= 0 && Number.isSafeInteger(meta.term) && meta.term >= 0, 'snapshot index and term must be whole numbers');
  const voters = encodeVoters(meta.voters);
  const learners = encodeVoters(learnersOf(meta));
  const out = new Uint8Array(headerBytesOf(meta));
  const view = new DataView(out.buffer);
  const u64 = (at: number, value: number): void => {
    view.setUint32(at, value % U32, true);
    view.setUint32(at + 4, Math.floor(value / U32), true);
  };
  view.setUint32(0, MAGIC, true);
  view.setUint32(8, out.length, true);
  view.setUint16(12, learners.length === 0 ? FORMAT_VERSION : FORMAT_VERSION_LEARNERS, true);
  view.setUint16(14, voters.length, true);
  u64(16, meta.index);
  u64(24, meta.term);
  u64(32, payloadBytes);
  view.setUint32(40, chunkBytes, true);
  const at = writeIds(out, view, HEADER_FIXED_BYTES, voters);
  if (learners.length > 0) {
    view.setUint16(at, learners.length, true);
    writeIds(out, view, at + 2, learners);
  }
  view.setUint32(4, crc32(out.subarray(8)), true);
  return out;
}

/** The header `bytes` (exactly headerBytes long, or longer) hold, or why not. */
export function decodeHeader(bytes: Uint8Array): SnapshotHeader | SnapshotFault {
  if (bytes.length < HEADER_FIXED_BYTES) return 'short-header';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const headerBytes = view.getUint32(8, true);
  if (view.getUint32(0, true) !== MAGIC || headerBytes < HEADER_FIXED_BYTES || headerBytes > HEADER_BYTES_MAX) return 'bad-header';
  if (bytes.length < headerBytes) return 'short-header';
  if (view.getUint32(4, true) !== crc32(bytes.subarray(8, headerBytes))) return 'bad-crc';
  const u64 = (at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * U32;
  const chunkBytes = view.getUint32(40, true);
  const payloadBytes = u64(32);
  const version = view.getUint16(12, true);
  if ((version !== FORMAT_VERSION && version !== FORMAT_VERSION_LEARNERS) || chunkBytes < 1 || chunkBytes > CHUNK_BYTES_MAX || !Number.isSafeInteger(payloadBytes)) return 'bad-header';
  const voters = readIds(bytes, view, HEADER_FIXED_BYTES, view.getUint16(14, true), headerBytes);
  if (voters === null) return 'bad-header';
  let at = voters.end;
  let learners: NodeId[] = [];
  if (version === FORMAT_VERSION_LEARNERS) {
    if (at + 2 > headerBytes) return 'bad-header';
    const read = readIds(bytes, view, at + 2, view.getUint16(at, true), headerBytes);
    if (read === null || read.ids.length === 0) return 'bad-header';
    learners = read.ids;
    at = read.end;
  }
  if (at !== headerBytes) return 'bad-header';
  const base = { index: u64(16) as Index, term: u64(24) as Term, voters: voters.ids };
  const meta: SnapshotMeta = learners.length === 0 ? base : { ...base, learners };
  return { meta, payloadBytes, chunkBytes, headerBytes };
}

/** `count` length-prefixed ids from `at`, and where they end; null when they do not fit before `end`. */
function readIds(bytes: Uint8Array, view: DataView, at: number, count: number, end: number): { ids: NodeId[]; end: number } | null {
  const ids: NodeId[] = [];
  let next = at;
  for (let k = count; k > 0; k--) {
    const length = next + 2 <= end ? view.getUint16(next, true) : Infinity;
    if (length > VOTER_BYTES_MAX || next + 2 + length > end) return null;
    ids.push(Buffer.from(bytes.subarray(next + 2, next + 2 + length)).toString('utf8') as NodeId);
    next += 2 + length;
  }
  return { ids, end: next };
}

export function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]): boolean => x.length === y.length && x.every((id, k) => id === y[k]);
  return a.index === b.index && a.term === b.term && same(a.voters, b.voters) && same(learnersOf(a), learnersOf(b));
}

/** The 8-byte header of a frame holding `bytes` at `payloadOffset`. */
export function encodeFrameHeader(payloadOffset: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, bytes.length, true);
  view.setUint32(4, frameCrc(payloadOffset, bytes), true);
  return out;
}

export function encodeEndFrame(payloadBytes: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(out.buffer).setUint32(4, crc32(u64Bytes(payloadBytes), END_SEED), true);
  return out;
}

function frameCrc(payloadOffset: number, bytes: Uint8Array): number {
  return crc32(bytes, crc32(u64Bytes(payloadOffset)));
}

function u64Bytes(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, value % U32, true);
  view.setUint32(4, Math.floor(value / U32), true);
  return out;
}

/** What lies at a file offset, by the layout the header fixes. */
export type Unit =
  | { readonly kind: 'header'; readonly bytes: number }
  | { readonly kind: 'frame'; readonly bytes: number; readonly payloadOffset: number }
  | { readonly kind: 'end'; readonly bytes: number };

/** Where the end frame starts. */
export function endOffsetOf(header: SnapshotHeader): number {
  const frames = Math.ceil(header.payloadBytes / header.chunkBytes);
  return header.headerBytes + frames * FRAME_HEADER_BYTES + header.payloadBytes;
}

/** The whole file's size. */
export function fileBytesOf(header: SnapshotHeader): number {
  return endOffsetOf(header) + FRAME_HEADER_BYTES;
}

/** The unit starting at `offset`, or null when no unit starts there (or it is past the end). */
export function unitAt(header: SnapshotHeader, offset: number): Unit | null {
  if (offset === 0) return { kind: 'header', bytes: header.headerBytes };
  const end = endOffsetOf(header);
  if (offset === end) return { kind: 'end', bytes: FRAME_HEADER_BYTES };
  const stride = FRAME_HEADER_BYTES + header.chunkBytes;
  const from = offset - header.headerBytes;
  if (from < 0 || offset > end || from % stride !== 0) return null;
  const payloadOffset = (from / stride) * header.chunkBytes;
  return { kind: 'frame', bytes: FRAME_HEADER_BYTES + Math.min(header.chunkBytes, header.payloadBytes - payloadOffset), payloadOffset };
}

/**
 * Checks one frame or end frame (`bytes` exactly `unit.bytes` long) against the layout:
 * its length field, then its crc. Null when it is good.
 */
export function checkFrame(header: SnapshotHeader, unit: Unit, bytes: Uint8Array): SnapshotFault | null {
  assert(unit.kind !== 'header' && bytes.length === unit.bytes, 'checkFrame of a header, or of a short unit');
  const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  if (view.getUint32(0, true) !== unit.bytes - FRAME_HEADER_BYTES) return unit.kind === 'end' ? 'bad-end' : 'bad-frame-length';
  const crc = unit.kind === 'end' ? crc32(u64Bytes(header.payloadBytes), END_SEED) : frameCrc(unit.payloadOffset, bytes.subarray(FRAME_HEADER_BYTES));
  return view.getUint32(4, true) === crc ? null : 'bad-crc';
}
