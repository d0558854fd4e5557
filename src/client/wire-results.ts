/**
 * Client results from the wire's response messages: the log's branded types put on, node
 * roles and follower states checked against what this client knows.
 */

import { index, nodeId, term } from '../../raft/index.js';
import type { FetchOutcome, FetchResponseMessage, FollowerView, MembersResponseMessage, MembersView, NodeStatusMessage, NodeStatusView, ProduceOutcome, ProduceResponseMessage, ReadOutcome, ReadResponseMessage, TopicView } from '../transport/index.js';
import { InternalError } from './errors.js';

const ROLES = new Set(['follower', 'preCandidate', 'candidate', 'leader']);
const FOLLOWER_STATES = new Set(['probe', 'replicate', 'snapshot']);

/** A node's status; an unknown role is an InternalError (a node newer than this client), an unknown follower state reads as 'probe'. */
export function nodeStatus(message: NodeStatusMessage): NodeStatusView {
  if (!ROLES.has(message.role)) throw new InternalError(`node ${message.id} reports an unknown role "${message.role}"`);
  return {
    id: nodeId(message.id),
    clusterId: message.clusterId,
    role: message.role as NodeStatusView['role'],
    term: term(message.term),
    leaderId: message.leaderId === '' ? null : nodeId(message.leaderId),
    leaderClientAddress: message.leaderClientAddress === '' ? null : message.leaderClientAddress,
    commitIndex: index(message.commitIndex),
    appliedIndex: index(message.appliedIndex),
    firstIndex: index(message.firstIndex),
    lastIndex: index(message.lastIndex),
    votingBlocked: message.votingBlocked,
    repairThroughIndex: index(message.repairThroughIndex),
    flush: message.flush === 'sync' || message.flush === 'async' ? message.flush : null,
    durableMark: message.durableMark === 'ordered' || message.durableMark === 'lagging' ? message.durableMark : null,
    flushIntervalMs: message.flush === 'async' ? message.flushIntervalMs : null,
    followers: message.followers.map((f) => ({
      id: nodeId(f.id),
      matchIndex: index(f.matchIndex),
      lag: f.lag,
      state: FOLLOWER_STATES.has(f.state) ? (f.state as FollowerView['state']) : 'probe',
      ...(f.learner ? { learner: true } : {}),
    })),
    ...storageView(message),
    incarnation: message.incarnation,
    voters: message.voters.map(nodeId),
    learners: message.learners.map(nodeId),
    ...(message.httpAddress === '' ? {} : { httpAddress: message.httpAddress }),
  };
}

/** A Members answer as the client library hands it out. */
export function membersView(message: MembersResponseMessage): MembersView {
  return {
    members: message.members.map((m) => ({
      id: nodeId(m.id),
      role: m.role === 'learner' ? 'learner' : 'voter',
      peerAddress: m.peerAddress === '' ? null : m.peerAddress,
      clientAddress: m.clientAddress === '' ? null : m.clientAddress,
      incarnation: m.incarnation,
      matchIndex: m.matchKnown ? m.matchIndex : null,
      httpAddress: m.httpAddress === '' ? null : m.httpAddress,
    })),
    leaderId: message.leaderId === '' ? null : nodeId(message.leaderId),
    leaderClientAddress: message.leaderClientAddress === '' ? null : message.leaderClientAddress,
    configIndex: message.configIndex,
  };
}

/** The snapshot and disk fields; a node that does not report them reads as no snapshot, no disk sample. */
function storageView(message: NodeStatusMessage): Pick<NodeStatusView, 'snapshotIndex' | 'snapshotAgeSeconds' | 'logBytes' | 'snapshotBytes' | 'disk' | 'diskHighWatermarkPercent' | 'produceRefused'> {
  const sizeBytes = message.diskSizeBytes;
  return {
    snapshotIndex: index(message.snapshotIndex),
    snapshotAgeSeconds: message.snapshotIndex === 0 ? null : message.snapshotAgeMs / 1000,
    logBytes: message.logBytes,
    snapshotBytes: message.snapshotBytes,
    disk: sizeBytes === 0 ? null : { usedBytes: message.diskUsedBytes, freeBytes: Math.max(0, sizeBytes - message.diskUsedBytes), sizeBytes },
    diskHighWatermarkPercent: message.diskHighWatermarkPercent === 0 ? null : message.diskHighWatermarkPercent,
    produceRefused: message.produceRefused,
  };
}

export function readResult(response: ReadResponseMessage): ReadOutcome {
  return {
    records: response.records.map((r) => ({ index: index(r.index), term: term(r.term), payload: r.payload })),
    nextIndex: index(response.nextIndex),
    appliedIndex: index(response.appliedIndex),
    firstIndex: index(response.firstIndex),
  };
}

export function topicInfo(message: { readonly name: string; readonly messageBytesMax: number; readonly nextOffset: number }): TopicView {
  return { name: message.name, messageBytesMax: message.messageBytesMax, nextOffset: message.nextOffset };
}

export function fetchResult(response: FetchResponseMessage): FetchOutcome {
  return {
    messages: response.messages.map((m) => ({ offset: m.offset, key: m.key, headers: m.headers.map((h) => ({ name: h.name, value: h.value })), payload: m.payload, timestampMs: m.timestampMs })),
    nextOffset: response.nextOffset,
    endOffset: response.endOffset,
  };
}

export function produceResult(response: ProduceResponseMessage): ProduceOutcome {
  return { firstOffset: response.firstOffset, count: response.count, duplicate: response.duplicate, logIndex: response.logIndex, deliverAtMs: response.deliverAtMs };
}
