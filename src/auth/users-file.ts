import * as fs from 'node:fs';
import * as path from 'node:path';

import { checkParameters, type PasswordHash } from './password-hash.js';

/** A users file that cannot be read, parsed or written; the message names the file and why, never a hash. */
export class UsersFileError extends Error {
  override readonly name = 'UsersFileError';
}

/** User names: what HTTP basic authentication can carry (no ':') and a certificate URI can name. */
const USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** Throws RangeError unless `user` is 1-64 letters, digits, '.', '_', '@' or '-' (starting with a letter or digit). */
export function checkUserName(user: string): void {
  if (!USER_PATTERN.test(user)) throw new RangeError(`user name ${JSON.stringify(user)} must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
}

/** Users by name and their password hashes. Names are checked on the way in. */
export class UsersTable {
  readonly #users = new Map<string, PasswordHash>();

  get(user: string): PasswordHash | undefined {
    return this.#users.get(user);
  }

  has(user: string): boolean {
    return this.#users.has(user);
  }

  set(user: string, hash: PasswordHash): void {
    checkUserName(user);
    this.#users.set(user, hash);
  }

  /** False if there was no such user. */
  remove(user: string): boolean {
    return this.#users.delete(user);
  }

  names(): string[] {
    return [...this.#users.keys()].sort();
  }

  get size(): number {
    return this.#users.size;
  }
}

/**
 * The file's format: one JSON object, `{"version":1,"users":{"alice":{"algorithm":"scrypt",
 * "N":16384,"r":8,"p":1,"keyBytes":32,"salt":"<base64>","hash":"<base64>"}}}`. Each user
 * records its own scrypt parameters and salt.
 */
const FORMAT_VERSION = 1;

interface StoredUser {
  readonly algorithm: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyBytes: number;
  readonly salt: string;
  readonly hash: string;
}

/** Reads and checks a users file. Throws UsersFileError naming the file and what is wrong with it. */
export function readUsersFile(file: string): UsersTable {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsersFileError(`cannot read the users file ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  return parseUsers(text, file);
}

/** A missing file reads as no users (what `users add` starts from); any other failure throws. */
export function readUsersFileOrEmpty(file: string): UsersTable {
  if (!fs.existsSync(file)) return new UsersTable();
  return readUsersFile(file);
}

export function parseUsers(text: string, file: string): UsersTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsersFileError(`the users file ${file} is not JSON`);
  }
  if (!isRecord(parsed) || parsed['version'] !== FORMAT_VERSION || !isRecord(parsed['users'])) {
    throw new UsersFileError(`the users file ${file} is not a quorumlog users file (version ${FORMAT_VERSION}, {"version":1,"users":{...}})`);
  }
  const table = new UsersTable();
  for (const [user, stored] of Object.entries(parsed['users'])) {
    try {
      table.set(user, hashFromStored(stored));
    } catch (error) {
      throw new UsersFileError(`the users file ${file}: user ${JSON.stringify(user)}: ${(error as Error).message}`);
    }
  }
  return table;
}

export function serializeUsers(table: UsersTable): string {
  const users: Record<string, StoredUser> = {};
  for (const user of table.names()) {
    const entry = table.get(user);
    if (entry === undefined) continue;
    users[user] = { algorithm: 'scrypt', ...entry.params, salt: entry.salt.toString('base64'), hash: entry.hash.toString('base64') };
  }
  return `${JSON.stringify({ version: FORMAT_VERSION, users }, null, 2)}\n`;
}

/**
 * Writes the table crash-atomically: a temporary file beside it (mode 0600, fsynced), renamed
 * over the old one, then the directory fsynced. A reader sees the old file or the new one,
 * never a half-written one; the file is never readable by group or others, even for a moment.
 */
export function writeUsersFile(file: string, table: UsersTable): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.fchmodSync(fd, 0o600); // whatever the umask and whatever a stale temporary had
      fs.writeSync(fd, serializeUsers(table));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw new UsersFileError(`cannot write the users file ${file} (${(error as NodeJS.ErrnoException).code ?? 'failed'})`);
  }
  syncDirectory(path.dirname(file));
}

/** Whether group or others may read or write the file (its hashes are worth guarding like keys). */
export function groupOrOtherAccess(file: string): boolean {
  try {
    return (fs.statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is atomic.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function hashFromStored(stored: unknown): PasswordHash {
  if (!isRecord(stored) || stored['algorithm'] !== 'scrypt') throw new RangeError('algorithm must be "scrypt"');
  const params = { N: Number(stored['N']), r: Number(stored['r']), p: Number(stored['p']), keyBytes: Number(stored['keyBytes']) };
  checkParameters(params);
  const salt = base64Field(stored['salt'], 'salt');
  const hash = base64Field(stored['hash'], 'hash');
  if (salt.length < 8) throw new RangeError('salt must be at least 8 bytes');
  if (hash.length !== params.keyBytes) throw new RangeError(`hash must be keyBytes (${params.keyBytes}) bytes`);
  return { algorithm: 'scrypt', params, salt, hash };
}

function base64Field(value: unknown, name: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new RangeError(`${name} must be base64`);
  return Buffer.from(value, 'base64');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
