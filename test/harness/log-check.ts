import { checkAckOrder, checkWrites, readWholeLog, type LoggedRecord } from '../../src/bench/write-check.js';
import type { TestCluster } from './test-cluster.js';
import type { AppendWorkload } from './workload.js';

/** The checks themselves live in src/bench/write-check.ts (quorumlog verify-writes runs them too). */
export { readWholeLog, type LoggedRecord };

/** Every running member's whole log, each read from that member's own client address. */
export async function readAllLogs(cluster: TestCluster): Promise<Map<string, LoggedRecord[]>> {
  const logs = new Map<string, LoggedRecord[]>();
  for (const id of cluster.runningIds()) logs.set(id, await readWholeLog(cluster.nodeClient(id)));
  return logs;
}

/**
 * What must hold of every node's log after the run, given what the workloads saw:
 *  - the logs of all nodes are identical;
 *  - no record appears twice (every id was sent once);
 *  - every acknowledged record is present, at the index it was acknowledged with (so in
 *    acknowledgement order);
 *  - every record present was sent by a workload, and was acknowledged or had an unknown
 *    outcome (a write that was certainly rejected must not appear).
 * Returns the problems found, empty when all hold.
 */
export function checkLogs(logs: ReadonlyMap<string, readonly LoggedRecord[]>, workloads: readonly AppendWorkload[]): string[] {
  const problems: string[] = [];
  const entries = [...logs];
  const [firstId, reference] = entries[0] ?? ['?', []];
  for (const [id, log] of entries.slice(1)) {
    const diff = firstDifference(reference, log);
    if (diff !== null) problems.push(`${id} differs from ${firstId}: ${diff}`);
  }
  for (const [id, log] of entries) {
    for (const problem of checkWrites(log, workloads, { strangers: 'problem' })) problems.push(`${id}: ${problem.message}`);
  }
  for (const problem of checkAckOrder(workloads)) problems.push(problem.message);
  return problems.slice(0, 50);
}

function firstDifference(a: readonly LoggedRecord[], b: readonly LoggedRecord[]): string | null {
  const n = Math.max(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const x = a[k];
    const y = b[k];
    if (x === undefined || y === undefined) return `lengths ${a.length} vs ${b.length} (first extra at position ${k}: ${JSON.stringify(x ?? y)})`;
    if (x.index !== y.index || x.term !== y.term || x.payload !== y.payload) return `at position ${k}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
  }
  return null;
}
