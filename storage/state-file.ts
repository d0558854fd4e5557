import * as path from 'node:path';
import { crc32 } from 'node:zlib';

import type { HardState, Index, NodeId, Term } from '../raft/index.js';
import { assert } from './assert.js';
import { CorruptHardStateError, StorageFailedError } from './errors.js';
import type { FileHandle, FileSystem } from './file-system.js';

export const STATE_FILE_NAME = 'state';
const STATE_TEMP_NAME = 'state.tmp';
const STATE_MAGIC = 0x5453_4c51; // "QLST" as little-endian bytes
const SLOT_BYTES = 256;
/** The two slots sit on different 4 KiB pages so one torn page write can hit only one. */
const SLOT_OFFSETS = [0, 4096] as const;
const FILE_BYTES = 8192;
export const VOTE_BYTES_MAX = 128;
const NO_VOTE = 0xffff;
const U32 = 0x1_0000_0000;

/** A log position by index and term. */
export interface LogPosition {
  readonly index: Index;
  readonly term: Term;
}

/** Everything that must change crash-atomically, kept in one small file. */
export interface PersistedState {
  readonly hardState: HardState;
  /**
   * The durable mark: the last entry known to be durable in this node's log. Never ahead of
   * what is durable; lowered (durably) by truncation. A recovered log that ends before it
   * has lost data it once acknowledged.
   */
  readonly mark: LogPosition;
  /** The compaction point: entries up to `index` are gone; `term` is term(index). */
  readonly compacted: LogPosition;
}

/**
 * `state` with the given parts replaced, written out field by field: V8 in Node 20 builds
 * `{ ...state, mark }` on a slow path (2.5 us a call in a follower's CPU profile, where the
 * mark moves once per group).
 */
export function withParts(state: PersistedState, parts: Partial<PersistedState>): PersistedState {
  return { hardState: parts.hardState ?? state.hardState, mark: parts.mark ?? state.mark, compacted: parts.compacted ?? state.compacted };
}

export const INITIAL_STATE: PersistedState = {
  hardState: { term: 0 as Term, vote: null, commit: 0 as Index },
  mark: { index: 0 as Index, term: 0 as Term },
  compacted: { index: 0 as Index, term: 0 as Term },
};

/*
 * Slot layout (little-endian): 0 magic u32, 4 crc u32 (of bytes 8..256), 8 sequence u64,
 * 16 term, 24 commit, 32 mark index, 40 mark term, 48 compacted index, 56 compacted term
 * (u64 each), 64 vote length u16 (0xffff = no vote), 66 vote bytes (UTF-8, at most 128).
 */
export function encodeStateSlot(state: PersistedState, sequence: number): Uint8Array {
  const slot = new Uint8Array(SLOT_BYTES);
  const view = new DataView(slot.buffer);
  const u64 = (at: number, value: number): void => {
    view.setUint32(at, value % U32, true);
    view.setUint32(at + 4, Math.floor(value / U32), true);
  };
  view.setUint32(0, STATE_MAGIC, true);
  u64(8, sequence);
  u64(16, state.hardState.term);
  u64(24, state.hardState.commit);
  u64(32, state.mark.index);
  u64(40, state.mark.term);
  u64(48, state.compacted.index);
  u64(56, state.compacted.term);
  const vote = state.hardState.vote === null ? null : Buffer.from(state.hardState.vote, 'utf8');
  assert(vote === null || vote.length <= VOTE_BYTES_MAX, `vote longer than ${VOTE_BYTES_MAX} bytes`);
  view.setUint16(64, vote === null ? NO_VOTE : vote.length, true);
  if (vote !== null) slot.set(vote, 66);
  view.setUint32(4, crc32(slot.subarray(8)), true);
  return slot;
}

export function decodeStateSlot(slot: Uint8Array): { state: PersistedState; sequence: number } | null {
  if (slot.length < SLOT_BYTES) return null;
  const view = new DataView(slot.buffer, slot.byteOffset, SLOT_BYTES);
  if (view.getUint32(0, true) !== STATE_MAGIC) return null;
  if (view.getUint32(4, true) !== crc32(slot.subarray(8, SLOT_BYTES))) return null;
  const u64 = (at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * U32;
  const voteBytes = view.getUint16(64, true);
  if (voteBytes !== NO_VOTE && voteBytes > VOTE_BYTES_MAX) return null;
  const vote = voteBytes === NO_VOTE ? null : (Buffer.from(slot.subarray(66, 66 + voteBytes)).toString('utf8') as NodeId);
  return {
    sequence: u64(8),
    state: {
      hardState: { term: u64(16) as Term, vote, commit: u64(24) as Index },
      mark: { index: u64(32) as Index, term: u64(40) as Term },
      compacted: { index: u64(48) as Index, term: u64(56) as Term },
    },
  };
}

interface Waiter {
  readonly version: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The crash-atomic state file: two slots, each written whole with a sequence number and a
 * CRC; a write goes to the slot holding the older sequence and is fdatasync'd before its
 * promise resolves; a read takes the valid slot with the higher sequence. A crash during a
 * write damages at most the slot being written, so the old value survives.
 *
 * Writes are serialized and coalesced: every update() bumps a version; one writer loop
 * persists the newest state, resolving every update it covers (group commit again).
 */
export class StateFile {
  private desired: PersistedState;
  private desiredVersion = 0;
  private persistedVersion = 0;
  private writing = false;
  private failure: unknown = null;
  private readonly waiters: Waiter[] = [];

  private constructor(
    private readonly fs: FileSystem,
    private readonly handle: FileHandle,
    /** The newest state known durable. */
    private persisted: PersistedState,
    private sequence: number,
    private nextSlot: 0 | 1,
  ) {
    this.desired = persisted;
  }

  /** The state file in `dir`, or null if there is none. */
  static load(fs: FileSystem, dir: string): StateFile | null {
    const filePath = path.join(dir, STATE_FILE_NAME);
    if (!fs.list(dir).includes(STATE_FILE_NAME)) return null;
    const handle = fs.open(filePath, 'existing');
    const bytes = new Uint8Array(FILE_BYTES);
    fs.readAt(handle, bytes, 0);
    const slots = SLOT_OFFSETS.map((at) => decodeStateSlot(bytes.subarray(at, at + SLOT_BYTES)));
    const [a, b] = slots;
    if (a == null && b == null) {
      fs.close(handle);
      throw new CorruptHardStateError(filePath, 'neither slot holds a valid state');
    }
    const newest: 0 | 1 = a != null && (b == null || a.sequence > b.sequence) ? 0 : 1;
    const chosen = newest === 0 ? a : b;
    assert(chosen != null, 'chosen state slot missing');
    return new StateFile(fs, handle, chosen.state, chosen.sequence, newest === 0 ? 1 : 0);
  }

  /** Creates the file crash-atomically: written and synced as a temp file, renamed, dir synced. */
  static async create(fs: FileSystem, dir: string, initial: PersistedState): Promise<StateFile> {
    const tempPath = path.join(dir, STATE_TEMP_NAME);
    const filePath = path.join(dir, STATE_FILE_NAME);
    const temp = fs.open(tempPath, 'create');
    fs.truncate(temp, FILE_BYTES);
    fs.writeAt(temp, encodeStateSlot(initial, 1), SLOT_OFFSETS[0]);
    await fs.fdatasync(temp);
    fs.close(temp);
    fs.rename(tempPath, filePath);
    await fs.syncDir(dir);
    return new StateFile(fs, fs.open(filePath, 'existing'), initial, 1, 1);
  }

  /** Removes a leftover temp file from a crash during create(). */
  static removeLeftovers(fs: FileSystem, dir: string): void {
    if (fs.list(dir).includes(STATE_TEMP_NAME)) fs.remove(path.join(dir, STATE_TEMP_NAME));
  }

  /** The newest durable state. */
  get durable(): PersistedState {
    return this.persisted;
  }

  /** The newest state asked for, durable or not. */
  get latest(): PersistedState {
    return this.desired;
  }

  /** Changes the state; resolves once a write covering this change is durable. */
  update(change: (state: PersistedState) => PersistedState): Promise<void> {
    if (this.failure !== null) return Promise.reject(new StorageFailedError({ cause: this.failure }));
    this.desired = change(this.desired);
    const version = ++this.desiredVersion;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ version, resolve, reject }));
    void this.pump();
    return done;
  }

  close(): void {
    this.fs.close(this.handle);
  }

  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      // Bounded: each pass persists the newest version; it ends when no update arrived meanwhile.
      while (this.persistedVersion < this.desiredVersion) {
        const version = this.desiredVersion;
        const state = this.desired;
        this.fs.writeAt(this.handle, encodeStateSlot(state, this.sequence + 1), SLOT_OFFSETS[this.nextSlot]);
        await this.fs.fdatasync(this.handle);
        this.sequence++;
        this.nextSlot = this.nextSlot === 0 ? 1 : 0;
        this.persisted = state;
        this.persistedVersion = version;
        this.settle(version, null);
      }
    } catch (error) {
      this.failure = error;
      this.settle(Number.POSITIVE_INFINITY, error);
    } finally {
      this.writing = false;
    }
  }

  private settle(upToVersion: number, error: unknown): void {
    // Waiters are in version order, so the covered ones are a prefix.
    while (this.waiters.length > 0 && (this.waiters[0]?.version ?? Infinity) <= upToVersion) {
      const waiter = this.waiters.shift();
      if (waiter === undefined) break;
      if (error === null) waiter.resolve();
      else waiter.reject(error);
    }
  }
}
