import { createHash } from 'node:crypto';

import type { Entry, Index, NodeId } from '../../raft/index.js';
import type { CommitLog } from '../../storage/index.js';
import { plainRecord } from '../../src/node/state-machine.js';
import { Invariant, entryKey, type CheckedLog, type SafetyChecker } from './invariants.js';

/** What the check needs of a client's append (NodeCluster's ClientAppend). */
interface AppendSeen {
  readonly state: 'pending' | 'acked' | 'failed' | 'unknown';
  readonly index: Index | null;
  readonly payload: Uint8Array;
}

/** A log's every entry, first to last. */
export function wholeLog(log: CommitLog): Entry[] {
  const out: Entry[] = [];
  const last = log.lastIndex();
  // Bounded: each pass returns at least one entry.
  for (let at: number = log.firstIndex(); at <= last; ) {
    const page = log.entries(at as Index, (last + 1) as Index, 1 << 20);
    if (page.length === 0) break;
    out.push(...page);
    at += page.length;
  }
  return out;
}

/**
 * Every acknowledged record sits once, at its index, in every node's log; the logs agree;
 * a record refused for sure is in none. A log compacted below a snapshot no longer holds its
 * oldest entries: an acknowledged record there must be the entry the run saw committed at its
 * index (and a record counted once is checked for duplicates only where logs still hold it).
 */
export function checkAcknowledged(checker: SafetyChecker, logs: readonly { readonly id: NodeId; readonly entries: readonly Entry[] }[], appends: readonly AppendSeen[]): void {
  const [first, ...rest] = logs;
  if (first === undefined) return;
  for (const other of rest) {
    const byIndex = new Map(other.entries.map((e) => [e.index, e]));
    for (const a of first.entries) {
      const b = byIndex.get(a.index);
      if (b !== undefined && entryKey(a) !== entryKey(b)) checker.violation(Invariant.stateMachineSafety, `${first.id} and ${other.id} differ at index ${a.index}`);
    }
  }
  for (const { id, entries } of logs) {
    const seen = new Map<string, number>();
    for (const entry of entries) {
      const record = recordOf(entry);
      if (record !== null) seen.set(record, (seen.get(record) ?? 0) + 1);
    }
    const firstHeld = entries[0]?.index ?? Infinity;
    for (const append of appends) {
      if (append.state !== 'acked' || append.index === null) continue;
      const name = Buffer.from(append.payload).toString('latin1');
      if (append.index < firstHeld) {
        // Compacted here: the entry the run saw committed at its index must be this record.
        const key = checker.committedKey(append.index);
        if (key !== undefined && payloadOfKey(key) !== `\u0000${name}`) {
          checker.violation(Invariant.ackDurable, `acknowledged append ${name} (index ${append.index}, compacted on ${id}) is not the entry committed there`);
        }
        continue;
      }
      const held = entries[append.index - firstHeld];
      if (held === undefined || recordOf(held) !== name) {
        checker.violation(Invariant.ackDurable, `acknowledged append ${name} (index ${append.index}) missing on ${id}`);
      }
      if ((seen.get(name) ?? 0) !== 1) checker.violation(Invariant.ackDurable, `acknowledged append ${name} appears ${seen.get(name) ?? 0} times on ${id}`);
    }
    for (const append of appends) {
      const name = Buffer.from(append.payload).toString('latin1');
      if (append.state === 'failed' && seen.has(name)) checker.violation(Invariant.failedWritten, `append ${name} was refused to its client but ${id} holds it`);
    }
  }
}

/** The payload part of an entryKey (term/kind/payload). */
function payloadOfKey(key: string): string {
  return key.slice(key.indexOf('/', key.indexOf('/') + 1) + 1);
}

/** A CommitLog as the safety checker reads it. */
export function checkedLog(log: CommitLog): CheckedLog {
  return {
    firstIndex: () => log.firstIndex(),
    lastIndex: () => log.lastIndex(),
    term: (at) => log.term(at),
    entry: (at) => (at < log.firstIndex() || at > log.lastIndex() ? undefined : log.entries(at, (at + 1) as Index, 1 << 30)[0]),
  };
}

/** The client's record name in a plain-record entry, or null. */
export function recordOf(entry: Entry): string | null {
  const record = plainRecord(entry);
  return record === null ? null : Buffer.from(record).toString('latin1');
}

/** What the digests read of a cluster (NodeCluster's). */
interface DigestedCluster {
  readonly ids: readonly NodeId[];
  node(id: NodeId): { readonly up: boolean; readonly crashes: number; readonly appliedIndex: number; readonly node: { readonly log: CommitLog } | null };
  logEntries(id: NodeId): Entry[];
}

/**
 * The final state of every node, hashed: log entries, hard state and applied index. Equal
 * seeds give equal digests, run after run.
 */
export function clusterDigest(cluster: DigestedCluster): string {
  const hash = createHash('sha256');
  for (const [id, digest] of nodeDigests(cluster)) hash.update(`${id} ${digest}\n`);
  return hash.digest('hex');
}

/** Each node's final state hashed on its own, in id order. */
export function nodeDigests(cluster: DigestedCluster): [NodeId, string][] {
  return cluster.ids.map((id) => {
    const hash = createHash('sha256');
    const sim = cluster.node(id);
    hash.update(`up=${String(sim.up)} crashes=${sim.crashes} applied=${sim.appliedIndex}\n`);
    const node = sim.node;
    if (node !== null) {
      const hs = node.log.hardState();
      hash.update(`hs ${hs.term} ${String(hs.vote)} ${hs.commit}\n`);
      for (const entry of cluster.logEntries(id)) hash.update(`${entry.index} ${entryKey(entry)}\n`);
    }
    return [id, hash.digest('hex')];
  });
}
