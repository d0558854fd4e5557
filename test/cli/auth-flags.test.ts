/**
 * Authentication flags: --user and where its password comes from on client verbs (never
 * argv), --users-file and --require-client-auth on a node (refused without TLS), and
 * `quorumlog users` keeping the file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readUsersFile, verifyPassword } from '../../src/auth/index.js';
import { clientAuthFrom, connectionFrom, PASSWORD_ENV } from '../../src/cli/client-args.js';
import { nodeArgsFrom } from '../../src/cli/node-command.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { runUsersCommand } from '../../src/cli/users-command.js';
import { authWithoutTls } from '../../src/node/index.js';
import { loopbackCertificates, writeCertificates } from '../harness/tls-certificates.js';

let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-auth-flags-'));
  writeCertificates(dir, await loopbackCertificates(['n1']));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('client verbs: --user and its password', () => {
  it('takes the password from --password-file (first line) or else the environment', () => {
    const file = path.join(dir, 'pw');
    fs.writeFileSync(file, 'from-the-file\nignored\n');
    expect(clientAuthFrom({ user: 'alice', 'password-file': file }, { [PASSWORD_ENV]: 'from-env' })).toEqual({ user: 'alice', password: 'from-the-file' });
    expect(clientAuthFrom({ user: 'alice' }, { [PASSWORD_ENV]: 'from-env' })).toEqual({ user: 'alice', password: 'from-env' });
    expect(clientAuthFrom({}, { [PASSWORD_ENV]: 'from-env' })).toBeUndefined();
  });

  it('--user without a password source is a usage error (exit 2)', () => {
    expect(() => clientAuthFrom({ user: 'alice' }, {})).toThrow(UsageError);
    expect(() => clientAuthFrom({ user: 'alice' }, {})).toThrow(`--user alice needs a password: set ${PASSWORD_ENV} or give --password-file (never on the command line)`);
    expect(() => clientAuthFrom({ 'password-file': 'x' }, {})).toThrow('--password-file needs --user');
    expect(() => clientAuthFrom({ user: 'alice', 'password-file': path.join(dir, 'missing') }, {})).toThrow(/--password-file: cannot read .* \(ENOENT\)/);
  });

  it('a password on the command line is refused without being repeated', () => {
    const attempt = (): unknown => clientAuthFrom({ user: 'alice', password: 'hunter2-on-argv' }, {});
    expect(attempt).toThrow(UsageError);
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/--password is not taken/);
    expect(message).not.toContain('hunter2-on-argv');
  });

  it('a password needs TLS: --user without --tls-ca is refused before anything is sent', () => {
    expect(() => connectionFrom({ user: 'alice' }, { [PASSWORD_ENV]: 'pw-12345' })).toThrow('--user needs --tls-ca: a password is never sent over plaintext');
    const both = connectionFrom({ user: 'alice', 'tls-ca': path.join(dir, 'ca.pem') }, { [PASSWORD_ENV]: 'pw-12345' });
    expect(both.auth).toEqual({ user: 'alice', password: 'pw-12345' });
    expect(both.tls?.ca.toString()).toContain('BEGIN CERTIFICATE');
  });
});

describe('node flags', () => {
  const tlsFlags = (): string[] => ['--tls-ca', path.join(dir, 'ca.pem'), '--tls-cert', path.join(dir, 'n1.pem'), '--tls-key', path.join(dir, 'n1-key.pem')];

  it('--users-file and --require-client-auth reach the configuration', () => {
    const args = nodeArgsFrom(['--id', 'n1', '--users-file', 'users.json', '--require-client-auth', ...tlsFlags()]);
    if (args === 'help') throw new Error('help');
    expect(args.config.usersFile).toBe('users.json');
    expect(args.config.requireClientAuth).toBe(true);
  });

  it('either without TLS is refused, --insecure or not', () => {
    expect(authWithoutTls({ usersFile: 'users.json' })).toMatch(/refusing --users-file without TLS: passwords are never taken in plaintext/);
    expect(authWithoutTls({ requireClientAuth: true })).toMatch(/refusing --require-client-auth without TLS/);
    expect(authWithoutTls({})).toBeNull();
    expect(authWithoutTls({ usersFile: 'users.json', tls: { caFile: 'a', certFile: 'b', keyFile: 'c' } })).toBeNull();
  });
});

describe('quorumlog users', () => {
  it('add, passwd, remove: hashes in a 0600 file, the password nowhere in it; add of an existing user and a short password refused', async () => {
    const file = path.join(dir, 'users.json');
    const previous = process.env[PASSWORD_ENV];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      process.env[PASSWORD_ENV] = 'first-password';
      expect(await runUsersCommand(['add', 'alice', '--file', file])).toBe(0);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8')).not.toContain('first-password');
      await expect(runUsersCommand(['add', 'alice', '--file', file])).rejects.toThrow(/already in/);
      const passwordFile = path.join(dir, 'new-pw');
      fs.writeFileSync(passwordFile, 'second-password\n');
      expect(await runUsersCommand(['passwd', 'alice', '--file', file, '--password-file', passwordFile])).toBe(0);
      const stored = readUsersFile(file).get('alice');
      expect(stored === undefined ? null : [await verifyPassword(stored, 'second-password'), await verifyPassword(stored, 'first-password')]).toEqual([true, false]);
      process.env[PASSWORD_ENV] = 'short';
      await expect(runUsersCommand(['add', 'bob', '--file', file])).rejects.toThrow(/at least 8 characters/);
      await expect(runUsersCommand(['add', 'bob', '--file', file, '--password', 'on-argv-123'])).rejects.toThrow(/--password is not taken/);
      expect(await runUsersCommand(['remove', 'alice', '--file', file])).toBe(0);
      expect(readUsersFile(file).names()).toEqual([]);
      await expect(runUsersCommand(['remove', 'alice', '--file', file])).rejects.toThrow(/no user alice/);
    } finally {
      process.stdout.write = write;
      if (previous === undefined) delete process.env[PASSWORD_ENV];
      else process.env[PASSWORD_ENV] = previous;
    }
  });

  it('with no password source and no terminal, add is a usage error and nothing is written', async () => {
    const file = path.join(dir, 'none.json');
    const previous = process.env[PASSWORD_ENV];
    delete process.env[PASSWORD_ENV];
    try {
      if (process.stdin.isTTY) return; // a terminal would prompt; CI and vitest workers have none
      await expect(runUsersCommand(['add', 'carol', '--file', file])).rejects.toThrow(/no password: give --password-file/);
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      if (previous !== undefined) process.env[PASSWORD_ENV] = previous;
    }
  });
});
