/**
 * Client authentication on real processes: `quorumlog users`, a TLS cluster with
 * --users-file, the CLI with --user and a password from the environment or a file, a client
 * certificate, SIGHUP after a password change, and no password in any output.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { describeCli, runCli, startClusterForTest, type CliResult, type TestCluster } from '../harness/index.js';

function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `quorumlog-auth-${label}-`));
}

async function expectExit(args: readonly string[], code: number, env: Record<string, string> = {}): Promise<CliResult> {
  const result = await runCli(args, { env: { QUORUMLOG_PASSWORD: '', ...env }, timeoutMs: 20_000 });
  expect(result.code, describeCli(args, result)).toBe(code);
  if (code !== 0) expect(result.stderr.trim().split('\n'), describeCli(args, result)).toHaveLength(1);
  return result;
}

async function commitIndex(cluster: TestCluster): Promise<number> {
  return (await cluster.converged())[0]?.commitIndex ?? -1;
}

const FIRST_PASSWORD = 'first-7Qx-password';
const SECOND_PASSWORD = 'second-9Kd-password';
const WRONG_PASSWORD = 'wrong-3Zt-password';

describe('client authentication (real processes)', () => {
  it('right password and client certificate append; wrong password and no credentials are refused with nothing appended; SIGHUP applies a new password; no password in any output', async () => {
    const certs = tempDir('certs');
    await expectExit(['certs', 'init', certs], 0);
    const users = path.join(certs, 'users.json');
    await expectExit(['users', 'add', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    expect(fs.statSync(users).mode & 0o777).toBe(0o600);

    // The harness's own clients (status, converged) use the client certificate.
    const cluster = await startClusterForTest({ label: 'auth', tls: { dir: certs, clientCertificate: true }, extraArgs: ['--users-file', users] });
    const base = ['--brokers', cluster.brokers().join(','), '--tls-ca', path.join(certs, 'ca.pem'), '--timeout-ms', '5000'];
    const outputs: string[] = [];

    outputs.push((await expectExit(['append', ...base, '--user', 'alice', 'by-password'], 0, { QUORUMLOG_PASSWORD: FIRST_PASSWORD })).stdout);
    const clientCert = ['--tls-cert', path.join(certs, 'client.pem'), '--tls-key', path.join(certs, 'client-key.pem')];
    outputs.push((await expectExit(['append', ...base, ...clientCert, 'by-certificate'], 0)).stdout);
    const committed = await commitIndex(cluster);

    const wrongFile = path.join(certs, 'wrong-password');
    fs.writeFileSync(wrongFile, `${WRONG_PASSWORD}\n`);
    const wrong = await expectExit(['append', ...base, '--user', 'alice', '--password-file', wrongFile, 'refused'], 1);
    expect(wrong.stderr).toContain('user alice: unknown user or wrong password');
    const anonymous = await expectExit(['append', ...base, 'refused'], 1);
    expect(anonymous.stderr).toContain('authentication required');
    const noPassword = await expectExit(['append', ...base, '--user', 'alice', 'refused'], 2);
    outputs.push(wrong.stderr, anonymous.stderr, noPassword.stderr);
    console.log(`[auth] wrong password: ${wrong.stderr.trim()}\n[auth] no credentials: ${anonymous.stderr.trim()}`);
    expect(await commitIndex(cluster)).toBe(committed);

    // A new password, applied by SIGHUP: the old one is refused from then on, the new one serves.
    await expectExit(['users', 'passwd', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD });
    for (const id of cluster.ids) process.kill(cluster.pid(id) ?? -1, 'SIGHUP');
    await cluster.waitFor(() => cluster.ids.every((id) => cluster.currentRunOutput(id).some((line) => line.includes('users reloaded from'))), { timeoutMs: 10_000, what: 'every node to reload its users' });
    await expectExit(['append', ...base, '--user', 'alice', 'old-password'], 1, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    outputs.push((await expectExit(['append', ...base, '--user', 'alice', 'new-password'], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD })).stdout);
    outputs.push((await expectExit(['status', ...base, '--user', 'alice', '--json'], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD })).stdout);

    const logs = cluster.ids.map((id) => fs.readFileSync(path.join(cluster.dataRoot, 'logs', `${id}.out`), 'utf8')).join('\n');
    expect(logs).toContain('refused user alice');
    for (const password of [FIRST_PASSWORD, SECOND_PASSWORD, WRONG_PASSWORD]) {
      expect(logs).not.toContain(password);
      expect(outputs.join('\n')).not.toContain(password);
      expect(fs.readFileSync(users, 'utf8')).not.toContain(password);
    }
  });

  it('a node with --users-file and no TLS refuses to start, with one line saying why', async () => {
    const dataDir = tempDir('plain');
    const users = path.join(dataDir, 'users.json');
    await expectExit(['users', 'add', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    const refused = await expectExit(['node', '--id', 'n1', '--data-dir', path.join(dataDir, 'n1'), '--users-file', users], 2);
    expect(refused.stderr).toMatch(/^quorumlog: refusing --users-file without TLS: passwords are never taken in plaintext/);
    expect(fs.existsSync(path.join(dataDir, 'n1'))).toBe(false);
  });
});
