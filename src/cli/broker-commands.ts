import { createInterface } from 'node:readline';

import { Admin, LogClient, Producer, type SendResult, type TopicInfo } from '../client/index.js';
import { parseDurationMs, parseWholeNumber, UsageError } from './usage-error.js';
import { parseClientArgs, type CommandContext } from './client-args.js';



const HELP: Record<string, string> = {
  topics: `Usage: quorumlog topics create NAME [--max-message-bytes N]
       quorumlog topics list
       quorumlog topics describe NAME
       quorumlog topics delete NAME

Creates, lists, describes or deletes topics. A name is 1-249 of letters, digits, '.', '_', '-'.
`,
  produce: `Usage: quorumlog produce --topic T [--key K] [--acks all|leader|none] [--delay D]
                        [--spool-dir DIR [--spool-after-ms N]] [MESSAGE...]

Sends each MESSAGE (or, with none given, each line of standard input) to topic T, in order,
and prints the offset each was acknowledged at. With --acks all (the default) the producer
is idempotent and a message is acknowledged once a majority holds it durably; retries never
duplicate it. --acks leader prints "log-index N" once the leader alone holds it durably (lost
if that leader fails first); --acks none prints "sent" (nothing known). Neither is
idempotent. With --spool-dir, a message not acknowledged within --spool-after-ms (default
5000) is written to the spool there and "spooled" is printed; the next produce with the
same --spool-dir resends what is left first. With --delay (e.g. 30s, 5m) each message stays
invisible until then and "scheduled" is printed: it gets its offset when it falls due.
See docs/producer.md.
`,
  fetch: `Usage: quorumlog fetch --topic T [--from OFFSET] [--max N]

Prints the messages of topic T from OFFSET (default 0) as "offset<TAB>payload", as the
answering node has applied them, up to N messages (default: to the end).
`,
};

export async function runBrokerCommand(command: string, argv: readonly string[]): Promise<number> {
  const extra = {
    topics: { 'max-message-bytes': { type: 'string' } },
    produce: { topic: { type: 'string' }, key: { type: 'string' }, acks: { type: 'string' }, delay: { type: 'string' }, 'spool-dir': { type: 'string' }, 'spool-after-ms': { type: 'string' } },
    fetch: { topic: { type: 'string' }, from: { type: 'string' }, max: { type: 'string' } },
  } as const;
  const args = parseClientArgs(argv, { extra: extra[command as keyof typeof extra] ?? {}, allowPositionals: command !== 'fetch', help: HELP[command] ?? '' });
  if (args === null) return 0;
  const { context, flags, positionals } = args;
  switch (command) {
    case 'topics':
      return topicsCommand(context, positionals, flags);
    case 'produce':
      return produceCommand(context, positionals, flags);
    case 'fetch':
      return fetchCommand(context, flags);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function requireTopic(flags: Record<string, string | boolean | undefined>): string {
  const topic = flags['topic'];
  if (typeof topic !== 'string' || topic === '') throw new UsageError('--topic T is required');
  return topic;
}

async function topicsCommand(context: CommandContext, positionals: readonly string[], flags: Record<string, string | boolean | undefined>): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const [action, name, ...rest] = positionals;
  const needsName = action === 'create' || action === 'describe' || action === 'delete';
  if (action === undefined || !(needsName || action === 'list')) throw new UsageError('topics needs an action: create, list, describe or delete');
  if (needsName && name === undefined) throw new UsageError(`topics ${action} needs a topic name`);
  if ((needsName && rest.length > 0) || (action === 'list' && name !== undefined)) throw new UsageError(`topics ${action}: unexpected argument "${needsName ? rest[0] : name}"`);
  if (action !== 'create' && flags['max-message-bytes'] !== undefined) throw new UsageError('--max-message-bytes goes with topics create only');
  const messageBytesMax = parseWholeNumber('max-message-bytes', flags['max-message-bytes'] as string | undefined, { min: 1, max: 0xffff_ffff });
  const admin = new Admin({ brokers, timeoutMs, ...context.connection });
  const topicName = name ?? '';
  try {
    if (action === 'create') {
      await admin.createTopic(topicName, messageBytesMax === undefined ? {} : { messageBytesMax });
      process.stdout.write(json ? `${JSON.stringify({ created: topicName })}\n` : `created topic ${topicName}\n`);
    } else if (action === 'delete') {
      await admin.deleteTopic(topicName);
      process.stdout.write(json ? `${JSON.stringify({ deleted: topicName })}\n` : `deleted topic ${topicName}\n`);
    } else if (action === 'describe') {
      printTopics([await admin.describeTopic(topicName)], context);
    } else {
      printTopics(await admin.listTopics(), context);
    }
    return 0;
  } finally {
    admin.close();
  }
}

function printTopics(topics: readonly TopicInfo[], output: Pick<CommandContext, 'json'>): void {
  if (output.json) {
    process.stdout.write(`${JSON.stringify(topics)}\n`);
    return;
  }
  for (const t of topics) process.stdout.write(`${t.name}\tmax-message-bytes ${t.messageBytesMax}\tnext-offset ${t.nextOffset}\n`);
}

async function produceCommand(context: CommandContext, messages: readonly string[], flags: Record<string, string | boolean | undefined>): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const topic = requireTopic(flags);
  const key = typeof flags['key'] === 'string' ? flags['key'] : undefined;
  const acks = flags['acks'] ?? 'all';
  if (acks !== 'all' && acks !== 'leader' && acks !== 'none') throw new UsageError(`--acks must be all, leader or none, not "${String(acks)}"`);
  const spoolDir = flags['spool-dir'];
  if (flags['spool-after-ms'] !== undefined && typeof spoolDir !== 'string') throw new UsageError('--spool-after-ms goes with --spool-dir');
  if (typeof spoolDir === 'string' && acks !== 'all') throw new UsageError('--spool-dir needs --acks all (the spool resends idempotently)');
  const spoolAfterMs = parseWholeNumber('spool-after-ms', flags['spool-after-ms'] as string | undefined, { min: 0 }) ?? 5_000;
  const delayMs = parseDurationMs('delay', flags['delay'] as string | undefined);
  if (delayMs !== undefined && acks !== 'all') throw new UsageError('--delay needs --acks all');
  const deliverAtMs = delayMs === undefined ? undefined : Date.now() + delayMs;
  // A command gives up rather than retry forever: the delivery budget is the timeout.
  const producer = new Producer({
    brokers,
    ...context.connection,
    acks,
    requestTimeoutMs: timeoutMs,
    deliveryTimeoutMs: timeoutMs,
    ...(typeof spoolDir === 'string' ? { spool: { dir: spoolDir, afterMs: spoolAfterMs } } : {}),
  });
  const print = (payload: string, result: SendResult): void => {
    const fields = result.status === 'acknowledged' ? { offset: result.offset } : result.status === 'leaderDurable' ? { status: result.status, logIndex: result.logIndex } : { status: result.status };
    const text = result.status === 'acknowledged' ? String(result.offset) : result.status === 'leaderDurable' ? `log-index ${result.logIndex}` : result.status;
    process.stdout.write(json ? `${JSON.stringify({ topic, ...fields, message: payload })}\n` : `${text}\n`);
  };
  try {
    if (messages.length > 0) {
      const sends = messages.map((payload) => producer.send(topic, { payload, ...(key === undefined ? {} : { key }), ...(deliverAtMs === undefined ? {} : { deliverAtMs }) }));
      const offsets = await Promise.all(sends);
      offsets.forEach((o, k) => print(messages[k] ?? '', o));
      return 0;
    }
    // Lines are sent as they are read (batched by the producer) and printed in order.
    // At most 1000 lines are waiting for their acknowledgement at once.
    let waiting = 0;
    let printed = Promise.resolve();
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      const sent = producer.send(topic, { payload: line, ...(key === undefined ? {} : { key }), ...(deliverAtMs === undefined ? {} : { deliverAtMs }) });
      waiting++;
      printed = printed.then(() => sent.then((o) => {
        print(line, o);
        waiting--;
      }));
      if (waiting >= 1000) await printed;
    }
    await printed;
    return 0;
  } finally {
    await producer.close().catch(() => undefined);
  }
}

async function fetchCommand(context: CommandContext, flags: Record<string, string | boolean | undefined>): Promise<number> {
  const { brokers, timeoutMs, json } = context;
  const topic = requireTopic(flags);
  let offset = parseWholeNumber('from', flags['from'] as string | undefined, { min: 0 }) ?? 0;
  const max = parseWholeNumber('max', flags['max'] as string | undefined, { min: 1 }) ?? Number.MAX_SAFE_INTEGER;
  const client = new LogClient({ brokers, timeoutMs, ...context.connection });
  const decoder = new TextDecoder();
  let printed = 0;
  try {
    // Bounded by --max and the topic's end: every round prints at least one message or stops.
    while (printed < max) {
      const result = await client.fetch(topic, offset);
      for (const m of result.messages.slice(0, max - printed)) {
        const payload = decoder.decode(m.payload);
        process.stdout.write(json ? `${JSON.stringify({ offset: m.offset, key: decoder.decode(m.key), timestampMs: m.timestampMs, message: payload })}\n` : `${m.offset}\t${payload}\n`);
        printed++;
      }
      if (result.messages.length === 0) break;
      offset = result.nextOffset;
    }
    return 0;
  } finally {
    client.close();
  }
}
