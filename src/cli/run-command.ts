import { UsageError } from './usage-error.js';

const HELP = `Usage: quorumlog <command> [options]

Server:
  node        run one node (quorumlog node --help)
  cluster     run a local cluster of node processes (what npm start runs); kill, pause,
              resume or restart one of its nodes (quorumlog cluster --help)
  certs       certs init DIR: a development CA and certificates for a TLS cluster
  users       add, passwd, remove or list the users of a users file (node --users-file)

Client (against --brokers host:port,..., QUORUMLOG_BROKERS, or the local cluster's ports;
--tls-ca for TLS, --user with QUORUMLOG_PASSWORD or --password-file to authenticate):
  append      append records given as arguments, or one per stdin line
  read        read committed records from an index (--follow to keep reading)
  status      each node's role, term, leader, commit and applied index, followers' lag
  transfer    move leadership to another node
  members     list the cluster's voters and learners; add, promote, remove or replace one
  verify-writes  append unique records for a while, then check every acknowledged one reads
              back once, in order (kill nodes meanwhile)
  bench       throughput and latency of a local cluster (or --brokers), beside the disk's limit
  jepsen      fault injection against a fresh local cluster (quorumlog jepsen --help)

Broker:
  topics      create, list, describe or delete topics
  produce     send messages given as arguments, or one per stdin line, to a topic
  fetch       print a topic's messages from an offset
  consume     consume a topic in a consumer group, acking each message once printed
  groups      list, describe, create, delete or reset consumer groups (with their lag);
              "group reset G --to-earliest" moves a group behind retention
  dlq         list a group's dead-letter topic, or redrive it to the source topics
  tx          list undecided transactions; commit or roll one back by hand
  acl         add, remove or list access rules: who may produce, consume or administer
              which topics and groups (node --super-users only)

Run "quorumlog <command> --help" for a command's options.
`;

/** The command names each module serves; its code is loaded only when one of them runs. */
const CLIENT_COMMANDS: readonly string[] = ['append', 'read', 'status', 'transfer'];
const BROKER_COMMANDS: readonly string[] = ['topics', 'produce', 'fetch'];
/** `group` is `groups` by another name (`quorumlog group reset G`, as kafka-consumer-groups reads). */
const GROUP_COMMANDS: readonly string[] = ['consume', 'groups', 'group', 'dlq'];

/**
 * Runs one command. Each command's module is imported when it runs, not before: a client
 * command does not load the node, the bench or the jepsen driver (a third of the start-up
 * time of a short command, and of every node process).
 */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      stopQuietlyWhenStdoutCloses();
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    case 'node':
      return (await import('./node-command.js')).runNodeCommand(rest);
    case 'cluster':
      return (await import('./cluster-command.js')).runClusterCommand(rest);
    case 'bench':
      return (await import('./bench-command.js')).runBenchCommand(rest);
    case 'jepsen':
      return (await import('./jepsen-command.js')).runJepsen(rest);
    case 'certs':
      return (await import('./certs-command.js')).runCertsCommand(rest);
    case 'users':
      return (await import('./users-command.js')).runUsersCommand(rest);
    case 'tx':
      return (await import('./tx-command.js')).runTxCommand(rest);
    case 'members':
      stopQuietlyWhenStdoutCloses();
      return (await import('./members-command.js')).runMembersCommand(rest);
    case 'acl':
      stopQuietlyWhenStdoutCloses();
      return (await import('./acl-command.js')).runAclCommand(rest);
    case 'verify-writes':
      stopQuietlyWhenStdoutCloses();
      return (await import('./verify-writes-command.js')).runVerifyWritesCommand(rest);
    default:
      stopQuietlyWhenStdoutCloses();
      if (CLIENT_COMMANDS.includes(command)) return (await import('./client-commands.js')).runClientCommand(command, rest);
      if (BROKER_COMMANDS.includes(command)) return (await import('./broker-commands.js')).runBrokerCommand(command, rest);
      if (GROUP_COMMANDS.includes(command)) return (await import('./group-commands.js')).runGroupCommand(command, rest);
      throw new UsageError(`unknown command "${command}"; run quorumlog --help for the list`);
  }
}

/**
 * A reader that stops early (`quorumlog read --follow | head`) closes the pipe: end quietly,
 * as Unix tools do, instead of dying on an unhandled EPIPE with a stack trace. Only for
 * commands that start no processes: `node`, `cluster`, `bench` and `jepsen` must stop what
 * they started, so a closed stdout is not a reason for them to vanish.
 */
function stopQuietlyWhenStdoutCloses(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

let stdoutWatched = false;

/**
 * What a command's failure becomes: exit status 2 and one line for bad input (a usage
 * error, a configuration the node refuses, node's argument parser), 1 and one line for
 * anything else (a refusal from the cluster, an outage, a bug).
 */
export function failureOf(error: unknown): { readonly code: 1 | 2; readonly line: string } {
  if (error instanceof UsageError || isConfigError(error) || isParseArgsError(error)) {
    // node's argument parser explains some mistakes over several lines: keep them on one.
    const oneLine = (error as Error).message.split('\n').map((part) => part.trim()).filter((part) => part !== '').join(' ');
    return { code: 2, line: `quorumlog: ${oneLine}\n` };
  }
  return { code: 1, line: `quorumlog: ${error instanceof Error ? error.message : String(error)}\n` };
}

/** The node's ConfigError (a configuration it refuses), told by name so this file need not load the node. */
function isConfigError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConfigError';
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
