import type { NodeInspection } from '../node/index.js';
import { STATUS_VERSION, type NodeView } from './node-view.js';
import type { HistoryColumns } from './status-history.js';

/** Topics and groups listed on the page; the rest are counted, not listed (names are user input, their number unbounded). */
export const PAGE_TOPICS_MAX = 50;
export const PAGE_GROUPS_MAX = 50;

/** What the serving node learned of one member: its view, or why it has none. */
export type MemberAnswer =
  | { readonly id: string; readonly httpAddress: string | null; readonly view: NodeView }
  | { readonly id: string; readonly httpAddress: string | null; readonly error: string };

export const Health = { ready: 'ready', notReady: 'not-ready', repairing: 'repairing', unreachable: 'unreachable' } as const;
export type Health = (typeof Health)[keyof typeof Health];

export interface MemberRow {
  readonly id: string;
  /** host:port of its HTTP endpoint, for a link to its page; null when the serving node was not told it. */
  readonly httpAddress: string | null;
  readonly self: boolean;
  readonly leader: boolean;
  /** A learner (not voting) in the serving node's configuration. */
  readonly learner: boolean;
  readonly health: Health;
  /** One line saying why (the readiness reason, or why it could not be reached). */
  readonly healthReason: string;
  /** Null fields: the member could not be reached. */
  readonly role: NodeView['role'] | null;
  readonly term: number | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  readonly lastIndex: number | null;
  /**
   * Entries the member lacks: of the leader's log by the leader's own count (its match index
   * for the member) when the leader answered; else of the highest commit index any member
   * reported. Null when neither is known.
   */
  readonly lagEntries: number | null;
  readonly repair: NodeView['repair'];
  readonly diskUsedPercent: number | null;
  readonly produceRefused: boolean;
}

export interface TopicRow {
  readonly name: string;
  readonly messages: number;
  readonly delayed: number;
}

export interface GroupRow {
  readonly name: string;
  readonly topic: string;
  readonly lagMessages: number;
  readonly inflight: number;
  readonly deadLetterTopic: string;
  /** Messages in the group's dead-letter topic (its end offset). */
  readonly deadLetterMessages: number;
}

/** What GET /status.json answers: the cluster as the serving node sees it, ready to draw. */
export interface ClusterView {
  readonly version: typeof STATUS_VERSION;
  readonly servedBy: string;
  readonly atMs: number;
  /** The leader in the highest term the serving node knows of (its own leader, or a member's claim), or null. */
  readonly leader: { readonly id: string; readonly term: number; readonly httpAddress: string | null } | null;
  readonly members: readonly MemberRow[];
  readonly topics: readonly TopicRow[];
  readonly topicsOmitted: number;
  readonly groups: readonly GroupRow[];
  readonly groupsOmitted: number;
  /** The charts' source: the leader's history when it answered (it measures the writes), else the serving node's. */
  readonly chart: { readonly from: string; readonly history: HistoryColumns };
}

/**
 * Puts the serving node's own view (`self`), what it heard from the other members
 * (`answers`, in member order, without itself) and its applied topics and groups together.
 */
export function clusterView(self: NodeView, answers: readonly MemberAnswer[], node: Pick<NodeInspection, 'topics' | 'groups'>, learners: readonly string[] = []): ClusterView {
  const all: MemberAnswer[] = [{ id: self.id, httpAddress: self.httpAddress, view: self }, ...answers].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const views = all.flatMap((a) => ('view' in a ? [a.view] : []));
  const leader = leaderOf(self, views);
  const leaderView = leader === null ? undefined : views.find((v) => v.id === leader.id && v.role === 'leader' && v.term === leader.term);
  const commitMax = Math.max(...views.map((v) => v.commitIndex));
  const members = all.map((answer): MemberRow => {
    const match = leaderView?.matchIndexes?.[answer.id];
    const view = 'view' in answer ? answer.view : null;
    const lagEntries = leaderView !== undefined && match !== undefined ? Math.max(0, leaderView.lastIndex - match) : view === null ? null : Math.max(0, commitMax - view.commitIndex);
    return {
      id: answer.id,
      httpAddress: answer.httpAddress,
      self: answer.id === self.id,
      leader: answer.id === leader?.id,
      learner: learners.includes(answer.id),
      health: view === null ? Health.unreachable : view.repair !== null ? Health.repairing : view.ready ? Health.ready : Health.notReady,
      healthReason: 'error' in answer ? answer.error : answer.view.readyReason,
      role: view?.role ?? null,
      term: view?.term ?? null,
      commitIndex: view?.commitIndex ?? null,
      appliedIndex: view?.appliedIndex ?? null,
      lastIndex: view?.lastIndex ?? null,
      lagEntries,
      repair: view?.repair ?? null,
      diskUsedPercent: view?.diskUsedPercent ?? null,
      produceRefused: view?.produceRefused ?? false,
    };
  });
  return {
    version: STATUS_VERSION,
    servedBy: self.id,
    atMs: self.atMs,
    leader: leader === null ? null : { ...leader, httpAddress: all.find((a) => a.id === leader.id)?.httpAddress ?? null },
    members,
    ...brokerRows(node),
    chart: { from: leaderView?.id ?? self.id, history: (leaderView ?? self).history },
  };
}

/** The serving node's leader, unless a member that answered leads in a higher term. */
function leaderOf(self: NodeView, views: readonly NodeView[]): { readonly id: string; readonly term: number } | null {
  let best: { id: string; term: number } | null = self.leader === null ? null : { id: self.leader, term: self.term };
  for (const v of views) {
    if (v.role === 'leader' && (best === null || v.term > best.term)) best = { id: v.id, term: v.term };
  }
  return best;
}

function brokerRows(node: Pick<NodeInspection, 'topics' | 'groups'>): Pick<ClusterView, 'topics' | 'topicsOmitted' | 'groups' | 'groupsOmitted'> {
  const topics = node.topics();
  const ends = new Map(topics.map((t) => [t.name, t.nextOffset]));
  const groups = node.groups();
  return {
    topics: topics.slice(0, PAGE_TOPICS_MAX).map((t) => ({ name: t.name, messages: t.nextOffset, delayed: t.scheduledMessages })),
    topicsOmitted: Math.max(0, topics.length - PAGE_TOPICS_MAX),
    groups: groups.slice(0, PAGE_GROUPS_MAX).map((g) => ({
      name: g.name,
      topic: g.topic,
      lagMessages: g.lag,
      inflight: g.inflight,
      deadLetterTopic: g.deadLetterTopic,
      deadLetterMessages: ends.get(g.deadLetterTopic) ?? 0,
    })),
    groupsOmitted: Math.max(0, groups.length - PAGE_GROUPS_MAX),
  };
}
