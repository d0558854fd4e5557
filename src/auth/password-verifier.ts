import { createHash } from 'node:crypto';

import { verifyPassword } from './password-hash.js';
import type { UsersTable } from './users-file.js';

export interface PasswordVerifierOptions {
  /** How long a successful check is remembered. */
  readonly cacheTtlMs: number;
  /** Successful checks remembered at most; past it the oldest is forgotten. */
  readonly cacheEntriesMax: number;
  readonly nowMs: () => number;
}

export const PASSWORD_VERIFIER_DEFAULTS = { cacheTtlMs: 60_000, cacheEntriesMax: 1024 } as const;

/** What a check found: the user may go on, there is no such user, or the password is wrong. */
export type PasswordCheck = 'accepted' | 'unknownUser' | 'wrongPassword';

/**
 * Checks user names and passwords against a users table. scrypt is slow on purpose (about
 * 50 ms), and a client sends its password with every call, so a successful check is
 * remembered for cacheTtlMs, keyed by a SHA-256 of user and password (the password itself
 * is never kept); concurrent checks of the same pair share one scrypt run. Failures are not
 * remembered: each wrong guess costs a full scrypt. replace() (a reload) forgets everything,
 * so a removed user or a changed password takes effect at once.
 */
export class PasswordVerifier {
  #table: UsersTable;
  readonly #options: PasswordVerifierOptions;
  /** Key -> when the success expires. Insertion order is age order (re-inserted on refresh). */
  readonly #accepted = new Map<string, number>();
  readonly #running = new Map<string, Promise<PasswordCheck>>();
  #generation = 0;

  constructor(table: UsersTable, options: PasswordVerifierOptions) {
    if (!(options.cacheTtlMs >= 0)) throw new RangeError(`cacheTtlMs must be at least 0 (got ${options.cacheTtlMs})`);
    if (!(Number.isSafeInteger(options.cacheEntriesMax) && options.cacheEntriesMax >= 1)) throw new RangeError(`cacheEntriesMax must be a positive integer (got ${options.cacheEntriesMax})`);
    this.#table = table;
    this.#options = options;
  }

  get users(): UsersTable {
    return this.#table;
  }

  /** Uses `table` from now on and forgets every remembered success. */
  replace(table: UsersTable): void {
    this.#table = table;
    this.#accepted.clear();
    this.#running.clear();
    this.#generation++;
  }

  check(user: string, password: string): Promise<PasswordCheck> {
    const stored = this.#table.get(user);
    if (stored === undefined) return Promise.resolve('unknownUser');
    const key = cacheKey(user, password);
    const expiresMs = this.#accepted.get(key);
    if (expiresMs !== undefined && this.#options.nowMs() < expiresMs) return Promise.resolve('accepted');
    const running = this.#running.get(key);
    if (running !== undefined) return running;
    const generation = this.#generation;
    const checking = verifyPassword(stored, password)
      .then((ok): PasswordCheck => {
        if (ok && generation === this.#generation) this.#remember(key);
        return ok ? 'accepted' : 'wrongPassword';
      })
      .finally(() => {
        if (this.#running.get(key) === checking) this.#running.delete(key);
      });
    this.#running.set(key, checking);
    return checking;
  }

  /** Successful checks remembered now (for tests and status). */
  get cachedEntries(): number {
    return this.#accepted.size;
  }

  #remember(key: string): void {
    this.#accepted.delete(key);
    while (this.#accepted.size >= this.#options.cacheEntriesMax) {
      const oldest = this.#accepted.keys().next().value;
      if (oldest === undefined) break;
      this.#accepted.delete(oldest);
    }
    this.#accepted.set(key, this.#options.nowMs() + this.#options.cacheTtlMs);
  }
}

/** A fixed-length digest of the pair: the cache never holds a password. NUL separates (names cannot hold one). */
function cacheKey(user: string, password: string): string {
  return createHash('sha256').update(user).update('\0').update(password).digest('base64');
}
