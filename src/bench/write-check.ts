import type { LogClient } from '../client/index.js';

/** One committed record as a node serves it, its payload decoded as text. */
export interface LoggedRecord {
  readonly index: number;
  readonly term: number;
  readonly payload: string;
}

/** What a writer knows about the records it sent (AppendWorkload is one). */
export interface WriteSource {
  /** Every id it sends starts with `${prefix}-`. */
  readonly prefix: string;
  /** Acknowledged ids with the index each was acknowledged at, in each writer's order. */
  readonly acked: readonly { readonly id: string; readonly index: number; readonly writer: number }[];
  fateOf(id: string): 'acked' | 'unknown' | 'rejected' | 'never sent';
}

export type WriteProblemKind = 'lost' | 'duplicated' | 'misplaced' | 'reordered' | 'unexpected';

export interface WriteProblem {
  readonly kind: WriteProblemKind;
  readonly message: string;
}

const READ_MAX_BYTES = 256 * 1024;
const READ_CALLS_MAX = 100_000;
const PROBLEMS_MAX = 50;

/**
 * Every committed record a node has applied, from index `from`, read through `client` (which
 * must talk to that node only: reads are served from the node's own applied log).
 */
export async function readWholeLog(client: LogClient, from = 1): Promise<LoggedRecord[]> {
  const decoder = new TextDecoder();
  const records: LoggedRecord[] = [];
  let next = from;
  for (let calls = 0; calls < READ_CALLS_MAX; calls++) {
    const result = await client.read(next, { bytesMax: READ_MAX_BYTES });
    for (const r of result.records) records.push({ index: r.index, term: r.term, payload: decoder.decode(r.payload) });
    if (result.nextIndex <= next && result.records.length === 0) return records;
    next = result.nextIndex;
    if (next > result.appliedIndex) return records;
  }
  throw new Error(`log read did not end within ${READ_CALLS_MAX} calls`);
}

/**
 * What must hold of one node's log, given what the writers saw:
 *  - no record of theirs appears twice (every id was sent once);
 *  - every acknowledged record is present, at the index it was acknowledged with (so in
 *    acknowledgement order, which checkAckOrder checks of the acknowledgements themselves);
 *  - every record of theirs in the log was acknowledged or had an unknown outcome (one the
 *    client said was certainly not written must not appear).
 * A record no source claims is a problem when `strangers` is 'problem' (a test owns the whole
 * log), and skipped when 'ignore' (a shared log: other clients, earlier runs).
 * Returns the problems found (at most 50), empty when all hold.
 */
export function checkWrites(log: readonly LoggedRecord[], sources: readonly WriteSource[], options: { readonly strangers: 'problem' | 'ignore' }): WriteProblem[] {
  const problems: WriteProblem[] = [];
  const byPayload = new Map<string, number>();
  for (const r of log) {
    const owner = sources.find((s) => r.payload.startsWith(`${s.prefix}-`));
    if (owner === undefined && options.strangers === 'ignore') continue;
    const seen = byPayload.get(r.payload);
    if (seen !== undefined) problems.push({ kind: 'duplicated', message: `"${r.payload}" appears twice, at ${seen} and ${r.index}` });
    else byPayload.set(r.payload, r.index);
    const fate = owner?.fateOf(r.payload) ?? 'never sent';
    if (fate === 'rejected' || fate === 'never sent') problems.push({ kind: 'unexpected', message: `"${r.payload}" at ${r.index} is in the log but was ${fate}` });
  }
  for (const source of sources) {
    for (const ack of source.acked) {
      const at = byPayload.get(ack.id);
      if (at === undefined) problems.push({ kind: 'lost', message: `acknowledged "${ack.id}" (index ${ack.index}) is missing` });
      else if (at !== ack.index) problems.push({ kind: 'misplaced', message: `acknowledged "${ack.id}" was acked at index ${ack.index} but sits at ${at}` });
    }
  }
  return problems.slice(0, PROBLEMS_MAX);
}

/**
 * A writer waits for one acknowledgement before it sends the next, so each writer's
 * acknowledged indexes must rise. Independent of any node's log.
 */
export function checkAckOrder(sources: readonly WriteSource[]): WriteProblem[] {
  const problems: WriteProblem[] = [];
  for (const source of sources) {
    const lastByWriter = new Map<number, { index: number; count: number }>();
    for (const ack of source.acked) {
      const last = lastByWriter.get(ack.writer);
      if (last !== undefined && ack.index <= last.index) {
        problems.push({ kind: 'reordered', message: `${source.prefix} writer ${ack.writer}: acknowledgement ${last.count} has index ${ack.index} after ${last.index}` });
      }
      lastByWriter.set(ack.writer, { index: ack.index, count: (last?.count ?? 0) + 1 });
    }
  }
  return problems.slice(0, PROBLEMS_MAX);
}
