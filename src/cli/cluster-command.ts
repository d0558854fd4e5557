import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { localMembers, NODE_V8_FLAGS } from '../node/index.js';
import {
  CONTROL_ACTIONS,
  ControlRequestError,
  liveClusterState,
  newControlToken,
  NoRunningClusterError,
  removeStateFile,
  requestNodeAction,
  requestNodeList,
  STATE_FILE_NAME,
  startControlServer,
  writeStateFile,
  type ControlAction,
} from './cluster-control.js';
import { ClusterSupervisor } from './cluster-supervisor.js';
import { logFlagsFrom } from './log-flags.js';
import { parseCommandLine } from './parse-command-line.js';
import { RESTART_POLICY_DEFAULTS, RestartMode } from './restart-policy.js';
import { parseDurationMs, parseFlushFlags, parseWholeNumber, UsageError } from './usage-error.js';
import { parseRetention } from './retention-flags.js';

export const CLUSTER_HELP = `Usage: quorumlog cluster [options]
       quorumlog cluster kill|pause|resume|restart ID [--data-dir DIR]
       quorumlog cluster ps [--data-dir DIR] [--json]

Starts a local cluster of node processes on 127.0.0.1 in the foreground, with their logs
as readable lines prefixed by node id (the nodes write JSON; for JSON logs run each node with
quorumlog node), and keeps it running: a node that dies is restarted after a short delay
(--restart) while the others keep serving and elect a new leader when the leader was the
one lost; the cluster prints each exit, restart, leader change and catch-up on one line.
Ctrl-C (or SIGTERM) stops every node cleanly.

Options:
  --nodes N                  how many nodes (default 3; odd sizes tolerate the most failures)
  --data-dir DIR             root of the nodes' data directories, one per node (default ./data)
  --client-port-base PORT    client port of n1; n2 gets the next one, ... (default 7501)
  --peer-port-base PORT      peer port of n1, and so on (default 7601)
  --http-port-base PORT      HTTP port of n1 (the status page at /, /metrics, /healthz, /readyz), and so on
                             (default 7701; 0 serves no HTTP)
  --flush sync|async         flush policy of every node (default sync)
  --flush-interval-ms N      async flush interval (default 10)
  --durable-mark ordered|lagging
                             sync flush only: lagging acknowledges after the data's fdatasync,
                             before the durable mark's (see quorumlog node --help; default ordered)
  --tick-ms N                Raft tick length of every node
  --segment-bytes N, --snapshot-entries N, --retention-hours H, --retention-bytes N,
  --retention-policy keep-unconsumed|delete, --disk-high-watermark PCT
                             passed to every node (see quorumlog node --help)
  --tls DIR                  TLS on every node's client port and mutual TLS between them, with
                             the certificates quorumlog certs init DIR wrote (DIR/ca.pem,
                             DIR/ID.pem, DIR/ID-key.pem); connect with --tls-ca DIR/ca.pem
  --users-file FILE          with --tls: clients must authenticate, by a user of FILE (quorumlog
                             users add) or a client certificate; the cluster itself watches its
                             nodes with DIR/client.pem. SIGHUP a node (cluster ps) to re-read FILE
  --super-users NAMES        with --users-file: passed to every node (quorumlog node --help); the
                             users or client names that may change ACLs (quorumlog acl add)
  --log-level LEVEL          the nodes' log level: trace, debug, info (default), warn, error, fatal
  --restart on-failure|never on-failure (default): restart a node killed by a signal or exiting
                             with an error status, unless it was restarted ${RESTART_POLICY_DEFAULTS.restartsMax} times within
                             ${RESTART_POLICY_DEFAULTS.windowMs / 1000} s already or exited on a usage/configuration error
                             (status 2); never: leave it down
  --restart-delay-ms N       wait this long before a restart (default ${RESTART_POLICY_DEFAULTS.delayMs})
  -h, --help                 show this help

Controlling one node of the cluster running under --data-dir (found through DIR/${STATE_FILE_NAME}):
  kill ID      SIGKILL, as a crash; the cluster restarts it per --restart
  pause ID     SIGSTOP: the process stays but stops answering (a leader loses leadership)
  resume ID    SIGCONT a paused node (stopping the cluster resumes paused nodes too)
  restart ID   start it again now, whatever its state (also with --restart never); waits until it serves
  ps           each node's state, pid and restart count
`;

const OPTIONS = {
  nodes: { type: 'string' },
  'data-dir': { type: 'string' },
  'client-port-base': { type: 'string' },
  'peer-port-base': { type: 'string' },
  'http-port-base': { type: 'string' },
  flush: { type: 'string' },
  'flush-interval-ms': { type: 'string' },
  'durable-mark': { type: 'string' },
  'tick-ms': { type: 'string' },
  'segment-bytes': { type: 'string' },
  'snapshot-entries': { type: 'string' },
  'retention-hours': { type: 'string' },
  'retention-bytes': { type: 'string' },
  'retention-policy': { type: 'string' },
  'disk-high-watermark': { type: 'string' },
  'log-level': { type: 'string' },
  tls: { type: 'string' },
  'users-file': { type: 'string' },
  'super-users': { type: 'string' },
  restart: { type: 'string' },
  'restart-delay-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const CONTROL_OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const DEFAULT_DATA_ROOT = './data';

export async function runClusterCommand(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'ps') return runPs(rest);
  if (CONTROL_ACTIONS.includes(first as ControlAction)) return runControl(first as ControlAction, rest);
  if (first !== undefined && !first.startsWith('-')) throw new UsageError(`unknown cluster subcommand "${first}"; expected ${CONTROL_ACTIONS.join(', ')} or ps (see quorumlog cluster --help)`);
  return runCluster(argv);
}

async function runCluster(argv: readonly string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, { allowPositionals: false });
  if (values.help === true) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const count = parseWholeNumber('nodes', values.nodes, { min: 1, max: 9 }) ?? 3;
  const clientBase = parseWholeNumber('client-port-base', values['client-port-base'], { min: 1024, max: 65000 }) ?? 7501;
  const peerBase = parseWholeNumber('peer-port-base', values['peer-port-base'], { min: 1024, max: 65000 }) ?? 7601;
  const httpBase = values['http-port-base'] === '0' ? 0 : (parseWholeNumber('http-port-base', values['http-port-base'], { min: 1024, max: 65000 }) ?? 7701);
  const dataRoot = values['data-dir'] ?? DEFAULT_DATA_ROOT;
  const { flush, durableMark } = parseFlushFlags(values.flush, values['durable-mark']);
  const flushInterval = parseDurationMs('flush-interval-ms', values['flush-interval-ms']);
  const tickMs = parseWholeNumber('tick-ms', values['tick-ms'], { min: 1, max: 60_000 });
  const storageArgs = storagePassThrough(values);
  const logging = logFlagsFrom(values['log-level'], undefined);
  const mode = values.restart ?? RESTART_POLICY_DEFAULTS.mode;
  if (mode !== RestartMode.onFailure && mode !== RestartMode.never) throw new UsageError(`--restart must be on-failure or never, not "${mode}"`);
  const delayMs = parseWholeNumber('restart-delay-ms', values['restart-delay-ms'], { min: 0, max: 600_000 }) ?? RESTART_POLICY_DEFAULTS.delayMs;

  const running = liveClusterState(dataRoot);
  if (running !== null) throw new Error(`a cluster is already running under ${path.resolve(dataRoot)} (pid ${running.pid}); stop it first, or use another --data-dir`);

  const members = localMembers(count, clientBase, peerBase);
  const tlsDir = values.tls;
  if (tlsDir !== undefined) checkTlsDir(tlsDir, members.map((m) => m.id));
  const usersFile = values['users-file'];
  if (usersFile !== undefined) checkUsersFile(usersFile, tlsDir);
  const membersSpec = members.map((m) => `${m.id}=${m.peerAddress}/${m.clientAddress}`).join(',');
  const width = Math.max(...members.map((m) => m.id.length));
  process.stdout.write(`quorumlog: starting ${count} nodes (data under ${path.resolve(dataRoot)}; restart ${mode})\n`);
  const httpPortOf = (k: number): number => (httpBase === 0 ? 0 : httpBase + k);
  for (const [k, m] of members.entries()) {
    const http = httpBase === 0 ? '' : `  status page http://127.0.0.1:${httpPortOf(k)}/`;
    process.stdout.write(`  ${m.id.padEnd(width)}  clients ${m.clientAddress}  peers ${m.peerAddress}${http}\n`);
  }
  const tlsFlag = tlsDir === undefined ? '' : ` --tls-ca ${path.join(tlsDir, 'ca.pem')}`;
  process.stdout.write(`Connect with: quorumlog status --brokers ${members.map((m) => m.clientAddress).join(',')}${tlsFlag}\nPress Ctrl-C to stop.\n`);

  const nodeArgs = (id: string): string[] => {
    const args = [...NODE_V8_FLAGS, MAIN, 'node', '--id', id, '--members', membersSpec, '--data-dir', path.join(dataRoot, id), '--flush', flush];
    if (flushInterval !== undefined) args.push('--flush-interval-ms', String(flushInterval));
    if (flush === 'sync') args.push('--durable-mark', durableMark);
    if (tickMs !== undefined) args.push('--tick-ms', String(tickMs));
    args.push(...storageArgs);
    // JSON, whatever a node would pick by itself: the supervisor reads its lines and renders them.
    if (tlsDir !== undefined) args.push(...nodeTlsArgs(tlsDir, id));
    if (usersFile !== undefined) args.push('--users-file', usersFile);
    if (values['super-users'] !== undefined) args.push('--super-users', values['super-users']);
    args.push('--log-level', logging.level, '--log-format', 'json');
    args.push('--http-port', String(httpPortOf(members.findIndex((m) => m.id === id))));
    if (httpBase !== 0) args.push('--http-members', members.map((m, k) => `${m.id}=127.0.0.1:${httpPortOf(k)}`).join(','));
    return args;
  };
  const token = newControlToken();
  let controlAddress: string | null = null;
  const supervisor: ClusterSupervisor = new ClusterSupervisor({
    members,
    nodeArgs,
    restart: { ...RESTART_POLICY_DEFAULTS, mode, delayMs },
    print: (line) => process.stdout.write(`${line}\n`),
    ...(tlsDir === undefined ? {} : { clientTls: { tls: supervisorTls(tlsDir, usersFile !== undefined) } }),
    onChange: () => {
      if (controlAddress !== null) writeStateFile(dataRoot, { version: 1, pid: process.pid, controlAddress, token, nodes: supervisor.list() });
    },
  });
  const control = await startControlServer(supervisor, token);
  controlAddress = control.address;
  // stop() is idempotent: a second Ctrl-C must not end this process and leave the nodes (own process groups) behind.
  process.on('SIGINT', () => void supervisor.stop());
  process.on('SIGTERM', () => void supervisor.stop());
  supervisor.start();
  try {
    await supervisor.stopped;
  } finally {
    await control.close();
    removeStateFile(dataRoot, token);
  }
  process.stdout.write('quorumlog: all nodes stopped\n');
  return 0;
}

function parseControlArgs(argv: readonly string[], usage: string): { dataRoot: string; json: boolean; positionals: string[] } | null {
  const { values, positionals } = parseCommandLine(argv, CONTROL_OPTIONS, { allowPositionals: true });
  if (values.help === true) {
    process.stdout.write(`Usage: ${usage}\n\nSee quorumlog cluster --help.\n`);
    return null;
  }
  return { dataRoot: values['data-dir'] ?? DEFAULT_DATA_ROOT, json: values.json === true, positionals };
}

async function runControl(action: ControlAction, argv: readonly string[]): Promise<number> {
  const args = parseControlArgs(argv, `quorumlog cluster ${action} ID [--data-dir DIR]`);
  if (args === null) return 0;
  const [id, ...extra] = args.positionals;
  if (id === undefined || extra.length > 0) throw new UsageError(`quorumlog cluster ${action} takes one node id, such as n2`);
  try {
    const message = await requestNodeAction(args.dataRoot, action, id);
    process.stdout.write(args.json ? `${JSON.stringify({ action, id, message })}\n` : `${message}\n`);
    return 0;
  } catch (error) {
    return controlFailure(error);
  }
}

async function runPs(argv: readonly string[]): Promise<number> {
  const args = parseControlArgs(argv, 'quorumlog cluster ps [--data-dir DIR] [--json]');
  if (args === null) return 0;
  if (args.positionals.length > 0) throw new UsageError('quorumlog cluster ps takes no arguments');
  try {
    const nodes = await requestNodeList(args.dataRoot);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(nodes, null, 2)}\n`);
      return 0;
    }
    const rows = [['node', 'state', 'pid', 'restarts', 'clients'], ...nodes.map((n) => [n.id, n.state, String(n.pid ?? '-'), String(n.restarts), n.clientAddress])];
    const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
    for (const r of rows) process.stdout.write(`${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
    return 0;
  } catch (error) {
    return controlFailure(error);
  }
}

/** An unknown node id is a usage error (2); no cluster, or a refusal, is a failure (1). */
function controlFailure(error: unknown): number {
  if (error instanceof ControlRequestError && error.status === 404) throw new UsageError(error.message);
  if (error instanceof ControlRequestError || error instanceof NoRunningClusterError) {
    process.stderr.write(`quorumlog: ${error.message}\n`);
    return 1;
  }
  throw error;
}

/** The snapshot, retention and disk flags every node gets, checked here so a bad one fails before any node starts. */
function storagePassThrough(values: { readonly [K in 'segment-bytes' | 'snapshot-entries' | 'retention-hours' | 'retention-bytes' | 'retention-policy' | 'disk-high-watermark']?: string | undefined }): string[] {
  const args: string[] = [];
  const whole = (flag: 'segment-bytes' | 'snapshot-entries' | 'retention-bytes' | 'disk-high-watermark', range: { readonly min: number; readonly max?: number }): void => {
    const value = parseWholeNumber(flag, values[flag], range);
    if (value !== undefined) args.push(`--${flag}`, String(value));
  };
  whole('segment-bytes', { min: 4096, max: 1024 * 1024 * 1024 });
  whole('snapshot-entries', { min: 1, max: 1_000_000_000 });
  whole('retention-bytes', { min: 0 });
  whole('disk-high-watermark', { min: 1, max: 100 });
  // Checked as the node will parse them, then passed on as given.
  parseRetention(values['retention-hours'], undefined, values['retention-policy']);
  if (values['retention-hours'] !== undefined) args.push('--retention-hours', values['retention-hours']);
  if (values['retention-policy'] !== undefined) args.push('--retention-policy', values['retention-policy']);
  return args;
}

/** A node's --tls-* flags for the files quorumlog certs init wrote into `dir`. */
export function nodeTlsArgs(dir: string, id: string): string[] {
  return ['--tls-ca', path.join(dir, 'ca.pem'), '--tls-cert', path.join(dir, `${id}.pem`), '--tls-key', path.join(dir, `${id}-key.pem`)];
}

/** --users-file needs --tls (nodes refuse passwords in plaintext), the file, and DIR/client.pem for the supervisor's own calls. */
function checkUsersFile(file: string, tlsDir: string | undefined): void {
  if (tlsDir === undefined) throw new UsageError('--users-file needs --tls DIR: nodes never take passwords in plaintext');
  if (!fs.existsSync(file)) throw new UsageError(`--users-file ${file} does not exist (quorumlog users add USER --file ${file} makes it)`);
  for (const name of ['client.pem', 'client-key.pem']) {
    if (!fs.existsSync(path.join(tlsDir, name))) throw new UsageError(`--users-file: ${path.join(tlsDir, name)} is missing; the cluster watches its nodes with that client certificate (quorumlog certs init writes it)`);
  }
}

/** What the supervisor dials its nodes with: the CA, and the client certificate when the nodes authenticate clients. */
function supervisorTls(dir: string, authenticate: boolean): { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } {
  const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
  if (!authenticate) return { ca };
  return { ca, cert: fs.readFileSync(path.join(dir, 'client.pem')), key: fs.readFileSync(path.join(dir, 'client-key.pem')) };
}

function checkTlsDir(dir: string, ids: readonly string[]): void {
  for (const file of ['ca.pem', ...ids.flatMap((id) => [`${id}.pem`, `${id}-key.pem`])]) {
    if (!fs.existsSync(path.join(dir, file))) throw new UsageError(`--tls ${dir}: ${file} is missing (quorumlog certs init ${dir} --members ${ids.join(',')} writes a set)`);
  }
}
