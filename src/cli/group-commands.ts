import { DeadLetterHeader } from '../broker/index.js';
import { Admin, Consumer, LogClient, Producer, type ConsumedMessage, type GroupInfo, type GroupResetTarget, type GroupStart } from '../client/index.js';
import { parseClientArgs, type CommandContext, type Flags } from './client-args.js';
import { parseDurationMs, parseWholeNumber, UsageError } from './usage-error.js';

const REDRIVEN_FROM_HEADER = 'quorumlog-redriven-from';

const HELP: Record<string, string> = {
  consume: `Usage: quorumlog consume --topic T --group G [--from earliest|latest] [--max N] [--prefetch N]

Consumes topic T as a member of consumer group G (created at --from, default earliest, if it
does not exist), printing one message per line ("offset<TAB>payload") and acking each only
after it is written. Stops after --max messages, or on Ctrl-C: what was delivered but not
printed is redelivered. Delivery is at least once; the offset is the message's stable id.
`,
  groups: `Usage: quorumlog groups [list]
       quorumlog groups describe G
       quorumlog groups create G --topic T [--from earliest|latest|offset:N|time:MS]
                               [--ack-deadline 30s] [--retry-delays 10s,30s,1m] [--max-retries 16]
       quorumlog groups delete G
       quorumlog group reset G --to-earliest | --to-latest | --to-offset N | --to-time ISO8601|MS [--force]

Lists groups with their committed offset and lag, or creates one at an offset or a time.

reset moves group G's committed and next offset, as kafka-consumer-groups --reset-offsets
does: to the earliest offset the cluster still keeps (what a group behind retention needs:
its consumers get OUT_OF_RANGE until it is moved), to the topic's end, to offset N, or to
the first message made visible at or after a time (2024-05-01T12:00:00Z, or ms since 1970).
Exactly one target. What the group had delivered and not finished is forgotten: offsets
from the target on are delivered again, those below count as consumed. Refused while
messages are in flight to the group's consumers (stop them first) or dead ones wait for
their dead-letter copy, unless --force. Prints "group G now starts at offset N (was M)".
`,
  dlq: `Usage: quorumlog dlq list --group G
       quorumlog dlq redrive --group G

Lists the messages in group G's dead-letter topic (G.dlq) with where they came from, how
often they were tried and the last error; redrive sends each back to its topic (acked in
G.dlq through the group G.redrive only once the topic has it, so none is lost or sent twice
by one redrive).
`,
};

export async function runGroupCommand(command: string, argv: readonly string[]): Promise<number> {
  const extra = {
    consume: { topic: { type: 'string' }, group: { type: 'string' }, from: { type: 'string' }, max: { type: 'string' }, prefetch: { type: 'string' } },
    groups: GROUPS_FLAGS,
    group: GROUPS_FLAGS,
    dlq: { group: { type: 'string' } },
  } as const;
  const args = parseClientArgs(argv, { extra: extra[command as keyof typeof extra] ?? {}, allowPositionals: command !== 'consume', help: HELP[command === 'group' ? 'groups' : command] ?? '' });
  if (args === null) return 0;
  const { context, flags, positionals } = args;
  switch (command) {
    case 'consume':
      return consumeCommand(context, flags);
    case 'groups':
    case 'group':
      return groupsCommand(context, positionals, flags);
    case 'dlq':
      return dlqCommand(context, positionals, flags);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const GROUPS_FLAGS = {
  topic: { type: 'string' },
  from: { type: 'string' },
  'ack-deadline': { type: 'string' },
  'retry-delays': { type: 'string' },
  'max-retries': { type: 'string' },
  'to-earliest': { type: 'boolean' },
  'to-latest': { type: 'boolean' },
  'to-offset': { type: 'string' },
  'to-time': { type: 'string' },
  force: { type: 'boolean' },
} as const;

const CREATE_FLAGS = ['topic', 'from', 'ack-deadline', 'retry-delays', 'max-retries'] as const;
const RESET_FLAGS = ['to-earliest', 'to-latest', 'to-offset', 'to-time', 'force'] as const;

function required(flags: Flags, name: string): string {
  const value = flags[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** `allowPoints`: offset:N and time:MS are accepted as well as earliest and latest. */
function parseStart(value: string | undefined, accept: { readonly allowPoints: boolean }): GroupStart {
  const { allowPoints } = accept;
  if (value === undefined || value === 'earliest') return 'earliest';
  if (value === 'latest') return 'latest';
  const point = /^(offset|time):(\d+)$/.exec(value);
  if (allowPoints && point !== null) return point[1] === 'offset' ? { offset: Number(point[2]) } : { timeMs: Number(point[2]) };
  throw new UsageError(`--from must be earliest, latest${allowPoints ? ', offset:N or time:MS' : ''}, not "${value}"`);
}

function write(line: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(line, (error) => (error ? reject(error) : resolve())));
}

async function consumeCommand(context: CommandContext, flags: Flags): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const topic = required(flags, 'topic');
  const group = required(flags, 'group');
  const from = parseStart(flags['from'] as string | undefined, { allowPoints: false });
  const max = parseWholeNumber('max', flags['max'] as string | undefined, { min: 1 }) ?? Number.MAX_SAFE_INTEGER;
  const prefetch = parseWholeNumber('prefetch', flags['prefetch'] as string | undefined, { min: 1, max: 10_000 }) ?? 64;
  // A failed ack is reported below, with what it means for the message.
  const consumer = new Consumer({ brokers, timeoutMs, ...context.connection, group, topic, from, prefetch, onError: () => undefined });
  const decoder = new TextDecoder();
  const stop = (): void => void consumer.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let printed = 0;
  try {
    // Bounded by --max, or by the consumer closing on a signal.
    for await (const m of consumer) {
      const payload = decoder.decode(m.payload);
      await write(json ? `${JSON.stringify({ offset: m.offset, delivery: m.delivery, key: decoder.decode(m.key), message: payload })}\n` : `${m.offset}\t${payload}\n`);
      // Acked once written; not awaited, so acks made meanwhile share a request (close()
      // waits for them all). A failed ack only means the message comes again.
      m.ack().catch((error: unknown) => process.stderr.write(`quorumlog: ack of offset ${m.offset} failed (it will be redelivered): ${error instanceof Error ? error.message : String(error)}\n`));
      if (++printed >= max) break;
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await consumer.close();
  }
}

async function groupsCommand(context: CommandContext, positionals: readonly string[], flags: Flags): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  // Bare `quorumlog groups` lists them, with their lag.
  const [action = 'list', name, ...rest] = positionals;
  const needsName = action === 'create' || action === 'describe' || action === 'delete' || action === 'reset';
  if (!(needsName || action === 'list')) throw new UsageError(`groups: unknown action "${action}"; use list, describe, create, delete or reset`);
  if (needsName && name === undefined) throw new UsageError(`groups ${action} needs a group name`);
  if ((needsName && rest.length > 0) || (action === 'list' && name !== undefined)) throw new UsageError(`groups ${action}: unexpected argument "${needsName ? rest[0] : name}"`);
  const createOnly = CREATE_FLAGS.filter((f) => flags[f] !== undefined);
  if (action !== 'create' && createOnly.length > 0) throw new UsageError(`--${createOnly[0]} goes with groups create only`);
  const resetOnly = RESET_FLAGS.filter((f) => flags[f] !== undefined);
  if (action !== 'reset' && resetOnly.length > 0) throw new UsageError(`--${resetOnly[0]} goes with group reset only`);
  const group = name ?? '';
  if (action === 'reset') return resetCommand(context, group, flags);
  const admin = new Admin({ brokers, timeoutMs, ...context.connection });
  try {
    if (action === 'create') {
      const topic = required(flags, 'topic');
      const ackDeadlineMs = parseDurationMs('ack-deadline', flags['ack-deadline'] as string | undefined);
      const delays = flags['retry-delays'] as string | undefined;
      const retryDelaysMs = delays?.split(',').map((d) => parseDurationMs('retry-delays', d.trim()) ?? 0);
      const retriesMax = parseWholeNumber('max-retries', flags['max-retries'] as string | undefined, { min: 0, max: 1000 });
      const settings = { ...(ackDeadlineMs === undefined ? {} : { ackDeadlineMs }), ...(retryDelaysMs === undefined ? {} : { retryDelaysMs }), ...(retriesMax === undefined ? {} : { retriesMax }) };
      await admin.createGroup(group, topic, { start: parseStart(flags['from'] as string | undefined, { allowPoints: true }), settings });
      process.stdout.write(json ? `${JSON.stringify({ created: group, topic })}\n` : `created group ${group} on topic ${topic}\n`);
    } else if (action === 'delete') {
      await admin.deleteGroup(group);
      process.stdout.write(json ? `${JSON.stringify({ deleted: group })}\n` : `deleted group ${group}\n`);
    } else {
      printGroups(action === 'describe' ? [await admin.describeGroup(group)] : await admin.listGroups(), context);
    }
    return 0;
  } finally {
    admin.close();
  }
}

/** `group reset G --to-...`: checks the target before connecting, prints one line or JSON. */
async function resetCommand(context: CommandContext, group: string, flags: Flags): Promise<number> {
  const to = parseResetTarget(flags);
  const admin = new Admin({ brokers: context.brokers, timeoutMs: context.timeoutMs, ...context.connection });
  try {
    const result = await admin.resetGroup(group, { to, force: flags['force'] === true });
    if (context.json) {
      process.stdout.write(`${JSON.stringify({ group, ...result })}\n`);
    } else {
      const forgot = result.forgotten > 0 ? `; forgot ${result.forgotten} unfinished deliver${result.forgotten === 1 ? 'y' : 'ies'}` : '';
      process.stdout.write(`group ${group} now starts at offset ${result.committedOffset} (was ${result.previousCommittedOffset})${forgot}\n`);
    }
    return 0;
  } finally {
    await admin.close();
  }
}

/** Exactly one of --to-earliest, --to-latest, --to-offset N, --to-time ISO8601|MS. */
export function parseResetTarget(flags: Flags): GroupResetTarget {
  const given = RESET_FLAGS.filter((f) => f !== 'force' && flags[f] !== undefined);
  if (given.length !== 1) {
    const which = given.length === 0 ? 'none was given' : `got ${given.map((f) => `--${f}`).join(' and ')}`;
    throw new UsageError(`group reset needs exactly one of --to-earliest, --to-latest, --to-offset N or --to-time ISO8601|MS; ${which}`);
  }
  if (flags['to-earliest'] === true) return 'earliest';
  if (flags['to-latest'] === true) return 'latest';
  const offset = parseWholeNumber('to-offset', flags['to-offset'] as string | undefined, { min: 0 });
  if (offset !== undefined) return { offset };
  return { timeMs: parseTimeMs('to-time', flags['to-time'] as string) };
}

/** Milliseconds since 1970, written as such or as an ISO 8601 date and time (2024-05-01T12:00:00Z). */
function parseTimeMs(flag: string, value: string): number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return parseWholeNumber(flag, text, { min: 0 }) as number;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new UsageError(`--${flag} must be an ISO 8601 time such as 2024-05-01T12:00:00Z or ms since 1970, not "${value}"`);
  return ms;
}

function printGroups(groups: readonly GroupInfo[], output: Pick<CommandContext, 'json'>): void {
  if (output.json) {
    process.stdout.write(`${JSON.stringify(groups)}\n`);
    return;
  }
  for (const g of groups) {
    const consumers = g.consumers.map((c) => `${c.id}:${c.inflight}`).join(',') || '-';
    process.stdout.write(`${g.name}\ttopic ${g.topic}\tcommitted ${g.committedOffset}\tlag ${g.lag}\tinflight ${g.inflight}\twaiting ${g.waiting}\tdead ${g.dead}\tconsumers ${consumers}\n`);
  }
}

async function dlqCommand(context: CommandContext, positionals: readonly string[], flags: Flags): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const [action, ...rest] = positionals;
  if (action !== 'list' && action !== 'redrive') throw new UsageError('dlq needs an action: list or redrive');
  if (rest.length > 0) throw new UsageError(`dlq ${action}: unexpected argument "${rest[0]}"`);
  const group = required(flags, 'group');
  const dlqTopic = `${group}.dlq`;
  // The dead-letter topic is created with the group's first dead letter: none yet is an
  // empty list (for a group that exists), not an error.
  const admin = new Admin({ brokers, timeoutMs, ...context.connection });
  try {
    const topics = await admin.listTopics();
    if (!topics.some((t) => t.name === dlqTopic)) {
      await admin.describeGroup(group);
      if (action === 'redrive') process.stdout.write(json ? `${JSON.stringify({ group, redriven: 0 })}\n` : `redrove 0 message(s) from ${dlqTopic}\n`);
      return 0;
    }
  } finally {
    admin.close();
  }
  return action === 'list' ? dlqList(context, dlqTopic) : dlqRedrive(context, { group, dlqTopic });
}

const decoder = new TextDecoder();
const headerText = (m: { readonly headers: readonly { readonly name: string; readonly value: Uint8Array }[] }, name: string): string =>
  decoder.decode(m.headers.find((h) => h.name === name)?.value ?? new Uint8Array());

async function dlqList(context: CommandContext, dlqTopic: string): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const client = new LogClient({ brokers, timeoutMs, ...context.connection });
  try {
    let offset = 0;
    // Bounded by the topic's end: every round prints at least one message or stops.
    for (;;) {
      const result = await client.fetch(dlqTopic, offset);
      for (const m of result.messages) {
        const fields = { offset: m.offset, from: `${headerText(m, DeadLetterHeader.topic)}/${headerText(m, DeadLetterHeader.offset)}`, deliveries: Number(headerText(m, DeadLetterHeader.deliveries)), lastError: headerText(m, DeadLetterHeader.lastError), message: decoder.decode(m.payload) };
        process.stdout.write(json ? `${JSON.stringify(fields)}\n` : `${fields.offset}\tfrom ${fields.from}\tdeliveries ${fields.deliveries}\t${fields.lastError}\t${fields.message}\n`);
      }
      if (result.messages.length === 0) return 0;
      offset = result.nextOffset;
    }
  } finally {
    client.close();
  }
}

async function dlqRedrive(context: CommandContext, source: { readonly group: string; readonly dlqTopic: string }): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const { group, dlqTopic } = source;
  const admin = new Admin({ brokers, timeoutMs, ...context.connection });
  const producer = new Producer({ brokers, ...context.connection, requestTimeoutMs: timeoutMs, deliveryTimeoutMs: timeoutMs });
  const redriveGroup = `${group}.redrive`;
  const consumer = new Consumer({ brokers, timeoutMs, ...context.connection, group: redriveGroup, topic: dlqTopic, from: 'earliest' });
  let redriven = 0;
  const handler = async (m: ConsumedMessage): Promise<void> => {
    const target = headerText(m, DeadLetterHeader.topic);
    if (target === '') throw new Error(`${dlqTopic} offset ${m.offset} has no ${DeadLetterHeader.topic} header`);
    const headers = [...m.headers.filter((h) => !(Object.values(DeadLetterHeader) as string[]).includes(h.name) && h.name !== REDRIVEN_FROM_HEADER), { name: REDRIVEN_FROM_HEADER, value: `${dlqTopic}/${m.offset}` }];
    await producer.send(target, { key: m.key, payload: m.payload, headers, timestampMs: m.timestampMs });
    redriven++;
    if (!json) process.stdout.write(`redrove ${dlqTopic}/${m.offset} to ${target}\n`);
  };
  try {
    const running = consumer.run(handler, { concurrency: 1 });
    const deadlineMs = Date.now() + timeoutMs;
    // Done when the redrive group has nothing left (lag 0, nothing in flight); bounded by --timeout-ms.
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const state = await admin.describeGroup(redriveGroup).catch(() => null);
      if (state !== null && state.lag === 0 && state.inflight === 0 && state.waiting === 0) break;
      if (Date.now() > deadlineMs) throw new Error(`dlq redrive: ${dlqTopic} was not drained within ${timeoutMs} ms`);
    }
    await consumer.close();
    await running;
    if (json) process.stdout.write(`${JSON.stringify({ group, redriven })}\n`);
    else process.stdout.write(`redrove ${redriven} message(s) from ${dlqTopic}\n`);
    return 0;
  } finally {
    await consumer.close();
    await producer.close().catch(() => undefined);
    admin.close();
  }
}
