import { describe, expect, it } from 'vitest';

import { RaftNode, type Entry, type Index, type Message, type NodeId, type Term } from '../../raft/index.js';
import { writeThenSync, type FileHandle, type FileSystem } from '../../storage/file-system.js';
import { MemoryFileSystem, openLog, realScheduler } from '../../storage/index.js';
import { Replica } from '../../src/node/replica.js';

/**
 * The replica's asynchronous persistence against a real core and a real CommitLog whose
 * fdatasyncs the test holds and releases, so a Ready's writes can be caught in flight.
 */

/** Delegates to a MemoryFileSystem; while held, every fdatasync waits for release(). */
class GatedFileSystem implements FileSystem {
  held = false;
  syncsWaiting = 0;
  private waiting: (() => void)[] = [];

  constructor(private readonly inner: MemoryFileSystem) {}

  release(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  async fdatasync(handle: FileHandle): Promise<void> {
    if (this.held) {
      this.syncsWaiting++;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.syncsWaiting--;
    }
    await this.inner.fdatasync(handle);
  }

  open: FileSystem['open'] = (p, mode) => this.inner.open(p, mode);
  size: FileSystem['size'] = (h) => this.inner.size(h);
  readAt: FileSystem['readAt'] = (h, into, at) => this.inner.readAt(h, into, at);
  writeAt: FileSystem['writeAt'] = (h, data, at) => this.inner.writeAt(h, data, at);
  /** Through this file system's own fdatasync, so held like every other. */
  writeDurably: FileSystem['writeDurably'] = (h, data, at, zerosAfter) => writeThenSync(this, h, data, at, zerosAfter);
  truncate: FileSystem['truncate'] = (h, size) => this.inner.truncate(h, size);
  fdatasyncNow: FileSystem['fdatasyncNow'] = (h) => this.inner.fdatasyncNow(h);
  close: FileSystem['close'] = (h) => this.inner.close(h);
  rename: FileSystem['rename'] = (from, to) => this.inner.rename(from, to);
  remove: FileSystem['remove'] = (p) => this.inner.remove(p);
  list: FileSystem['list'] = (dir) => this.inner.list(dir);
  syncDir: FileSystem['syncDir'] = (dir) => this.inner.syncDir(dir);
  mkdir: FileSystem['mkdir'] = (dir) => this.inner.mkdir(dir);
  lockDir: FileSystem['lockDir'] = (dir) => this.inner.lockDir(dir);
}

const n = (id: string): NodeId => id as NodeId;
const entry = (index: number, term: number, text: string): Entry => ({ index: index as Index, term: term as Term, kind: 1, payload: new TextEncoder().encode(text) });

function append(from: string, term: number, prevIndex: number, prevTerm: number, entries: Entry[]): Message {
  return { type: 'append', from: n(from), to: n('n2'), term: term as Term, prevIndex: prevIndex as Index, prevTerm: prevTerm as Term, entries, commit: 0 as Index };
}

/** Lets setImmediate-scheduled work and settled promises run. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function follower(): Promise<{ replica: Replica; fs: GatedFileSystem; sent: Message[]; lastIndex: () => number; stop: () => Promise<void> }> {
  const fs = new GatedFileSystem(new MemoryFileSystem());
  const log = await openLog({ dir: '/data', fs, flush: { mode: 'sync' } });
  const raft = new RaftNode({
    id: n('n2'),
    voters: ['n1', 'n2', 'n3', 'n4', 'n5'].map(n),
    log,
    hardState: log.hardState(),
    random: { nextInt: () => 0 },
    applied: 0 as Index,
  });
  const sent: Message[] = [];
  const replica = new Replica({
    raft,
    log,
    scheduler: realScheduler,
    apply: () => null,
    restoreSnapshot: () => Promise.reject(new Error('this test sends no snapshots')),
    sink: { send: (messages) => sent.push(...messages) },
    clientAddressOf: () => null,
    onFatal: (error) => {
      throw error;
    },
  });
  return {
    replica,
    fs,
    sent,
    lastIndex: () => log.lastIndex(),
    stop: async () => {
      fs.release();
      await replica.stop();
      await log.close();
    },
  };
}

/** n1 of three, leading term 1 with its no-op at 1 committed; fsyncs can be held. `apply` sees every entry applied. */
async function leader(apply: (entry: Entry) => void = () => undefined): Promise<{ replica: Replica; raft: RaftNode; fs: GatedFileSystem; stop: () => Promise<void> }> {
  const fs = new GatedFileSystem(new MemoryFileSystem());
  const log = await openLog({ dir: '/data', fs, flush: { mode: 'sync' } });
  const raft = new RaftNode({ id: n('n1'), voters: ['n1', 'n2', 'n3'].map(n), log, hardState: log.hardState(), random: { nextInt: () => 0 }, applied: 0 as Index, preVote: false });
  const replica = new Replica({
    raft,
    log,
    scheduler: realScheduler,
    apply: (entry) => {
      apply(entry);
      return null;
    },
    restoreSnapshot: () => Promise.reject(new Error('this test sends no snapshots')),
    sink: { send: () => undefined },
    clientAddressOf: () => null,
    onFatal: (error) => {
      throw error;
    },
  });
  raft.campaign();
  replica.wake();
  await settle();
  replica.receive(voteGranted('n2', 'n1', 1));
  await settle();
  replica.receive({ type: 'appendResp', from: n('n2'), to: n('n1'), term: 1 as Term, success: true, index: 1 as Index, hintIndex: 0 as Index, hintTerm: 0 as Term });
  await settle();
  expect(raft.status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
  return {
    replica,
    raft,
    fs,
    stop: async () => {
      fs.release();
      await replica.stop();
      await log.close();
    },
  };
}

function voteGranted(from: string, to: string, term: number): Message {
  return { type: 'voteResp', from: n(from), to: n(to), term: term as Term, granted: true };
}

/** How a promise ended, without letting a rejection go unhandled. */
function outcome(promise: Promise<unknown>): { state: string } {
  const tracked = { state: 'pending' };
  promise.then(
    () => (tracked.state = 'resolved'),
    (error: unknown) => (tracked.state = error instanceof Error ? error.name : 'rejected'),
  );
  return tracked;
}

const acks = (sent: readonly Message[]): string[] =>
  sent.flatMap((m) => (m.type === 'appendResp' && m.success ? [`${m.to}:${m.index}@${m.term}`] : []));

describe('replica: asynchronous persistence', () => {
  it('acknowledges an append only once its fsync completes, and takes the next Ready meanwhile', async () => {
    const { replica, fs, sent, lastIndex, stop } = await follower();
    try {
      fs.held = true;
      replica.receive(append('n1', 1, 0, 0, [entry(1, 1, 'a')]));
      await settle();
      expect(fs.syncsWaiting).toBe(1);
      replica.receive(append('n1', 1, 1, 1, [entry(2, 1, 'b')]));
      await settle();
      // The second Ready was taken (its entry written) while the first fsync is held.
      expect(lastIndex()).toBe(2);
      expect(acks(sent)).toEqual([]);
      fs.release();
      await settle();
      expect(acks(sent)).toEqual(['n1:1@1', 'n1:2@1']);
    } finally {
      await stop();
    }
  });

  it('never acknowledges entries that a new leader replaced before they were durable', async () => {
    const { replica, fs, sent, stop } = await follower();
    try {
      fs.held = true;
      // Entry 1 from n1 (term 1): its group's fsync starts and is held.
      replica.receive(append('n1', 1, 0, 0, [entry(1, 1, 'a')]));
      await settle();
      expect(fs.syncsWaiting).toBe(1);
      // Entries 2-3 from n1: written, waiting for the next group.
      replica.receive(append('n1', 1, 1, 1, [entry(2, 1, 'b'), entry(3, 1, 'c')]));
      await settle();
      // n3, elected in term 2 without this node, replaces everything after 1.
      replica.receive(append('n3', 2, 1, 1, [entry(2, 2, 'B')]));
      await settle();
      fs.release();
      await settle(60);
      // Entry 1 was durable: acknowledged to n1. Entries 2-3 of term 1 never were: no ack
      // for them (n1 could otherwise count index 3). n3's entry is acknowledged.
      expect(acks(sent)).toEqual(['n1:1@1', 'n3:2@2']);
    } finally {
      await stop();
    }
  });

  it('never acknowledges, from a Ready that wrote nothing, an entry a new leader replaced before the ack left', async () => {
    const { replica, fs, sent, stop } = await follower();
    try {
      fs.held = true;
      // Entries 1-2 from n1 (term 1): written, their fsync held.
      replica.receive(append('n1', 1, 0, 0, [entry(1, 1, 'a'), entry(2, 1, 'b')]));
      await settle();
      expect(fs.syncsWaiting).toBe(1);
      // n1 sends entry 2 again (a retransmission): the node holds it, so this Ready writes
      // nothing and only acknowledges index 2, once the first Ready is durable.
      replica.receive(append('n1', 1, 1, 1, [entry(2, 1, 'b')]));
      await settle();
      // n3, elected in term 2 without this node, replaces entry 2.
      replica.receive(append('n3', 2, 1, 1, [entry(2, 2, 'B')]));
      await settle();
      fs.release();
      await settle(60);
      // Entry 2 of term 1 is gone: no ack may tell n1 this node holds it.
      expect(acks(sent).filter((a) => a.startsWith('n1:2@'))).toEqual([]);
      expect(acks(sent)).toContain('n3:2@2');
    } finally {
      await stop();
    }
  });

  it("answers each append at the point its until names: 'accepted' at once, 'durable' after the leader's fsync, 'applied' after commit", async () => {
    const { replica, fs, stop } = await leader();
    try {
      fs.held = true;
      const accepted = outcome(replica.append([Buffer.from('a')], { timeoutMs: 10_000, until: 'accepted' }));
      const durable = outcome(replica.append([Buffer.from('b')], { timeoutMs: 10_000, until: 'durable' }));
      const applied = outcome(replica.append([Buffer.from('c')], { timeoutMs: 10_000, until: 'applied' }));
      await settle();
      expect([accepted.state, durable.state, applied.state]).toEqual(['resolved', 'pending', 'pending']);
      fs.release();
      await settle(60);
      // Durable here, but no follower holds entries 2-4 yet: not committed.
      expect([durable.state, applied.state]).toEqual(['resolved', 'pending']);
      replica.receive({ type: 'appendResp', from: n('n2'), to: n('n1'), term: 1 as Term, success: true, index: 4 as Index, hintIndex: 0 as Index, hintTerm: 0 as Term });
      await settle(60);
      expect(applied.state).toBe('resolved');
    } finally {
      await stop();
    }
  });

  it("answers a leader's durable-ack append at an index where its replaced proposal of an earlier term still waits", async () => {
    const { replica, raft, fs, stop } = await leader();
    try {
      fs.held = true;
      // Term 1: entries 2-4 proposed; the client waits for 4 to be durable here. The fsync is held.
      const old = outcome(replica.append([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], { timeoutMs: 10_000, until: 'durable' }));
      await settle();
      expect(fs.syncsWaiting).toBe(1);
      // n3 leads term 2 and replaces everything after 1; n1 then wins term 3 (no-op at 3) and
      // proposes at 4 again, while its truncation still waits behind the held fsync.
      replica.receive({ ...append('n3', 2, 1, 1, [entry(2, 2, 'B')]), to: n('n1') });
      await settle();
      raft.campaign();
      replica.wake();
      replica.receive(voteGranted('n2', 'n1', 3));
      await settle();
      expect(raft.status()).toMatchObject({ role: 'leader', term: 3 });
      const fresh = outcome(replica.append([Buffer.from('d')], { timeoutMs: 10_000, until: 'durable' }));
      fs.release();
      await settle(60);
      // The term-1 proposal was replaced before it was durable; the term-3 one is durable.
      expect({ old: old.state, fresh: fresh.state }).toEqual({ old: 'UnavailableError', fresh: 'resolved' });
    } finally {
      await stop();
    }
  });

  it("refuses a leader's durable-ack append that a new leader's entry replaced before any Ready carried it", async () => {
    const { replica, stop } = await leader();
    try {
      // Proposed at 2 in term 1; in the same turn n3's term-2 entry takes index 2.
      const replaced = outcome(replica.append([Buffer.from('a')], { timeoutMs: 10_000, until: 'durable' }));
      replica.receive({ ...append('n3', 2, 1, 1, [entry(2, 2, 'B')]), to: n('n1') });
      await settle(60);
      expect(replaced.state).toBe('UnavailableError');
    } finally {
      await stop();
    }
  });
});

describe('replica: applies held while a snapshot is encoded', () => {
  const ackFrom = (from: string, index: number): Message => ({ type: 'appendResp', from: n(from), to: n('n1'), term: 1 as Term, success: true, index: index as Index, hintIndex: 0 as Index, hintTerm: 0 as Term });

  it('applies nothing while held; entries committed meanwhile are applied when it ends, in log order, none lost, and only then answered', async () => {
    const applied: number[] = [];
    const { replica, raft, stop } = await leader((entry) => applied.push(entry.index));
    try {
      expect(applied).toEqual([1]);
      const release = replica.holdApplies();
      const appends = ['a', 'b', 'c'].map((text) => outcome(replica.append([Buffer.from(text)], { timeoutMs: 10_000, until: 'applied' })));
      await settle();
      replica.receive(ackFrom('n2', 4));
      await settle(60);
      // Committed (replication and the core go on), yet neither applied nor answered.
      expect(raft.status().commit).toBe(4);
      expect(applied).toEqual([1]);
      expect(replica.appliedIndex).toBe(1);
      expect(appends.map((a) => a.state)).toEqual(['pending', 'pending', 'pending']);
      // One more, proposed and committed while still held.
      const later = outcome(replica.append([Buffer.from('d')], { timeoutMs: 10_000, until: 'applied' }));
      await settle();
      replica.receive(ackFrom('n3', 5));
      await settle(60);
      expect(applied).toEqual([1]);
      release();
      // At once, in the releasing call: nothing else can run between.
      expect(applied).toEqual([1, 2, 3, 4, 5]);
      expect(replica.appliedIndex).toBe(5);
      await settle();
      expect([...appends, later].map((a) => a.state)).toEqual(['resolved', 'resolved', 'resolved', 'resolved']);
      // Not held any more: the next entry is applied as it commits.
      const after = outcome(replica.append([Buffer.from('e')], { timeoutMs: 10_000, until: 'applied' }));
      await settle();
      replica.receive(ackFrom('n2', 6));
      await settle(60);
      expect(applied).toEqual([1, 2, 3, 4, 5, 6]);
      expect(after.state).toBe('resolved');
      expect(() => release()).toThrow(/released twice/);
    } finally {
      await stop();
    }
  });
});

