/**
 * The users file (src/auth): scrypt hashes with a per-user salt and recorded parameters,
 * verification, a crash-atomic write at mode 0600, and the verifier's cache of successes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  hashPassword,
  PasswordVerifier,
  readUsersFile,
  readUsersFileOrEmpty,
  SCRYPT_DEFAULTS,
  serializeUsers,
  UsersFileError,
  UsersTable,
  verifyPassword,
  writeUsersFile,
  type ScryptParameters,
} from '../../src/auth/index.js';

/** Cheap parameters: the tests check behaviour, not cost. */
const FAST: ScryptParameters = { N: 1024, r: 8, p: 1, keyBytes: 32 };

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-users-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('password hashes', () => {
  it('verifies the password it was made from and refuses another', async () => {
    const stored = await hashPassword('correct horse', FAST);
    expect(await verifyPassword(stored, 'correct horse')).toBe(true);
    expect(await verifyPassword(stored, 'correct hors')).toBe(false);
    expect(await verifyPassword(stored, '')).toBe(false);
  });

  it('salts each hash afresh: the same password twice gives different salts and hashes', async () => {
    const a = await hashPassword('same', FAST);
    const b = await hashPassword('same', FAST);
    expect(a.salt.equals(b.salt)).toBe(false);
    expect(a.hash.equals(b.hash)).toBe(false);
  });

  it('records the parameters it used, and verifies with them after the defaults differ', async () => {
    const stored = await hashPassword('pw', FAST);
    expect(stored.params).toEqual(FAST);
    expect(SCRYPT_DEFAULTS.N).not.toBe(FAST.N);
    const table = new UsersTable();
    table.set('alice', stored);
    const file = path.join(dir, 'users.json');
    writeUsersFile(file, table);
    const back = readUsersFile(file).get('alice');
    expect(back?.params).toEqual(FAST);
    expect(back === undefined ? false : await verifyPassword(back, 'pw')).toBe(true);
  });

  it('refuses parameters scrypt does not take or that would eat the memory', async () => {
    await expect(hashPassword('pw', { ...FAST, N: 1000 })).rejects.toThrow(/power of two/);
    await expect(hashPassword('pw', { ...FAST, N: 1 << 24 })).rejects.toThrow(/power of two/);
  });
});

describe('the users file', () => {
  it('round-trips users through the file, written at mode 0600 with no password in it', async () => {
    const table = new UsersTable();
    table.set('alice', await hashPassword('alice-secret-1', FAST));
    table.set('bob', await hashPassword('bob-secret-2', FAST));
    const file = path.join(dir, 'users.json');
    writeUsersFile(file, table);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('alice-secret-1');
    expect(text).not.toContain('bob-secret-2');
    expect(readUsersFile(file).names()).toEqual(['alice', 'bob']);
  });

  it('writes atomically: the old file stays whole until the rename, and no temporary is left behind', async () => {
    const file = path.join(dir, 'users.json');
    const first = new UsersTable();
    first.set('alice', await hashPassword('a', FAST));
    writeUsersFile(file, first);
    const before = fs.readFileSync(file, 'utf8');
    // A write that fails (the directory made read-only) leaves the old file as it was.
    const second = new UsersTable();
    second.set('bob', await hashPassword('b', FAST));
    fs.chmodSync(dir, 0o500);
    try {
      if (process.getuid?.() !== 0) expect(() => writeUsersFile(file, second)).toThrow(UsersFileError);
    } finally {
      fs.chmodSync(dir, 0o700);
    }
    if (process.getuid?.() !== 0) expect(fs.readFileSync(file, 'utf8')).toBe(before);
    writeUsersFile(file, second);
    expect(readUsersFile(file).names()).toEqual(['bob']);
    expect(fs.readdirSync(dir)).toEqual(['users.json']);
  });

  it('tightens a file that was group-readable back to 0600 when it rewrites it', async () => {
    const file = path.join(dir, 'users.json');
    fs.writeFileSync(file, serializeUsers(new UsersTable()), { mode: 0o644 });
    const table = readUsersFileOrEmpty(file);
    table.set('alice', await hashPassword('a', FAST));
    writeUsersFile(file, table);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a missing file reads as empty for `users add`, and as an error naming the file for a node', () => {
    const file = path.join(dir, 'nope.json');
    expect(readUsersFileOrEmpty(file).size).toBe(0);
    expect(() => readUsersFile(file)).toThrow(`cannot read the users file ${file} (ENOENT)`);
  });

  it('refuses a damaged file naming the file and the user, never a hash', async () => {
    const file = path.join(dir, 'users.json');
    fs.writeFileSync(file, 'not json');
    expect(() => readUsersFile(file)).toThrow(/is not JSON/);
    fs.writeFileSync(file, JSON.stringify({ version: 1, users: { alice: { algorithm: 'md5' } } }));
    expect(() => readUsersFile(file)).toThrow(/user "alice": algorithm must be "scrypt"/);
    const table = new UsersTable();
    table.set('alice', await hashPassword('a', FAST));
    const good = JSON.parse(serializeUsers(table)) as { users: { alice: { hash: string } } };
    const hash = good.users.alice.hash;
    good.users.alice.hash = hash.slice(0, 8);
    fs.writeFileSync(file, JSON.stringify(good));
    let message = '';
    try {
      readUsersFile(file);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/hash must be keyBytes/);
    expect(message).not.toContain(hash.slice(0, 8));
  });

  it('refuses user names a basic authorization header could not carry', () => {
    expect(() => new UsersTable().set('a:b', { algorithm: 'scrypt', params: FAST, salt: Buffer.alloc(16), hash: Buffer.alloc(32) })).toThrow(/user name/);
  });
});

describe('PasswordVerifier', () => {
  async function verifierWith(users: Record<string, string>, nowMs: () => number): Promise<PasswordVerifier> {
    const table = new UsersTable();
    for (const [user, password] of Object.entries(users)) table.set(user, await hashPassword(password, FAST));
    return new PasswordVerifier(table, { cacheTtlMs: 1_000, cacheEntriesMax: 2, nowMs });
  }

  it('tells accepted, unknown user and wrong password apart', async () => {
    const verifier = await verifierWith({ alice: 'pw' }, () => 0);
    expect(await verifier.check('alice', 'pw')).toBe('accepted');
    expect(await verifier.check('alice', 'wrong')).toBe('wrongPassword');
    expect(await verifier.check('mallory', 'pw')).toBe('unknownUser');
  });

  it('remembers successes for the TTL only, never failures, and bounded in entries', async () => {
    let now = 0;
    const verifier = await verifierWith({ alice: 'a', bob: 'b', carol: 'c' }, () => now);
    await verifier.check('alice', 'wrong');
    expect(verifier.cachedEntries).toBe(0);
    await verifier.check('alice', 'a');
    await verifier.check('bob', 'b');
    await verifier.check('carol', 'c');
    expect(verifier.cachedEntries).toBe(2);
    // Within the TTL the success is answered from memory; at the TTL scrypt runs again.
    now = 999;
    expect(await verifier.check('carol', 'c')).toBe('accepted');
    now = 1_000;
    expect(await verifier.check('carol', 'c')).toBe('accepted'); // checked again by scrypt, and right
  });

  it('a reload forgets remembered successes: a changed password takes effect at once', async () => {
    const verifier = await verifierWith({ alice: 'old' }, () => 0);
    expect(await verifier.check('alice', 'old')).toBe('accepted');
    const next = new UsersTable();
    next.set('alice', await hashPassword('new', FAST));
    verifier.replace(next);
    expect(await verifier.check('alice', 'old')).toBe('wrongPassword');
    expect(await verifier.check('alice', 'new')).toBe('accepted');
    verifier.replace(new UsersTable());
    expect(await verifier.check('alice', 'new')).toBe('unknownUser');
  });

  it('concurrent checks of one pair share one scrypt run', async () => {
    const verifier = await verifierWith({ alice: 'pw' }, () => 0);
    const first = verifier.check('alice', 'pw');
    const second = verifier.check('alice', 'pw');
    expect(second).toBe(first);
    expect(await Promise.all([first, second])).toEqual(['accepted', 'accepted']);
  });

  it('a default-cost check takes the tens of milliseconds that make the cache worth having', async () => {
    const table = new UsersTable();
    table.set('alice', await hashPassword('pw'));
    const verifier = new PasswordVerifier(table, { cacheTtlMs: 60_000, cacheEntriesMax: 8, nowMs: () => 0 });
    const slowStart = performance.now();
    await verifier.check('alice', 'pw');
    const slowMs = performance.now() - slowStart;
    const fastStart = performance.now();
    for (let k = 0; k < 100; k++) await verifier.check('alice', 'pw');
    const fastMs = (performance.now() - fastStart) / 100;
    console.log(`scrypt check ${slowMs.toFixed(1)} ms, cached check ${(fastMs * 1000).toFixed(1)} us`);
    expect(fastMs).toBeLessThan(slowMs / 10);
  });
});
