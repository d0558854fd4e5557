import type { Message, NodeId, RaftNode, RaftOptions } from '../../raft/index.js';
import { hardState, logOfTerms } from './log-builder.js';
import { NodeCluster } from './node-cluster.js';
import { campaignOnceUp } from './scripted-cluster.js';

const [n1, n2, n3, n4, n5] = ['n1', 'n2', 'n3', 'n4', 'n5'] as NodeId[] as [NodeId, NodeId, NodeId, NodeId, NodeId];

export interface Figure8Outcome {
  /** n1's commit index, as leader of term 4, while only n1 and n2 hold its no-op. */
  readonly commitBeforeCrash: number;
  readonly cluster: NodeCluster;
}

/**
 * Raft paper figure 8, run on five production nodes (NodeCluster) with a fixed schedule.
 *
 * Start (after figure 8 (b)): n1, n2 hold (2, t2) from n1's term-2 leadership; n5 holds
 * (2, t3) from its own term-3 leadership; n3, n4 hold only (1, t1). Everyone is in term 3.
 * (c) n1 is elected in term 4 by n2 and n3 while n4, n5 are partitioned away, and brings n3 the
 * old (2, t2) entry; byte-capped batches send it alone, and the network loses every later
 * append to n3, so a majority (n1, n2, n3) holds (2, t2) but only n1 and n2 hold n1's term-4 no-op.
 * A correct leader must not commit index 2 now: counting replicas of an old term's entry is
 * not enough. (d) n1 and n2 crash, the partition heals, and n5 (last term 3) is elected by n3
 * and n4 and overwrites index 2. That is fine only if index 2 was never committed.
 *
 * A safety violation (with a planted core) rejects with the SafetyViolation.
 */
export async function runFigure8(options: { readonly createRaft?: (options: RaftOptions) => RaftNode; readonly letNoopThrough?: boolean } = {}): Promise<Figure8Outcome> {
  const disks = new Map([
    [n1, { log: logOfTerms([1, 2]), hardState: hardState(3, null, 1) }],
    [n2, { log: logOfTerms([1, 2]), hardState: hardState(3, null, 1) }],
    [n3, { log: logOfTerms([1]), hardState: hardState(3, n5, 1) }],
    [n4, { log: logOfTerms([1]), hardState: hardState(3, n5, 1) }],
    [n5, { log: logOfTerms([1, 3]), hardState: hardState(3, n5, 1) }],
  ]);
  let cutNoopToN3 = options.letNoopThrough !== true;
  const intercept = (m: Message, cluster: NodeCluster): 'pass' | 'drop' => {
    const n3HoldsOldEntry = (cluster.log(n3)?.lastIndex() ?? 0) >= 2;
    const carriesTerm4 = m.type === 'append' && m.entries.some((e) => e.term >= 4);
    return cutNoopToN3 && m.from === n1 && m.to === n3 && carriesTerm4 && n3HoldsOldEntry ? 'drop' : 'pass';
  };
  const cluster = new NodeCluster({
    seed: 8,
    size: 5,
    initialDisks: disks,
    tuning: { batchBytesMax: 1 },
    intercept,
    ...(options.createRaft !== undefined ? { createRaft: options.createRaft } : {}),
  });
  cluster.network.partition([[n1, n2, n3], [n4, n5]]);
  await campaignOnceUp(cluster, n1);
  const elected = await cluster.runUntil(() => cluster.leader() === n1, 1_000);
  if (!elected) throw new Error('figure 8: n1 was not elected in term 4');
  // Long enough for n3 to take (2, t2) and for many heartbeats/retries.
  await cluster.runFor(500);
  const commitBeforeCrash = cluster.status(n1).commit;
  cluster.crash(n1, { tear: false });
  cluster.crash(n2, { tear: false });
  cutNoopToN3 = false;
  cluster.network.heal();
  const n5Elected = await cluster.runUntil(() => cluster.leader() === n5, 2_000);
  if (!n5Elected && options.letNoopThrough !== true) throw new Error(`figure 8: n5 was not elected (leader ${String(cluster.leader())})`);
  await cluster.runFor(300);
  cluster.restart(n1);
  cluster.restart(n2);
  await cluster.checkRecovery(2_000, 3_000);
  return { commitBeforeCrash, cluster };
}
