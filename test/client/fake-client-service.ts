import { index, nodeId, term, type Index, type NodeId } from '../../raft/index.js';
import type { AppendAcks, AppendOutcome, ClientService, LogRecord, NodeStatusView, ReadOutcome } from '../../src/transport/index.js';

/** An in-memory ClientService: a committed log that tests append to directly or through the server. */
export class FakeClientService implements ClientService {
  readonly records: LogRecord[] = [];
  readonly appendCalls: { readonly payloads: readonly Uint8Array[]; readonly timeoutMs: number; readonly acks: AppendAcks }[] = [];
  readonly transferCalls: NodeId[] = [];
  /** When set, every call fails with it (after being recorded). */
  failWith: Error | null = null;
  /** How long an append waits before failing with failWith. */
  failAfterMs = 0;
  /** When set, append waits for this instead of committing. */
  appendGate: Promise<void> | null = null;
  activeWaiters = 0;
  readonly #waiters = new Set<() => void>();

  constructor(readonly id = 'n1') {}

  async append(payloads: readonly Uint8Array[], options: { readonly timeoutMs: number; readonly acks?: AppendAcks }): Promise<AppendOutcome> {
    this.appendCalls.push({ payloads, timeoutMs: options.timeoutMs, acks: options.acks ?? 'all' });
    if (this.failWith !== null) {
      if (this.failAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, this.failAfterMs));
      throw this.failWith;
    }
    if (this.appendGate !== null) await this.appendGate;
    return this.commit(payloads);
  }

  /** Commits records as if a quorum had them, waking followers. */
  commit(payloads: readonly Uint8Array[]): AppendOutcome {
    const firstIndex = index(this.records.length + 1);
    for (const payload of payloads) this.records.push({ index: index(this.records.length + 1), term: term(1), payload: new Uint8Array(payload) });
    for (const wake of this.#waiters) wake();
    return { firstIndex, lastIndex: index(this.records.length) };
  }

  read(from: Index, bytesMax: number): ReadOutcome {
    if (this.failWith !== null) throw this.failWith;
    const records: LogRecord[] = [];
    let bytes = 0;
    for (let at = from; at <= this.records.length; at++) {
      const record = this.records[at - 1];
      if (record === undefined) break;
      if (records.length > 0 && bytes + record.payload.length > bytesMax) break;
      records.push(record);
      bytes += record.payload.length;
    }
    const nextIndex = index(records.length > 0 ? (records[records.length - 1]?.index ?? from) + 1 : from);
    return { records, nextIndex, appliedIndex: this.applied(), firstIndex: index(1) };
  }

  waitForApplied(after: Index, signal: AbortSignal): Promise<void> {
    if (this.applied() > after) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.activeWaiters++;
      const done = (error?: unknown): void => {
        this.#waiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        this.activeWaiters--;
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = (): void => {
        if (this.applied() > after) done();
      };
      const onAbort = (): void => done(signal.reason ?? new Error('aborted'));
      this.#waiters.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  status(): NodeStatusView {
    if (this.failWith !== null) throw this.failWith;
    return {
      id: nodeId(this.id),
      clusterId: 'test-cluster',
      role: 'leader',
      term: term(3),
      leaderId: nodeId(this.id),
      leaderClientAddress: null,
      commitIndex: this.applied(),
      appliedIndex: this.applied(),
      firstIndex: index(1),
      lastIndex: this.applied(),
      votingBlocked: false,
      repairThroughIndex: index(0),
      followers: [{ id: nodeId('n2'), matchIndex: index(1), lag: 2, state: 'replicate' }, { id: nodeId('n3'), matchIndex: index(0), lag: 3, state: 'snapshot' }],
      flush: 'sync',
      durableMark: 'lagging',
      flushIntervalMs: null,
      snapshotIndex: index(40),
      snapshotAgeSeconds: 12.5,
      logBytes: 4096,
      snapshotBytes: 1234,
      disk: { usedBytes: 930, freeBytes: 70, sizeBytes: 1000 },
      diskHighWatermarkPercent: 90,
      produceRefused: true,
    };
  }

  async transfer(to: NodeId, _options: { readonly timeoutMs: number }): Promise<void> {
    this.transferCalls.push(to);
    if (this.failWith !== null) throw this.failWith;
  }

  applied(): Index {
    return index(this.records.length);
  }
}
