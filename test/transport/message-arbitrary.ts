import fc from 'fast-check';
import { EntryKind, index, nodeId, term, type Entry, type Message } from '../../raft/index.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const anIndex = fc.integer({ min: 0, max: MAX_SAFE }).map(index);
const aTerm = fc.integer({ min: 0, max: MAX_SAFE }).map(term);
const envelope = fc.record({ from: fc.constant(nodeId('n1')), to: fc.constant(nodeId('n2')), term: aTerm });

const entry: fc.Arbitrary<Entry> = fc.record({
  index: anIndex,
  term: aTerm,
  kind: fc.constantFrom(EntryKind.normal, EntryKind.noop, EntryKind.config),
  payload: fc.uint8Array({ maxLength: 64 }),
});

const ids = fc.uniqueArray(fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5').map(nodeId), { maxLength: 5 });

/** A snapshot's meta: learners absent when there are none, as the core holds it. */
const snapshotMeta = fc.record({ index: anIndex, term: aTerm, voters: ids, learners: ids }).map(({ learners, ...meta }) => (learners.length === 0 ? meta : { ...meta, learners }));

/** Every Raft message type, with field values across the whole range we promise (below 2^53). */
export const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constantFrom('preVote' as const, 'vote' as const), lastIndex: anIndex, lastTerm: aTerm, transfer: fc.boolean() }).chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc.record({ type: fc.constantFrom('preVoteResp' as const, 'voteResp' as const), granted: fc.boolean() }).chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc
    .record({ type: fc.constant('append' as const), prevIndex: anIndex, prevTerm: aTerm, entries: fc.array(entry, { maxLength: 5 }), commit: anIndex })
    .chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc
    .record({ type: fc.constant('appendResp' as const), success: fc.boolean(), index: anIndex, hintIndex: anIndex, hintTerm: aTerm })
    .chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc.record({ type: fc.constant('heartbeat' as const), commit: anIndex, context: fc.string() }).chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc.record({ type: fc.constant('heartbeatResp' as const), context: fc.string() }).chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc.record({ type: fc.constant('timeoutNow' as const) }).chain((m) => envelope.map((e) => ({ ...e, ...m }))),
  fc
    .record({ type: fc.constant('snapshot' as const), snapshot: snapshotMeta })
    .chain((m) => envelope.map((e) => ({ ...e, ...m }))),
);

/** Payloads as plain Uint8Arrays, so a decoded Buffer compares equal to a generated array. */
export function normalized(message: Message): Message {
  if (message.type !== 'append') return message;
  return { ...message, entries: message.entries.map((e) => ({ ...e, payload: new Uint8Array(e.payload) })) };
}
