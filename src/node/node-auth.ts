import { groupOrOtherAccess, PASSWORD_VERIFIER_DEFAULTS, PasswordVerifier, readUsersFile, UsersFileError, type UsersTable } from '../auth/index.js';
import { LogEvent, RepeatGate, type Log } from '../log/index.js';
import type { AuthRefusal, ClientAuthOptions } from '../transport/index.js';
import { ConfigError } from './config.js';
import { NO_PROBE, type NodeProbe } from './node-probe.js';

/** Refusals of one kind from one user are logged once per this interval (a client retrying a wrong password would flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * A node's client authentication: the users file (read at start, re-read by reload() on
 * SIGHUP) behind a PasswordVerifier, and the log line for each refused call. Built only when
 * the node authenticates clients (--users-file or --require-client-auth).
 */
export class NodeAuth {
  readonly #file: string | null;
  readonly #verifier: PasswordVerifier | null;
  readonly #log: Log;
  readonly #refusals: RepeatGate;
  readonly #probe: NodeProbe;

  /** Reads the users file, if any; one that is missing or unusable is a ConfigError (the node does not start). */
  constructor(options: { readonly usersFile: string | undefined; readonly log: Log; readonly nowMs: () => number; readonly probe?: NodeProbe }) {
    this.#file = options.usersFile ?? null;
    this.#log = options.log;
    this.#probe = options.probe ?? NO_PROBE;
    this.#refusals = new RepeatGate({ intervalMs: REFUSAL_LOG_INTERVAL_MS, keysMax: 1024, nowMs: options.nowMs });
    if (this.#file === null) {
      this.#verifier = null;
      this.#log.info('client authentication: client certificates only (no users file)', { event: LogEvent.usersLoaded, file: null, users: 0 });
      return;
    }
    let table: UsersTable;
    try {
      table = readUsersFile(this.#file);
    } catch (error) {
      if (error instanceof UsersFileError) throw new ConfigError(error.message, { cause: error });
      throw error;
    }
    this.#verifier = new PasswordVerifier(table, { ...PASSWORD_VERIFIER_DEFAULTS, nowMs: options.nowMs });
    this.#describe('loaded', table);
  }

  /** What the client server checks calls with. */
  get options(): ClientAuthOptions {
    const verifier = this.#verifier;
    return {
      ...(verifier === null ? {} : { checkPassword: (user: string, password: string) => verifier.check(user, password) }),
      onRefused: (refusal) => this.#logRefusal(refusal),
    };
  }

  /**
   * Re-reads the users file: if it parses, its users hold from the next call on (remembered
   * successes are forgotten, so a removed user or a changed password takes effect at once);
   * otherwise logs why and keeps the users it had. True if replaced; false without a file.
   */
  reload(): boolean {
    if (this.#file === null || this.#verifier === null) return false;
    let table: UsersTable;
    try {
      table = readUsersFile(this.#file);
    } catch (error) {
      if (!(error instanceof UsersFileError)) throw error;
      this.#log.error(`users reload failed, keeping the users in use: ${error.message}`, { event: LogEvent.usersReloadFailed, reason: error.message });
      return false;
    }
    this.#verifier.replace(table);
    this.#describe('reloaded', table);
    return true;
  }

  #describe(verb: 'loaded' | 'reloaded', table: UsersTable): void {
    const file = this.#file ?? '';
    this.#log.info(`users ${verb} from ${file}: ${table.size} user${table.size === 1 ? '' : 's'}; clients authenticate by password or client certificate`, { event: LogEvent.usersLoaded, file, users: table.size });
    if (groupOrOtherAccess(file)) this.#log.warn(`the users file ${file} is readable or writable by group or others: chmod 600 it (its hashes can be guessed against offline)`, { event: LogEvent.configWarning });
  }

  #logRefusal(refusal: AuthRefusal): void {
    // Counted every time; logged once a minute per user and cause.
    this.#probe.authRefused(refusal.kind);
    const heldBack = this.#refusals.pass(`${refusal.kind}\0${refusal.user ?? ''}`);
    if (heldBack === null) return;
    const who = refusal.user === null ? 'a client' : `user ${refusal.user}`;
    const more = heldBack > 0 ? ` (${heldBack} more like it since the last line)` : '';
    this.#log.warn(`refused ${who} at ${refusal.peer}: ${refusal.reason}${more}`, { event: LogEvent.clientRefused, peer: refusal.peer, user: refusal.user, kind: refusal.kind });
  }
}
