import type { Status } from '../../raft/index.js';
import type { NodeInspection } from '../node/index.js';
import { readiness } from './readiness.js';
import type { HistoryColumns } from './status-history.js';

/** The version of /node.json and /status.json; a reader refuses another. */
export const STATUS_VERSION = 1;

/**
 * One node as it sees itself: what GET /node.json answers, and what a node serving the
 * status page reads from each member to show the cluster.
 */
export interface NodeView {
  readonly version: typeof STATUS_VERSION;
  readonly id: string;
  /** host:port of this node's HTTP endpoint, as it listens (its page is there). */
  readonly httpAddress: string;
  /** This node's clock (ms since 1970) when the view was taken. */
  readonly atMs: number;
  readonly role: Status['role'];
  readonly term: number;
  /** The leader this node knows of (itself when leading), or null. */
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** /readyz's answer: ready to serve, and one line saying why. */
  readonly ready: boolean;
  readonly readyReason: string;
  /** Non-null while the node lost durable entries and is repaired from the leader (it does not vote). */
  readonly repair: { readonly throughIndex: number; readonly lastIndex: number } | null;
  /** On a leader: each member's highest index known to match the leader's log (itself included); else null. */
  readonly matchIndexes: Readonly<Record<string, number>> | null;
  /** Percent of the data directory's disk in use (null: not sampled yet), and whether the disk guard refuses writes. */
  readonly diskUsedPercent: number | null;
  readonly produceRefused: boolean;
  readonly history: HistoryColumns;
}

/** The view of `node` now. */
export function nodeView(parts: {
  readonly node: NodeInspection;
  readonly httpAddress: string;
  readonly appliedLagEntriesMax: number;
  readonly history: HistoryColumns;
  readonly nowMs: number;
}): NodeView {
  const st = parts.node.status();
  const storage = parts.node.storage();
  const ready = readiness(st, parts.appliedLagEntriesMax);
  const disk = storage.disk;
  return {
    version: STATUS_VERSION,
    id: st.id,
    httpAddress: parts.httpAddress,
    atMs: parts.nowMs,
    role: st.role,
    term: st.term,
    leader: st.leader,
    commitIndex: st.commit,
    appliedIndex: st.applied,
    firstIndex: st.firstIndex,
    lastIndex: st.lastIndex,
    ready: ready.ready,
    readyReason: ready.reason,
    repair: st.votingBlocked ? { throughIndex: st.repairThrough, lastIndex: st.lastIndex } : null,
    matchIndexes: st.progress === null ? null : Object.fromEntries([...st.progress].map(([id, pr]) => [id, pr.match])),
    diskUsedPercent: disk === null || disk.sizeBytes <= 0 ? null : Math.round((1000 * disk.usedBytes) / disk.sizeBytes) / 10,
    produceRefused: storage.produceRefused,
    history: parts.history,
  };
}
