import type { LogClient } from '../../src/client/index.js';
import type { TestCluster } from './test-cluster.js';
import type { AppendWorkload } from './workload.js';

export interface LoggedRecord {
  readonly index: number;
  readonly term: number;
  readonly payload: string;
}

const READ_MAX_BYTES = 256 * 1024;
const READ_CALLS_MAX = 100_000;

/**
 * Every committed record a node has applied, from index 1, read through `client` (which
 * must talk to that node only: reads are served from the node's own applied log).
 */
export async function readWholeLog(client: LogClient): Promise<LoggedRecord[]> {
  const decoder = new TextDecoder();
  const records: LoggedRecord[] = [];
  let from = 1;
  for (let calls = 0; calls < READ_CALLS_MAX; calls++) {
    const result = await client.read(from, { maxBytes: READ_MAX_BYTES });
    for (const r of result.records) records.push({ index: r.index, term: r.term, payload: decoder.decode(r.payload) });
    if (result.nextIndex <= from && result.records.length === 0) return records;
    from = result.nextIndex;
    if (from > result.appliedIndex) return records;
  }
  throw new Error(`log read did not end within ${READ_CALLS_MAX} calls`);
}

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
    const byPayload = new Map<string, number>();
    for (const r of log) {
      const seen = byPayload.get(r.payload);
      if (seen !== undefined) problems.push(`${id}: "${r.payload}" appears twice, at ${seen} and ${r.index}`);
      else byPayload.set(r.payload, r.index);
      const owner = workloads.find((w) => r.payload.startsWith(`${w.prefix}-`));
      const fate = owner?.fateOf(r.payload) ?? 'never sent';
      if (fate === 'rejected' || fate === 'never sent') problems.push(`${id}: "${r.payload}" at ${r.index} is in the log but was ${fate}`);
    }
    for (const w of workloads) {
      for (const ack of w.acked) {
        const at = byPayload.get(ack.id);
        if (at === undefined) problems.push(`${id}: acknowledged "${ack.id}" (index ${ack.index}) is missing`);
        else if (at !== ack.index) problems.push(`${id}: acknowledged "${ack.id}" was acked at index ${ack.index} but sits at ${at}`);
      }
    }
  }
  // Each writer waits for one acknowledgement before it sends the next: its indexes must rise.
  for (const w of workloads) {
    for (const writer of new Set(w.acked.map((a) => a.writer))) {
      const indexes = w.acked.filter((a) => a.writer === writer).map((a) => a.index);
      for (let k = 1; k < indexes.length; k++) {
        if ((indexes[k] ?? 0) <= (indexes[k - 1] ?? 0)) problems.push(`${w.prefix} writer ${writer}: acknowledgement ${k} has index ${indexes[k]} after ${indexes[k - 1]}`);
      }
    }
  }
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
