import type { ParseArgsConfig } from 'node:util';

import { localMembers } from '../node/index.js';
import { parseCommandLine } from './parse-command-line.js';
import { parseWholeNumber, UsageError } from './usage-error.js';

/** The options every command that talks to a cluster takes. */
const COMMON = {
  brokers: { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_HELP = `
Common options:
  --brokers LIST    client addresses host:port,... (default $QUORUMLOG_BROKERS, else the local cluster)
  --timeout-ms N    give up after this long (default 30000)
  --json            print results as JSON
  -h, --help        show this help
`;

export type Flags = Record<string, string | boolean | undefined>;

/** What the common options say, built once per command and passed down to what it calls. */
export interface CommandContext {
  readonly brokers: string[];
  readonly timeoutMs: number;
  readonly json: boolean;
}

export interface ClientArgs {
  readonly context: CommandContext;
  readonly flags: Flags;
  readonly positionals: string[];
}

/**
 * Parses a client command's arguments: the common options plus `extra`. Prints the help
 * (the command's own text, then the common options) and returns null for --help.
 */
export function parseClientArgs(
  argv: readonly string[],
  command: { readonly extra: NonNullable<ParseArgsConfig['options']>; readonly allowPositionals: boolean; readonly help: string },
): ClientArgs | null {
  const { values, positionals } = parseCommandLine(argv, { ...COMMON, ...command.extra }, { allowPositionals: command.allowPositionals });
  const flags = values as Flags;
  if (flags['help'] === true) {
    process.stdout.write(command.help + COMMON_HELP);
    return null;
  }
  const context = {
    brokers: typeof flags['brokers'] === 'string' ? splitBrokers(flags['brokers']) : defaultBrokers(),
    timeoutMs: parseWholeNumber('timeout-ms', flags['timeout-ms'] as string | undefined, { min: 1 }) ?? 30_000,
    json: flags['json'] === true,
  };
  return { context, flags, positionals };
}

export function defaultBrokers(): string[] {
  const fromEnv = process.env['QUORUMLOG_BROKERS'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return splitBrokers(fromEnv);
  return localMembers(3).map((m) => m.clientAddress);
}

export function splitBrokers(list: string): string[] {
  const brokers = list.split(',').map((b) => b.trim()).filter((b) => b !== '');
  for (const b of brokers) {
    if (!/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) throw new UsageError(`broker "${b}" is not host:port`);
    const port = Number(b.slice(b.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw new UsageError(`broker "${b}": port ${port} is not a TCP port (1 to 65535)`);
  }
  if (brokers.length === 0) throw new UsageError('--brokers is empty');
  return brokers;
}
