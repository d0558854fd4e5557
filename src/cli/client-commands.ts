import { createInterface } from 'node:readline';

import { LogClient, type NodeStatus } from '../client/index.js';
import { parseWholeNumber, UsageError } from './usage-error.js';
import { parseClientArgs } from './client-args.js';

export const CLIENT_COMMANDS: readonly string[] = ['append', 'read', 'status', 'transfer'];


const HELP: Record<string, string> = {
  append: `Usage: quorumlog append [--brokers LIST] [--json] [RECORD...]

Appends each RECORD (or, with none given, each line of standard input) as one log entry and
prints the index it committed at. A record is acknowledged only once a majority holds it durably.
`,
  read: `Usage: quorumlog read [--brokers LIST] [--from INDEX] [--max-bytes N] [--follow] [--json]

Prints committed records from INDEX (default 1), one per line as "index<TAB>payload".
--follow keeps waiting for new records until interrupted.
`,
  status: `Usage: quorumlog status [--brokers LIST] [--json]

Shows every broker's role, term, leader, commit and applied index, and on the leader each
follower's match index and lag.
`,
  transfer: `Usage: quorumlog transfer --to ID [--brokers LIST]

Moves leadership to node ID once it has caught up, and waits until it leads.
`,
};




export async function runClientCommand(command: string, argv: readonly string[]): Promise<number> {
  const extra = {
    append: {},
    read: { from: { type: 'string' }, 'max-bytes': { type: 'string' }, follow: { type: 'boolean' } },
    status: {},
    transfer: { to: { type: 'string' } },
  } as const;
  const args = parseClientArgs(argv, { extra: extra[command as keyof typeof extra] ?? {}, allowPositionals: command === 'append', help: HELP[command] ?? '' });
  if (args === null) return 0;
  const { brokers, timeoutMs, json, flags, positionals } = args;
  const client = new LogClient({ brokers, timeoutMs });
  try {
    switch (command) {
      case 'append':
        return await appendCommand(client, positionals, json);
      case 'read':
        return await readCommand(client, flags, json);
      case 'status':
        return await statusCommand(client, json);
      case 'transfer': {
        const to = flags['to'];
        if (typeof to !== 'string' || to === '') throw new UsageError('--to ID is required');
        await client.transfer(to);
        process.stdout.write(json ? `${JSON.stringify({ leader: to })}\n` : `${to} is now the leader\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    client.close();
  }
}

async function appendCommand(client: LogClient, records: readonly string[], json: boolean): Promise<number> {
  const encoder = new TextEncoder();
  const print = (text: string, result: { firstIndex: number }): void => {
    process.stdout.write(json ? `${JSON.stringify({ index: result.firstIndex, record: text })}\n` : `${result.firstIndex}\n`);
  };
  if (records.length > 0) {
    const result = await client.append(records.map((r) => encoder.encode(r)));
    records.forEach((record, k) => print(record, { firstIndex: result.firstIndex + k }));
    return 0;
  }
  // One line, one record, each acknowledged before the next is read: ordered and bounded.
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    print(line, await client.append([encoder.encode(line)]));
  }
  return 0;
}

async function readCommand(client: LogClient, flags: Record<string, string | boolean | undefined>, json: boolean): Promise<number> {
  const from = parseWholeNumber('from', flags['from'] as string | undefined, { min: 1 }) ?? 1;
  // Without --max-bytes the client library picks a size every node accepts.
  const maxBytes = parseWholeNumber('max-bytes', flags['max-bytes'] as string | undefined, { min: 1 });
  const decoder = new TextDecoder();
  const print = (record: { index: number; term: number; payload: Uint8Array }): void => {
    const text = decoder.decode(record.payload);
    process.stdout.write(json ? `${JSON.stringify({ index: record.index, term: record.term, record: text })}\n` : `${record.index}\t${text}\n`);
  };
  if (flags['follow'] === true) {
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    try {
      for await (const record of client.follow(from, { signal: abort.signal })) print(record);
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
    return 0;
  }
  const result = await client.read(from, maxBytes === undefined ? {} : { maxBytes });
  for (const record of result.records) print(record);
  return 0;
}

/** "sync" (ordered mark), "sync, lagging mark", "async 10ms", or "?" from a node that does not say. */
function flushCell(status: NodeStatus): string {
  if (status.flush === 'async') return `async ${status.flushIntervalMs ?? '?'}ms`;
  if (status.flush === 'sync') return status.durableMark === 'lagging' ? 'sync, lagging mark' : 'sync';
  return '?';
}

/** "repairing: log at 120 of 400 (30%); not voting" for a node whose log awaits repair, else empty. */
function repairNote(status: NodeStatus): string {
  if (!status.votingBlocked) return '';
  const target = status.repairThroughIndex;
  if (target <= 0) return 'repairing; not voting';
  const percent = Math.min(100, Math.floor((status.lastIndex / target) * 100));
  return `repairing: log at ${status.lastIndex} of ${target} (${percent}%); not voting`;
}

/**
 * Why no node leads, as far as the answers tell: too few members reachable, or too few of
 * them allowed to vote because their logs await repair (a majority whose disks lost
 * acknowledged entries stays unavailable rather than elect a leader lacking them).
 */
function whyNoLeader(statuses: Awaited<ReturnType<LogClient['statusAll']>>): string {
  const answered = statuses.flatMap((s) => ('error' in s ? [] : [s]));
  const members = statuses.length;
  const majority = Math.floor(members / 2) + 1;
  const voting = answered.filter((s) => !s.votingBlocked);
  const repairing = answered.filter((s) => s.votingBlocked).map((s) => s.id);
  if (voting.length >= majority) return `no leader right now: an election is under way or just ended (${voting.length} of ${members} members can vote)`;
  const reasons: string[] = [];
  if (answered.length < members) reasons.push(`${members - answered.length} of ${members} unreachable`);
  if (repairing.length > 0) reasons.push(`${repairing.join(', ')} await repair of a damaged log and may not vote until a leader repairs them`);
  return `no leader: a leader needs ${majority} of ${members} members voting, and only ${voting.length} can (${reasons.join('; ')})`;
}

async function statusCommand(client: LogClient, json: boolean): Promise<number> {
  const statuses = await client.statusAll();
  if (json) {
    process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
    return statuses.some((s) => 'error' in s) ? 1 : 0;
  }
  const rows = [['node', 'address', 'role', 'term', 'leader', 'commit', 'applied', 'last', 'flush', 'note']];
  for (const s of statuses) {
    if ('error' in s) {
      rows.push(['?', s.address, 'unreachable', '', '', '', '', '', '', s.error]);
      continue;
    }
    rows.push([s.id, s.address, s.role, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.appliedIndex), String(s.lastIndex), flushCell(s), repairNote(s)]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  for (const r of rows) process.stdout.write(`${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
  const leader = statuses.find((s) => !('error' in s) && s.role === 'leader');
  if (leader === undefined) process.stdout.write(`\n${whyNoLeader(statuses)}\n`);
  if (leader !== undefined && !('error' in leader) && leader.followers.length > 0) {
    process.stdout.write(`\nfollowers of ${leader.id}:\n`);
    for (const f of leader.followers) process.stdout.write(`  ${f.id}  match ${f.matchIndex}  lag ${f.lag}  ${f.state}\n`);
  }
  return statuses.some((s) => 'error' in s) ? 1 : 0;
}
