/**
 * Client authentication and ACLs on real processes: `quorumlog users`, a TLS cluster with
 * --users-file and --super-users, the CLI with --user and a password from the environment
 * or a file, a client certificate, SIGHUP after a password change, ACL denials of produce,
 * consume and admin (PERMISSION_DENIED, nothing appended, counted on /metrics) and
 * `quorumlog acl add` replicated to every node, and no password in any output.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';

import { LogClient, PermissionDeniedError } from '../../src/client/index.js';
import { describeCli, runCli, startClusterForTest, waitFor, type CliResult, type TestCluster } from '../harness/index.js';

/** Temp directories this file made, removed when it ends. */
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `quorumlog-auth-${label}-`));
  tempDirs.push(dir);
  return dir;
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

/**
 * The records appended after `from` (the leader's clock entries, which it adds within 10 s of
 * plain records, and no-ops are skipped by a read): what a refused append must not have
 * added. Not the commit index, which a clock entry may move between two reads.
 */
async function recordsAfter(cluster: TestCluster, from: number): Promise<string[]> {
  const read = await cluster.client().read(from + 1, { bytesMax: 64 * 1024 });
  return read.records.map((r) => new TextDecoder().decode(r.payload));
}

const FIRST_PASSWORD = 'first-7Qx-password';
const SECOND_PASSWORD = 'second-9Kd-password';
const WRONG_PASSWORD = 'wrong-3Zt-password';
const BOB_PASSWORD = 'bob-5Rw-password';

/** A counter with one label (quorumlog_permission_denied_total by operation, ...), by label value, summed over the cluster's nodes. */
async function counterTotals(cluster: TestCluster, name: string, label: string): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  const series = new RegExp(`^${name}\\{${label}="(\\w+)"\\} (\\S+)$`, 'gm');
  for (const id of cluster.ids) {
    const body = await (await fetch(`http://${cluster.httpAddress(id)}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    for (const match of body.matchAll(series)) {
      totals[match[1] ?? ''] = (totals[match[1] ?? ''] ?? 0) + Number(match[2]);
    }
  }
  return totals;
}

describe('client authentication (real processes)', () => {
  it('right password and client certificate append; wrong password and no credentials are refused with nothing appended; SIGHUP applies a new password; ACLs deny produce, consume and admin until a superuser adds a rule every node holds; no password in any output', async () => {
    const certs = tempDir('certs');
    await expectExit(['certs', 'init', certs], 0);
    const users = path.join(certs, 'users.json');
    await expectExit(['users', 'add', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    expect(fs.statSync(users).mode & 0o777).toBe(0o600);
    await expectExit(['users', 'add', 'bob', '--file', users], 0, { QUORUMLOG_PASSWORD: BOB_PASSWORD });

    // The harness's own clients (status, converged) use the client certificate. alice and
    // the certificate's client are superusers (the raw log is theirs alone); bob needs rules.
    const cluster = await startClusterForTest({ label: 'auth', http: true, tls: { dir: certs, clientCertificate: true }, extraArgs: ['--users-file', users, '--super-users', 'alice,client'] });
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
    expect(await recordsAfter(cluster, committed)).toEqual([]);
    const refusedTotals = await counterTotals(cluster, 'quorumlog_client_auth_refused_total', 'kind');
    expect(refusedTotals['wrongPassword'], JSON.stringify(refusedTotals)).toBeGreaterThanOrEqual(1);
    expect(refusedTotals['noCredentials'], JSON.stringify(refusedTotals)).toBeGreaterThanOrEqual(1);

    // A new password, applied by SIGHUP: the old one is refused from then on, the new one serves.
    await expectExit(['users', 'passwd', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD });
    for (const id of cluster.ids) process.kill(cluster.pid(id) ?? -1, 'SIGHUP');
    await cluster.waitFor(() => cluster.ids.every((id) => cluster.currentRunOutput(id).some((line) => line.includes('users reloaded from'))), { timeoutMs: 10_000, what: 'every node to reload its users' });
    await expectExit(['append', ...base, '--user', 'alice', 'old-password'], 1, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    outputs.push((await expectExit(['append', ...base, '--user', 'alice', 'new-password'], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD })).stdout);
    outputs.push((await expectExit(['status', ...base, '--user', 'alice', '--json'], 0, { QUORUMLOG_PASSWORD: SECOND_PASSWORD })).stdout);

    outputs.push(...(await aclSteps(cluster, base, certs)));

    const logs = cluster.ids.map((id) => fs.readFileSync(path.join(cluster.dataRoot, 'logs', `${id}.out`), 'utf8')).join('\n');
    expect(logs).toContain('refused user alice');
    expect(logs).toContain('denied user bob: produce on topic orders');
    for (const password of [FIRST_PASSWORD, SECOND_PASSWORD, WRONG_PASSWORD, BOB_PASSWORD]) {
      expect(logs).not.toContain(password);
      expect(outputs.join('\n')).not.toContain(password);
      expect(fs.readFileSync(users, 'utf8')).not.toContain(password);
    }
  });

  /**
   * bob is denied produce, consume and admin (exit 1, one line naming user, operation and
   * resource; PERMISSION_DENIED to the library; nothing appended; counted); alice adds rules,
   * every node lists them, and bob's produce and consume then go through. Returns the CLI's outputs.
   */
  async function aclSteps(cluster: TestCluster, base: readonly string[], certs: string): Promise<string[]> {
    const alice = { QUORUMLOG_PASSWORD: SECOND_PASSWORD };
    const bob = { QUORUMLOG_PASSWORD: BOB_PASSWORD };
    const outputs: string[] = [];
    const asBob = [...base, '--user', 'bob'];
    const asAlice = [...base, '--user', 'alice'];
    await expectExit(['topics', 'create', 'orders', ...asAlice], 0, alice);
    const deniedBefore = await counterTotals(cluster, 'quorumlog_permission_denied_total', 'operation');

    // The CLI's producer first takes a producer id (an entry any authenticated client may
    // cause: it names no topic); the produce itself is refused.
    const produce = await expectExit(['produce', ...asBob, '--topic', 'orders', 'm1'], 1, bob);
    expect(produce.stderr).toContain('user bob may not produce to topic orders');
    const consume = await expectExit(['consume', ...asBob, '--topic', 'orders', '--group', 'g-bob', '--max', '1'], 1, bob);
    expect(consume.stderr).toContain('user bob may not consume in group g-bob');
    const create = await expectExit(['topics', 'create', 'payments', ...asBob], 1, bob);
    expect(create.stderr).toContain('user bob may not administer topic payments');
    const selfGrant = await expectExit(['acl', 'add', ...asBob, '--principal', 'bob', '--topic', 'orders*', '--operations', 'admin'], 2, bob);
    const grant = await expectExit(['acl', 'add', ...asBob, '--principal', 'bob', '--topic', 'payments', '--operations', 'admin'], 1, bob);
    expect(grant.stderr).toContain('user bob may not');
    outputs.push(produce.stderr, consume.stderr, create.stderr, selfGrant.stderr, grant.stderr);
    console.log(`[acl] produce: ${produce.stderr.trim()}\n[acl] consume: ${consume.stderr.trim()}\n[acl] admin: ${create.stderr.trim()}`);

    // The library sees the gRPC status itself.
    const library = new LogClient({ brokers: cluster.brokers(), timeoutMs: 5_000, tls: { ca: fs.readFileSync(path.join(certs, 'ca.pem')) }, auth: { user: 'bob', password: BOB_PASSWORD } });
    const refused = await library.produce({ topic: 'orders', producerId: 0, firstSequence: 0, messages: [{ key: new Uint8Array(), headers: [], payload: Buffer.from('m1'), timestampMs: Date.now() }] }).then(
      () => null,
      (error: unknown) => error,
    );
    await library.close();
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect(((refused as Error).cause as ServiceError).code).toBe(grpcStatus.PERMISSION_DENIED);

    // Nothing bob was denied took effect: no group, no topic, no rule, no message (checked
    // by what each would have made, not by the commit index, which a clock entry may move).
    const groups = JSON.parse((await expectExit(['groups', 'list', ...asAlice, '--json'], 0, alice)).stdout) as { name: string }[];
    expect(groups.map((g) => g.name)).not.toContain('g-bob');
    const topics = JSON.parse((await expectExit(['topics', 'list', ...asAlice, '--json'], 0, alice)).stdout) as { name: string }[];
    expect(topics.map((t) => t.name)).not.toContain('payments');
    expect((await expectExit(['acl', 'list', ...asAlice, '--json'], 0, alice)).stdout.trim()).toBe('[]');
    const orders = JSON.parse((await expectExit(['topics', 'describe', 'orders', ...asAlice, '--json'], 0, alice)).stdout) as { nextOffset: number }[];
    expect(orders[0]?.nextOffset).toBe(0);
    const denied = await counterTotals(cluster, 'quorumlog_permission_denied_total', 'operation');
    for (const operation of ['produce', 'consume', 'admin']) expect(denied[operation] ?? 0, `${operation} denials: ${JSON.stringify(denied)}`).toBeGreaterThan(deniedBefore[operation] ?? 0);

    outputs.push((await expectExit(['acl', 'add', ...asAlice, '--principal', 'bob', '--topic', 'orders', '--operations', 'produce,consume'], 0, alice)).stdout);
    outputs.push((await expectExit(['acl', 'add', ...asAlice, '--principal', 'bob', '--group-prefix', 'g-', '--operations', 'consume'], 0, alice)).stdout);
    const rules = [
      { principal: 'bob', resource: { kind: 'topic', pattern: 'orders' }, operations: ['produce', 'consume'] },
      { principal: 'bob', resource: { kind: 'group', pattern: 'g-*' }, operations: ['consume'] },
    ];
    for (const broker of cluster.brokers()) {
      const node = ['--brokers', broker, ...base.slice(2), '--user', 'alice', '--json'];
      await waitFor(async () => (await runCli(['acl', 'list', ...node], { env: alice, timeoutMs: 20_000 })).stdout.trim() === JSON.stringify(rules), { timeoutMs: 10_000, what: `the rules on ${broker}` });
    }
    outputs.push((await expectExit(['produce', ...asBob, '--topic', 'orders', 'm1'], 0, bob)).stdout);
    const consumed = await expectExit(['consume', ...asBob, '--topic', 'orders', '--group', 'g-bob', '--max', '1'], 0, bob);
    expect(consumed.stdout).toBe('0\tm1\n');
    await expectExit(['topics', 'create', 'payments', ...asBob], 1, bob);
    outputs.push(consumed.stdout);
    return outputs;
  }

  it('a node with --users-file and no TLS refuses to start, with one line saying why', async () => {
    const dataDir = tempDir('plain');
    const users = path.join(dataDir, 'users.json');
    await expectExit(['users', 'add', 'alice', '--file', users], 0, { QUORUMLOG_PASSWORD: FIRST_PASSWORD });
    const refused = await expectExit(['node', '--id', 'n1', '--data-dir', path.join(dataDir, 'n1'), '--users-file', users], 2);
    expect(refused.stderr).toMatch(/^quorumlog: refusing --users-file without TLS: passwords are never taken in plaintext/);
    expect(fs.existsSync(path.join(dataDir, 'n1'))).toBe(false);
  });
});
