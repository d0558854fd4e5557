import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect as tlsConnect } from 'node:tls';

import { afterAll, describe, expect, it } from 'vitest';

import { importAuthority, issue } from '../../src/certs/index.js';
import { CertificateName } from '../../src/transport/index.js';
import { runCliInProcess } from '../harness/cli-in-process.js';
import { AppendWorkload, describeCli, readAllLogs, runCli, startClusterForTest, type TestCluster } from '../harness/index.js';

const HOUR_MS = 60 * 60 * 1000;

/** Temp directories this file made, removed when it ends. */
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `quorumlog-tls-${label}-`));
  tempDirs.push(dir);
  return dir;
}

async function certsInit(dir: string): Promise<void> {
  const result = await runCli(['certs', 'init', dir]);
  expect(result.code, describeCli(['certs', 'init', dir], result)).toBe(0);
}

/** The serial number of the certificate a TLS port serves to a new connection. */
function servedSerial(address: string, ca: Buffer): Promise<string> {
  const [host = '', port = ''] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port: Number(port), ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

async function logLength(cluster: TestCluster): Promise<number> {
  const statuses = await cluster.converged();
  return statuses[0]?.commitIndex ?? -1;
}

/**
 * The records committed after index `from`, once every node has applied them. Records, not
 * the commit index: the leader adds a clock entry within 10 s of plain records
 * (src/node/broker-service.ts), and a read skips it, as it skips no-ops.
 */
async function recordsAfter(cluster: TestCluster, from: number): Promise<string[]> {
  await cluster.converged();
  const read = await cluster.client().read(from + 1, { bytesMax: 64 * 1024 });
  return read.records.map((r) => new TextDecoder().decode(r.payload));
}

describe('TLS cluster (real processes)', () => {
  it('forms over mutual TLS, refuses clients without the CA or with another, fails over, rotates on SIGHUP, and logs no key', async () => {
    const certs = tempDir('certs');
    const otherCerts = tempDir('other');
    await certsInit(certs);
    await certsInit(otherCerts);
    const cluster = await startClusterForTest({ label: 'tls', tls: { dir: certs } });
    const brokers = cluster.brokers().join(',');
    const leader = await cluster.leader();

    // The CLI with the CA appends; without it, or with another CA, it is refused (exit 1, one line) and nothing is appended.
    const ok = await runCli(['append', '--brokers', brokers, '--tls-ca', path.join(certs, 'ca.pem'), 'tls-record']);
    expect(ok.code, describeCli(['append'], ok)).toBe(0);
    const committed = await logLength(cluster);
    for (const flags of [[], ['--tls-ca', path.join(otherCerts, 'ca.pem')]]) {
      const args = ['append', '--brokers', brokers, '--timeout-ms', '3000', ...flags, 'refused-record'];
      const refused = await runCli(args);
      expect(refused.code, describeCli(args, refused)).toBe(1);
      expect(refused.stderr.trim().split('\n'), describeCli(args, refused)).toHaveLength(1);
      console.log(`[tls] ${flags.length === 0 ? 'no CA' : 'another CA'}: ${refused.stderr.trim()}`);
    }
    // A key file that is missing is a usage error (exit 2), found before connecting: in this process.
    const badArgs = ['status', '--tls-ca', path.join(certs, 'ca.pem'), '--tls-cert', path.join(certs, 'client.pem'), '--tls-key', path.join(certs, 'missing-key.pem')];
    const bad = await runCliInProcess(badArgs);
    expect(bad.code, describeCli(badArgs, { ...bad, signal: null })).toBe(2);
    expect(await recordsAfter(cluster, committed)).toEqual([]);

    // Failover over TLS: kill -9 the leader, a new one is elected and appends go on.
    const client = cluster.client(cluster.ids, { timeoutMs: 5_000 });
    const writes = new AppendWorkload(client, 'tls');
    const background = writes.background({ concurrency: 2, recordsMax: 5_000, durationMsMax: 60_000 });
    try {
      await cluster.waitFor(() => writes.ackedCount >= 20, { timeoutMs: 10_000, what: '20 acknowledgements before the kill' });
      await cluster.kill(leader);
      const newLeader = await cluster.leader({ exclude: [leader], timeoutMs: 20_000 });
      expect(newLeader).not.toBe(leader);
      const acks = writes.ackedCount;
      await cluster.waitFor(() => writes.ackedCount >= acks + 50, { timeoutMs: 20_000, what: '50 acknowledgements on the new leader' });
      await cluster.restart(leader);
    } finally {
      await background.stop();
    }
    await cluster.converged();

    // Rotation: a new certificate for n2 under the same CA, SIGHUP, and new connections get it.
    const ca = fs.readFileSync(path.join(certs, 'ca.pem'));
    const address = cluster.clientAddress('n2');
    const oldSerial = await servedSerial(address, ca);
    expect(oldSerial).toBe(new X509Certificate(fs.readFileSync(path.join(certs, 'n2.pem'))).serialNumber);
    const authority = await importAuthority({ cert: ca.toString(), key: fs.readFileSync(path.join(certs, 'ca-key.pem'), 'utf8') });
    const now = Date.now();
    const names = [{ type: 'dns' as const, value: 'localhost' }, { type: 'ip' as const, value: '127.0.0.1' }, { type: 'url' as const, value: `${CertificateName.memberPrefix}n2` }];
    const rotated = await issue(authority, { commonName: 'n2', names, server: true, notBefore: new Date(now - HOUR_MS), notAfter: new Date(now + 24 * HOUR_MS) });
    fs.writeFileSync(path.join(certs, 'n2.pem'), rotated.cert);
    fs.writeFileSync(path.join(certs, 'n2-key.pem'), rotated.key);
    process.kill(cluster.pid('n2') ?? -1, 'SIGHUP');
    const newSerial = new X509Certificate(rotated.cert).serialNumber;
    await cluster.waitFor(async () => (await servedSerial(address, ca).catch(() => '')) === newSerial, { timeoutMs: 10_000, what: 'n2 serving its new certificate' });
    expect(cluster.currentRunOutput('n2').some((line) => line.includes('TLS reloaded from'))).toBe(true);
    // Still one cluster: a write commits on every node, n2's peers dialling it anew included.
    await cluster.client().append([Buffer.from('after-rotation')]);
    // Acknowledged once a majority holds it: the third node gets it soon after, over TLS too.
    const everyNodeHas = async (): Promise<boolean> => [...(await readAllLogs(cluster)).values()].every((log) => log.some((r) => r.payload === 'after-rotation'));
    await cluster.waitFor(everyNodeHas, { timeoutMs: 10_000, what: 'every node holding the write after the rotation' });

    // No private key in any node's output.
    const keyLines = fs
      .readdirSync(certs)
      .filter((f) => f.endsWith('-key.pem'))
      .flatMap((f) => fs.readFileSync(path.join(certs, f), 'utf8').split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')));
    const output = cluster.ids.map((id) => fs.readFileSync(path.join(cluster.dataRoot, 'logs', `${id}.out`), 'utf8')).join('\n');
    expect(keyLines.length).toBeGreaterThan(0);
    for (const line of keyLines) expect(output).not.toContain(line);
    expect(output).not.toContain('PRIVATE KEY');
  });

  it('a node asked to listen on a non-loopback address without TLS refuses to start, with one line saying why', async () => {
    const dataDir = tempDir('exposed');
    const args = ['node', '--id', 'n1', '--members', 'n1=0.0.0.0:17601/0.0.0.0:17501', '--data-dir', path.join(dataDir, 'n1')];
    const refused = await runCli(args);
    expect(refused.code, describeCli(args, refused)).toBe(2);
    expect(refused.stderr).toMatch(/^quorumlog: refusing to listen on 0\.0\.0\.0:17601 and 0\.0\.0\.0:17501 without TLS: give --tls-cert, --tls-key and --tls-ca .* or --insecure .*\n$/);
    expect(fs.existsSync(path.join(dataDir, 'n1'))).toBe(false);
  });
});
