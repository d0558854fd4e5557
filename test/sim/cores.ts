import { RaftNode, type Index, type ReadState, type Ready, type Term } from '../../raft/index.js';
import type { NodeFactory, RaftNodeLike } from './node-api.js';

/** The production core, unchanged. */
export const realCore: NodeFactory = (options) => new RaftNode(options);

// ---- Planted bugs: each a classic Raft mistake, put in from the test side only ----------

/** Grants votes without the election restriction (§5.4.1): a stale log can win. */
class VotesForAnyLog extends RaftNode {
  protected override logIsUpToDate(_candidateLastIndex: Index, _candidateLastTerm: Term): boolean {
    return true;
  }
}

/** Commits any entry a quorum holds, including an old term's (figure 8). */
class CommitsOldTermsByCounting extends RaftNode {
  protected override mayCommitByCounting(_at: Index): boolean {
    return true;
  }
}

export const votesForAnyLog: NodeFactory = (options) => new VotesForAnyLog(options);
export const commitsOldTermsByCounting: NodeFactory = (options) => new CommitsOldTermsByCounting(options);

/**
 * A driver bug, not a core bug: append acknowledgements leave with `messages`, i.e. before the
 * follower's write is durable. A crash can then erase an entry a leader already counted.
 */
/** Every call passed straight to `core`; the wrappers below override a few. */
function passThrough(core: RaftNode): RaftNodeLike {
  return {
    tick: () => core.tick(),
    step: (m) => core.step(m),
    propose: (p) => core.propose(p),
    transferLeadership: (to) => core.transferLeadership(to),
    readIndex: (ctx) => core.readIndex(ctx),
    campaign: () => core.campaign(),
    hasReady: () => core.hasReady(),
    ready: () => core.ready(),
    advance: (ready) => core.advance(ready),
    accept: (ready) => core.accept(ready),
    persisted: (ready) => core.persisted(ready),
    status: () => core.status(),
  };
}

export const acksBeforeDurable: NodeFactory = (options) => {
  const core = new RaftNode(options);
  const wrapped: RaftNodeLike = {
    ...passThrough(core),
    advance: (ready) => core.advance(originals.get(ready) ?? ready),
    ready: () => {
      const original = core.ready();
      const early = original.persistedMessages.filter((m) => m.type === 'appendResp');
      const moved: Ready = {
        ...original,
        messages: [...original.messages, ...early],
        persistedMessages: original.persistedMessages.filter((m) => m.type !== 'appendResp'),
      };
      originals.set(moved, original);
      return moved;
    },
  };
  const originals = new WeakMap<Ready, Ready>();
  return wrapped;
};

/**
 * A read served from the leader's own commit index without a heartbeat round confirming it is
 * still leader (no ReadIndex quorum check): a deposed leader answers stale reads.
 */
export const readsWithoutQuorum: NodeFactory = (options) => {
  const core = new RaftNode(options);
  let early: ReadState[] = [];
  const originals = new WeakMap<Ready, Ready>();
  return {
    tick: () => core.tick(),
    step: (m) => core.step(m),
    propose: (p) => core.propose(p),
    transferLeadership: (to) => core.transferLeadership(to),
    readIndex: (context) => {
      const result = core.readIndex(context);
      if (result.accepted) early.push({ index: core.status().commit, context });
      return result;
    },
    campaign: () => core.campaign(),
    hasReady: () => core.hasReady() || early.length > 0,
    advance: (ready) => {
      const original = originals.get(ready);
      if (original !== undefined) core.advance(original);
    },
    status: () => core.status(),
    ready: () => {
      const original = core.hasReady() ? core.ready() : null;
      const shaped: Ready = {
        softState: original?.softState ?? null,
        hardState: original?.hardState ?? null,
        entries: original?.entries ?? [],
        messages: original?.messages ?? [],
        persistedMessages: original?.persistedMessages ?? [],
        committedEntries: original?.committedEntries ?? [],
        readStates: [...early, ...(original?.readStates ?? [])],
      };
      early = [];
      if (original !== null) originals.set(shaped, original);
      return shaped;
    },
  };
};

/**
 * A driver bug for asynchronous persistence: it reports every Ready persisted the moment it is
 * accepted, so a leader counts its own copy of new entries before its fsync and can commit
 * with one durable copy fewer than a majority.
 */
export const persistedOnAccept: NodeFactory = (options) => {
  const core = new RaftNode(options);
  return {
    ...passThrough(core),
    accept: (ready) => {
      core.accept(ready);
      core.persisted(ready);
    },
    persisted: () => undefined,
  };
};
