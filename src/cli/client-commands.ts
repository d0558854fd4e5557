import { LOG_CLIENT_DEFAULTS, LogClient, type NodeStatus } from '../client/index.js';
import { parseWholeNumber, UsageError } from './usage-error.js';
import { parseClientArgs, type CommandContext } from './client-args.js';
import { STORAGE_HEADER, storageRows } from './status-storage.js';


const HELP: Record<string, string> = {
  append: `Usage: quorumlog append [--brokers LIST] [--raw] [--json] [RECORD...]

Appends each RECORD as one log entry and prints the index it committed at. With no RECORD,
each line of standard input is one record, byte for byte: lines end at \\n only (a \\r stays
in its record, nothing is decoded), an empty line is an empty record. --raw appends all of
standard input, whatever bytes it holds, as one record. A record is acknowledged only once
a majority holds it durably. Empty records are allowed. A record larger than one request
can carry (16 MiB) is refused before it is sent; a node refuses one over its
--max-record-bytes (4 MiB by default). --json prints {"index", "bytes"} per record.
`,
  read: `Usage: quorumlog read [--brokers LIST] [--from INDEX] [--limit N] [--max-bytes N] [--follow] [--json]

Prints committed records from INDEX (default 1) to the end of the log, one per line as
"index<TAB>payload" (the payload's bytes as stored). --limit N stops after N records and
says the next index to read (on stderr; with --json, a last line {"next": INDEX}).
--max-bytes is the most payload one request fetches (pages follow until the end).
--follow keeps waiting for new records until interrupted. --json prints
{"index", "term", "record"} per record, or "recordBase64" for a payload that is not UTF-8.
`,
  status: `Usage: quorumlog status [--brokers LIST] [--json]

Shows every broker's role, term, leader, commit and applied index, and on the leader each
follower's match index and lag (learners marked: they receive the log but do not vote). A second table shows each broker's storage: the first index
its log still holds, its newest snapshot and that snapshot's age, the bytes of its log and
snapshot files, the disk of its data directory (used, free) and whether its disk guard
refuses new messages (above --disk-high-watermark; reads and acks still work). --json prints
every field.
`,
  transfer: `Usage: quorumlog transfer --to ID [--brokers LIST]

Moves leadership to node ID once it has caught up, and waits until it leads.
`,
};




export async function runClientCommand(command: string, argv: readonly string[]): Promise<number> {
  const extra = {
    append: { raw: { type: 'boolean' } },
    read: { from: { type: 'string' }, 'max-bytes': { type: 'string' }, limit: { type: 'string' }, follow: { type: 'boolean' } },
    status: {},
    transfer: { to: { type: 'string' } },
  } as const;
  const args = parseClientArgs(argv, { extra: extra[command as keyof typeof extra] ?? {}, allowPositionals: command === 'append', help: HELP[command] ?? '' });
  if (args === null) return 0;
  const { context, flags, positionals } = args;
  const { brokers, timeoutMs, json } = context;
  const client = new LogClient({ brokers, timeoutMs, ...context.connection });
  try {
    switch (command) {
      case 'append':
        return await appendCommand(client, positionals, { raw: flags['raw'] === true, json });
      case 'read':
        return await readCommand(client, flags, context);
      case 'status':
        return await statusCommand(client, context);
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

async function appendCommand(client: LogClient, records: readonly string[], options: { readonly raw: boolean; readonly json: boolean }): Promise<number> {
  const print = (record: Uint8Array, index: number): Promise<void> =>
    writeOut(options.json ? `${JSON.stringify({ index, bytes: record.length })}\n` : `${index}\n`);
  if (records.length > 0) {
    if (options.raw) throw new UsageError('--raw appends standard input as one record: give no RECORD arguments with it');
    const encoder = new TextEncoder();
    const payloads = records.map((r) => encoder.encode(r));
    const result = await client.append(payloads);
    for (const [k, payload] of payloads.entries()) await print(payload, result.firstIndex + k);
    return 0;
  }
  if (options.raw) {
    const record = await readAllStdin(STDIN_RECORD_BYTES_MAX);
    await print(record, (await client.append([record])).firstIndex);
    return 0;
  }
  // One line, one record, each acknowledged before the next is read: ordered, and memory
  // bounded by one chunk of input plus one line.
  for await (const line of stdinLines(STDIN_RECORD_BYTES_MAX)) {
    await print(line, (await client.append([line])).firstIndex);
  }
  return 0;
}

/** More than one request can carry (the client's default message limit) is refused before reading on. */
const STDIN_RECORD_BYTES_MAX = LOG_CLIENT_DEFAULTS.messageBytesMax;

function tooLong(what: string, bytesMax: number): Error {
  return new Error(`${what} is over ${bytesMax} bytes, the most one request to a node carries (nodes also refuse a record over their --max-record-bytes, 4 MiB by default)`);
}

/** All of standard input, byte for byte; refuses more than bytesMax without reading on. */
async function readAllStdin(bytesMax: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > bytesMax) throw tooLong('standard input', bytesMax);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Standard input's lines as bytes, split on \n only (a \r stays in its line; nothing is
 * decoded), without the \n. An empty line is an empty record; a last line without a \n is
 * a line. A line over bytesMax is refused before more is read.
 */
async function* stdinLines(bytesMax: number): AsyncGenerator<Uint8Array, void, undefined> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNumber = 1;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let start = 0;
    // Bounded by the chunk: each step moves past one \n.
    for (let newline = chunk.indexOf(0x0a, start); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const line = Buffer.concat([...pending, chunk.subarray(start, newline)]);
      pending = [];
      pendingBytes = 0;
      if (line.length > bytesMax) throw tooLong(`line ${lineNumber} of standard input`, bytesMax);
      yield line;
      lineNumber++;
      start = newline + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > bytesMax) throw tooLong(`line ${lineNumber} of standard input`, bytesMax);
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

/** Writes to stdout and waits while its buffer is full, so a slow reader holds back a long read. */
function writeOut(data: string | Uint8Array): Promise<void> {
  if (process.stdout.write(data)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', resolve));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A record for --json: as text when it is UTF-8, else base64, so no byte is lost either way. */
function jsonRecord(record: { readonly index: number; readonly term: number; readonly payload: Uint8Array }): string {
  try {
    return JSON.stringify({ index: record.index, term: record.term, record: strictUtf8.decode(record.payload) });
  } catch {
    return JSON.stringify({ index: record.index, term: record.term, recordBase64: Buffer.from(record.payload).toString('base64') });
  }
}

function printRecord(record: { readonly index: number; readonly term: number; readonly payload: Uint8Array }, output: Pick<CommandContext, 'json'>): Promise<void> {
  if (output.json) return writeOut(`${jsonRecord(record)}\n`);
  return writeOut(Buffer.concat([Buffer.from(`${record.index}\t`), record.payload, Buffer.from('\n')]));
}

async function readCommand(client: LogClient, flags: Record<string, string | boolean | undefined>, output: Pick<CommandContext, 'json'>): Promise<number> {
  const { json } = output;
  const from = parseWholeNumber('from', flags['from'] as string | undefined, { min: 1 }) ?? 1;
  // Without --max-bytes the client library picks a size every node accepts.
  const bytesMax = parseWholeNumber('max-bytes', flags['max-bytes'] as string | undefined, { min: 1 });
  const limit = parseWholeNumber('limit', flags['limit'] as string | undefined, { min: 1 }) ?? Number.POSITIVE_INFINITY;
  const options = bytesMax === undefined ? {} : { bytesMax };
  if (flags['follow'] === true) return followCommand(client, { from, limit, json, options });
  let next = from;
  let printed = 0;
  try {
    // Page after page up to what the answering node had applied: bounded by the log, since
    // each page moves `next` forward or ends the loop.
    for (;;) {
      const pageStart = next;
      const page = await client.read(pageStart, options);
      for (const record of page.records) {
        if (printed === limit) break;
        await printRecord(record, output);
        printed++;
        next = record.index + 1;
      }
      if (printed === limit) {
        if (next <= page.appliedIndex) await sayNext(next, { json, limit });
        return 0;
      }
      if (page.nextIndex <= pageStart || page.nextIndex > page.appliedIndex) return 0;
      next = page.nextIndex;
    }
  } catch (error) {
    if (printed === 0) throw error;
    throw new Error(`${error instanceof Error ? error.message : String(error)} (read on with --from ${next})`, { cause: error });
  }
}

/** After --limit records: where to go on, as the last JSON line or one line on stderr. */
async function sayNext(next: number, options: { readonly json: boolean; readonly limit: number }): Promise<void> {
  if (options.json) await writeOut(`${JSON.stringify({ next })}\n`);
  else process.stderr.write(`quorumlog: stopped after --limit ${options.limit} records; the next index to read is ${next} (--from ${next})\n`);
}

async function followCommand(client: LogClient, read: { readonly from: number; readonly limit: number; readonly json: boolean; readonly options: { readonly bytesMax?: number } }): Promise<number> {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let printed = 0;
  try {
    for await (const record of client.follow(read.from, { signal: abort.signal, ...read.options })) {
      await printRecord(record, read);
      if (++printed === read.limit) {
        await sayNext(record.index + 1, read);
        abort.abort();
        break;
      }
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  }
  return 0;
}

function writeTable(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  for (const r of rows) process.stdout.write(`${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
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
  const refused = statuses.filter((s) => 'error' in s && s.refused === true).length;
  const unreachable = members - answered.length - refused;
  // Members that refused this client may well have a leader: nothing can be said of them.
  if (answered.length === 0 && refused > 0) return `leader unknown: ${refused} of ${members} members refused this client (see the note column)${unreachable > 0 ? `, ${unreachable} unreachable` : ''}`;
  const majority = Math.floor(members / 2) + 1;
  const voting = answered.filter((s) => !s.votingBlocked);
  const repairing = answered.filter((s) => s.votingBlocked).map((s) => s.id);
  if (voting.length >= majority) return `no leader right now: an election is under way or just ended (${voting.length} of ${members} members can vote)`;
  const reasons: string[] = [];
  if (unreachable > 0) reasons.push(`${unreachable} of ${members} unreachable`);
  if (refused > 0) reasons.push(`${refused} of ${members} refused this client`);
  if (repairing.length > 0) reasons.push(`${repairing.join(', ')} await repair of a damaged log and may not vote until a leader repairs them`);
  return `no leader: a leader needs ${majority} of ${members} members voting, and only ${voting.length} can (${reasons.join('; ')})`;
}

async function statusCommand(client: LogClient, output: Pick<CommandContext, 'json'>): Promise<number> {
  const statuses = await client.statusAll();
  if (output.json) {
    process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
    return statuses.some((s) => 'error' in s) ? 1 : 0;
  }
  const rows = [['node', 'address', 'role', 'term', 'leader', 'commit', 'applied', 'last', 'flush', 'note']];
  for (const s of statuses) {
    if ('error' in s) {
      rows.push(['?', s.address, s.refused === true ? 'refused' : 'unreachable', '', '', '', '', '', '', s.error]);
      continue;
    }
    rows.push([s.id, s.address, s.role, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.appliedIndex), String(s.lastIndex), flushCell(s), repairNote(s)]);
  }
  writeTable(rows);
  const storage = storageRows(statuses);
  if (storage.length > 0) {
    process.stdout.write('\nstorage:\n');
    writeTable([[...STORAGE_HEADER], ...storage]);
  }
  const leader = statuses.find((s) => !('error' in s) && s.role === 'leader');
  if (leader === undefined) process.stdout.write(`\n${whyNoLeader(statuses)}\n`);
  if (leader !== undefined && !('error' in leader) && leader.followers.length > 0) {
    process.stdout.write(`\nfollowers of ${leader.id}:\n`);
    for (const f of leader.followers) process.stdout.write(`  ${f.id}  match ${f.matchIndex}  lag ${f.lag}  ${f.state}${f.learner === true ? '  learner (not voting)' : ''}\n`);
    const learners = leader.learners ?? [];
    if (learners.length > 0) process.stdout.write(`learners: ${learners.join(', ')} (promote with quorumlog members promote ID once caught up)\n`);
  }
  return statuses.some((s) => 'error' in s) ? 1 : 0;
}
