import * as fs from 'node:fs';
import type { ParseArgsConfig } from 'node:util';

import { localMembers } from '../node/index.js';
import { checkTlsMaterial, isHostPort, type ClientAuth, type ClientTlsOptions } from '../transport/index.js';
import { parseCommandLine } from './parse-command-line.js';
import { parseWholeNumber, UsageError } from './usage-error.js';

/** The options every command that talks to a cluster takes. */
const COMMON = {
  brokers: { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  // Defined only to be refused without echoing its value (an unknown option's error would).
  password: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_HELP = `
Common options:
  --brokers LIST    client addresses host:port,... (default $QUORUMLOG_BROKERS, else the local cluster)
  --timeout-ms N    give up after this long (default 30000)
  --tls-ca FILE     connect with TLS, trusting only this CA (PEM); the broker's certificate
                    must name the host dialled
  --tls-cert FILE   present this client certificate (PEM), with --tls-key
  --tls-key FILE    the client certificate's private key (PEM)
  --user USER       authenticate as USER (needs --tls-ca); the password comes from
                    $QUORUMLOG_PASSWORD or --password-file, never from the command line
  --password-file FILE
                    read the password from FILE (its first line)
  --json            print results as JSON
  -h, --help        show this help
`;

export type Flags = Record<string, string | boolean | undefined>;

/** What the common options say, built once per command and passed down to what it calls. */
export interface CommandContext {
  readonly brokers: string[];
  readonly timeoutMs: number;
  readonly json: boolean;
  /** `{ tls, auth }` for the client library's options, each when given: spread into them. */
  readonly connection: { readonly tls?: ClientTlsOptions; readonly auth?: ClientAuth };
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
    connection: connectionFrom(flags, process.env),
  };
  return { context, flags, positionals };
}

/** The environment variable a client verb reads its password from (--user). */
export const PASSWORD_ENV = 'QUORUMLOG_PASSWORD';

/** --tls-ca/--tls-cert/--tls-key and --user with its password, as the client library takes them. */
export function connectionFrom(flags: Flags, env: NodeJS.ProcessEnv): { readonly tls?: ClientTlsOptions; readonly auth?: ClientAuth } {
  const tlsOption = clientTlsFrom(flags);
  const auth = clientAuthFrom(flags, env);
  if (auth === undefined) return tlsOption;
  if (tlsOption.tls === undefined) throw new UsageError('--user needs --tls-ca: a password is never sent over plaintext');
  return { ...tlsOption, auth };
}

/**
 * --user with its password: from --password-file (first line) or else $QUORUMLOG_PASSWORD.
 * There is no flag that takes a password on the command line (other users see argv in ps);
 * --password is refused without repeating its value. UsageError (exit 2) for each mistake.
 */
export function clientAuthFrom(flags: Flags, env: NodeJS.ProcessEnv): ClientAuth | undefined {
  if (flags['password'] !== undefined) {
    throw new UsageError(`--password is not taken: a password on the command line is visible to every user of the machine; set ${PASSWORD_ENV} or give --password-file`);
  }
  const user = flags['user'];
  const passwordFile = flags['password-file'];
  if (typeof user !== 'string') {
    if (typeof passwordFile === 'string') throw new UsageError('--password-file needs --user');
    return undefined;
  }
  if (user === '' || user.includes(':')) throw new UsageError(`--user ${JSON.stringify(user)}: a user name is not empty and holds no ':'`);
  if (typeof passwordFile === 'string') return { user, password: readPasswordFile(passwordFile) };
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { user, password: fromEnv };
  throw new UsageError(`--user ${user} needs a password: set ${PASSWORD_ENV} or give --password-file (never on the command line)`);
}

/** The first line of a password file (a trailing newline is not part of the password). */
export function readPasswordFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--password-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UsageError(`--password-file: ${file} is empty (the password is its first line)`);
  return password;
}

/**
 * --tls-ca (with --tls-cert and --tls-key, both or neither) read into the client's TLS
 * option. A file that cannot be read or holds no PEM is a UsageError naming it (exit 2).
 */
export function clientTlsFrom(flags: Flags): { readonly tls?: ClientTlsOptions } {
  const caFile = flags['tls-ca'];
  const certFile = flags['tls-cert'];
  const keyFile = flags['tls-key'];
  if (typeof caFile !== 'string') {
    if (typeof certFile === 'string' || typeof keyFile === 'string') throw new UsageError('--tls-cert and --tls-key need --tls-ca (the CA that signed the brokers\' certificates)');
    return {};
  }
  if ((typeof certFile === 'string') !== (typeof keyFile === 'string')) throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  const ca = readPemFile('--tls-ca', caFile);
  if (typeof certFile !== 'string' || typeof keyFile !== 'string') return { tls: { ca } };
  const tls = { ca, cert: readPemFile('--tls-cert', certFile), key: readPemFile('--tls-key', keyFile) };
  try {
    checkTlsMaterial(tls);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return { tls };
}

function readPemFile(flag: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!bytes.includes('-----BEGIN ')) throw new UsageError(`${flag}: ${file} holds no PEM block`);
  return bytes;
}

export function defaultBrokers(): string[] {
  const fromEnv = process.env['QUORUMLOG_BROKERS'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return splitBrokers(fromEnv);
  return localMembers(3).map((m) => m.clientAddress);
}

export function splitBrokers(list: string): string[] {
  const brokers = list.split(',').map((b) => b.trim()).filter((b) => b !== '');
  for (const b of brokers) {
    if (!isHostPort(b)) throw new UsageError(`broker "${b}" is not host:port`);
    const port = Number(b.slice(b.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw new UsageError(`broker "${b}": port ${port} is not a TCP port (1 to 65535)`);
  }
  if (brokers.length === 0) throw new UsageError('--brokers is empty');
  return brokers;
}
