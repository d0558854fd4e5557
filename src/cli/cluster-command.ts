import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { localMembers } from '../node/config.js';
import { NODE_V8_FLAGS } from '../node/v8-flags.js';
import { parseDurationMs, parseFlushFlags, parseWholeNumber } from './usage-error.js';

export const CLUSTER_HELP = `Usage: quorumlog cluster [options]

Starts a local cluster of node processes on 127.0.0.1 in the foreground, with their logs
prefixed by node id. Ctrl-C (or SIGTERM) stops every node cleanly.

Options:
  --nodes N                  how many nodes (default 3; odd sizes tolerate the most failures)
  --data-dir DIR             root of the nodes' data directories, one per node (default ./data)
  --client-port-base PORT    client port of n1; n2 gets the next one, ... (default 7501)
  --peer-port-base PORT      peer port of n1, and so on (default 7601)
  --flush sync|async         flush policy of every node (default sync)
  --flush-interval-ms N      async flush interval (default 10)
  --durable-mark ordered|lagging
                             sync flush only: lagging acknowledges after the data's fdatasync,
                             before the durable mark's (see quorumlog node --help; default ordered)
  --tick-ms N                Raft tick length of every node
  -h, --help                 show this help
`;

const OPTIONS = {
  nodes: { type: 'string' },
  'data-dir': { type: 'string' },
  'client-port-base': { type: 'string' },
  'peer-port-base': { type: 'string' },
  flush: { type: 'string' },
  'flush-interval-ms': { type: 'string' },
  'durable-mark': { type: 'string' },
  'tick-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
const STOP_GRACE_MS = 10_000;
/** The node's own announcement of winning an election (src/node/node.ts logs role changes). */
const LEADER_LINE = / leader in term (\d+)$/;

export async function runClusterCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) {
    process.stdout.write(CLUSTER_HELP);
    return 0;
  }
  const count = parseWholeNumber('nodes', values.nodes, { min: 1, max: 9 }) ?? 3;
  const clientBase = parseWholeNumber('client-port-base', values['client-port-base'], { min: 1024, max: 65000 }) ?? 7501;
  const peerBase = parseWholeNumber('peer-port-base', values['peer-port-base'], { min: 1024, max: 65000 }) ?? 7601;
  const dataRoot = values['data-dir'] ?? './data';
  const { flush, durableMark } = parseFlushFlags(values.flush, values['durable-mark']);
  const flushInterval = parseDurationMs('flush-interval-ms', values['flush-interval-ms']);
  const tickMs = parseWholeNumber('tick-ms', values['tick-ms'], { min: 1, max: 60_000 });

  const members = localMembers(count, clientBase, peerBase);
  const membersSpec = members.map((m) => `${m.id}=${m.peerAddress}/${m.clientAddress}`).join(',');
  const width = Math.max(...members.map((m) => m.id.length));
  process.stdout.write(`quorumlog: starting ${count} nodes (data under ${path.resolve(dataRoot)})\n`);
  for (const m of members) process.stdout.write(`  ${m.id.padEnd(width)}  clients ${m.clientAddress}  peers ${m.peerAddress}\n`);
  process.stdout.write(`Connect with: quorumlog status --brokers ${members.map((m) => m.clientAddress).join(',')}\nPress Ctrl-C to stop.\n`);

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let failed = false;
  const exited: Promise<void>[] = [];
  for (const m of members) {
    const args = [...NODE_V8_FLAGS, MAIN, 'node', '--id', m.id, '--members', membersSpec, '--data-dir', path.join(dataRoot, m.id), '--flush', flush];
    if (flushInterval !== undefined) args.push('--flush-interval-ms', String(flushInterval));
    if (flush === 'sync') args.push('--durable-mark', durableMark);
    if (tickMs !== undefined) args.push('--tick-ms', String(tickMs));
    // Own process group: a Ctrl-C reaches the nodes only through us, so they stop in order.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.set(m.id, child);
    const prefix = `${m.id.padEnd(width)} | `;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        process.stdout.write(prefix + stripOwnPrefix(line, m.id) + '\n');
        const won = LEADER_LINE.exec(line);
        if (won !== null) process.stdout.write(`quorumlog: ${m.id} is the leader (term ${won[1]}), clients at ${m.clientAddress}\n`);
      });
    }
    exited.push(
      new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          children.delete(m.id);
          if (!stopping) {
            failed = true;
            process.stdout.write(`${prefix}exited unexpectedly (${signal ?? `status ${code}`}); stopping the cluster\n`);
            void stopAll();
          }
          resolve();
        });
      }),
    );
  }

  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await Promise.all(exited);
    clearTimeout(timer);
  };
  process.once('SIGINT', () => void stopAll());
  process.once('SIGTERM', () => void stopAll());
  await Promise.all(exited);
  process.stdout.write('quorumlog: all nodes stopped\n');
  return failed ? 1 : 0;
}

/** Node lines start with "<timestamp> <id> "; under the cluster's prefix the id is redundant. */
function stripOwnPrefix(line: string, id: string): string {
  const space = line.indexOf(' ');
  if (space > 0 && line.startsWith(`${id} `, space + 1)) return `${line.slice(11, space)} ${line.slice(space + 2 + id.length)}`;
  return line;
}
