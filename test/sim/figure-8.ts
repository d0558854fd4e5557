import type { Message, NodeId } from '../../raft/types.js';
import { Cluster } from './cluster.js';
import { hardState, logOfTerms } from './log-builder.js';
import type { NodeFactory } from './node-api.js';

const [n1, n2, n3, n4, n5] = ['n1', 'n2', 'n3', 'n4', 'n5'] as NodeId[] as [NodeId, NodeId, NodeId, NodeId, NodeId];

export interface Figure8Outcome {
  /** n1's commit index, as leader of term 4, while only n1 and n2 hold its no-op. */
  readonly commitBeforeCrash: number;
  readonly cluster: Cluster;
}

/**
 * Raft paper figure 8, run through the simulator with a fixed schedule.
 *
 * Start (after figure 8 (b)): n1, n2 hold (2, t2) from n1's term-2 leadership; n5 holds
 * (2, t3) from its own term-3 leadership; n3, n4 hold only (1, t1). Everyone is in term 3.
 * (c) n1 is elected in term 4 by n2 and n3 while n4, n5 are partitioned away, and brings n3 the
 * old (2, t2) entry; byte-capped batches send it alone, and the network loses every later
 * append to n3, so a majority (n1, n2, n3) holds (2, t2) but only n1 and n2 hold n1's term-4 no-op.
 * A correct leader must not commit index 2 now: counting replicas of an old term's entry is
 * not enough. (d) n1 and n2 crash, the partition heals, and n5 (last term 3) is elected by n3
 * and n4 and overwrites index 2. That is fine only if index 2 was never committed.
 */
export function runFigure8(factory: NodeFactory, options: { letNoopThrough?: boolean } = {}): Figure8Outcome {
  const disks = new Map([
    [n1, { log: logOfTerms([1, 2]), hardState: hardState(3, null, 1) }],
    [n2, { log: logOfTerms([1, 2]), hardState: hardState(3, null, 1) }],
    [n3, { log: logOfTerms([1]), hardState: hardState(3, n5, 1) }],
    [n4, { log: logOfTerms([1]), hardState: hardState(3, n5, 1) }],
    [n5, { log: logOfTerms([1, 3]), hardState: hardState(3, n5, 1) }],
  ]);
  let cutNoopToN3 = options.letNoopThrough !== true;
  const intercept = (m: Message, cluster: Cluster): 'pass' | 'drop' => {
    const n3HoldsOldEntry = cluster.host(n3).disk.log.lastIndex() >= 2;
    const carriesTerm4 = m.type === 'append' && m.entries.some((e) => e.term >= 4);
    return cutNoopToN3 && m.from === n1 && m.to === n3 && carriesTerm4 && n3HoldsOldEntry ? 'drop' : 'pass';
  };
  const cluster = new Cluster({ seed: 8, size: 5, factory, initialDisks: disks, tuning: { maxBatchBytes: 1 }, intercept });
  cluster.network.partition([[n1, n2, n3], [n4, n5]]);
  cluster.at(1, 'n1 campaigns', () => cluster.host(n1).core?.campaign());
  const elected = cluster.runUntil(() => cluster.leader() === n1, 1_000);
  if (!elected) throw new Error('figure 8: n1 was not elected in term 4');
  // Long enough for n3 to take (2, t2) and for many heartbeats/retries.
  cluster.runFor(500);
  const commitBeforeCrash = cluster.host(n1).status().commit;
  cluster.crash(n1, { tear: false });
  cluster.crash(n2, { tear: false });
  cutNoopToN3 = false;
  cluster.network.heal();
  const n5Elected = cluster.runUntil(() => cluster.leader() === n5, 2_000);
  if (!n5Elected && options.letNoopThrough !== true) throw new Error(`figure 8: n5 was not elected (leader ${String(cluster.leader())})`);
  cluster.runFor(300);
  cluster.restart(n1);
  cluster.restart(n2);
  cluster.checkRecovery(2_000, 3_000);
  return { commitBeforeCrash, cluster };
}
