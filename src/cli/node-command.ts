import * as fs from 'node:fs';

import { nodeId } from '../../raft/index.js';
import { realScheduler, type FlushPolicy } from '../../storage/index.js';
import { LogEvent, LogFormat, type Log } from '../log/index.js';
import { ConfigError, DataDirWipedError, NODE_DEFAULTS, localMembers, parseDialAddresses, parseMembers, type MemberConfig, type NodeConfig, startNode } from '../node/index.js';
import { createNodeLog, NodeMetrics, READY_APPLIED_LAG_ENTRIES_MAX, startHttpEndpoint, type HttpEndpoint } from '../observe/index.js';
import { logFlagsFrom, type LogFlags } from './log-flags.js';
import { parseCommandLine } from './parse-command-line.js';
import type { TlsFiles } from '../transport/index.js';
import { parseDurationMs, parseFlushFlags, parseWholeNumber, UsageError } from './usage-error.js';
import { parseRetention } from './retention-flags.js';
import { joinConfig } from './join-members.js';
import { USAGE_EXIT_STATUS } from './restart-policy.js';

export const NODE_HELP = `Usage: quorumlog node --id ID [options]

Runs one quorumlog node in the foreground until SIGTERM or SIGINT.

Options:
  --id ID                    this node's id (required), one of the members
  --members SPEC             every member as id=peerHost:port/clientHost:port, comma-separated
                             (default: the local cluster n1..n3 on 127.0.0.1, peers 7601.., clients 7501..).
                             On a fresh data directory these are the voters a new cluster starts with;
                             once the log holds a configuration, the log's is used and this only says
                             where to find peers (docs/membership.md)
  --join BROKERS             join an existing cluster (client addresses host:port,...): the members are
                             listed from there, --members gives only this node's own addresses; the
                             node waits, without voting, until quorumlog members add makes it a learner
  --data-dir DIR             where the log lives (default ./data/ID)
  --cluster-id ID            names the cluster; a data dir of another cluster is refused (default ${NODE_DEFAULTS.clusterId})
  --flush sync|async         sync: fdatasync before acknowledging (default); async: fdatasync every interval
  --flush-interval-ms N      the async flush interval (default 10)
  --durable-mark ordered|lagging
                             sync flush only. ordered (default): acknowledge once the data and
                             then the durable mark recording it are fdatasync'ed; lagging:
                             acknowledge after the data's fdatasync, the mark following (one
                             fdatasync less per acknowledgement; a disk that loses the last
                             acknowledged group at a power failure then goes unnoticed)
  --tick-ms N                Raft tick length (default ${NODE_DEFAULTS.tickMs})
  --election-ticks N         election timeout in ticks, randomized up to twice that (default ${NODE_DEFAULTS.electionTicks})
  --heartbeat-ticks N        heartbeat interval in ticks (default ${NODE_DEFAULTS.heartbeatTicks})
  --preferred-leader ID      hand leadership to this member whenever it is caught up
  --max-record-bytes N       largest record accepted (default ${NODE_DEFAULTS.recordBytesMax})
  --max-message-bytes N      largest gRPC message (default ${NODE_DEFAULTS.messageBytesMax})
  --segment-bytes N          start a new log segment file past this size (default ${NODE_DEFAULTS.segmentBytes})
  --snapshot-entries N       write a snapshot of the broker's state every N applied entries
                             (default ${NODE_DEFAULTS.snapshotEntries}); restart replays only the entries after it
  --retention-hours N        delete log segments below the newest snapshot once every entry in
                             them is older than this (default ${NODE_DEFAULTS.retention.hours}; may be fractional)
  --retention-bytes N        ... or once the log is larger than this (default: no limit)
  --retention-policy keep-unconsumed|delete
                             keep-unconsumed (default): never delete a message some consumer
                             group of its topic has not acked past; delete: retention wins
  --disk-high-watermark PCT  above PCT% of the data directory's disk used, the leader refuses new
                             messages (append, produce, half messages) with RESOURCE_EXHAUSTED until
                             it is below again; reads, acks and replication go on (default ${NODE_DEFAULTS.diskHighWatermarkPercent}; 100: off)
  --dial SPEC                dial some peers elsewhere than their peer address, as id=host:port,...
                             (for fault injection: a proxy on each directed link); may name a
                             node that becomes a member later
  --producer-idle-expiry-ms N  forget a producer id (its dedupe state) unused this long (default 24h)
  --http-port PORT           serve /metrics, /healthz and /readyz over HTTP on this port (default 0: off)
  --http-host HOST           the address the HTTP port listens on (default 127.0.0.1)
  --http-members SPEC        every member's HTTP address as id=host:port,... : the status page at /
                             reads the other members there and links to the leader's page
                             (default with the default --members: 127.0.0.1:7701, 7702, ...;
                             else none, and the page shows the others as unreachable)
  --ready-lag-entries N      /readyz answers 503 while applied trails the known commit index by
                             more than N entries (default ${READY_APPLIED_LAG_ENTRIES_MAX})
  --log-level LEVEL          trace, debug, info (default), warn, error or fatal: lines below it are not written
  --log-format json|text     json: one JSON object per line (level, time, node, term, role, event,
                             msg, ...); text: one readable line each. Default: text when stdout is
                             a terminal, json otherwise
  --tls-cert FILE            this node's certificate (PEM), signed by the cluster CA and naming the
                             node (urn:quorumlog:member:ID) and its hosts: TLS on the client port,
                             mutual TLS on the peer port. Re-read with the key and CA on SIGHUP
  --tls-key FILE             its private key (PEM)
  --tls-ca FILE              the cluster CA (PEM): peers must present a certificate it signed
  --insecure                 allow plaintext on a non-loopback address (refused without it)
  --users-file FILE          users and their scrypt password hashes (quorumlog users add): every
                             client call must then authenticate, by user and password or by a
                             client certificate. Needs TLS (passwords never travel in plaintext).
                             Re-read on SIGHUP
  --require-client-auth      every client call must authenticate, by a client certificate signed
                             by --tls-ca naming urn:quorumlog:client:NAME (quorumlog certs init
                             --clients NAME), or by password with --users-file. Needs TLS
  --super-users NAMES        with client authentication, the users / client names (comma-separated)
                             that every ACL check lets through: the only ones that may change ACLs
                             (quorumlog acl), use the raw log (append, read) and move leadership.
                             Everyone else needs an ACL rule for each topic and group they use
  --config FILE              a JSON file with any of these options (camelCase keys); flags win
  --event-loop-file FILE     measurement: append this process's event-loop delay to FILE, one JSON
                             line every 0.5 s (what quorumlog bench reads; monitorEventLoopDelay
                             at 2 ms resolution, about 17 ms of CPU a second when idle)
  --power-loss               fault injection only: keep unsynced writes in memory so kill -9
                             loses exactly what a power failure would
  -h, --help                 show this help
`;

const OPTIONS = {
  id: { type: 'string' },
  members: { type: 'string' },
  join: { type: 'string' },
  'data-dir': { type: 'string' },
  'cluster-id': { type: 'string' },
  flush: { type: 'string' },
  'flush-interval-ms': { type: 'string' },
  'durable-mark': { type: 'string' },
  'tick-ms': { type: 'string' },
  'election-ticks': { type: 'string' },
  'heartbeat-ticks': { type: 'string' },
  'preferred-leader': { type: 'string' },
  'max-record-bytes': { type: 'string' },
  'max-message-bytes': { type: 'string' },
  'segment-bytes': { type: 'string' },
  'snapshot-entries': { type: 'string' },
  'retention-hours': { type: 'string' },
  'retention-bytes': { type: 'string' },
  'retention-policy': { type: 'string' },
  'disk-high-watermark': { type: 'string' },
  config: { type: 'string' },
  dial: { type: 'string' },
  'producer-idle-expiry-ms': { type: 'string' },
  'power-loss': { type: 'boolean' },
  'event-loop-file': { type: 'string' },
  'http-port': { type: 'string' },
  'http-host': { type: 'string' },
  'http-members': { type: 'string' },
  'ready-lag-entries': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  insecure: { type: 'boolean' },
  'users-file': { type: 'string' },
  'require-client-auth': { type: 'boolean' },
  'super-users': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Where the node serves HTTP (metrics and health checks); port 0 turns it off. */
export interface HttpFlags {
  readonly host: string;
  readonly port: number;
  readonly appliedLagEntriesMax: number;
  /** Each member's HTTP address, for the status page (those absent are shown as unreachable). */
  readonly members: ReadonlyMap<string, string>;
}

/** The local cluster's HTTP ports: n1 on 7701, n2 on 7702, ... (what `quorumlog cluster` gives them). */
const LOCAL_HTTP_PORT_BASE = 7701;

/** Builds the node's configuration and HTTP settings from flags, over a config file, over defaults. */
export function nodeArgsFrom(argv: readonly string[]): { readonly config: NodeConfig; readonly http: HttpFlags; readonly logging: LogFlags; readonly join: string | null } | 'help' {
  const { values } = parseCommandLine(argv, OPTIONS, { allowPositionals: false });
  if (values.help === true) return 'help';
  const file = values.config === undefined ? {} : readConfigFile(values.config);
  const pick = (flag: keyof typeof OPTIONS, key: string): string | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    const f = file[key];
    return f === undefined ? undefined : String(f);
  };
  const id = pick('id', 'id');
  if (id === undefined) throw new UsageError('--id is required (see quorumlog node --help)');
  const membersSpec = pick('members', 'members');
  const members: MemberConfig[] = membersSpec === undefined ? localMembers(3) : parseMembers(membersSpec);
  const flags = parseFlushFlags(pick('flush', 'flush'), pick('durable-mark', 'durableMark'));
  const intervalMs = parseDurationMs('flush-interval-ms', pick('flush-interval-ms', 'flushIntervalMs')) ?? 10;
  const flush: FlushPolicy = flags.flush === 'sync' ? { mode: 'sync', mark: flags.durableMark } : { mode: 'async', intervalMs };
  const preferred = pick('preferred-leader', 'preferredLeader');
  const http: HttpFlags = {
    host: pick('http-host', 'httpHost') ?? '127.0.0.1',
    port: parseWholeNumber('http-port', pick('http-port', 'httpPort'), { min: 0, max: 65535 }) ?? 0,
    appliedLagEntriesMax: parseWholeNumber('ready-lag-entries', pick('ready-lag-entries', 'readyLagEntries'), { min: 0 }) ?? READY_APPLIED_LAG_ENTRIES_MAX,
    members: httpMembersFrom(pick('http-members', 'httpMembers'), members, membersSpec === undefined),
  };
  const config: NodeConfig = {
    id: nodeId(id),
    members,
    clusterId: pick('cluster-id', 'clusterId') ?? NODE_DEFAULTS.clusterId,
    dataDir: pick('data-dir', 'dataDir') ?? `./data/${id}`,
    flush,
    tickMs: parseWholeNumber('tick-ms', pick('tick-ms', 'tickMs'), { min: 1, max: 60_000 }) ?? NODE_DEFAULTS.tickMs,
    electionTicks: parseWholeNumber('election-ticks', pick('election-ticks', 'electionTicks'), { min: 2, max: 10_000 }) ?? NODE_DEFAULTS.electionTicks,
    heartbeatTicks: parseWholeNumber('heartbeat-ticks', pick('heartbeat-ticks', 'heartbeatTicks'), { min: 1, max: 10_000 }) ?? NODE_DEFAULTS.heartbeatTicks,
    preferredLeader: preferred === undefined ? null : nodeId(preferred),
    recordBytesMax: parseWholeNumber('max-record-bytes', pick('max-record-bytes', 'recordBytesMax'), { min: 1, max: 256 * 1024 * 1024 }) ?? NODE_DEFAULTS.recordBytesMax,
    messageBytesMax: parseWholeNumber('max-message-bytes', pick('max-message-bytes', 'messageBytesMax'), { min: 64 * 1024, max: 1024 * 1024 * 1024 }) ?? NODE_DEFAULTS.messageBytesMax,
    segmentBytes: parseWholeNumber('segment-bytes', pick('segment-bytes', 'segmentBytes'), { min: 4096, max: 1024 * 1024 * 1024 }) ?? NODE_DEFAULTS.segmentBytes,
    snapshotEntries: parseWholeNumber('snapshot-entries', pick('snapshot-entries', 'snapshotEntries'), { min: 1, max: 1_000_000_000 }) ?? NODE_DEFAULTS.snapshotEntries,
    retention: parseRetention(pick('retention-hours', 'retentionHours'), pick('retention-bytes', 'retentionBytes'), pick('retention-policy', 'retentionPolicy')),
    diskHighWatermarkPercent: parseWholeNumber('disk-high-watermark', pick('disk-high-watermark', 'diskHighWatermarkPercent'), { min: 1, max: 100 }) ?? NODE_DEFAULTS.diskHighWatermarkPercent,
    dialAddresses: parseDialAddresses(pick('dial', 'dial') ?? ''),
    producerIdleExpiryMs:
      parseDurationMs('producer-idle-expiry-ms', pick('producer-idle-expiry-ms', 'producerIdleExpiryMs')) ?? NODE_DEFAULTS.producerIdleExpiryMs,
    powerLoss: values['power-loss'] === true || file['powerLoss'] === true,
    insecure: values.insecure === true || file['insecure'] === true,
  };
  const tls = tlsFilesFrom(pick('tls-ca', 'tlsCa'), pick('tls-cert', 'tlsCert'), pick('tls-key', 'tlsKey'));
  const usersFile = pick('users-file', 'usersFile');
  const requireClientAuth = values['require-client-auth'] === true || file['requireClientAuth'] === true;
  const superUsers = parseSuperUsers(pick('super-users', 'superUsers'));
  const logging = logFlagsFrom(pick('log-level', 'logLevel'), pick('log-format', 'logFormat'));
  const secured: NodeConfig = {
    ...config,
    ...(tls === undefined ? {} : { tls }),
    ...(usersFile === undefined ? {} : { usersFile }),
    ...(requireClientAuth ? { requireClientAuth } : {}),
    ...(superUsers.length === 0 ? {} : { superUsers }),
  };
  const join = pick('join', 'join') ?? null;
  if (join !== null && membersSpec === undefined) throw new UsageError(`--join needs --members with this node's own addresses: ${id}=peerHost:port/clientHost:port`);
  return { config: secured, http, logging, join };
}

/** --super-users a,b: names, none empty. */
function parseSuperUsers(spec: string | undefined): string[] {
  if (spec === undefined) return [];
  const names = spec.split(',').map((name) => name.trim());
  if (names.some((name) => name === '' || name === '*')) throw new UsageError(`--super-users takes user or client names separated by commas, none empty and none "*" (got "${spec}")`);
  return names;
}

/** --tls-ca, --tls-cert and --tls-key: all three or none. */
export function tlsFilesFrom(caFile: string | undefined, certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  if (caFile === undefined || certFile === undefined || keyFile === undefined) {
    const missing = [caFile === undefined ? '--tls-ca' : '', certFile === undefined ? '--tls-cert' : '', keyFile === undefined ? '--tls-key' : ''].filter((f) => f !== '');
    throw new UsageError(`TLS needs --tls-cert, --tls-key and --tls-ca together: ${missing.join(' and ')} missing`);
  }
  return { caFile, certFile, keyFile };
}


/** --http-members as a map, each id a member and each address host:port; the local cluster's ports by default. */
function httpMembersFrom(spec: string | undefined, members: readonly MemberConfig[], localCluster: boolean): Map<string, string> {
  if (spec === undefined) return new Map(localCluster ? members.map((m, k) => [m.id, `127.0.0.1:${LOCAL_HTTP_PORT_BASE + k}`]) : []);
  const out = new Map<string, string>();
  for (const part of spec.split(',').filter((p) => p.trim() !== '')) {
    const match = /^([^=\s]+)=(\S+):(\d{1,5})$/.exec(part.trim());
    if (match === null) throw new UsageError(`--http-members: "${part}" must look like id=host:port`);
    const [, id = '', host = '', port = ''] = match;
    // Any member, not only those --members names: members come and go through the log, and a
    // joining node's --members names only itself.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw new UsageError(`--http-members: "${id}" is not a node id (1-64 letters, digits, '.', '_' or '-')`);
    out.set(id, `${host}:${port}`);
  }
  return out;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`config file ${file} is not a JSON object: ${(error as Error).message}`);
  }
}

/** Runs a node until a signal; returns the process exit status. */
export async function runNodeCommand(argv: readonly string[]): Promise<number> {
  const args = nodeArgsFrom(argv);
  if (args === 'help') {
    process.stdout.write(NODE_HELP);
    return 0;
  }
  const { config, http, logging } = args;
  const loopDelayFile = eventLoopFileOf(argv);
  // Loaded only when asked for: a node measured by the bench.
  const loopDelay = loopDelayFile === undefined ? null : (await import('../process/index.js')).startLoopDelayRecorder(loopDelayFile);
  try {
    return await runNode(config, http, logging, args.join);
  } finally {
    loopDelay?.stop();
  }
}

/** --event-loop-file, a measurement setting of this process rather than of the node (so not in NodeConfig). */
function eventLoopFileOf(argv: readonly string[]): string | undefined {
  const { values } = parseCommandLine(argv, OPTIONS, { allowPositionals: false });
  return values['event-loop-file'];
}

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '[::]']);

async function runNode(configured: NodeConfig, http: HttpFlags, logging: LogFlags, join: string | null): Promise<number> {
  let config = configured;
  const baseLog = createNodeLog({ node: config.id, level: logging.level, format: logging.format ?? (process.stdout.isTTY ? LogFormat.text : LogFormat.json) });
  if (join !== null) config = await joinConfig(config, join, (line) => baseLog.warn(line, { event: LogEvent.configWarning }));
  // Reported by Status, so `members add` records where this node serves HTTP; a wildcard host
  // names no address another node could reach, so it is not reported.
  if (http.port !== 0 && !WILDCARD_HOSTS.has(http.host)) config = { ...config, httpAddress: `${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}` };
  const metrics = http.port === 0 ? null : new NodeMetrics();
  const node = await startNode(config, baseLog, metrics === null ? {} : metrics.observation).catch((error: unknown) => {
    // A configuration the node refuses is the CLI's one line on stderr; a start that fails
    // on its storage is also a line of the node's log, for whatever collects it.
    if (!(error instanceof ConfigError)) baseLog.fatal(`cannot start: ${describe(error)}`, { event: LogEvent.failed, reason: 'start failed' });
    throw error;
  });
  const log: Log = node.log;
  let endpoint: HttpEndpoint | null = null;
  if (metrics !== null) {
    metrics.attach(node.inspect, config.dataDir);
    try {
      endpoint = await startHttpEndpoint({
        host: http.host,
        port: http.port,
        metrics,
        node: node.inspect,
        appliedLagEntriesMax: http.appliedLagEntriesMax,
        page: { scheduler: realScheduler, httpMembers: http.members, memberIds: config.members.map((m) => m.id) },
      });
    } catch (error) {
      await node.stop();
      throw new ConfigError(`cannot serve HTTP on ${http.host}:${http.port}: ${(error as Error).message}`, { cause: error });
    }
    log.info(`serving the status page on http://${endpoint.address}/ (and /metrics, /healthz, /readyz)`, { event: LogEvent.httpServing, address: endpoint.address });
  }
  const stopAll = async (): Promise<void> => {
    await endpoint?.close();
    await node.stop();
  };
  // Certificate rotation and user changes: new connections use the files' new content, the
  // users file holds from the next call; a bad file is logged and what was in use kept.
  const onHangup = (): void => {
    if (config.tls === undefined) log.warn('SIGHUP: this node runs without TLS; nothing to reload', { event: LogEvent.configWarning });
    else node.reloadTls();
    if (config.usersFile !== undefined) node.reloadUsers();
  };
  process.on('SIGHUP', onHangup);
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const outcome = await Promise.race([signalled.then((signal) => ({ signal })), node.stopped.then((failure) => ({ failure }))]);
  process.off('SIGHUP', onHangup);
  if ('failure' in outcome) {
    // Written synchronously (createNodeLog): out before the process exits.
    log.fatal(`stopping: ${outcome.failure.reason}: ${describe(outcome.failure.error)}`, { event: LogEvent.failed, reason: outcome.failure.reason });
    await stopAll().catch(() => undefined);
    // A wiped disk under a member's id stays refused whatever restarts it: a configuration to change, not a crash.
    return outcome.failure.error instanceof DataDirWipedError ? USAGE_EXIT_STATUS : 1;
  }
  log.info(`${outcome.signal}: shutting down`, { event: LogEvent.shuttingDown, signal: outcome.signal });
  await stopAll();
  log.info('stopped', { event: LogEvent.stopped });
  return 0;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}

export { ConfigError };
